"""The new-deployment wizard, through NiceGUI's simulated user, on local nodes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import func, select

from squall.app import DEFAULT_PLUGINS
from squall.core.models import Deployment
from squall.testing.harness import SquallHarness
from squall.ui.pages.wizard import build_selector


def set_value(user: User, marker: str, value: object) -> None:
    element = user.find(marker=marker).elements.pop()
    assert isinstance(element, ui.element)
    element.set_value(value)  # type: ignore[attr-defined]


async def test_the_wizard_plans_and_starts_a_deployment_that_runs(
    console_env: Path, user: User
) -> None:
    await user.open("/new")
    set_value(user, "choose-type", "cache_rebuild")
    user.find(marker="next-type").click()
    user.find(marker="param-rebuild_command").type("sh -c 'echo rebuilt > cache'")
    user.find(marker="next-params").click()
    await user.should_see(marker="target-clusters")
    set_value(user, "target-clusters", ["lab-db"])
    await user.should_see("3 node(s) match: lab-db 3", retries=20)
    set_value(user, "target-exclude", "lab-db-3")
    await user.should_see("2 node(s) match: lab-db 2", retries=20)
    assert (
        user.find(marker="target-selector").elements.pop().value == "cluster:lab-db,!host:lab-db-3"
    )
    user.find(marker="next-targets").click()
    await user.should_see("2 node task(s) in 1 stage(s)", retries=20)
    await user.should_see("$ sh -c &#x27;echo rebuilt &gt; cache&#x27;")
    user.find(marker="start").click()
    await user.should_see(marker="node-grid", retries=30)
    nodes = console_env.parent / "nodes"
    for _ in range(100):
        if (nodes / "lab-db-1" / "cache").exists() and (nodes / "lab-db-2" / "cache").exists():
            break
        await asyncio.sleep(0.1)
    assert (nodes / "lab-db-1" / "cache").read_text() == "rebuilt\n"
    assert not (nodes / "lab-db-3" / "cache").exists()


async def test_the_wizard_shows_parameter_errors_next_to_their_fields(
    console_env: Path, user: User
) -> None:
    await user.open("/new?type=config_change")
    user.find(marker="next-type").click()
    user.find(marker="param-content").type("x")
    user.find(marker="param-mode").type("999")
    user.find(marker="next-params").click()
    await user.should_see("invalid parameters for config_change")
    path = user.find(marker="param-path").elements.pop()
    mode = user.find(marker="param-mode").elements.pop()
    assert path.props.get("error") and "Field required" in path.props.get("error-message", "")
    assert mode.props.get("error") and "octal" in mode.props.get("error-message", "")
    with SquallHarness(console_env, DEFAULT_PLUGINS) as squall, squall.runtime.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Deployment)) == 0  # nothing created


async def test_a_group_configures_its_phases_and_shows_its_blast_radius(
    console_env: Path, user: User
) -> None:
    await user.open("/new?type=group")
    user.find(marker="next-type").click()
    set_value(user, "param-inner_type", "noop")
    await user.should_see(marker="param-inner_params.message")
    set_value(user, "param-lightning_size", "2")
    set_value(user, "param-wave_size", "2")
    set_value(user, "param-lightning.bake_seconds", 60)
    user.find(marker="next-params").click()
    user.find(marker="next-targets").click()
    await user.should_see("6 node task(s) in 3 stage(s)", retries=20)
    preview = user.find(marker="preview").elements.pop().content
    assert "lightning" in preview and "bake 60s" in preview
    assert "thunder 1" in preview and "manual gate (1 approval(s))" in preview
    assert "lab-db 1, lab-web 1" in preview


def test_target_choices_become_a_selector() -> None:
    assert build_selector([], [], "", "") == "all"
    assert build_selector(["a", "b"], ["db"], "db-*", "db-3, db-4") == (
        "cluster:a,cluster:b,&tag:db,&host:db-*,!host:db-3,!host:db-4"
    )


async def _at_targets(user: User) -> None:
    await user.open("/new")
    set_value(user, "choose-type", "noop")
    user.find(marker="next-type").click()
    user.find(marker="next-params").click()
    await user.should_see(marker="target-clusters")


@pytest.mark.parametrize(
    "selector,reason",
    [
        ("", "the selector is empty"),
        ("nodes:web", "unknown term kind 'nodes'"),
        ("cluster:nowhere", "0 node(s) match"),
    ],
)
async def test_the_wizard_refuses_a_target_that_is_empty_malformed_or_matches_nothing(
    console_env: Path, user: User, selector: str, reason: str
) -> None:
    await _at_targets(user)
    set_value(user, "target-selector", selector)
    await user.should_see(reason, retries=20)
    user.find(marker="next-targets").click()
    await user.should_see("Choose targets that match at least one node", retries=20)
    await asyncio.sleep(0.2)
    await user.should_not_see("node task(s) in")  # the plan step was not reached


async def test_nodes_at_once_zero_is_refused_not_changed(console_env: Path, user: User) -> None:
    await _at_targets(user)
    set_value(user, "target-clusters", ["lab-web"])
    await user.should_see("3 node(s) match: lab-web 3", retries=20)
    user.find(marker="next-targets").click()
    await user.should_see("3 node task(s) in 1 stage(s)", retries=20)
    set_value(user, "option-parallel", 0)
    user.find(marker="start").click()
    await user.should_see("parallelism must be at least 1", retries=20)
    with SquallHarness(console_env, DEFAULT_PLUGINS) as squall, squall.runtime.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Deployment)) == 0
