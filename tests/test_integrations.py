"""JIRA and Slack through their real clients against local servers, around group
deployments on real sshd nodes: the full lifecycle, outages, restarts, bad tokens."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest

from core.services import actions
from core.testing.harness import SquallHarness
from fake_http import Outage
from fake_jira import FakeJira
from fake_slack import FakeSlack
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

pytest_plugins = ["integration_fixtures"]


def stage_names(squall: SquallHarness, deployment_id: int) -> list[str]:
    return [stage.name for stage in squall.view(deployment_id).stages]


def test_a_group_deployment_is_told_to_jira_and_slack_from_start_to_end(
    make_squall: Callable[..., SquallHarness],
    jira: FakeJira,
    slack: FakeSlack,
    report: tuple[str, bytes],
) -> None:
    jira.add_issue("OPS-1", status="Approved")
    squall = make_squall(
        jira=jira_settings(jira, gate="Approved, Implementing"),
        slack=slack_settings(slack, temporary_channels=True, archive_after=0.5, invite="alice"),
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
        assert f"/deployments/{deployment_id}" in comment
    nodes = sum(stage.total for stage in squall.view(deployment_id).stages)
    assert f"{nodes} node(s), {nodes} succeeded." in issue.comments[-1]
    ((name, content),) = issue.attachments
    assert name.endswith(".pdf") and content.startswith(b"%PDF")

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
    edits = [found.at for found in slack.requests if found.path == "/api/chat.update"]
    assert all(later - earlier >= 0.3 for earlier, later in itertools.pairwise(edits))
    wait_for(lambda: (squall.deliver(), channel.archived)[1], 5, "the channel to be archived")
    assert all(row.status == "delivered" for row in delivery_rows(squall))
