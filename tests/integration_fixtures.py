"""Fixtures for the JIRA and Slack tests (a pytest plugin of theirs): fake servers, a
fleet of real sshd nodes in a `production` environment, Squall configured for both."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_jira import FakeJira
from fake_slack import FakeSlack
from integration_helpers import FAST_OUTBOX

from squall.app import DEFAULT_PLUGINS
from squall.core.settings import SSHSettings
from squall.testing.fleet import Fleet
from squall.testing.harness import SquallHarness


@pytest.fixture(scope="module")
def fleet6(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """6 real sshd nodes in 2 clusters."""
    with Fleet(tmp_path_factory.mktemp("fleet"), 6, clusters=2) as fleet:
        yield fleet


@pytest.fixture
def integration_fleet(fleet6: Fleet) -> Iterator[Fleet]:
    """Not named `fleet`: this module is a plugin, and would replace that fixture for every
    test module collected after the ones loading it."""
    fleet6.reset()
    yield fleet6
    fleet6.heal()


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    server = FakeJira().start()
    yield server
    server.stop()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


@pytest.fixture
def make_squall(tmp_path: Path, integration_fleet: Fleet) -> Iterator[Callable[..., SquallHarness]]:
    made: list[SquallHarness] = []

    def make(**sections: Any) -> SquallHarness:
        harness = SquallHarness(
            tmp_path / "squall",
            DEFAULT_PLUGINS,
            ssh=SSHSettings(
                key_file=integration_fleet.client_key, known_hosts=integration_fleet.known_hosts
            ),
            settings={"outbox": FAST_OUTBOX, **sections},
        )
        inventory = integration_fleet.inventory()
        for cluster in inventory["clusters"].values():
            cluster["environment"] = "production"
        path = tmp_path / "inventory.yaml"
        path.write_text(yaml.safe_dump(inventory))
        harness.import_inventory(path)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()
