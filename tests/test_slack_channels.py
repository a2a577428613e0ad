"""The temporary channel of a group deployment in a large workspace, with the real
slack_sdk client against a local Slack that pages its answers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fake_slack import Channel, FakeSlack
from slack_sdk import WebClient

from squall.core.integration import DeliveryFailed, DeploymentInfo
from squall.integrations.slack.destination import open_channel

DEPLOYMENT = DeploymentInfo(
    id=7,
    type="group",
    title="Group: Config change on 40 nodes",
    requester="alice",
    ticket=None,
    status="running",
    target="all",
    environments=("production",),
    clusters=("web",),
    created_at=dt.datetime(2026, 11, 26, tzinfo=dt.UTC),
    started_at=None,
    finished_at=None,
)
NAME = "squall-7-group-config-change-on-40-nodes"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    server.page_size = 2  # answers hold two channels: finding one takes every page
    yield server
    server.stop()


def client(slack: FakeSlack) -> WebClient:
    return WebClient(token=slack.token, base_url=slack.api_url)


def test_a_new_channel_is_created_with_the_deployments_name(slack: FakeSlack) -> None:
    channel = open_channel(client(slack), DEPLOYMENT)
    assert slack.channels[channel].name == NAME


def test_a_channel_an_earlier_attempt_created_is_found_on_a_later_page(
    slack: FakeSlack,
) -> None:
    for number in range(5):
        slack.channels[f"C9{number}"] = Channel(f"C9{number}", f"ops-{number}")
    slack.channels["C99"] = Channel("C99", NAME)  # made by an attempt whose answer was lost
    assert open_channel(client(slack), DEPLOYMENT) == "C99"
    lists = [r for r in slack.requests if r.path.endswith("conversations.list")]
    assert len(lists) == 4  # seven channels, two a page
    assert len(slack.channels) == 7  # none created


def test_an_archived_namesake_is_not_taken_for_the_channel(slack: FakeSlack) -> None:
    slack.channels["C99"] = Channel("C99", NAME, archived=True)
    with pytest.raises(DeliveryFailed, match="name_taken"):
        open_channel(client(slack), DEPLOYMENT)
