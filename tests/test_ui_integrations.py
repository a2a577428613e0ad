"""The deployment page shows what JIRA and Slack were told, what failed and why, and
what a JIRA gate waits for."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_jira import FakeJira
from fake_slack import FakeSlack
from nicegui.testing import User

from squall.app import DEFAULT_PLUGINS
from squall.core.services import deployments
from squall.core.settings import load_settings
from squall.core.values.deployments import DeploymentRequest
from squall.testing.harness import SquallHarness


@pytest.fixture
def fakes(
    console_env: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FakeJira, FakeSlack]]:
    """JIRA with a gate on `Approved`; Slack with a token it rejects. Request before `user`."""
    jira, slack = FakeJira().start(), FakeSlack().start()
    for name, value in {
        "SQUALL_JIRA__URL": jira.url,
        "SQUALL_JIRA__TOKEN": jira.token,
        "SQUALL_JIRA__GATE": "Approved",
        "SQUALL_JIRA__TIMEOUT": "2",
        "SQUALL_SLACK__URL": slack.api_url,
        "SQUALL_SLACK__TOKEN": "xoxb-revoked-long-ago",
        "SQUALL_SLACK__CHANNEL": "C0MAIN",
        "SQUALL_OUTBOX__POLL_SECONDS": "0.1",
        "SQUALL_OUTBOX__GATE_POLL_SECONDS": "0.2",
    }.items():
        monkeypatch.setenv(name, value)
    yield jira, slack
    jira.stop()
    slack.stop()


async def test_the_page_shows_the_jira_gate_and_a_rejected_slack_token(
    console_env: Path, fakes: tuple[FakeJira, FakeSlack], user: User
) -> None:
    jira, slack = fakes
    ticket = jira.add_issue("OPS-4", status="In Review")
    configured = load_settings()
    with (
        SquallHarness(
            console_env,
            DEFAULT_PLUGINS,
            settings=dict(configured.sections),
        ) as squall,
        squall.runtime.db.write() as session,
    ):
        deployment_id = deployments.create(
            session,
            squall.runtime,
            squall.actor,
            DeploymentRequest("noop", {}, "all", ticket="OPS-4"),
        )
    await user.open(f"/deployments/{deployment_id}")
    await user.should_see("Waiting for JIRA OPS-4 to be in Approved (now: In Review)", retries=50)
    await user.should_see(marker="deliveries")
    await user.should_see(
        "open (deployment.created), failed after 1 attempt(s): Slack rejected the bot token "
        "(invalid_auth)",
        retries=50,
    )
    await user.open("/")  # the board says why it has not started either
    await user.should_see("JIRA OPS-4 to be in Approved (now: In Review)", retries=50)
    await user.open(f"/deployments/{deployment_id}")
    ticket.status = "Approved"
    await user.should_not_see("Waiting for JIRA", retries=50)
    panel = user.find(marker="deliveries").elements.pop()
    for _ in range(50):
        if "delivered</span> <span style='color:#777'>(key OPS-4)" in panel.content:
            break
        await asyncio.sleep(0.1)
    assert "(key OPS-4)" in panel.content and "delivered" in panel.content
    assert slack.messages == []
