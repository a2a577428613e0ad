"""The log read model: windows over every line, one node's lines and blocks of identical
output; search; download; and a 300,000-line log that stays fast and whole."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from sqlalchemy import Table, insert, select, update

from squall.app import DEFAULT_PLUGINS
from squall.core.auth import Actor
from squall.core.errors import NotFound, ValidationError
from squall.core.models import LogLine, NodeTask
from squall.core.services import actions, views
from squall.core.services.logs import LogPage, LogRow, log_nodes, log_text, log_window
from squall.core.status import TaskStatus
from squall.core.values.views import LogEntry
from squall.testing.harness import SquallHarness

# What each of five local nodes runs: three print the same, one fails, one differs.
SCRIPTS = {
    "n1": "echo hello; echo world",
    "n2": "echo hello; echo world",
    "n3": "echo hello; sleep 0.2; echo 'disk 100%_full' >&2; exit 1",
    "n4": "echo hello; echo world",
    "n5": "echo hello; echo other",
}


def local_inventory(path: Path, nodes: int) -> Path:
    """Local nodes n1, n2, … each working in its own folder under `path`."""
    names = [f"n{index}" for index in range(1, nodes + 1)]
    cluster = {
        "defaults": {"transport": "local"},
        "nodes": [{"name": name, "root": str(path / name)} for name in names],
    }
    path.mkdir(parents=True, exist_ok=True)
    inventory = path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump({"clusters": {"local": cluster}}))
    return inventory


@dataclass(frozen=True)
class Deployed:
    squall: SquallHarness
    id: int
    nodes: Path

    def window(self, **options: Any) -> LogPage:
        with self.squall.runtime.db.read() as session:
            return log_window(session, self.squall.runtime, self.squall.actor, self.id, **options)

    def text(self, node: str | None = None) -> str:
        with self.squall.runtime.db.read() as session:
            return "".join(
                log_text(session, self.squall.runtime, self.squall.actor, self.id, node=node)
            )

    def entries(self, node: str | None = None) -> list[LogEntry]:
        with self.squall.runtime.db.read() as session:
            return views.read_logs(
                session, self.squall.runtime, self.squall.actor, self.id, node=node
            )


@pytest.fixture
def deployed(tmp_path: Path, database_url: str) -> Iterator[Deployed]:
    """A cache rebuild run one node after the other on five local nodes, n3 failing."""
    inventory = local_inventory(tmp_path / "nodes", nodes=len(SCRIPTS))
    for node, script in SCRIPTS.items():
        (tmp_path / "nodes" / node).mkdir(parents=True, exist_ok=True)
        (tmp_path / "nodes" / node / "run.sh").write_text(script + "\n")
    with SquallHarness(tmp_path / "squall", DEFAULT_PLUGINS, database_url=database_url) as squall:
        squall.import_inventory(inventory)
        view = squall.deploy(
            "cache_rebuild", params={"rebuild_command": "sh run.sh"}, parallelism=1
        )
        assert view.status == "failed"
        yield Deployed(squall, view.id, tmp_path / "nodes")


def lines(page: LogPage) -> list[tuple[int, str | None, str | None, str]]:
    return [(row.number, row.node, row.stream, row.text) for row in page.rows]


def header(number: int, status: str, *nodes: str) -> LogRow:
    count = f"{len(nodes)} node" + ("s" if len(nodes) > 1 else "")
    return LogRow(
        number, "header", None, None, None, f"{count} · {status}: {', '.join(nodes)}", nodes, status
    )


def line(number: int, stream: str, text: str) -> LogRow:
    return LogRow(number, "line", None, stream, None, text)


def test_grouped_view_collapses_identical_output_and_puts_failed_nodes_first(
    deployed: Deployed,
) -> None:
    page = deployed.window(mode="grouped")

    assert page.rows == (
        header(0, "failed", "n3"),
        line(1, "stdout", "hello"),
        line(2, "stderr", "disk 100%_full"),
        header(3, "succeeded", "n1", "n2", "n4"),
        line(4, "stdout", "hello"),
        line(5, "stdout", "world"),
        header(6, "succeeded", "n5"),
        line(7, "stdout", "hello"),
        line(8, "stdout", "other"),
    )
    assert (page.total, page.start) == (9, 0)
    assert page.last_line_id == max(entry.id for entry in deployed.entries())


def test_grouped_view_is_windowed_across_blocks(deployed: Deployed) -> None:
    whole = deployed.window(mode="grouped").rows

    for start, count in [(2, 3), (3, 1), (5, 4), (8, 10), (0, 9)]:
        page = deployed.window(mode="grouped", start=start, count=count)
        assert page.rows == whole[start : start + count]
        assert page.total == 9
    assert deployed.window(mode="grouped", start=9).rows == ()


def test_grouped_view_shows_the_latest_attempt_of_a_retried_node(deployed: Deployed) -> None:
    (deployed.nodes / "n3" / "run.sh").write_text(SCRIPTS["n1"] + "\n")
    deployed.squall.act(actions.retry, deployed.id)
    assert deployed.squall.run(deployed.id).status == "succeeded"

    assert deployed.window(mode="grouped").rows == (
        header(0, "succeeded", "n1", "n2", "n3", "n4"),
        line(1, "stdout", "hello"),
        line(2, "stdout", "world"),
        header(3, "succeeded", "n5"),
        line(4, "stdout", "hello"),
        line(5, "stdout", "other"),
    )
    node_output = [
        (number, stream, text)
        for number, _, stream, text in lines(deployed.window(mode="node", node="n3"))
        if stream != "squall"
    ]
    assert [text for _, _, text in node_output] == [
        "hello",
        "disk 100%_full",
        "hello",
        "world",
    ]


def test_node_view_has_one_nodes_lines_in_order(deployed: Deployed) -> None:
    page = deployed.window(mode="node", node="n3")

    assert lines(page) == [
        (0, "n3", "squall", f"connecting to n3 (local {deployed.nodes / 'n3'})"),
        (1, "n3", "squall", "step 1/1: rebuild"),
        (2, "n3", "stdout", "hello"),
        (3, "n3", "stderr", "disk 100%_full"),
        (4, "n3", "squall", page.rows[4].text),
    ]
    # The failure is known by the command's first line on stderr.
    assert page.rows[4].text.startswith("step rebuild: failed: disk 100%_full (")
    assert all(row.kind == "line" and row.at is not None for row in page.rows)
    assert page.total == 5
    assert page.last_line_id == deployed.entries(node="n3")[-1].id
    assert lines(deployed.window(mode="node", node="n3", start=2, count=2)) == lines(page)[2:4]


def test_all_view_interleaves_every_node_in_the_order_written(deployed: Deployed) -> None:
    entries = deployed.entries()
    page = deployed.window(mode="all", count=2000)

    assert lines(page) == [
        (number, entry.node, entry.stream, entry.text) for number, entry in enumerate(entries)
    ]
    assert [row.node for row in page.rows if row.stream == "stdout"] == [
        "n1",
        "n1",
        "n2",
        "n2",
        "n3",
        "n4",
        "n4",
        "n5",
        "n5",
    ]
    assert [row.at for row in page.rows] == [entry.at for entry in entries]
    assert page.total == len(entries) == 25
    middle = deployed.window(mode="all", start=11, count=4)
    assert lines(middle) == lines(page)[11:15]
    assert lines(deployed.window(mode="all", start=24, count=10)) == lines(page)[24:]
    assert deployed.window(mode="all", start=25).rows == ()


def test_search_keeps_matching_lines_in_every_view(deployed: Deployed) -> None:
    everything = deployed.window(mode="all", search="HELLO")
    assert [(row.number, row.node, row.text) for row in everything.rows] == [
        (0, "n1", "hello"),
        (1, "n2", "hello"),
        (2, "n3", "hello"),
        (3, "n4", "hello"),
        (4, "n5", "hello"),
    ]
    assert everything.total == 5

    one_node = deployed.window(mode="node", node="n5", search="oth")
    assert lines(one_node) == [(0, "n5", "stdout", "other")]

    assert deployed.window(mode="grouped", search="WORLD").rows == (
        header(0, "succeeded", "n1", "n2", "n4"),
        line(1, "stdout", "world"),
    )
    assert deployed.window(mode="grouped", search="nothing like this").total == 0


def test_search_takes_percent_and_underscore_literally(deployed: Deployed) -> None:
    for mode, node in [("all", None), ("node", "n3")]:
        for needle in ["%", "_", "100%_", "0%_f"]:
            page = deployed.window(mode=mode, node=node, search=needle)
            # (The connection lines name each node's folder: pytest's, with "_" of its own.)
            found = [row.text for row in page.rows if not row.text.startswith("connecting to")]
            # The line itself, and Squall's note of the step failing with it.
            assert found[0] == "disk 100%_full", (mode, needle)
            assert found[1].startswith("step rebuild: failed: disk 100%_full ("), (mode, needle)
            assert len(found) == 2, (mode, needle)
        assert deployed.window(mode=mode, node=node, search="0_%").rows == ()
    assert deployed.window(mode="grouped", search="%_").rows == (
        header(0, "failed", "n3"),
        line(1, "stderr", "disk 100%_full"),
    )


def test_download_has_every_line_as_text(deployed: Deployed) -> None:
    expected = "".join(
        f"{entry.at:%H:%M:%S} {entry.node} {entry.stream} {entry.text}\n"
        for entry in deployed.entries()
    )

    assert deployed.text() == expected
    assert deployed.text(node="n3") == "".join(
        text for text in expected.splitlines(keepends=True) if text.split()[1] == "n3"
    )
    assert "n3 stderr disk 100%_full\n" in deployed.text()


def test_nodes_are_listed_failed_first(deployed: Deployed) -> None:
    with deployed.squall.runtime.db.read() as session:
        nodes = log_nodes(session, deployed.squall.runtime, deployed.squall.actor, deployed.id)

    assert [(node.name, node.status) for node in nodes] == [
        ("n3", "failed"),
        ("n1", "succeeded"),
        ("n2", "succeeded"),
        ("n4", "succeeded"),
        ("n5", "succeeded"),
    ]


def test_an_unknown_node_is_not_found(deployed: Deployed) -> None:
    with pytest.raises(NotFound, match="has no node n9"):
        deployed.window(mode="node", node="n9")
    with pytest.raises(NotFound, match="has no node n9"):
        deployed.text(node="n9")
    with pytest.raises(NotFound, match="no deployment 999"):
        Deployed(deployed.squall, 999, deployed.nodes).window(mode="all")


def test_a_bad_window_is_refused(deployed: Deployed) -> None:
    bad: list[dict[str, Any]] = [
        {"mode": "tree"},
        {"mode": "all", "count": 0},
        {"mode": "all", "count": 2001},
        {"mode": "all", "start": -1},
        {"mode": "node"},
        {"mode": "all", "node": "n1"},
    ]
    for options in bad:
        with pytest.raises(ValidationError):
            deployed.window(**options)


def test_reading_a_log_needs_permission_to_view_the_deployment(deployed: Deployed) -> None:
    stranger = Actor("stranger", roles=frozenset(), source="sso")
    runtime = deployed.squall.runtime
    # A deployment out of the reader's reach answers like a missing one.
    with runtime.db.read() as session:
        with pytest.raises(NotFound):
            log_window(session, runtime, stranger, deployed.id, mode="grouped")
        with pytest.raises(NotFound):
            log_text(session, runtime, stranger, deployed.id)
        with pytest.raises(NotFound):
            log_nodes(session, runtime, stranger, deployed.id)


# -- a large log ---------------------------------------------------------------------------

NODES = 100
LINES_PER_NODE = 3000
TOTAL = NODES * LINES_PER_NODE
QUICK = 0.5  # seconds: "well under a second" with room for a busy test machine
FAILED = ("n7", "n42")  # their last line differs from the others'
AT = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
LOG_LINES = cast(Table, LogLine.__table__)  # core inserts: much faster than the ORM's


def big_text(node: str, k: int) -> str:
    if node in FAILED and k == LINES_PER_NODE - 1:
        return "fatal: out of disk space"
    return f"line {k} of the rebuild"


@dataclass(frozen=True)
class BigLog:
    squall: SquallHarness
    id: int
    nodes: tuple[str, ...]
    """In the order their lines were written, round-robin (the plan's order)."""

    def window(self, **options: Any) -> tuple[LogPage, float]:
        began = time.perf_counter()
        with self.squall.runtime.db.read() as session:
            page = log_window(session, self.squall.runtime, self.squall.actor, self.id, **options)
        return page, time.perf_counter() - began


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigLog]:
    """300,000 lines: 100 nodes writing 3,000 lines each, one line of each in turn."""
    root = tmp_path_factory.mktemp("big")
    with SquallHarness(root / "squall", DEFAULT_PLUGINS) as squall:
        squall.import_inventory(local_inventory(root / "nodes", nodes=NODES))
        deployment_id = squall.create("noop", parallelism=NODES)
        with squall.runtime.db.write() as session:
            tasks = session.execute(
                select(NodeTask.id, NodeTask.node_name)
                .where(NodeTask.deployment_id == deployment_id)
                .order_by(NodeTask.position)
            ).all()
            session.execute(
                update(NodeTask)
                .where(NodeTask.deployment_id == deployment_id)
                .values(status=TaskStatus.SUCCEEDED)
            )
            session.execute(
                update(NodeTask)
                .where(NodeTask.deployment_id == deployment_id, NodeTask.node_name.in_(FAILED))
                .values(status=TaskStatus.FAILED)
            )
            session.execute(
                insert(LOG_LINES),
                [
                    {
                        "deployment_id": deployment_id,
                        "task_id": task_id,
                        "attempt": 1,
                        "step": 0,
                        "stream": "stderr"
                        if node in FAILED and k == LINES_PER_NODE - 1
                        else "stdout",
                        "at": AT + dt.timedelta(seconds=k),
                        "text": big_text(node, k),
                    }
                    for k in range(LINES_PER_NODE)
                    for task_id, node in tasks
                ],
            )
        yield BigLog(squall, deployment_id, tuple(node for _, node in tasks))


def expected_all_row(big: BigLog, number: int) -> tuple[int, str, str]:
    node = big.nodes[number % NODES]
    return number, node, big_text(node, number // NODES)


@pytest.mark.parametrize("start", [0, TOTAL // 2 - 250, TOTAL - 500])
def test_a_300000_line_log_is_windowed_quickly_and_whole(big_log: BigLog, start: int) -> None:
    page, seconds = big_log.window(mode="all", start=start, count=500)

    assert seconds < QUICK
    assert page.total == TOTAL
    assert [(row.number, row.node, row.text) for row in page.rows] == [
        expected_all_row(big_log, number) for number in range(start, start + 500)
    ]


def test_the_last_window_of_a_300000_line_log_ends_with_its_last_line(big_log: BigLog) -> None:
    page, _ = big_log.window(mode="all", start=TOTAL - 1, count=500)

    assert [(row.number, row.node, row.text) for row in page.rows] == [
        (TOTAL - 1, big_log.nodes[-1], "line 2999 of the rebuild")
    ]
    with big_log.squall.runtime.db.read() as session:
        newest = session.scalar(select(LogLine.id).order_by(LogLine.id.desc()).limit(1))
    assert page.last_line_id == newest


@pytest.mark.parametrize("start", [0, 1500, LINES_PER_NODE - 500])
def test_a_node_of_a_300000_line_log_is_windowed_quickly(big_log: BigLog, start: int) -> None:
    page, seconds = big_log.window(mode="node", node="n42", start=start, count=500)

    assert seconds < QUICK
    assert page.total == LINES_PER_NODE
    assert [(row.number, row.text) for row in page.rows] == [
        (k, big_text("n42", k)) for k in range(start, start + 500)
    ]


def test_a_300000_line_log_grouped_is_computed_once_then_windowed_quickly(
    big_log: BigLog,
) -> None:
    first, seconds_first = big_log.window(mode="grouped", count=5)

    others = tuple(f"n{index}" for index in range(1, NODES + 1) if f"n{index}" not in FAILED)
    assert first.rows[0] == LogRow(
        0,
        "header",
        None,
        None,
        None,
        "2 nodes · failed: n7, n42",
        FAILED,
        "failed",
    )
    assert first.total == 2 * (1 + LINES_PER_NODE)
    assert seconds_first < 5 * QUICK  # reads all 300,000 lines once

    for start in [0, LINES_PER_NODE, first.total - 500]:
        page, seconds = big_log.window(mode="grouped", start=start, count=500)
        assert seconds < QUICK
        assert len(page.rows) == 500
    middle, _ = big_log.window(mode="grouped", start=LINES_PER_NODE + 1, count=2)
    assert middle.rows[0].kind == "header"
    assert middle.rows[0].nodes == others  # n2 before n10
    assert middle.rows[0].text == (
        "98 nodes · succeeded: n1, n2, n3, n4, n5, n6, n8, n9, … (+90 more)"
    )
    assert middle.rows[1] == LogRow(
        LINES_PER_NODE + 2, "line", None, "stdout", None, "line 0 of the rebuild"
    )
    end, _ = big_log.window(mode="grouped", start=first.total - 1)
    assert end.rows == (
        LogRow(first.total - 1, "line", None, "stdout", None, "line 2999 of the rebuild"),
    )


def test_a_300000_line_log_is_searched_in_sql(big_log: BigLog) -> None:
    page, seconds = big_log.window(mode="all", search="OUT OF DISK")

    assert seconds < 2 * QUICK
    written_first = [node for node in big_log.nodes if node in FAILED]
    assert [(row.number, row.node, row.stream, row.text) for row in page.rows] == [
        (number, node, "stderr", "fatal: out of disk space")
        for number, node in enumerate(written_first)
    ]
    assert page.total == 2
    grouped, _ = big_log.window(mode="grouped", search="out of disk")
    assert [(row.kind, row.text) for row in grouped.rows] == [
        ("header", "2 nodes · failed: n7, n42"),
        ("line", "fatal: out of disk space"),
    ]


def test_a_300000_line_log_downloads_whole(big_log: BigLog) -> None:
    with big_log.squall.runtime.db.read() as session:
        text = "".join(log_text(session, big_log.squall.runtime, big_log.squall.actor, big_log.id))

    written = text.splitlines()
    assert len(written) == TOTAL
    assert written[0] == "12:00:00 n1 stdout line 0 of the rebuild"
    assert written[-1] == f"12:49:59 {big_log.nodes[-1]} stdout line 2999 of the rebuild"
    n7 = TOTAL - NODES + big_log.nodes.index("n7")
    assert written[n7] == "12:49:59 n7 stderr fatal: out of disk space"
