"""Who may do what through HTTP: the REST API behind the login guard, with an API token per
role; tokens expired, revoked, unknown or limited in scope; the guard's allow-list."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from access_fixtures import NOBODY, PLUGINS, ROLE_ACTORS, Prepared, copy_of, prepare
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from starlette.middleware.sessions import SessionMiddleware

from squall.api.auth import local_path
from squall.api.server import install, session_options
from squall.core.auth import Actor
from squall.core.engine.orphans import hold_lease
from squall.core.models import ApiToken, AuditRecord
from squall.core.permissions import ROLES, Permission
from squall.core.runtime import Runtime
from squall.core.services import access
from squall.core.settings import SSOSettings
from squall.testing.harness import SquallHarness

SSO = SSOSettings(issuer="http://127.0.0.1:9/never-asked", client_id="squall", client_secret="x")
"""Sign-on configured (so tokens are needed), with a provider these tests never reach."""


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    return prepare(tmp_path_factory.mktemp("api-access"))


@dataclasses.dataclass
class Api:
    runtime: Runtime
    http: TestClient

    def token_for(self, actor: Actor, **options: Any) -> str:
        with self.runtime.db.write() as session:
            _, secret = access.create_token(
                session, self.runtime, actor, name=f"{actor.name} tests", **options
            )
        return secret


@pytest.fixture
def api(prepared: Prepared, tmp_path: Path) -> Iterator[Api]:
    with SquallHarness(copy_of(prepared, tmp_path), PLUGINS) as squall:
        runtime = squall.runtime
        runtime.settings = dataclasses.replace(runtime.settings, sso=SSO)
        app = FastAPI()
        install(app, runtime)
        app.add_middleware(SessionMiddleware, **session_options(runtime))
        with TestClient(app, base_url="http://127.0.0.1") as http:
            yield Api(runtime, http)


def calls(p: Prepared) -> dict[str, tuple[Permission, str, str, dict[str, Any] | None]]:
    """Each call through the API, in an order that leaves each one's target in the state
    it needs whatever the role (promote, then pause, then cancel the waiting one)."""
    extra = p.inventory_file.read_text()
    return {
        "list deployments": (Permission.VIEW, "GET", "/api/v1/deployments", None),
        "see a deployment": (Permission.VIEW, "GET", f"/api/v1/deployments/{p.waiting}", None),
        "start a deployment": (
            Permission.CREATE,
            "POST",
            "/api/v1/deployments",
            {"type": "noop", "target": "all"},
        ),
        "promote": (Permission.APPROVE, "POST", f"/api/v1/deployments/{p.waiting}/promote", {}),
        "pause": (Permission.CONTROL, "POST", f"/api/v1/deployments/{p.waiting}/pause", None),
        "cancel": (Permission.CONTROL, "POST", f"/api/v1/deployments/{p.waiting}/cancel", None),
        "resume": (Permission.CONTROL, "POST", f"/api/v1/deployments/{p.paused}/resume", None),
        "retry": (Permission.RETRY, "POST", f"/api/v1/deployments/{p.failed}/retry", None),
        "exclude": (
            Permission.RETRY,
            "POST",
            f"/api/v1/deployments/{p.failed_again}/exclude",
            None,
        ),
        "roll back": (Permission.ROLLBACK, "POST", f"/api/v1/deployments/{p.done}/rollback", None),
        "import an inventory": (
            Permission.INVENTORY_EDIT,
            "POST",
            "/api/v1/inventory",
            {"name": "extra.yaml", "content": extra},
        ),
        "read the audit log": (Permission.AUDIT_VIEW, "GET", "/api/v1/audit", None),
        "grant a role": (
            Permission.ROLES_MANAGE,
            "POST",
            "/api/v1/roles",
            {"subject": "group:newcomers", "grant": "viewer"},
        ),
        "revoke a role": (Permission.ROLES_MANAGE, "DELETE", f"/api/v1/roles/{p.binding}", None),
    }


def test_the_calls_cover_every_permission(prepared: Prepared) -> None:
    # node.local is what running on the stand-in local nodes needs: see test_security.py.
    covered = {permission for permission, *_ in calls(prepared).values()}
    assert covered == set(Permission) - {Permission.LOCAL_NODES}


@pytest.mark.parametrize("role", [*ROLES, "no role"])
def test_each_call_is_allowed_to_exactly_the_roles_that_grant_it(
    api: Api, prepared: Prepared, role: str
) -> None:
    actor = ROLE_ACTORS.get(role, NOBODY)
    headers = {"Authorization": f"Bearer {api.token_for(actor)}"}
    answers: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    for name, (permission, method, path, body) in calls(prepared).items():
        response = api.http.request(method, path, json=body, headers=headers)
        allowed = role in ROLES and permission in ROLES[role]
        hidden = role not in ROLES and "/deployments/" in path  # unseen: like a missing one
        expected[name] = "ok" if allowed else (404, None) if hidden else (403, permission.value)
        answers[name] = (
            "ok"
            if response.status_code in (200, 201)
            else (response.status_code, response.json().get("permission"))
        )
    assert answers == expected
    with api.runtime.db.read() as session:
        acted = {
            record.action
            for record in session.scalars(
                select(AuditRecord).where(AuditRecord.actor == actor.name)
            )
        }
    # Every change made through the API is on record as the token's owner, via the token.
    writes = {
        "deployment.create": Permission.CREATE,
        "deployment.promote": Permission.APPROVE,
        "deployment.pause": Permission.CONTROL,
        "deployment.retry": Permission.RETRY,
        "deployment.rollback": Permission.ROLLBACK,
        "inventory.import": Permission.INVENTORY_EDIT,
        "role.grant": Permission.ROLES_MANAGE,
    }
    held = ROLES.get(role, frozenset())
    assert {action for action, permission in writes.items() if permission in held} <= acted


def test_a_created_deployment_and_its_refusals_come_back_as_json(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.token_for(ROLE_ACTORS['deployer'])}"}
    created = api.http.post(
        "/api/v1/deployments",
        json={"type": "noop", "target": "cluster:web-staging", "ticket": "OPS-1"},
        headers=headers,
    )
    assert created.status_code == 201
    shown = api.http.get(f"/api/v1/deployments/{created.json()['id']}", headers=headers).json()
    assert (shown["requester"], shown["ticket"], shown["status"]) == (
        "deployer-user",
        "OPS-1",
        "running",
    )
    bad = api.http.post(
        "/api/v1/deployments",
        json={"type": "config_change", "params": {"path": 5}},
        headers=headers,
    )
    assert bad.status_code == 422 and "path" in bad.json()["detail"]
    unknown = api.http.get("/api/v1/deployments/999", headers=headers)
    assert unknown.status_code == 404 and unknown.json() == {"detail": "no deployment 999"}
    hold_lease(api.runtime.db, "the-servers-engine", 60)  # alive: the deployment is not orphaned
    twice = api.http.post(f"/api/v1/deployments/{created.json()['id']}/resume", headers=headers)
    assert twice.status_code == 409 and "not paused" in twice.text


def test_me_shows_who_the_token_acts_as(api: Api) -> None:
    token = api.token_for(ROLE_ACTORS["operator"], scopes=["deployment.view"])
    me = api.http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me == {
        "name": "operator-user",
        "source": "token",
        "grants": ["operator"],
        "scopes": ["deployment.view"],
    }


# --- tokens ----------------------------------------------------------------------------


def test_without_a_token_the_api_answers_401_and_pages_send_you_to_sign_in(api: Api) -> None:
    response = api.http.get("/api/v1/deployments")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    page = api.http.get("/deployments/1", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fdeployments%2F1"
    # The allow-list: what someone not signed in must reach to sign in.
    assert api.http.get("/signed-out").status_code == 200


@pytest.mark.parametrize(
    "asked, kept",
    [
        ("/deployments/7?tab=logs", "/deployments/7?tab=logs"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
    ],
)
def test_after_sign_in_only_a_path_of_this_site_is_followed(asked: str, kept: str) -> None:
    assert local_path(asked) == kept


@pytest.mark.parametrize(
    "presented, message",
    [
        ("sq_1_not-the-secret", "unknown API token"),
        ("sq_999_whatever", "unknown API token"),
        ("ghp_something", "not a Squall API token"),
        ("", "not a Squall API token"),
    ],
)
def test_a_wrong_token_is_refused(api: Api, presented: str, message: str) -> None:
    api.token_for(ROLE_ACTORS["admin"])  # token 1 exists; its secret is not the one sent
    response = api.http.get("/api/v1/deployments", headers={"Authorization": f"Bearer {presented}"})
    assert (response.status_code, response.json()["detail"]) == (401, message)


def test_an_expired_token_is_refused(api: Api) -> None:
    token = api.token_for(ROLE_ACTORS["admin"], days=1)
    headers = {"Authorization": f"Bearer {token}"}
    assert api.http.get("/api/v1/deployments", headers=headers).status_code == 200
    with api.runtime.db.write() as session:
        stored = session.scalars(select(ApiToken)).one()
        stored.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    response = api.http.get("/api/v1/deployments", headers=headers)
    assert (response.status_code, response.json()["detail"]) == (
        401,
        f"API token {stored.id} has expired",
    )


def newest_record(runtime: Runtime) -> AuditRecord:
    with runtime.db.read() as session:
        record = session.scalars(select(AuditRecord).order_by(AuditRecord.id.desc())).first()
    assert record is not None
    return record


def test_a_revoked_token_is_refused_at_once(api: Api) -> None:
    admin = {"Authorization": f"Bearer {api.token_for(ROLE_ACTORS['admin'])}"}
    token = api.token_for(ROLE_ACTORS["viewer"])
    viewer = {"Authorization": f"Bearer {token}"}
    assert api.http.get("/api/v1/deployments", headers=viewer).status_code == 200
    token_id = int(token.split("_")[1])
    # Its owner may revoke it; others only with roles.manage.
    other = {"Authorization": f"Bearer {api.token_for(ROLE_ACTORS['deployer'])}"}
    refused = api.http.delete(f"/api/v1/tokens/{token_id}", headers=other)
    assert (refused.status_code, refused.json()["permission"]) == (403, "roles.manage")
    revoked = api.http.delete(f"/api/v1/tokens/{token_id}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    response = api.http.get("/api/v1/deployments", headers=viewer)
    assert (response.status_code, response.json()["detail"]) == (
        401,
        f"API token {token_id} was revoked",
    )
    with api.runtime.db.read() as session:
        record = session.scalars(select(AuditRecord).order_by(AuditRecord.id.desc())).first()
    assert record is not None
    assert (record.actor, record.action, record.target) == (
        "admin-user",
        "token.revoke",
        f"token {token_id}",
    )


def test_a_token_limited_to_some_permissions_may_use_only_those(api: Api) -> None:
    token = api.token_for(ROLE_ACTORS["admin"], scopes=["deployment.view"])
    headers = {"Authorization": f"Bearer {token}"}
    assert api.http.get("/api/v1/deployments", headers=headers).status_code == 200
    refused = api.http.post(
        "/api/v1/deployments", json={"type": "noop", "target": "all"}, headers=headers
    )
    assert (refused.status_code, refused.json()["permission"]) == (403, "deployment.create")
    # The attempt is on record, with who made it and what it lacked.
    record = newest_record(api.runtime)
    assert (record.actor, record.action, record.target) == (
        "admin-user",
        "permission.denied",
        "deployment_type noop",
    )
    assert record.details == {
        "via": "token",
        "permission": "deployment.create",
        "attempted": "create",
    }


def test_a_token_never_makes_tokens_and_is_stored_only_hashed(api: Api) -> None:
    token = api.token_for(ROLE_ACTORS["admin"])
    made = api.http.post(
        "/api/v1/tokens", json={"name": "more"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert made.status_code == 403
    record = newest_record(api.runtime)
    assert (record.actor, record.action) == ("admin-user", "permission.denied")
    assert (record.details["permission"], record.details["attempted"]) == (
        "sign-in",
        "create_token",
    )
    secret = token.split("_", 2)[2]
    database = (api.runtime.settings.data_dir / "squall.db").read_bytes()
    assert secret.encode() not in database
    with api.runtime.db.read() as session:
        assert secret not in str([t.secret_hash for t in session.scalars(select(ApiToken))])


def test_a_tokens_last_use_is_kept_to_the_minute(api: Api) -> None:
    token = api.token_for(ROLE_ACTORS["viewer"])
    headers = {"Authorization": f"Bearer {token}"}

    def last_used() -> dt.datetime | None:
        with api.runtime.db.read() as session:
            return session.scalars(select(ApiToken.last_used_at)).one()

    assert last_used() is None
    assert api.http.get("/api/v1/deployments", headers=headers).status_code == 200
    first = last_used()
    assert first is not None
    assert api.http.get("/api/v1/deployments", headers=headers).status_code == 200
    assert last_used() == first  # within the minute: no write for every call
    with api.runtime.db.write() as session:  # as if that use was two minutes ago
        session.execute(update(ApiToken).values(last_used_at=first - dt.timedelta(minutes=2)))
    assert api.http.get("/api/v1/deployments", headers=headers).status_code == 200
    later = last_used()
    assert later is not None and later > first


def test_creating_a_token_asks_for_valid_settings(api: Api) -> None:
    with api.runtime.db.write() as session:
        for options, message in (
            ({"name": " "}, "needs a name"),
            ({"name": "ci", "days": 0}, "1 to 366 days"),
            ({"name": "ci", "days": 400}, "1 to 366 days"),
            ({"name": "ci", "scopes": ["deployment.destroy"]}, "unknown permission"),
        ):
            with pytest.raises(Exception, match=message):
                access.create_token(session, api.runtime, ROLE_ACTORS["admin"], **options)
        assert session.scalars(select(ApiToken)).all() == []
