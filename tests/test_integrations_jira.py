"""The JIRA side in detail: tickets required, linked or created, the gate that holds a
deployment and a promotion while the ticket is not in an allowed status."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_jira import FakeJira
from integration_helpers import BOB, create, group, jira_settings, settle_deliveries
from sqlalchemy import func, select

from squall.core.commands import CommandContext
from squall.core.errors import ValidationError
from squall.core.models import Deployment, Event
from squall.core.outbox.holds import check_holds
from squall.core.services import actions
from squall.integrations.jira.drift import find_drift
from squall.integrations.jira.settings import JiraSettings
from squall.testing.fleet import Fleet
from squall.testing.harness import SquallHarness

pytest_plugins = ["integration_fixtures"]


def runs(integration_fleet: Fleet) -> int:
    return sum(
        len((node.root / "runs").read_text().splitlines())
        for node in integration_fleet.nodes
        if (node.root / "runs").exists()
    )


def test_an_environment_that_requires_a_ticket_refuses_a_deployment_without_one(
    make_squall: Callable[..., SquallHarness], jira: FakeJira
) -> None:
    squall = make_squall(
        jira=jira_settings(jira, environments={"production": {"require_ticket": True}})
    )
    with squall.runtime.db.read() as session:
        events_before = session.scalar(select(func.count()).select_from(Event))
    with pytest.raises(ValidationError, match="deployments to production need a JIRA ticket"):
        create(squall, "noop", {})
    with pytest.raises(ValidationError, match="'ops 12' is not a JIRA ticket key"):
        create(squall, "noop", {}, ticket="ops 12")
    with squall.runtime.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Deployment)) == 0
        assert session.scalar(select(func.count()).select_from(Event)) == events_before
    assert jira.requests == []


def test_a_ticket_is_created_when_none_is_given_and_becomes_the_deployments(
    make_squall: Callable[..., SquallHarness], jira: FakeJira
) -> None:
    squall = make_squall(
        jira=jira_settings(
            jira,
            create_ticket=True,
            transitions={},
            summary="Deploy {type} to {environment}: {title}",
            types={"noop": {"issue_type": "Probe"}},
        )
    )
    deployment_id = create(squall, "noop", {})
    assert squall.run(deployment_id).status == "succeeded"
    settle_deliveries(squall)
    (issue,) = jira.issues.values()
    assert (
        issue.fields["summary"] == f"Deploy noop to production: {squall.view(deployment_id).title}"
    )
    assert issue.fields["issuetype"] == {"name": "Probe"}
    assert issue.fields["labels"] == ["squall", f"squall-deployment-{deployment_id}"]
    assert squall.view(deployment_id).ticket == issue.key
    assert [comment.split(":")[0] for comment in issue.comments] == [
        "Stage probe succeeded",
        f"Deployment {deployment_id} succeeded",
    ]


def test_the_jira_gate_holds_the_start_until_the_ticket_is_approved(
    make_squall: Callable[..., SquallHarness], jira: FakeJira, integration_fleet: Fleet
) -> None:
    issue = jira.add_issue("OPS-7", status="In Review")
    squall = make_squall(jira=jira_settings(jira, gate="Approved, Implementing", transitions={}))
    deployment_id = create(squall, "group", group(thunder={"gate": "auto"}), ticket="OPS-7")
    assert squall.view(deployment_id).waiting_for == "checking jira before it starts"
    assert check_holds(squall.runtime) == 0
    view = squall.view(deployment_id)
    assert view.status == "pending"
    assert view.waiting_for == "JIRA OPS-7 to be in Approved/Implementing (now: In Review)"
    assert runs(integration_fleet) == 0
    issue.status = "Approved"
    assert squall.run(deployment_id).status == "succeeded"  # its engine's outbox released it
    assert runs(integration_fleet) == len(integration_fleet.nodes)
    with squall.runtime.db.read() as session:
        kinds = list(
            session.scalars(
                select(Event.kind).where(Event.deployment_id == deployment_id).order_by(Event.id)
            )
        )
    assert kinds.index("hold.released") < kinds.index("deployment.started")


def test_the_jira_gate_holds_a_promotion_while_the_ticket_is_not_allowed(
    make_squall: Callable[..., SquallHarness], jira: FakeJira, integration_fleet: Fleet
) -> None:
    issue = jira.add_issue("OPS-8", status="Approved")
    squall = make_squall(jira=jira_settings(jira, gate="Approved", transitions={}))
    deployment_id = create(squall, "group", group(), ticket="OPS-8")
    assert squall.run(deployment_id).status == "awaiting_approval"
    lightning = runs(integration_fleet)
    issue.status = "In Review"
    squall.act(actions.promote, deployment_id, actor=BOB)
    check_holds(squall.runtime)
    view = squall.view(deployment_id)
    assert view.status == "awaiting_approval"
    assert view.waiting_for == "JIRA OPS-8 to be in Approved (now: In Review)"
    assert runs(integration_fleet) == lightning
    issue.status = "Approved"
    time.sleep(0.15)  # the next check is due (outbox.gate_poll_seconds)
    assert check_holds(squall.runtime) == 1
    assert squall.run(deployment_id).status == "succeeded"
    assert runs(integration_fleet) == len(integration_fleet.nodes)


def test_a_gate_check_with_a_bad_token_says_so_and_keeps_holding(
    make_squall: Callable[..., SquallHarness], jira: FakeJira
) -> None:
    jira.add_issue("OPS-9", status="Approved")
    squall = make_squall(jira=jira_settings(jira, gate="Approved", token="not-the-token"))
    right, jira.token = jira.token, "not-the-token"  # accepted at creation, then revoked
    deployment_id = create(squall, "noop", {}, ticket="OPS-9")
    jira.token = right
    check_holds(squall.runtime)
    waiting = squall.view(deployment_id).waiting_for or ""
    assert waiting.startswith(
        "JIRA OPS-9 to be in Approved (cannot check now: JIRA rejected the credentials (401)"
    )
    assert "not-the-token" not in waiting
    assert squall.view(deployment_id).status == "pending"


def test_drift_lists_deployments_without_a_ticket_and_tickets_that_failed_or_never_ran(
    make_squall: Callable[..., SquallHarness], jira: FakeJira, integration_fleet: Fleet
) -> None:
    for key, status in (("OPS-1", "Approved"), ("OPS-2", "Approved"), ("OPS-3", "Open")):
        jira.add_issue(key, status=status)
    squall = make_squall(
        jira=jira_settings(jira, transitions={}, environments={"production": {"gate": "Approved"}})
    )
    fine = create(squall, "noop", {}, ticket="OPS-1")
    untracked = create(squall, "noop", {})
    (integration_fleet.nodes[0].root / "fail").touch()
    failed = create(squall, "group", group(thunder={"gate": "auto"}), ticket="OPS-2")
    never = create(squall, "noop", {}, ticket="OPS-3")  # held: OPS-3 is not approved
    for deployment_id in (fine, untracked):
        squall.run(deployment_id)
    assert squall.run(failed).status == "failed"
    check_holds(squall.runtime)
    assert squall.view(never).status == "pending"
    found = find_drift(
        squall.runtime.settings.section("jira", JiraSettings),
        CommandContext(squall.runtime, squall.actor).deployments(1000),
    )
    assert [(drift.problem, drift.deployment.id) for drift in found] == [
        ("never ran", never),
        ("deployment failed", failed),
        ("no ticket", untracked),
    ]
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("SQUALL_")},
        "SQUALL_DATA_DIR": str(squall.runtime.settings.data_dir),
        "SQUALL_DEMO_INVENTORY": "false",
        "SQUALL_JIRA__URL": jira.url,
        "SQUALL_JIRA__TOKEN": jira.token,
        "COLUMNS": "200",
    }
    squall_bin = Path(sys.executable).parent / "squall"
    drift = subprocess.run(
        [squall_bin, "jira", "drift"], env=env, capture_output=True, text=True, timeout=60
    )
    assert drift.returncode == 0, drift.stderr
    rows = [
        line.split()[:3]
        for line in drift.stdout.splitlines()
        if line.strip().startswith(("never", "deployment", "no"))
    ]
    assert rows == [
        ["never", "ran", str(never)],
        ["deployment", "failed", str(failed)],
        ["no", "ticket", str(untracked)],
    ]
    assert "3 drifted deployment(s)" in drift.stdout
    status = subprocess.run(
        [squall_bin, "status", str(fine)], env=env, capture_output=True, text=True, timeout=60
    )
    assert status.returncode == 0, status.stderr
    assert "deliveries" in status.stdout
    assert re.search(r"jira\s+ticket\s+deployment\.created\s+delivered\s+1", status.stdout)
