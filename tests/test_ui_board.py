"""The board, through NiceGUI's simulated user."""

from __future__ import annotations

from pathlib import Path

from nicegui.testing import User

from squall.app import DEFAULT_PLUGINS
from squall.testing.harness import SquallHarness


async def test_the_board_lists_deployments_with_their_progress(
    console_env: Path, user: User
) -> None:
    with SquallHarness(console_env, DEFAULT_PLUGINS) as squall:
        squall.deploy("cache_rebuild", target="cluster:lab-db", params={"rebuild_command": "false"})
        squall.deploy("noop", target="cluster:lab-web")
    await user.open("/")
    await user.should_see(marker="board")
    await user.should_see("Cache rebuild on 3 nodes of lab-db")
    await user.should_see("No-op on 3 nodes of lab-web")
    await user.should_see("2 deployment(s)")
