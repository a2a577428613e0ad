"""Terminal rendering for the `squall` command: plans, progress, status, logs, tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from core.plan import Plan
from core.secrets import Redactor
from core.services.views import DeploymentView, FailurePoint, LogEntry

STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "interrupted": "red",
    "running": "cyan",
    "halting": "yellow",
    "paused": "yellow",
    "queued": "magenta",
    "cancelled": "bright_black",
    "skipped": "bright_black",
    "pending": "white",
}


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, "white"))


def plan_table(plan: Plan, redact: Redactor, *, with_commands: bool) -> Group:
    """Stages, their nodes and steps; commands shown with secrets masked."""
    parts: list[Any] = []
    for number, stage in enumerate(plan.stages, start=1):
        clusters = sorted({node_plan.node.cluster for node_plan in stage.nodes})
        parts.append(
            Text.assemble(
                (f"Stage {number}: {stage.name}", "bold"),
                f" — {len(stage.nodes)} nodes in {len(clusters)} cluster(s): {', '.join(clusters)}",
            )
        )
        table = Table(box=box.SIMPLE_HEAD, show_header=True, pad_edge=False)
        table.add_column("node")
        table.add_column("cluster")
        table.add_column("steps")
        for node_plan in stage.nodes:
            if with_commands:
                steps = "\n".join(
                    f"{index}. {step.name}: {redact(step.describe())}"
                    for index, step in enumerate(node_plan.steps, start=1)
                )
            else:
                steps = ", ".join(step.name for step in node_plan.steps)
            table.add_row(node_plan.node.name, node_plan.node.cluster, steps)
        parts.append(table)
    return Group(*parts)


class StageBars:
    """One progress bar per stage, updated from successive views of a deployment."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=30),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[detail]}"),
        )
        self._bars: dict[str, TaskID] = {}

    def update(self, view: DeploymentView) -> None:
        for stage in view.stages:
            detail = _counts_line(stage.counts, stage.status)
            if stage.name not in self._bars:
                self._bars[stage.name] = self.progress.add_task(
                    stage.name, total=stage.total, detail=detail
                )
            self.progress.update(self._bars[stage.name], completed=stage.done, detail=detail)


def _counts_line(counts: Any, status: str) -> str:
    shown = [
        f"[{STATUS_STYLE.get(name, 'white')}]{counts[name]} {name}[/]"
        for name in sorted(counts)
        if counts[name]
    ]
    return f"{status}: " + ", ".join(shown)


def failure_line(failure: FailurePoint) -> Text:
    where = f"step {failure.step}" if failure.step else "before any step"
    code = f" (exit {failure.exit_code})" if failure.exit_code is not None else ""
    return Text.assemble(
        ("✗ ", "red"),
        (failure.node, "bold"),
        f" [{failure.cluster}] {failure.status} at {where}{code}: {failure.error or ''}",
    )


def print_view(console: Console, view: DeploymentView) -> None:
    console.print(
        Text.assemble(
            (f"Deployment {view.id}: {view.title}\n", "bold"),
            f"type {view.type} · target {view.target} · by {view.requester}",
            f" · ticket {view.ticket}" if view.ticket else "",
            f" · attempt {view.attempt}" if view.attempt > 1 else "",
            "\nstatus ",
            status_text(view.status),
            f" · {duration(view.started_at, view.finished_at)}",
        )
    )
    if view.params:
        console.print(
            Text(
                "parameters: " + ", ".join(f"{key}={value!r}" for key, value in view.params.items())
            )
        )
    table = Table(title="stages", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("stage", "status", "nodes", "done", "detail"):
        table.add_column(column)
    for stage in view.stages:
        table.add_row(
            stage.name,
            status_text(stage.status),
            str(stage.total),
            str(stage.done),
            Text.from_markup(_counts_line(stage.counts, stage.status).split(": ", 1)[1]),
        )
    console.print(table)
    if view.failures:
        console.print(Text(f"{len(view.failures)} failed node(s):", style="bold red"))
        for failure in view.failures:
            console.print(failure_line(failure))
            for line in failure.last_lines[-5:]:
                console.print(Text(f"    | {line}", style="bright_black"))


def deployments_table(views: Sequence[DeploymentView]) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    for column in (
        "id",
        "type",
        "status",
        "nodes",
        "failed",
        "target",
        "requester",
        "created",
        "took",
    ):
        table.add_column(column)
    for view in views:
        counts = view.counts
        table.add_row(
            str(view.id),
            view.type,
            status_text(view.status),
            f"{sum(stage.done for stage in view.stages)}/{view.node_count}",
            str(counts.get("failed", 0) + counts.get("interrupted", 0)),
            view.target,
            view.requester,
            view.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            duration(view.started_at, view.finished_at),
        )
    return table


def log_line(entry: LogEntry, *, show_node: bool) -> Text:
    prefix = f"{entry.node} " if show_node else ""
    stamp = entry.at.astimezone().strftime("%H:%M:%S")
    style = {"stderr": "yellow", "squall": "cyan"}.get(entry.stream, "")
    return Text.assemble((f"{stamp} {prefix}", "bright_black"), (entry.text, style))


def duration(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None:
        return "not started"
    seconds = ((end or dt.datetime.now(dt.UTC)) - start).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"
