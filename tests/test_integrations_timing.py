"""Integrations under real timing: links that lead to the console actually served, a
temporary Slack channel archived before the deployment runs again, one JIRA ticket shared
by deliveries that fail, a ticket key checked before anything starts, the JIRA gate as
the CLI shows it."""

from __future__ import annotations

from collections.abc import Callable

from fake_jira import FakeJira
from fake_slack import FakeSlack
from integration_helpers import create, jira_settings, settle_deliveries, slack_settings

from squall.core.console_url import record_served
from squall.core.settings import SSOSettings
from squall.testing.harness import SquallHarness

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
