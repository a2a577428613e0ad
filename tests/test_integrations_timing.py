"""Integrations under real timing: links that lead to the console actually served, a
temporary Slack channel archived before the deployment runs again, one JIRA ticket shared
by deliveries that fail, a ticket key checked before anything starts, the JIRA gate as
the CLI shows it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from fake_jira import FakeJira
from fake_slack import FakeSlack
from fastapi import FastAPI
from fastapi.testclient import TestClient
from integration_helpers import (
    create,
    delivery_rows,
    group,
    jira_settings,
    settle_deliveries,
    slack_settings,
    wait_for,
)
from sqlalchemy import func, select

from squall.api.server import install
from squall.core.auth import Actor, Grant
from squall.core.console_url import record_served
from squall.core.models import Deployment
from squall.core.services import actions
from squall.core.services.deliveries import deliveries
from squall.core.settings import SSOSettings
from squall.testing.fleet import Fleet
from squall.testing.harness import SquallHarness
from squall.ui.console import held_text

pytest_plugins = ["integration_fixtures"]


def told(jira: FakeJira, slack: FakeSlack) -> str:
    texts = [text for issue in jira.issues.values() for text in issue.comments]
    texts += [str(issue.fields.get("description")) for issue in jira.issues.values()]
    texts += [message.text for message in slack.messages]
    texts += [edit for message in slack.messages for edit in message.edits]
    return "\n".join(texts)


def test_links_lead_to_the_address_the_console_is_served_at(
    make_squall: Callable[..., SquallHarness], jira: FakeJira, slack: FakeSlack
) -> None:
    squall = make_squall(
        jira=jira_settings(jira, create_ticket=True, transitions={}), slack=slack_settings(slack)
    )
    record_served(squall.runtime.settings, "127.0.0.1", 9123)  # as `squall serve --port 9123`
    deployment_id = create(squall, "noop", {})
    assert squall.run(deployment_id).status == "succeeded"
    settle_deliveries(squall)
    text = told(jira, slack)
    page = f"http://127.0.0.1:9123/deployments/{deployment_id}"
    assert f"<{page}|Open in Squall>" in text and f"Squall: {page}" in text
    assert ":8080" not in text


def test_links_use_the_public_url_and_are_left_out_when_no_address_is_known(
    make_squall: Callable[..., SquallHarness], jira: FakeJira, slack: FakeSlack
) -> None:
    public = make_squall(
        jira=jira_settings(jira, create_ticket=True, transitions={}),
        slack=slack_settings(slack),
        sso=SSOSettings(public_url="https://squall.example.com/"),
    )
    record_served(public.runtime.settings, "127.0.0.1", 9123)  # behind a proxy: not this
    first = create(public, "noop", {})
    assert public.run(first).status == "succeeded"
    settle_deliveries(public)
    assert f"<https://squall.example.com/deployments/{first}|Open in Squall>" in told(jira, slack)
    assert ":9123" not in told(jira, slack)
    public.close()

    jira.issues.clear()
    slack.messages.clear()
    (public.runtime.settings.data_dir / "console-url").unlink()
    unknown = make_squall(
        jira=jira_settings(jira, create_ticket=True, transitions={}), slack=slack_settings(slack)
    )
    second = create(unknown, "noop", {})
    assert unknown.run(second).status == "succeeded"
    settle_deliveries(unknown)
    text = told(jira, slack)
    assert "http" not in text and "Open in Squall" not in text
    assert f"Squall deployment {second}" in text


def cli(squall: SquallHarness, jira: FakeJira, *args: str) -> subprocess.CompletedProcess[str]:
    """`squall …` as an operator runs it, on the harness's data directory."""
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("SQUALL_")},
        "SQUALL_DATA_DIR": str(squall.runtime.settings.data_dir),
        "SQUALL_DEMO_INVENTORY": "false",
        "SQUALL_SSH__KEY_FILE": str(squall.runtime.settings.ssh.key_file),
        "SQUALL_SSH__KNOWN_HOSTS": str(squall.runtime.settings.ssh.known_hosts),
        "SQUALL_JIRA__URL": jira.url,
        "SQUALL_JIRA__TOKEN": jira.token,
        "SQUALL_JIRA__GATE": "Approved",
        "COLUMNS": "200",
    }
    squall_bin = Path(sys.executable).parent / "squall"
    return subprocess.run([squall_bin, *args], env=env, capture_output=True, text=True, timeout=60)


def test_deploy_held_by_the_jira_gate_says_what_it_waits_for_and_exits_3(
    make_squall: Callable[..., SquallHarness], jira: FakeJira
) -> None:
    jira.add_issue("OPS-7", status="In Review")
    squall = make_squall()
    held = cli(squall, jira, "deploy", "noop", "--target", "all", "--ticket", "OPS-7")
    assert held.returncode == 3, held.stdout + held.stderr
    assert "waiting for JIRA OPS-7 to be in Approved (now: In Review)" in held.stdout
    assert "squall abort" in held.stdout
    view = squall.view(1)
    assert view.status == "pending" and view.started_at is None


def test_a_ticket_jira_does_not_know_is_refused_before_anything_is_created(
    make_squall: Callable[..., SquallHarness], jira: FakeJira
) -> None:
    """A `--ticket` JIRA does not know is refused before anything is created, from the
    CLI (exit 2) and the API alike; a JIRA that cannot answer refuses it too, clearly."""
    jira.add_issue("OPS-7", status="Approved")
    squall = make_squall()
    refused = cli(squall, jira, "deploy", "noop", "--target", "all", "--ticket", "OPS-404")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "JIRA ticket OPS-404 does not exist" in refused.stderr
    app = FastAPI()
    install(app, make_squall(jira=jira_settings(jira, gate="Approved")).runtime)
    with TestClient(app, base_url="http://127.0.0.1") as http:
        origin = {"Origin": "http://127.0.0.1"}
        body = {"type": "noop", "target": "all", "ticket": "OPS-404"}
        answer = http.post("/api/v1/deployments", json=body, headers=origin)
        assert answer.status_code == 422
        assert answer.json()["fields"] == {"ticket": "no such ticket in JIRA"}
        jira.down()
        answer = http.post("/api/v1/deployments", json={**body, "ticket": "OPS-7"}, headers=origin)
        assert answer.status_code == 422
        assert "ticket OPS-7 cannot be checked: JIRA failed (500)" in answer.text
        jira.up()
        answer = http.post("/api/v1/deployments", json={**body, "ticket": "OPS-7"}, headers=origin)
        assert answer.status_code == 201
    with squall.runtime.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Deployment)) == 1


def test_a_retry_after_the_temporary_channel_was_archived_goes_on_in_the_main_thread(
    make_squall: Callable[..., SquallHarness], slack: FakeSlack, integration_fleet: Fleet
) -> None:
    squall = make_squall(slack=slack_settings(slack, temporary_channels=True, archive_after=0.1))
    (integration_fleet.nodes[0].root / "fail").touch()
    deployment_id = create(squall, "group", group(thunder={"gate": "auto"}))
    assert squall.run(deployment_id).status == "failed"
    settle_deliveries(squall)
    (channel,) = [c for c in slack.channels.values() if c.id != "C0MAIN"]
    wait_for(lambda: (squall.deliver(), channel.archived)[1], 5, "the channel to be archived")
    (integration_fleet.nodes[0].root / "fail").unlink()
    squall.act(actions.retry, deployment_id)
    assert squall.run(deployment_id).status == "succeeded"
    settle_deliveries(squall)
    assert {row.status for row in delivery_rows(squall)} == {"delivered"}
    (pointer,) = slack.roots("C0MAIN")
    replies = [reply.text for reply in slack.thread("C0MAIN", pointer.ts)]
    assert any(f"Deployment {deployment_id} succeeded" in text for text in replies)
    assert pointer.edits and "— succeeded" in pointer.edits[-1]
    assert not slack.channels["C0MAIN"].archived and channel.archived


def test_deliveries_to_one_ticket_keep_their_turn_across_deployments(
    make_squall: Callable[..., SquallHarness], jira: FakeJira, integration_fleet: Fleet
) -> None:
    """Two deployments naming one ticket: a failed delivery of the first holds the
    second's until it is retried, then both go out in the order they were made; a
    deployment on another ticket is not held."""
    jira.add_issue("OPS-5", status="Approved")
    jira.add_issue("OPS-6", status="Approved")
    squall = make_squall(jira=jira_settings(jira, transitions={}))  # comments and reports
    (cluster_a, cluster_b) = sorted({node.cluster for node in integration_fleet.nodes})
    first = create(squall, "noop", {}, ticket="OPS-5", target=f"cluster:{cluster_a}")
    right_token, jira.token = jira.token, "rotated-meanwhile"
    assert squall.run(first).status == "succeeded"
    settle_deliveries(squall)  # 401: the first delivery fails, the others wait behind it
    assert {row.status for row in delivery_rows(squall)} == {"failed", "pending"}
    jira.token = right_token
    second = create(squall, "noop", {}, ticket="OPS-5", target=f"cluster:{cluster_b}")
    other = create(squall, "noop", {}, ticket="OPS-6")
    assert squall.run(second).status == "succeeded"
    assert squall.run(other).status == "succeeded"
    settle_deliveries(squall)  # everything that may go out did
    rows = delivery_rows(squall)
    assert {row.status for row in rows if row.deployment_id == other} == {"delivered"}
    assert {row.status for row in rows if row.deployment_id == second} == {"pending"}
    assert jira.issues["OPS-5"].comments == [] and jira.issues["OPS-6"].comments

    shown = cli(squall, jira, "status", str(second))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    waiting = sum(1 for row in rows if row.deployment_id == second)
    assert (
        f"jira: {waiting} delivery(ies) held behind a failed one of deployment {first} "
        f"(same ticket); `squall deliveries retry {first}`" in " ".join(shown.stdout.split())
    )
    # One who may see only the second deployment learns it is held, not by which one.
    viewer = Actor("val", source="sso", grants=(Grant.parse(f"viewer@cluster:{cluster_b}"),))
    with squall.runtime.db.read() as session:
        held = deliveries(session, squall.runtime, viewer, second).held()["jira"]
    assert (held.waiting, held.behind, held.unseen) == (waiting, (), True)
    assert held_text("jira", held, second) == (
        f"jira: {waiting} delivery(ies) held behind a failed one of a deployment you may "
        "not see (same ticket)"
    )
    app = FastAPI()
    install(app, squall.runtime)
    with TestClient(app, base_url="http://127.0.0.1") as http:
        listed = http.get(f"/api/v1/deployments/{second}/deliveries").json()
        assert {item["held_behind"] for item in listed["deliveries"]} == {first}
        assert all(item["held"] for item in listed["deliveries"])
        assert {item["queue"] for item in listed["deliveries"]} == {"issue:OPS-5"}
        origin = {"Origin": "http://127.0.0.1"}
        retried = http.post(f"/api/v1/deployments/{first}/deliveries/retry", headers=origin)
        assert retried.json() == {"retried": 1}
    settle_deliveries(squall)
    after = delivery_rows(squall)
    assert {row.status for row in after} == {"delivered"}, [
        (row.deployment_id, row.action, row.status, row.last_error)
        for row in after
        if row.status != "delivered"
    ]
    comments = jira.issues["OPS-5"].comments
    owners = [comment.rsplit("[squall ", 1)[1].split("/")[0] for comment in comments]
    assert owners == sorted(owners) and set(owners) == {str(first), str(second)}
