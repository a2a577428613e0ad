"""Who may do what, through the core services: every (action, role) pair, scoped grants,
approvals per type and environment, four-eyes, and the rights the console offers."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from access_fixtures import GROUP_NOOP, NOBODY, PLUGINS, ROLE_ACTORS, Prepared, copy_of, prepare
from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from squall.core.auth import Actor, Grant
from squall.core.errors import NotFound, PermissionDenied, ValidationError
from squall.core.inventory import load_inventory
from squall.core.models import AuditRecord
from squall.core.permissions import ROLES, Permission, matrix_markdown
from squall.core.runtime import Runtime
from squall.core.services import access, actions, board, deployments, inventory, views
from squall.core.services.calls import READS, write_as
from squall.core.values.deployments import DeploymentRequest
from squall.testing.harness import SquallHarness
from squall.ui.console import plan_table
from squall.ui.pages.wizard import preview_html

ROOT = Path(__file__).parent.parent


class Undo(Exception):
    """Raised to roll a trial transaction back: each pair starts from the same state."""


@dataclass(frozen=True)
class Case:
    permission: Permission
    act: Callable[[Session, Runtime, Actor, Prepared], Any]
    audited: str | None = None
    """The audit action an allowed call records (None for reads)."""


def request(type_name: str, target: str = "all", **params: Any) -> DeploymentRequest:
    return DeploymentRequest(type_name, params, target)


CASES: dict[str, Case] = {
    "see a deployment": Case(
        Permission.VIEW, lambda s, rt, a, p: views.deployment_view(s, rt, a, p.waiting)
    ),
    "list deployments": Case(Permission.VIEW, lambda s, rt, a, p: board.board(s, rt, a)),
    "read a node's log": Case(
        Permission.VIEW, lambda s, rt, a, p: views.read_logs(s, rt, a, p.failed)
    ),
    "see the inventory": Case(Permission.VIEW, lambda s, rt, a, p: inventory.overview(s, rt, a)),
    "start a deployment": Case(
        Permission.CREATE,
        lambda s, rt, a, p: deployments.create(s, rt, a, request("noop")),
        "deployment.create",
    ),
    "promote a gate": Case(
        Permission.APPROVE,
        lambda s, rt, a, p: actions.promote(s, rt, a, p.waiting),
        "deployment.promote",
    ),
    "pause": Case(
        Permission.CONTROL,
        lambda s, rt, a, p: actions.pause(s, rt, a, p.waiting),
        "deployment.pause",
    ),
    "resume": Case(
        Permission.CONTROL,
        lambda s, rt, a, p: actions.resume(s, rt, a, p.paused),
        "deployment.resume",
    ),
    "cancel": Case(
        Permission.CONTROL,
        lambda s, rt, a, p: actions.cancel(s, rt, a, p.waiting),
        "deployment.cancel",
    ),
    "retry failed nodes": Case(
        Permission.RETRY,
        lambda s, rt, a, p: actions.retry(s, rt, a, p.failed),
        "deployment.retry",
    ),
    "set failed nodes aside": Case(
        Permission.RETRY,
        lambda s, rt, a, p: actions.exclude_failed(s, rt, a, p.failed),
        "deployment.exclude",
    ),
    "roll back": Case(
        Permission.ROLLBACK,
        lambda s, rt, a, p: actions.rollback(s, rt, a, p.done),
        "deployment.rollback",
    ),
    "import an inventory": Case(
        Permission.INVENTORY_EDIT,
        lambda s, rt, a, p: inventory.import_inventory(s, rt, a, load_inventory(p.inventory_file)),
        "inventory.import",
    ),
    "read the audit log": Case(
        Permission.AUDIT_VIEW, lambda s, rt, a, p: access.audit_entries(s, rt, a)
    ),
    "verify the audit log": Case(
        Permission.AUDIT_VIEW, lambda s, rt, a, p: access.verify_audit(s, rt, a)
    ),
    "grant a role": Case(
        Permission.ROLES_MANAGE,
        lambda s, rt, a, p: access.grant_role(s, rt, a, "group:newcomers", "viewer"),
        "role.grant",
    ),
    "revoke a role": Case(
        Permission.ROLES_MANAGE,
        lambda s, rt, a, p: access.revoke_role(s, rt, a, p.binding),
        "role.revoke",
    ),
    "see everyone's tokens": Case(
        Permission.ROLES_MANAGE, lambda s, rt, a, p: access.tokens(s, rt, a, everyone=True)
    ),
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    return prepare(tmp_path_factory.mktemp("access"))


@pytest.fixture(scope="module")
def squall(prepared: Prepared) -> Iterator[SquallHarness]:
    with SquallHarness(prepared.data, PLUGINS) as harness:
        yield harness


@pytest.fixture
def fresh(prepared: Prepared, tmp_path: Path) -> Iterator[SquallHarness]:
    """A copy of the prepared installation, to change for good."""
    with SquallHarness(copy_of(prepared, tmp_path), PLUGINS) as harness:
        yield harness


def audit_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditRecord)) or 0


def test_the_cases_cover_every_permission() -> None:
    # node.local is what running on the stand-in local nodes needs: see test_security.py.
    covered = {case.permission for case in CASES.values()}
    assert covered == set(Permission) - {Permission.LOCAL_NODES}


@pytest.mark.parametrize("role", [*ROLES, "no role"])
@pytest.mark.parametrize("name", list(CASES))
def test_each_action_is_allowed_to_exactly_the_roles_that_grant_it(
    squall: SquallHarness, prepared: Prepared, name: str, role: str
) -> None:
    case = CASES[name]
    actor = ROLE_ACTORS.get(role, NOBODY)
    allowed = role in ROLES and case.permission in ROLES[role]
    rt = squall.runtime
    with contextlib.suppress(Undo), rt.db.write() as session:
        before = audit_count(session)
        if allowed:
            case.act(session, rt, actor, prepared)
            if case.audited:
                newest = session.scalars(
                    select(AuditRecord).order_by(AuditRecord.id.desc())
                ).first()
                assert newest is not None and audit_count(session) > before
                assert (newest.actor, newest.action) == (actor.name, case.audited)
                assert newest.details["via"] == "sso"
            else:
                assert audit_count(session) == before
        else:
            with pytest.raises((PermissionDenied, NotFound)) as refused:
                case.act(session, rt, actor, prepared)
            if isinstance(refused.value, NotFound):
                # A deployment they may not even see answers like a missing one.
                assert role not in ROLES and "no deployment" in str(refused.value)
            else:
                assert refused.value.permission == case.permission
                assert f"missing permission '{case.permission}'" in str(refused.value)
            assert audit_count(session) == before  # a refusal changes nothing
        raise Undo


@pytest.mark.parametrize("name", list(CASES))
def test_a_refused_action_is_on_record_and_a_refused_look_is_not(
    fresh: SquallHarness, prepared: Prepared, name: str
) -> None:
    case = CASES[name]
    # Someone who may look but not act; for looking, someone with no role at all.
    actor = NOBODY if case.permission in READS else ROLE_ACTORS["viewer"]
    rt = fresh.runtime
    with rt.db.read() as session:
        before = audit_count(session)
    with pytest.raises((PermissionDenied, NotFound)) as refused:
        write_as(rt, actor, case.act, prepared)
    with rt.db.read() as session:
        added = session.scalars(select(AuditRecord).where(AuditRecord.id > before)).all()
        check = access.verify_audit(session, rt, ROLE_ACTORS["admin"])
    assert check.breaks == [] and check.records == before + len(added)
    if case.permission in READS:
        assert added == []
        return
    assert isinstance(refused.value, PermissionDenied)
    (record,) = added  # the refused action itself changed nothing
    assert (record.actor, record.action, record.target) == (
        actor.name,
        "permission.denied",
        refused.value.target,
    )
    assert (record.details["via"], record.details["permission"]) == ("sso", case.permission)


def test_a_requester_promoting_their_own_gate_is_on_record(
    fresh: SquallHarness, prepared: Prepared
) -> None:
    requester = Actor(
        fresh.view(prepared.waiting).requester, source="sso", grants=(Grant("admin"),)
    )
    with pytest.raises(PermissionDenied, match="never approves their own gate"):
        fresh.act(actions.promote, prepared.waiting, actor=requester)
    with fresh.runtime.db.read() as session:
        entries = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "permission.denied")
        ).all()
    assert [(e.actor, e.target, e.details) for e in entries] == [
        (
            requester.name,
            f"deployment {prepared.waiting}: the requester never approves their own gate",
            {"via": "sso", "permission": "deployment.approve", "attempted": "promote"},
        )
    ]
    assert fresh.view(prepared.waiting).status == "awaiting_approval"


def test_docs_roles_md_is_the_matrix_in_the_code() -> None:
    assert (ROOT / "docs" / "roles.md").read_text() == matrix_markdown(), (
        "docs/roles.md is out of date: squall roles --markdown > docs/roles.md"
    )


# --- scoped grants -----------------------------------------------------------------------


def scoped(name: str, *grants: str) -> Actor:
    return Actor(name, source="sso", grants=tuple(Grant.parse(text) for text in grants))


def test_a_deployer_on_staging_deploys_to_staging_only(fresh: SquallHarness) -> None:
    dana = scoped("dana", "deployer@env:staging")
    created = fresh.create("noop", target="cluster:web-staging", actor=dana)
    assert fresh.view(created).requester == "dana"
    for target in ("cluster:web-prod", "all"):
        with pytest.raises(
            PermissionDenied,
            match=r"missing permission 'deployment\.create' on deployment_type noop",
        ):
            fresh.create("noop", target=target, actor=dana)


def test_a_cluster_glob_and_a_type_scope(fresh: SquallHarness) -> None:
    erin = scoped("erin", "deployer@cluster:web-s*", "deployer@type:noop")
    fresh.create(
        "cache_rebuild",
        target="cluster:web-staging",
        actor=erin,
        params={"rebuild_command": ["true"]},
    )
    fresh.create("noop", target="all", actor=erin)  # the type grant covers every cluster
    with pytest.raises(PermissionDenied, match=r"deployment\.create"):
        fresh.create(
            "cache_rebuild",
            target="cluster:web-prod",
            actor=erin,
            params={"rebuild_command": ["true"]},
        )


def test_scoped_viewers_see_only_deployments_in_their_scope(
    fresh: SquallHarness, prepared: Prepared
) -> None:
    viewer = scoped("val", "viewer@env:staging")
    rt = fresh.runtime
    with rt.db.read() as session:
        rows = board.board(session, rt, viewer)
        assert [row.id for row in rows] == [prepared.staging]
        assert [view.id for view in views.recent_deployments(session, rt, viewer)] == [
            prepared.staging
        ]
        assert views.deployment_view(session, rt, viewer, prepared.staging).id == prepared.staging
        with pytest.raises(NotFound, match=f"no deployment {prepared.waiting}"):
            views.deployment_view(session, rt, viewer, prepared.waiting)
        everyone = board.board(session, rt, ROLE_ACTORS["viewer"])
        assert len(everyone) == 6


def test_a_scoped_operator_controls_deployments_in_scope_and_is_offered_only_those(
    fresh: SquallHarness, prepared: Prepared
) -> None:
    olga = scoped("olga", "operator@env:production")
    rt = fresh.runtime
    production = fresh.deploy("group", target="cluster:web-prod", params=GROUP_NOOP).id
    with rt.db.read() as session:
        assert actions.available(session, rt, olga, production) == ["pause", "cancel"]
        # prepared.waiting touches staging too: out of her scope, even to look at
        with pytest.raises(NotFound, match=f"no deployment {prepared.waiting}"):
            actions.available(session, rt, olga, prepared.waiting)
    fresh.act(actions.pause, production, actor=olga)
    assert fresh.view(production).status == "paused"
    with pytest.raises(NotFound, match=f"no deployment {prepared.waiting}"):
        fresh.act(actions.pause, prepared.waiting, actor=olga)
    assert fresh.view(prepared.waiting).status == "awaiting_approval"


def test_the_console_offers_what_a_grant_allows_anywhere(fresh: SquallHarness) -> None:
    rt = fresh.runtime
    assert access.abilities(rt, scoped("dana", "deployer@env:staging")) == ROLES["deployer"]
    assert access.abilities(rt, NOBODY) == frozenset()
    token_like = dataclasses.replace(ROLE_ACTORS["admin"], scopes=frozenset({"deployment.view"}))
    assert access.abilities(rt, token_like) == {Permission.VIEW}


def test_a_grant_with_an_unknown_role_or_scope_is_refused(fresh: SquallHarness) -> None:
    rt = fresh.runtime
    with rt.db.write() as session:
        before = audit_count(session)
        for subject, grant, message in (
            ("user:x", "superuser", "no role 'superuser'"),
            ("user:x", "deployer@region:eu", "a scope is cluster:GLOB"),
            ("someone", "viewer", "write user:NAME or group:NAME"),
            ("user:someone", "viewer", "already has viewer"),
        ):
            with pytest.raises(ValidationError, match=message):
                access.grant_role(session, rt, fresh.actor, subject, grant)
        assert audit_count(session) == before


def test_role_bindings_add_to_what_provider_groups_give_at_the_next_sign_in(
    fresh: SquallHarness,
) -> None:
    rt = fresh.runtime
    rt.settings = dataclasses.replace(
        rt.settings, sso=dataclasses.replace(rt.settings.sso, roles={"ops": "operator"})
    )
    with rt.db.write() as session:
        before = access.sign_in(session, rt, user="zoe", groups=["ops"])
        access.grant_role(session, rt, fresh.actor, "user:zoe", "approver@env:staging")
        after = access.sign_in(session, rt, user="zoe", groups=["ops"])
    assert [str(grant) for grant in before.grants] == ["operator"]
    assert [str(grant) for grant in after.grants] == ["operator", "approver@env:staging"]


# --- approvals -------------------------------------------------------------------------


def test_approvals_needed_per_type_and_environment(fresh: SquallHarness) -> None:
    rt = fresh.runtime
    rt.settings = dataclasses.replace(
        rt.settings, approvals={"group@production": "2", "*@staging": "1", "group": "3"}
    )
    bob, carol = scoped("bob", "approver"), scoped("carol", "approver")
    production = fresh.deploy("group", target="cluster:web-prod", params={"inner_type": "noop"})
    staging = fresh.deploy("group", target="cluster:web-staging", params={"inner_type": "noop"})
    assert production.status == staging.status == "awaiting_approval"
    assert [stage.approvals_required for stage in production.stages if stage.gate] == [2]
    assert [stage.approvals_required for stage in staging.stages if stage.gate] == [1]
    fresh.act(actions.promote, production.id, actor=bob)
    assert fresh.view(production.id).status == "awaiting_approval"  # one of two
    with pytest.raises(ValidationError, match="bob already approved"):
        fresh.act(actions.promote, production.id, actor=bob)
    fresh.act(actions.promote, production.id, actor=carol)
    assert fresh.view(production.id).status == "running"
    assert [a.actor for a in fresh.view(production.id).approvals] == ["bob", "carol"]


def test_the_plan_preview_names_the_approvals_the_gate_will_require(fresh: SquallHarness) -> None:
    rt = fresh.runtime
    rt.settings = dataclasses.replace(
        rt.settings, approvals={"group@production": "2", "*@staging": "1", "group": "3"}
    )
    for cluster, required in (("web-prod", 2), ("web-staging", 1)):
        wanted = DeploymentRequest("group", {"inner_type": "noop"}, f"cluster:{cluster}")
        with rt.db.read() as session:
            shown = deployments.plan_preview(session, rt, fresh.actor, wanted)
            planned = deployments.preview(session, rt, fresh.actor, wanted)
        assert [stage.approvals for stage in shown.stages if stage.gate] == [required]
        console = Console(record=True, width=200)  # what `squall deploy --dry-run` prints
        console.print(plan_table(shown, with_nodes=False, width=console.width))
        assert f"manual gate ({required} approval(s))" in console.export_text()
        # The console's wizard shows the same.
        assert f"manual gate ({required} approval(s))" in preview_html(planned.plan, str)
        created = fresh.deploy("group", target=f"cluster:{cluster}", params={"inner_type": "noop"})
        assert [stage.approvals_required for stage in created.stages if stage.gate] == [required]


def test_the_requester_never_approves_their_own_gate(fresh: SquallHarness) -> None:
    both = scoped("pat", "deployer", "approver")
    waiting = fresh.deploy("group", params={"inner_type": "noop"}, actor=both)
    with fresh.runtime.db.read() as session:
        assert "promote" not in actions.available(session, fresh.runtime, both, waiting.id)
    with pytest.raises(PermissionDenied, match="never approves their own gate"):
        fresh.act(actions.promote, waiting.id, actor=both)
    assert fresh.view(waiting.id).approvals == ()
    assert fresh.view(waiting.id).status == "awaiting_approval"
