"""The access pages (who can do what, audit log, API tokens) and what the header and pages
offer to whom, through NiceGUI's simulated user."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from nicegui import app, ui
from nicegui.testing import User

from squall.app import DEFAULT_PLUGINS
from squall.core.auth import Actor, Grant
from squall.core.errors import Unauthenticated
from squall.core.permissions import ROLES
from squall.core.reports.exports import csv_body
from squall.core.services import access
from squall.core.values.access import AuditEntry, Binding, TokenInfo
from squall.testing.harness import SquallHarness
from squall.ui.context import Console

VIEWER = Actor("vic", source="sso", grants=(Grant.parse("viewer@env:test"),), groups=("watchers",))


@pytest.fixture
def squall(console_env: Path) -> Iterator[SquallHarness]:
    with SquallHarness(console_env, DEFAULT_PLUGINS) as harness:
        yield harness


@pytest.fixture
def as_viewer(monkeypatch: pytest.MonkeyPatch) -> Actor:
    monkeypatch.setattr(Console, "actor", lambda _self, _request=None: VIEWER)
    return VIEWER


@pytest.fixture
async def client(user: User) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http


async def test_the_local_operator_sees_every_area_and_is_told_so(
    console_env: Path, user: User
) -> None:
    await user.open("/")
    await user.should_see("local operator · full rights")
    for target in ("/new", "/audit", "/roles", "/tokens"):
        await user.should_see(marker=f"nav-{target}")
    await user.should_see(marker="new-deployment")
    await user.should_not_see(marker="sign-out")


async def test_a_viewer_is_offered_only_what_a_viewer_may_do(
    console_env: Path, user: User, as_viewer: Actor
) -> None:
    await user.open("/")
    await user.should_see("viewer@env:test")
    await user.should_see(marker="sign-out")
    await user.should_not_see(marker="nav-/new")
    await user.should_not_see(marker="nav-/audit")
    await user.should_not_see(marker="new-deployment")
    await user.open("/new")
    await user.should_see("You may not start deployments: missing permission 'deployment.create'")
    await user.open("/catalogue")
    await user.should_see(marker="type-noop")
    await user.should_not_see(marker="deploy-noop")
    await user.open("/audit")  # typed in by hand: the service refuses, the page says why
    await user.should_see("vic may not do this: missing permission 'audit.view' on audit")


async def test_an_admin_grants_and_revokes_a_role_on_the_roles_page(
    console_env: Path, user: User, squall: SquallHarness
) -> None:
    await user.open("/roles")
    await user.should_see(marker="matrix")
    matrix = user.find(marker="matrix").elements.pop()
    assert isinstance(matrix, ui.table)
    manage = next(row for row in matrix.rows if row["permission"] == "roles.manage")
    assert [role for role in ROLES if manage[role] == "✓"] == ["admin"]
    user.find(marker="grant-subject").type("group:night-shift")
    user.find(marker="grant-role").type("operator@env:test")
    user.find(marker="grant").click()
    await user.should_see("group:night-shift has operator@env:test")
    (binding,) = [b for b in bindings(squall) if b.subject == "group:night-shift"]
    user.find(marker="grant-subject").type("night-shift")
    user.find(marker="grant-role").type("operator")
    user.find(marker="grant").click()
    await user.should_see("subject 'night-shift': write user:NAME or group:NAME")
    user.find(marker=f"revoke-binding-{binding.id}").click()
    await user.should_see("group:night-shift no longer has operator@env:test")
    assert not [b for b in bindings(squall) if b.subject == "group:night-shift"]
    actions = [entry.action for entry in audit(squall)[:2]]
    assert actions == ["role.revoke", "role.grant"]


async def test_a_viewer_sees_the_matrix_but_cannot_grant(
    console_env: Path, user: User, as_viewer: Actor
) -> None:
    await user.open("/roles")
    await user.should_see(marker="matrix")
    await user.should_see("provider groups: watchers")
    await user.should_not_see(marker="grant")


async def test_the_audit_page_filters_exports_and_verifies(
    console_env: Path, user: User, squall: SquallHarness, client: httpx.AsyncClient
) -> None:
    squall.deploy("noop", target="cluster:lab-web")
    squall.deploy("noop", target="cluster:lab-db")
    await user.open("/audit")
    await user.should_see(marker="audit-table")
    table = user.find(marker="audit-table").elements.pop()
    assert isinstance(table, ui.table)
    assert [row["action"] for row in table.rows][:2] == ["deployment.create"] * 2
    user.find(marker="audit-target").type("deployment 1")
    user.find(marker="audit-filter").click()
    await eventually(lambda: [row["target"] for row in table.rows] == ["deployment 1"])
    link = user.find(marker="audit-csv").elements.pop()
    assert isinstance(link, ui.link)
    assert link.props["href"] == "/audit.csv?target=deployment+1"
    exported = await client.get("/audit.csv", params={"target": "deployment 1"})
    assert exported.headers["content-disposition"] == "attachment; filename=squall-audit.csv"
    rows = list(csv.DictReader(io.StringIO(csv_body(exported.text))))
    assert [(row["action"], row["target"]) for row in rows] == [
        ("deployment.create", "deployment 1")
    ]
    assert json.loads(rows[0]["details"])["type"] == "noop"  # whole, for tools to read
    bad = await client.get("/audit.csv", params={"since": "yesterday"})
    assert bad.status_code == 422
    assert "write a date as YYYY-MM-DD" in bad.json()["detail"]
    user.find(marker="audit-verify").click()
    await user.should_see("chain intact")


async def test_a_token_is_shown_once_works_and_can_be_revoked(
    console_env: Path, user: User, squall: SquallHarness
) -> None:
    await user.open("/tokens")
    user.find(marker="token-name").type("ci-deploys")
    user.find(marker="token-create").click()
    await user.should_see("it is shown this once", retries=20)
    shown = user.find(marker="token-secret").elements.pop()
    secret = str(shown.value)  # type: ignore[attr-defined]
    with squall.runtime.db.write() as session:
        assert access.authenticate_token(session, secret).name == squall.actor.name
    user.find(marker="token-done").click()
    (info,) = tokens(squall)
    await user.should_see(marker=f"token-{info.id}")
    user.find(marker=f"revoke-token-{info.id}").click()
    await user.should_see(f"token {info.id} (ci-deploys) revoked")
    with squall.runtime.db.write() as session, pytest.raises(Unauthenticated, match="revoked"):
        access.authenticate_token(session, secret)


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def audit(squall: SquallHarness) -> list[AuditEntry]:
    with squall.runtime.db.read() as session:
        return access.audit_entries(session, squall.runtime, squall.actor)


def bindings(squall: SquallHarness) -> list[Binding]:
    with squall.runtime.db.read() as session:
        return access.bindings(session, squall.runtime, squall.actor)


def tokens(squall: SquallHarness) -> list[TokenInfo]:
    with squall.runtime.db.read() as session:
        return access.tokens(session, squall.runtime, squall.actor)
