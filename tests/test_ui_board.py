"""The board, through NiceGUI's simulated user."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from nicegui.testing import User
from sqlalchemy import select, update

from squall.app import DEFAULT_PLUGINS
from squall.core.models import Deployment, NodeTask, Stage
from squall.core.services.board import board
from squall.core.status import DeploymentStatus, StageStatus, TaskStatus
from squall.testing.harness import SquallHarness
from squall.ui.pages.board import render


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


def test_only_a_failure_count_above_zero_is_drawn_in_red(console_env: Path) -> None:
    with SquallHarness(console_env, DEFAULT_PLUGINS) as squall:
        failed = squall.deploy(
            "cache_rebuild", target="cluster:lab-db", params={"rebuild_command": "false"}
        )
        fine = squall.deploy("noop", target="cluster:lab-web")
        with squall.runtime.db.read() as session:
            rows = {row.id: row for row in board(session, squall.runtime, squall.actor)}
    progress = {
        deployment: re.findall(r"<td[^>]*>(.*?)</td>", render([rows[deployment]]))[7]
        for deployment in (failed.id, fine.id)
    }
    assert progress[failed.id] == '3/3 · <b class="sq-fg-failed">3</b> · 0 · 0', progress
    assert progress[fine.id] == "3/3 · 0 · 0 · 0", progress


def _running_since(squall: SquallHarness, deployment: int, seconds: float) -> None:
    """As if its first node had been at its first step for `seconds` (others waiting)."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
    with squall.runtime.db.write() as session:
        session.execute(
            update(Deployment)
            .where(Deployment.id == deployment)
            .values(status=DeploymentStatus.RUNNING, started_at=since)
        )
        session.execute(
            update(Stage)
            .where(Stage.deployment_id == deployment)
            .values(status=StageStatus.RUNNING)
        )
        first = session.scalar(
            select(NodeTask.id).where(NodeTask.deployment_id == deployment).order_by(NodeTask.id)
        )
        session.execute(
            update(NodeTask)
            .where(NodeTask.id == first)
            .values(status=TaskStatus.RUNNING, started_at=since, current_step=0)
        )


def test_time_left_is_estimating_without_history_of_the_same_target_and_overdue_past_it(
    console_env: Path,
) -> None:
    with SquallHarness(console_env, DEFAULT_PLUGINS) as squall:
        # History: the rebuild took a moment on lab-web; nothing is known of lab-db.
        squall.deploy("cache_rebuild", target="cluster:lab-web", params={"rebuild_command": "true"})
        elsewhere = squall.create(
            "cache_rebuild", target="cluster:lab-db", params={"rebuild_command": "sleep 900"}
        )
        again = squall.create(
            "cache_rebuild", target="cluster:lab-web", params={"rebuild_command": "true"}
        )
        _running_since(squall, elsewhere, 899)
        _running_since(squall, again, 899)
        with squall.runtime.db.read() as session:
            rows = {row.id: row for row in board(session, squall.runtime, squall.actor)}
    cells = {
        deployment: re.findall(r"<td[^>]*>(.*?)</td>", render([rows[deployment]]))[-1]
        for deployment in (elsewhere, again)
    }
    assert cells[elsewhere] == "estimating", cells
    assert cells[again] == "overdue", cells


async def test_an_empty_board_says_nothing_was_deployed_yet_and_a_filter_that_nothing_matches(
    console_env: Path, user: User
) -> None:
    await user.open("/")
    await user.should_see("No deployments yet.")
    await user.should_not_see("No deployment matches.")
    await user.open("/?type=noop")
    await user.should_see("No deployment matches.")  # a filter hides them, maybe
    await user.should_not_see("No deployments yet.")


def test_a_status_class_carries_its_colour_and_nothing_else() -> None:
    """The board's dots, the chips and the node squares share a status's class
    (`sq-failed`): a layout rule under that name (the failure list's once was) pads every
    failed dot and chip out of shape."""
    from squall.ui.theme import STATUS_COLORS, stylesheet

    rules = re.findall(r"([^{}]+)\{([^{}]*)\}", stylesheet())
    for name, color in STATUS_COLORS.items():
        styled = [
            body for selectors, body in rules if re.search(rf"\.sq-{name}(?![\w-])", selectors)
        ]
        assert styled == [f"background:{color}"], (name, styled)


def test_elapsed_time_reads_as_the_command_line_says_it() -> None:
    """The board and the deployment page say how long a run took as `squall status` does:
    a run of 0.4 s did not take 0 s, and 59.96 s is a minute, not 60.0 s."""
    from squall.ui.components import elapsed
    from squall.ui.console import duration

    start = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
    for span, shown in (
        (0.4, "0.4s"),
        (59.94, "59.9s"),
        (59.96, "1m00s"),
        (125, "2m05s"),
        (3 * 3600 + 65, "3h01m"),
    ):
        end = start + dt.timedelta(seconds=span)
        assert elapsed(start, end) == duration(start, end) == shown, span
    assert elapsed(None, None) == "—"
    assert elapsed(start, start - dt.timedelta(seconds=0.3)) == "0.0s"  # clocks a little apart
