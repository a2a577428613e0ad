"""JIRA and Slack through their real clients against local servers, around group
deployments on real sshd nodes: the full lifecycle, outages, restarts, bad tokens."""

from __future__ import annotations

import io
import itertools
import json
import time
from collections.abc import Callable

import pytest
from fake_http import Outage
from fake_jira import FakeJira
from fake_slack import FakeSlack
from fastapi import FastAPI
from fastapi.testclient import TestClient
from integration_helpers import (
    BOB,
    create,
    delivery_rows,
    group,
    jira_settings,
    pending_deliveries,
    settle_deliveries,
    slack_settings,
    wait_for,
)
from pypdf import PdfReader

from squall.api.server import install
from squall.core.services import actions
from squall.core.settings import SSOSettings
from squall.testing.fleet import Fleet
from squall.testing.harness import SquallHarness

pytest_plugins = ["integration_fixtures"]


def stage_names(squall: SquallHarness, deployment_id: int) -> list[str]:
    return [stage.name for stage in squall.view(deployment_id).stages]


def test_a_group_deployment_is_told_to_jira_and_slack_from_start_to_end(
    make_squall: Callable[..., SquallHarness],
    jira: FakeJira,
    slack: FakeSlack,
) -> None:
    jira.add_issue("OPS-1", status="Approved")
    squall = make_squall(
        jira=jira_settings(jira, gate="Approved, Implementing"),
        slack=slack_settings(slack, temporary_channels=True, archive_after=0.5, invite="alice"),
        sso=SSOSettings(public_url="https://squall.example.com"),
    )
    squall.actor = squall.actor.__class__("carol", squall.actor.roles, squall.actor.source)
    deployment_id = create(squall, "group", group(), ticket="OPS-1")
    first = squall.run(deployment_id)
    assert first.status == "awaiting_approval"
    squall.act(actions.promote, deployment_id, "looks fine", actor=BOB)
    assert squall.run(deployment_id).status == "succeeded"
    settle_deliveries(squall)
    stages = stage_names(squall, deployment_id)
    assert stages[0] == "lightning" and len(stages) >= 3

    issue = jira.issues["OPS-1"]
    assert issue.transitions == ["Start", "Complete"]
    assert issue.status == "Done"
    expected = [f"Stage {name} succeeded: " for name in stages] + [
        f"Deployment {deployment_id} succeeded: "
    ]
    assert len(issue.comments) == len(expected)
    for comment, start in zip(issue.comments, expected, strict=True):
        assert comment.startswith(start), comment
        assert f"https://squall.example.com/deployments/{deployment_id}" in comment
    nodes = sum(stage.total for stage in squall.view(deployment_id).stages)
    assert f"{nodes} node(s), {nodes} succeeded." in issue.comments[-1]
    ((name, content),) = issue.attachments
    assert name == f"squall-deployment-{deployment_id}.pdf"
    assert content.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    assert f"{deployment_id}" in text and "lightning" in text

    main = slack.roots("C0MAIN")
    assert len(main) == 1  # the pointer, not the card
    (channel,) = [c for c in slack.channels.values() if c.id != "C0MAIN"]
    assert f"<#{channel.id}>" in main[0].text
    assert channel.name.startswith(f"squall-{deployment_id}-")
    assert channel.members == ["U0ALICE", "U0BOB"]  # carol has no Slack id; bob approved
    (card,) = slack.roots(channel.id)
    assert card.edits and f"Deployment {deployment_id}" in card.edits[-1]
    assert "— succeeded" in card.edits[-1] and "ticket OPS-1" in card.edits[-1]
    replies = slack.thread(channel.id, card.ts)
    texts = [reply.text for reply in replies if not reply.files]
    assert texts[:-1] == [
        f":white_check_mark: Stage *{name}* succeeded: {stage.total} succeeded"
        for name, stage in zip(stages, squall.view(deployment_id).stages, strict=True)
    ]
    assert texts[-1].startswith(f":white_check_mark: Deployment {deployment_id} succeeded in ")
    (upload,) = [reply for reply in replies if reply.files]
    assert upload.files[0]["name"] == name and replies[-1] is upload
    uploaded_name, uploaded = slack.uploads[upload.files[0]["id"]]
    assert uploaded_name == name and uploaded is not None and uploaded.startswith(b"%PDF")
    edits = [found.at for found in slack.requests if found.path == "/api/chat.update"]
    assert all(later - earlier >= 0.3 for earlier, later in itertools.pairwise(edits))
    wait_for(lambda: (squall.deliver(), channel.archived)[1], 5, "the channel to be archived")
    assert all(row.status == "delivered" for row in delivery_rows(squall))


def test_the_slack_card_names_the_node_a_stage_went_on_without(
    make_squall: Callable[..., SquallHarness], slack: FakeSlack, integration_fleet: Fleet
) -> None:
    squall = make_squall(slack=slack_settings(slack))
    (integration_fleet.node("node-02").root / "fail").write_text("")
    deployment_id = create(
        squall,
        "cache_rebuild",
        {"rebuild_command": ["sh", "-c", "test ! -e fail"]},
        target="cluster:node-cluster-a",
    )
    assert squall.run(deployment_id).status == "failed"
    squall.act(actions.exclude_failed, deployment_id)
    assert squall.run(deployment_id).status == "succeeded_with_exclusions"
    settle_deliveries(squall)
    (card,) = slack.roots("C0MAIN")
    (stage,) = squall.view(deployment_id).stages
    assert stage.status == "succeeded" and stage.counts["excluded"] == 1
    last = card.edits[-1]
    assert "— succeeded with exclusions" in last
    assert f"• rebuild: succeeded with exclusions ({stage.total}/{stage.total}, 1 excluded)" in last


def expected_story(squall: SquallHarness, deployment_id: int) -> tuple[list[str], list[str]]:
    """The JIRA comments' and the Slack thread's first words, in order, for a group
    deployment that succeeded."""
    stages = stage_names(squall, deployment_id)
    comments = [f"Stage {name} succeeded: " for name in stages]
    replies = [f":white_check_mark: Stage *{name}* succeeded" for name in stages]
    return (
        [*comments, f"Deployment {deployment_id} succeeded: "],
        [*replies, f":white_check_mark: Deployment {deployment_id} succeeded"],
    )


def assert_told_once(
    squall: SquallHarness, jira: FakeJira, slack: FakeSlack, deployment_id: int
) -> None:
    comments, replies = expected_story(squall, deployment_id)
    issue = jira.issues["OPS-1"]
    assert issue.transitions == ["Start", "Complete"]
    assert len(issue.comments) == len(comments)
    assert all(
        found.startswith(start) for found, start in zip(issue.comments, comments, strict=True)
    )
    assert len(issue.attachments) == 1
    (card,) = slack.roots("C0MAIN")
    thread = slack.thread("C0MAIN", card.ts)
    texts = [reply.text for reply in thread if not reply.files]
    assert len(texts) == len(replies)
    assert all(found.startswith(start) for found, start in zip(texts, replies, strict=True))
    assert sum(1 for reply in thread if reply.files) == 1
    assert "— succeeded" in card.text
    assert all(row.status == "delivered" for row in delivery_rows(squall))


OUTAGES = {
    "500": Outage(status=500),
    "429": Outage(status=429, retry_after=0.2),
    "timeout": Outage(delay=1.0),  # answered after the client gave up (0.5 s), and carried out
}


@pytest.mark.parametrize("outage", OUTAGES, ids=list(OUTAGES))
def test_jira_and_slack_down_for_the_whole_run_get_everything_once_in_order_when_back(
    make_squall: Callable[..., SquallHarness],
    jira: FakeJira,
    slack: FakeSlack,
    outage: str,
) -> None:
    jira.add_issue("OPS-1", status="Approved")
    squall = make_squall(jira=jira_settings(jira), slack=slack_settings(slack))
    deployment_id = create(squall, "group", group(thunder={"gate": "auto"}), ticket="OPS-1")
    jira.down(OUTAGES[outage])  # after the ticket was checked at creation
    slack.down(OUTAGES[outage])
    assert squall.run(deployment_id).status == "succeeded"  # an outage never holds it up
    squall.deliver(timeout=3)
    rows = delivery_rows(squall)
    assert pending_deliveries(squall) == len([row for row in rows if row.status == "pending"]) > 0
    assert all(row.status == "pending" for row in rows)  # none given up
    jira_rows = [row for row in rows if row.destination == "jira"]
    assert jira_rows[0].action == "ticket" and jira_rows[0].attempts >= 1
    assert jira_rows[0].last_error is not None
    if outage == "429":
        assert "rate-limiting (429)" in jira_rows[0].last_error
    elif outage == "500":
        assert "JIRA failed (500)" in jira_rows[0].last_error
    else:
        assert "did not answer in time" in jira_rows[0].last_error
    # Later deliveries wait behind the first one of their deployment: nothing out of order.
    assert all(row.attempts == 0 for row in jira_rows[1:])
    jira.up()
    slack.up()
    if OUTAGES[outage].delay:
        time.sleep(OUTAGES[outage].delay + 0.2)  # the slow requests still in flight land
    settle_deliveries(squall)
    assert_told_once(squall, jira, slack, deployment_id)


def test_pending_deliveries_survive_a_restart_of_squall(
    make_squall: Callable[..., SquallHarness],
    jira: FakeJira,
    slack: FakeSlack,
) -> None:
    jira.add_issue("OPS-1", status="Approved")
    squall = make_squall(jira=jira_settings(jira), slack=slack_settings(slack))
    deployment_id = create(squall, "group", group(thunder={"gate": "auto"}), ticket="OPS-1")
    jira.down()
    slack.down()
    assert squall.run(deployment_id).status == "succeeded"
    squall.deliver(timeout=2)
    pending = pending_deliveries(squall)
    assert pending > 0
    squall.close()  # Squall stops with deliveries pending
    jira.up()
    slack.up()
    again = squall.restart()
    try:
        assert pending_deliveries(again) == pending
        settle_deliveries(again)
        assert_told_once(again, jira, slack, deployment_id)
    finally:
        again.close()


def test_bad_tokens_fail_the_deliveries_with_a_clear_error_and_no_retries(
    make_squall: Callable[..., SquallHarness],
    jira: FakeJira,
    slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    jira.add_issue("OPS-1", status="Approved")
    jira.token, slack.token = "the-right-jira-token", "xoxb-the-right-one"
    squall = make_squall(
        jira=jira_settings(jira, token="wrong-jira-token-123"),
        slack=slack_settings(slack, token="xoxb-wrong-token-456"),
    )
    jira.token = "wrong-jira-token-123"  # accepted when the ticket is checked, then revoked
    deployment_id = create(squall, "group", group(thunder={"gate": "auto"}), ticket="OPS-1")
    jira.token = "the-right-jira-token"
    assert squall.run(deployment_id).status == "succeeded"
    settle_deliveries(squall)
    requests = len(jira.requests) + len(slack.requests)
    squall.deliver()
    assert len(jira.requests) + len(slack.requests) == requests  # given up: no more tries
    rows = delivery_rows(squall)
    # Each destination's first delivery failed; the deployment's later ones are held
    # behind it (in order), never sent out of turn.
    failed = [row for row in rows if row.status == "failed"]
    held = [row for row in rows if row.status == "pending"]
    assert {row.status for row in rows} == {"failed", "pending"}
    assert all(row.attempts == 1 for row in failed) and all(row.attempts == 0 for row in held)
    assert all(row.ordered for row in held)
    for destination in ("jira", "slack"):
        first = min(row.id for row in rows if row.destination == destination and row.ordered)
        assert {row.id for row in failed if row.destination == destination and row.ordered} == {
            first
        }
    jira_errors = {row.last_error for row in rows if row.destination == "jira"}
    assert any(
        error and error.startswith("JIRA rejected the credentials (401) while ")
        for error in jira_errors
    )
    slack_errors = {row.last_error for row in rows if row.destination == "slack"}
    assert any(
        error and error.startswith("Slack rejected the bot token (invalid_auth)")
        for error in slack_errors
    )
    from squall.core.services.deliveries import deliveries

    with squall.runtime.db.read() as session:
        shown = deliveries(session, squall.runtime, squall.actor, deployment_id)
    assert shown.count("failed") == len(failed) and shown.count("pending") == len(held)
    assert set(shown.held()) == {"jira", "slack"}
    everything = " ".join(str(row.last_error) for row in rows) + caplog.text
    assert "wrong-jira-token-123" not in everything and "xoxb-wrong-token-456" not in everything
    assert jira.issues["OPS-1"].comments == [] and slack.messages == []
    # The same, and the way back once the tokens are fixed, through the REST API.
    app = FastAPI()
    install(app, squall.runtime)
    with TestClient(app, base_url="http://127.0.0.1") as http:
        listed = http.get(f"/api/v1/deployments/{deployment_id}/deliveries").json()
        assert {item["id"]: item["status"] for item in listed["deliveries"]} == {
            row.id: row.status for row in rows
        }
        assert "invalid_auth" in listed["links"]["slack"]["unposted"]
        assert "wrong-jira-token-123" not in json.dumps(listed)
        # Given up, the failed ones free the next in line, which go out (and fail, here).
        origin = {"Origin": "http://127.0.0.1"}  # from the console's own page
        given_up = http.post(
            f"/api/v1/deployments/{deployment_id}/deliveries/give-up", headers=origin
        )
        assert given_up.json() == {"given_up": len(failed)}
        settle_deliveries(squall)
        after = {row.id: row for row in delivery_rows(squall)}
        assert {after[row.id].status for row in failed} == {"given_up"}
        nexts = [after[row.id] for row in held if after[row.id].attempts]
        assert {row.destination for row in nexts} == {"jira", "slack"}
        assert all(row.status == "failed" for row in nexts)
        still_failed = sum(1 for row in after.values() if row.status == "failed")
        retried = http.post(f"/api/v1/deployments/{deployment_id}/deliveries/retry", headers=origin)
        assert retried.json() == {"retried": still_failed}
    assert {row.status for row in delivery_rows(squall)} == {"pending", "given_up"}


def test_an_integration_enabled_later_starts_with_the_deployments_to_come(
    make_squall: Callable[..., SquallHarness], slack: FakeSlack
) -> None:
    without = make_squall()
    earlier = create(without, "noop", {})
    assert without.run(earlier).status == "succeeded"
    # The same installation restarted with Slack configured: only what comes next is told.
    with_slack = make_squall(slack=slack_settings(slack))
    later = create(with_slack, "noop", {})
    assert with_slack.run(later).status == "succeeded"
    settle_deliveries(with_slack)
    assert {row.deployment_id for row in delivery_rows(with_slack)} == {later}
    cards = [message for message in slack.messages if message.thread_ts is None]
    assert len(cards) == 1 and f"Deployment {later}:" in cards[0].text
