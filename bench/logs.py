#!/usr/bin/env python
"""Log benchmark: the console's log views over one deployment with a large log.

    python bench/logs.py [--nodes 1000] [--lines 300] [--repeat 5] [--database-url URL]

Builds a fresh database (SQLite in a temporary folder unless a URL is given) holding one
planned deployment of `--nodes` local nodes and writes `--lines` log lines per node,
round-robin as a parallel run writes them: a `squall` line opening each node's step, the
same output on most nodes, a different last line (on stderr) on every 100th node, which
is marked failed. Then times the read model (core.services.logs) the log pane's JSON and
text routes call: windows of 500 rows at the start, the middle and the end of each view,
the grouped view's first (uncached) and later (cached) computation, a search over the whole
log and the whole download. Each is the median of `--repeat` runs, every run in its own
read transaction.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml
from sqlalchemy import Table, insert, select, update

from squall.app import DEFAULT_PLUGINS
from squall.core.models import LogLine, NodeTask
from squall.core.services import logs
from squall.core.status import TaskStatus
from squall.testing.harness import SquallHarness

WINDOW = 500
INSERT_BATCH = 50_000


@dataclass
class Timing:
    label: str
    seconds: list[float]
    result: str

    def row(self) -> str:
        median = statistics.median(self.seconds) * 1000
        low, high = min(self.seconds) * 1000, max(self.seconds) * 1000
        return f"{self.label:<44} {median:>9.1f} {low:>9.1f} {high:>9.1f}  {self.result}"


def build(
    root: Path, nodes: int, lines: int, database_url: str | None
) -> tuple[SquallHarness, int]:
    names = [f"node-{index:04d}" for index in range(1, nodes + 1)]
    inventory = root / "inventory.yaml"
    cluster = {
        "defaults": {"transport": "local"},
        "nodes": [{"name": name, "root": str(root / "nodes" / name)} for name in names],
    }
    inventory.write_text(yaml.safe_dump({"clusters": {"bench": cluster}}))
    squall = SquallHarness(root / "squall", DEFAULT_PLUGINS, database_url=database_url)
    squall.import_inventory(inventory)
    deployment_id = squall.create("noop", parallelism=nodes)
    failed = set(names[::100])
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
            .where(NodeTask.deployment_id == deployment_id, NodeTask.node_name.in_(failed))
            .values(status=TaskStatus.FAILED)
        )
    started = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    rows: list[dict[str, Any]] = []
    for k in range(lines):
        for task_id, name in tasks:
            stream, text = "stdout", f"[{k:04d}] rebuilding cache segment {k % 97}: ok"
            if k == 0:
                stream, text = "squall", "step 1/1: rebuild"
            elif k == lines - 1 and name in failed:
                stream, text = "stderr", "error: no space left on device (cache 100%_full)"
            rows.append(
                {
                    "deployment_id": deployment_id,
                    "task_id": task_id,
                    "attempt": 1,
                    "step": 0,
                    "stream": stream,
                    "at": started + dt.timedelta(milliseconds=10 * k),
                    "text": text,
                }
            )
            if len(rows) == INSERT_BATCH:
                _insert(squall, rows)
                rows = []
    if rows:
        _insert(squall, rows)
    return squall, deployment_id


def _insert(squall: SquallHarness, rows: list[dict[str, Any]]) -> None:
    with squall.runtime.db.write() as session:
        session.execute(insert(cast(Table, LogLine.__table__)), rows)


def measure(squall: SquallHarness, label: str, repeat: int, call: Callable[..., Any]) -> Timing:
    seconds: list[float] = []
    result: Any = None
    for _ in range(repeat):
        began = time.perf_counter()
        with squall.runtime.db.read() as session:
            result = call(session, squall.runtime, squall.actor)
            if not isinstance(result, logs.LogPage):
                result = sum(len(line) for line in result)
        seconds.append(time.perf_counter() - began)
    if isinstance(result, logs.LogPage):
        last = result.rows[-1].number if result.rows else None
        described = f"{len(result.rows)} of {result.total:,} rows, last #{last}"
    else:
        described = f"{result / 1e6:.1f} MB"
    return Timing(label, seconds, described)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=300, help="log lines per node")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", help="e.g. postgresql+psycopg://…/db (empty)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="squall-bench-logs-") as folder:
        began = time.perf_counter()
        squall, deployment_id = build(Path(folder), args.nodes, args.lines, args.database_url)
        built = time.perf_counter() - began
        total = args.nodes * args.lines
        node = f"node-{args.nodes // 2 + 1:04d}"  # one of the failed ones
        middle, end = total // 2, total - WINDOW
        per_node_end = args.lines - min(WINDOW, args.lines)
        print(
            f"{total:,} lines ({args.nodes} nodes x {args.lines}) written in {built:.1f} s "
            f"to {squall.runtime.db.url.get_backend_name()}; {args.repeat} runs each\n"
        )

        def window(**options: Any) -> Callable[..., logs.LogPage]:
            def call(session: Any, runtime: Any, actor: Any) -> logs.LogPage:
                return logs.log_window(session, runtime, actor, deployment_id, **options)

            return call

        def grouped_uncached(session: Any, runtime: Any, actor: Any) -> logs.LogPage:
            logs._groupings.clear()  # the benchmark's business: time the computation itself
            return logs.log_window(session, runtime, actor, deployment_id, mode="grouped")

        def download(session: Any, runtime: Any, actor: Any) -> Any:
            return logs.log_text(session, runtime, actor, deployment_id)

        plan: list[tuple[str, Callable[..., Any]]] = [
            ("all: first window", window(mode="all")),
            ("all: middle window", window(mode="all", start=middle)),
            ("all: last window", window(mode="all", start=end)),
            (f"node {node}: first window", window(mode="node", node=node)),
            (f"node {node}: last window", window(mode="node", node=node, start=per_node_end)),
            ("grouped: first window, uncached (computes)", grouped_uncached),
            ("grouped: first window, cached", window(mode="grouped")),
        ]
        with squall.runtime.db.read() as session:
            rows = logs.log_window(
                session, squall.runtime, squall.actor, deployment_id, mode="grouped"
            ).total
        plan += [
            ("grouped: middle window, cached", window(mode="grouped", start=rows // 2)),
            ("grouped: last window, cached", window(mode="grouped", start=max(rows - WINDOW, 0))),
            ("search 'no space' (all, whole log)", window(mode="all", search="no space")),
            (
                "search '100%_' (node, literal % and _)",
                window(mode="node", node=node, search="100%_"),
            ),
            ("search 'no space' (grouped)", window(mode="grouped", search="no space")),
            ("download: whole log as text", download),
        ]
        timings = [measure(squall, label, args.repeat, call) for label, call in plan]
        squall.close()

    print(f"{'':<44} {'median ms':>9} {'min':>9} {'max':>9}  result")
    for timing in timings:
        print(timing.row())


if __name__ == "__main__":
    main()
