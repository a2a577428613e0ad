#!/usr/bin/env python
"""Report benchmark: the PDF report of one large deployment.

    python bench/report.py [--nodes 5000] [--clusters 25] [--repeat 3] [--keep FILE]

Builds a fresh SQLite database holding one finished group-style deployment of `--nodes`
nodes over `--clusters` clusters (lightning, then four thunder waves; three steps a node;
one node in 53 failed at its second step with five last lines), written straight into the
tables, no SSH. Then times, as the median of `--repeat` runs:

- computing the report from the database (`squall.core.reports.data`),
- rendering Squall's PDF (summary page and charts, every table, footers),
- and two peers in the same run: the same node table written with the `csv` module (the
  spreadsheet teams build by hand today, no layout at all), and a naive reportlab PDF:
  the node table alone as one platypus `Table` with a repeated header, no charts, no
  other sections, no footer. The naive PDF is the fair peer for rendering cost; the CSV
  shows what any layout costs.

The target is the whole report (compute + PDF) under 5 s for 5,000 nodes.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reportlab.lib.pagesizes import A4, landscape
from reportlab.platypus import SimpleDocTemplate, Table
from sqlalchemy import insert, select

from squall.app import DEFAULT_PLUGINS
from squall.core.models import Deployment, Event, NodeTask, Stage, StepResult
from squall.core.reports import data
from squall.core.reports.model import Generation
from squall.core.services import reports
from squall.core.status import DeploymentStatus, StageKind, StageStatus, TaskStatus
from squall.testing.harness import SquallHarness

STEPS = ("prepare", "rebuild", "verify")
WAVES = ("lightning", "thunder 1", "thunder 2", "thunder 3", "thunder 4")


def build(harness: SquallHarness, nodes: int, clusters: int) -> int:
    start = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    with harness.runtime.db.write() as session:
        deployment = Deployment(
            type="cache_rebuild",
            title=f"Cache rebuild on {nodes} nodes of {clusters} clusters",
            params={"rebuild_command": ["rebuild-cache", "--all"], "verify_attempts": 3},
            selector="all",
            options={"parallelism": 200, "max_failures": "5%", "step_timeout": None},
            scope={"clusters": [f"cluster-{c:02d}" for c in range(clusters)]},
            requester="alice",
            ticket="OPS-4711",
            status=DeploymentStatus.FAILED,
            created_at=start,
            started_at=start,
            finished_at=start + dt.timedelta(minutes=40),
        )
        session.add(deployment)
        session.flush()
        stage_ids = []
        lightning = max(1, nodes // 100)
        sizes = [lightning, *_split(nodes - lightning, len(WAVES) - 1)]
        for position, (name, _size) in enumerate(zip(WAVES, sizes, strict=True)):
            stage = Stage(
                deployment_id=deployment.id,
                position=position,
                name=name,
                kind=StageKind.DEPLOY,
                parallelism=200,
                max_failure_percent=5.0,
                gate=position == 1,
                status=StageStatus.SUCCEEDED,
                started_at=start + dt.timedelta(minutes=8 * position),
                finished_at=start + dt.timedelta(minutes=8 * position + 7),
            )
            session.add(stage)
            session.flush()
            stage_ids.append(stage.id)
        tasks, results = [], []
        index = 0
        for stage_index, size in enumerate(sizes):
            for _ in range(size):
                failed = index % 53 == 7
                began = start + dt.timedelta(minutes=8 * stage_index, seconds=index % 300)
                took = dt.timedelta(seconds=20 + (index * 37) % 90)
                tasks.append(
                    {
                        "id": index + 1,
                        "deployment_id": deployment.id,
                        "stage_id": stage_ids[stage_index],
                        "position": index,
                        "node_name": f"node-{index + 1:05d}",
                        "cluster_name": f"cluster-{index % clusters:02d}",
                        "node": {"host": f"10.0.{index // 250}.{index % 250}", "port": 22},
                        "steps": "[]",
                        "step_names": list(STEPS),
                        "status": TaskStatus.FAILED if failed else TaskStatus.SUCCEEDED,
                        "attempt": 1,
                        "started_at": began,
                        "finished_at": began + took,
                        "failed_step": 1 if failed else None,
                        "failed_step_name": "rebuild" if failed else None,
                        "exit_code": 3 if failed else None,
                        "error": "exited with status 3" if failed else None,
                        "last_lines": (
                            [f"rebuilding shard {n} of node-{index + 1:05d}" for n in range(4)]
                            + ["error: cache volume is full"]
                            if failed
                            else None
                        ),
                    }
                )
                for position, step in enumerate(STEPS):
                    if failed and position == 2:
                        break
                    bad = failed and position == 1
                    results.append(
                        {
                            "task_id": index + 1,
                            "attempt": 1,
                            "position": position,
                            "name": step,
                            "status": TaskStatus.FAILED if bad else TaskStatus.SUCCEEDED,
                            "exit_code": 3 if bad else 0,
                            "data": None,
                            "started_at": began,
                            "finished_at": began + took,
                        }
                    )
                index += 1
        session.execute(insert(NodeTask), tasks)
        session.execute(insert(StepResult), results)
        kinds = ["deployment.created", "deployment.started"]
        kinds += [f"stage.{what}" for _ in WAVES for what in ("started", "succeeded")]
        session.execute(
            insert(Event),
            [
                {
                    "deployment_id": deployment.id,
                    "kind": kind,
                    "actor": "alice" if kind == "deployment.created" else None,
                    "data": {},
                    "created_at": start + dt.timedelta(minutes=number),
                }
                for number, kind in enumerate([*kinds, "deployment.failed"])
            ],
        )
        return deployment.id


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if part < extra else 0) for part in range(parts)]


def naive_pdf(rows: list[list[str]]) -> bytes:
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=landscape(A4)).build([Table(rows, repeatRows=1)])
    return buffer.getvalue()


def timed(repeat: int, work: Callable[[], Any]) -> tuple[float, Any]:
    seconds, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = work()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--clusters", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="Write the PDF here to look at it.")
    options = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as folder,
        SquallHarness(Path(folder), DEFAULT_PLUGINS) as harness,
    ):
        began = time.perf_counter()
        deployment_id = build(harness, options.nodes, options.clusters)
        print(f"built {options.nodes} node tasks in {time.perf_counter() - began:.1f} s")
        generation = Generation(dt.datetime.now(dt.UTC), "bench", "bench")

        def compute() -> Any:
            with harness.runtime.db.read() as session:
                return data.deployment_report(session, harness.runtime, deployment_id, generation)

        compute_s, report = timed(options.repeat, compute)
        pdf_s, pdf = timed(
            options.repeat, lambda: reports.render_pdf(harness.runtime, harness.actor, report)
        )
        table = [list(row) for row in _node_rows(report)]
        csv_s, _ = timed(options.repeat, lambda: _csv(table))
        naive_s, naive = timed(options.repeat, lambda: naive_pdf(table))
        with harness.runtime.db.read() as session:
            failed = session.scalar(
                select(NodeTask.id).where(NodeTask.status == TaskStatus.FAILED).limit(1)
            )
        assert failed is not None
    if options.keep:
        options.keep.write_bytes(pdf)
    total = compute_s + pdf_s
    pages = pdf.count(b"/Type /Page\n") or pdf.count(b"/Type /Page")
    print(f"{options.nodes} nodes, {options.clusters} clusters, median of {options.repeat}")
    print(f"{'compute the report':<44} {compute_s:>7.2f} s")
    print(f"{'render the PDF':<44} {pdf_s:>7.2f} s  {len(pdf) / 1e6:.1f} MB, {pages} pages")
    verdict = "met" if total < 5 else "MISSED"
    print(f"{'Squall report, total':<44} {total:>7.2f} s  target 5 s: {verdict}")
    print(f"{'peer: node table with the csv module':<44} {csv_s:>7.2f} s")
    naive_label = "peer: node table as one naive reportlab Table"
    print(f"{naive_label:<44} {naive_s:>7.2f} s  {len(naive) / 1e6:.1f} MB")
    print(f"Squall's PDF / naive reportlab table: {pdf_s / naive_s:.2f}x")


def _node_rows(report: Any) -> list[tuple[str, ...]]:
    from squall.core.reports.tables import tables

    nodes = tables(report)["nodes"]
    return [nodes.headers] + [
        tuple("" if cell is None else str(cell) for cell in row) for row in nodes.rows
    ]


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


if __name__ == "__main__":
    main()
