"""Helpers for the JIRA and Slack tests: settings for the fake servers, creating
deployments, waiting for deliveries."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fake_jira import FakeJira
from fake_slack import FakeSlack
from sqlalchemy import select

from squall.core.auth import Actor
from squall.core.models import Delivery
from squall.core.settings import OutboxSettings
from squall.core.values.deployments import DeploymentRequest
from squall.integrations.jira.settings import JiraSettings
from squall.integrations.slack.settings import SlackSettings
from squall.testing.harness import SquallHarness

BOB = Actor("bob", frozenset({"approver", "operator"}), "sso")
COUNT_RUNS = ["sh", "-c", "echo ran >> runs; test ! -e fail"]
TRANSITIONS = {
    "started": "Start",
    "succeeded": "Complete",
    "failed": "Fail",
    "rolled_back": "Roll back",
}
FAST_OUTBOX = OutboxSettings(
    poll_seconds=0.05,
    backoff_seconds=0.05,
    backoff_max_seconds=0.2,
    gate_poll_seconds=0.1,
    lease_seconds=10,
)


def jira_settings(server: FakeJira, **overrides: Any) -> JiraSettings:
    values: dict[str, Any] = {
        "url": server.url,
        "token": server.token,
        "timeout": 0.5,
        "project": "OPS",
        "transitions": TRANSITIONS,
    }
    values.update(overrides)
    return JiraSettings(**values)


def slack_settings(server: FakeSlack, **overrides: Any) -> SlackSettings:
    values: dict[str, Any] = {
        "url": server.api_url,
        "token": server.token,
        "timeout": 0.5,
        "channel": "C0MAIN",
        "card_seconds": 0.3,
        "users": {"bob": "U0BOB", "alice": "U0ALICE"},
    }
    values.update(overrides)
    return SlackSettings(**values)


def group(**params: Any) -> dict[str, Any]:
    return {
        "inner_type": "cache_rebuild",
        "inner_params": {"rebuild_command": COUNT_RUNS},
        **params,
    }


def create(
    squall: SquallHarness,
    type_name: str,
    params: dict[str, Any],
    *,
    ticket: str | None = None,
    target: str = "all",
) -> int:
    from squall.core.services import deployments

    wanted = DeploymentRequest(type_name, params, target, ticket=ticket)
    deployments.check_outside(squall.runtime, squall.actor, wanted)
    with squall.runtime.db.write() as session:
        return deployments.create(
            session,
            squall.runtime,
            squall.actor,
            wanted,
        )


def wait_for(condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def pending_deliveries(squall: SquallHarness) -> int:
    """Pending deliveries the outbox will still send: not those held behind a failed one
    (they wait for a person to retry or give it up)."""
    from squall.core.outbox.order import turns

    with squall.runtime.db.read() as session:
        rows = session.execute(select(Delivery.id, Delivery.destination, Delivery.status)).all()
        held = {
            delivery_id
            for destination in {row.destination for row in rows}
            for delivery_id in turns(session, destination).held
        }
    return sum(1 for row in rows if row.status == "pending" and row.id not in held)


def settle_deliveries(squall: SquallHarness, timeout: float = 15.0) -> None:
    """Deliver until nothing is pending (coalesced edits wait out their spacing)."""

    def done() -> bool:
        squall.deliver()
        return pending_deliveries(squall) == 0

    wait_for(done, timeout, "every delivery to be sent")


def delivery_rows(squall: SquallHarness) -> list[Delivery]:
    with squall.runtime.db.read() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))
