"""Terminal rendering for the `squall` command: plans, progress, status, logs, tables."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from squall.core.params import dotted
from squall.core.status import StageKind
from squall.core.values.deliveries import DeliveriesView, Held
from squall.core.values.deployments import PlanPreview
from squall.core.values.history import Attempt
from squall.core.values.views import (
    FINISHED,
    NEVER_RAN,
    DeploymentView,
    FailurePoint,
    LogEntry,
    Rerun,
)
from squall.ui.tables import FOLD, WHOLE, WORDS, fitted_table

STATUS_STYLE = {
    "succeeded": "green",
    "delivered": "green",
    "failed": "red",
    "interrupted": "red",
    "running": "cyan",
    "halting": "yellow",
    "paused": "yellow",
    "queued": "magenta",
    "cancelled": "bright_black",
    "skipped": "bright_black",
    "pending": "white",
    "waiting": "magenta",
    "awaiting_approval": "magenta",
    "baking": "blue",
    "inconclusive": "yellow",
    "excluded": "bright_black",
    "not_started": "bright_black",
    "succeeded_with_exclusions": "yellow",
    "rolled_back": "yellow",
}


def words(status: str) -> str:
    """A status as people read it: `succeeded with exclusions`, not snake_case."""
    return status.replace("_", " ")


def status_text(status: str) -> Text:
    return Text(words(status), style=STATUS_STYLE.get(status, "white"))


def plan_table(plan: PlanPreview, *, with_nodes: bool, width: int) -> Group:
    """Each stage with its blast radius (nodes per cluster), gate, bake time, thresholds;
    with `with_nodes`, every node and the commands its steps run, secrets masked."""
    parts: list[Any] = []
    for number, stage in enumerate(plan.stages, start=1):
        per_cluster = Counter(node.cluster for node in stage.nodes)
        radius = ", ".join(f"{cluster} {count}" for cluster, count in sorted(per_cluster.items()))
        traits = [stage.kind] if stage.kind != StageKind.DEPLOY.value else []
        if stage.gate:
            traits.append(f"manual gate ({stage.approvals} approval(s))")
        if stage.parallelism:
            traits.append(f"{stage.parallelism} at once")
        if stage.max_failures is not None:
            traits.append(f"max-fail {stage.max_failures}")
        if stage.bake_seconds:
            traits.append(f"bake {stage.bake_seconds:g}s")
        parts.append(
            Text.assemble(
                (f"Stage {number}: {stage.name}", "bold"),
                f" — {len(stage.nodes)} node(s): {radius}",
                (f"  [{', '.join(traits)}]" if traits else "", "cyan"),
            )
        )
        if not with_nodes:
            continue
        rows = [
            (
                node.name,
                node.cluster,
                "\n".join(f"{index}. {step}" for index, step in enumerate(node.steps, start=1)),
            )
            for node in stage.nodes
        ]
        parts.append(
            fitted_table((("node", FOLD), ("cluster", FOLD), ("steps", WORDS)), rows, width)
        )
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
            detail = _counts_line(stage.counts, stage.outcome)
            if stage.name not in self._bars:
                self._bars[stage.name] = self.progress.add_task(
                    stage.name, total=stage.total, detail=detail
                )
            self.progress.update(self._bars[stage.name], completed=stage.done, detail=detail)


def _counts_line(counts: Any, status: str) -> str:
    shown = [
        f"[{STATUS_STYLE.get(name, 'white')}]{counts[name]} {words(name)}[/]"
        for name in sorted(counts)
        if counts[name]
    ]
    return f"{words(status)}: " + ", ".join(shown)


def failure_line(failure: FailurePoint) -> Text:
    code = f" (exit {failure.exit_code})" if failure.exit_code is not None else ""
    return Text.assemble(
        ("✗ ", "red"),
        (failure.node, "bold"),
        f" [{failure.cluster}] {failure_place(failure.status, failure.step)}{code}: "
        f"{failure.error or ''}",
    )


def failure_place(status: str, step: str | None) -> str:
    """Where a node task stopped, as a person reads it."""
    if status == "interrupted":
        if step:
            return f"interrupted during step {step} (may have partly run)"
        return "interrupted before its first step"
    return f"{status} at step {step}" if step else f"{status} before any step"


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
    shown = " · ".join(f"{key}={value}" for key, value in dotted(view.params))
    if shown:
        # In a terminal, wrapped between words; piped, one line (for grep).
        console.print(Text(f"parameters: {shown}"), soft_wrap=not console.is_terminal)
    columns = (
        ("stage", WORDS),
        ("status", WORDS),
        ("nodes", WHOLE),
        ("done", WHOLE),
        ("running", WHOLE),
        ("left", WHOLE),
        ("took", WHOLE),
        ("detail", WORDS),
    )
    rows = [
        (
            stage.name,
            status_text(stage.outcome),
            str(stage.total),
            str(stage.done),
            str(stage.counts.get("running", 0)),
            str(stage.remaining),
            duration(stage.started_at, stage.finished_at) if stage.started_at else "",
            Text.from_markup(_stage_detail(stage)),
        )
        for stage in view.stages
    ]
    console.print(fitted_table(columns, rows, console.width, title="stages"))
    if len({cluster for stage in view.stages for cluster in stage.clusters}) > 1:
        console.print(_cluster_table(view, console.width))
    for approval in view.approvals:
        note = f": {approval.comment}" if approval.comment else ""
        when = approval.at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        console.print(Text(f"✓ {approval.stage} approved by {approval.actor} at {when}{note}"))
    if view.waiting_for:
        console.print(Text.assemble(("waiting for ", "magenta"), view.waiting_for))
    if view.nodes_never_ran:
        console.print(
            Text(f"{view.nodes_never_ran} node(s) never ran (not started or skipped)"),
            style="bright_black",
        )
    if view.failures:
        console.print(Text(f"{len(view.failures)} failed node(s):", style="bold red"))
        for failure in view.failures:
            console.print(failure_line(failure))
            for line in failure.last_lines[-5:]:
                console.print(Text(f"    | {line}", style="bright_black"))
    for rerun in view.reruns:
        console.print(Text(rerun_line(rerun), style="yellow"))
    interrupted = [failure for failure in view.failures if failure.status == "interrupted"]
    if interrupted and view.status in ("failed", "cancelled"):
        console.print(
            f"next: `squall retry {view.id}` runs the {len(interrupted)} interrupted node(s) "
            "again as a new attempt"
        )
    if len(view.attempts) > 1:
        print_attempts(console, view.attempts)


def print_attempts(console: Console, attempts: Sequence[Attempt]) -> None:
    """Every attempt with how its runs ended, and the failures of each: kept forever."""
    console.print(Text("attempts:", style="bold"))
    for attempt in attempts:
        when = (
            attempt.started_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
            if attempt.started_at
            else "not started"
        )
        ended = ", ".join(
            f"{count} {words(status)}" for status, count in sorted(attempt.counts.items())
        )
        console.print(
            Text(
                f"  attempt {attempt.number}: by {attempt.started_by} at {when}, "
                f"{len(attempt.nodes)} node(s): {ended or 'nothing ran yet'}"
            )
        )
        for run in attempt.failures:
            console.print(
                Text.assemble(
                    ("    ✗ ", "red"),
                    (run.node, "bold"),
                    f" [{run.stage}] {run.failure_point}: {run.error or ''}",
                )
            )
            for line in run.last_lines[-3:]:
                console.print(Text(f"      | {line}", style="bright_black"))


def rerun_line(rerun: Rerun) -> str:
    return (
        f"⟳ {rerun.node}: step {rerun.step} (attempt {rerun.attempt}) was running when its "
        "worker stopped and runs again from the start: this step may have run twice"
    )


def _stage_detail(stage: Any) -> str:
    detail = _counts_line(stage.counts, stage.status).split(": ", 1)[1]
    if stage.status == "waiting":
        detail += f" · gate: {stage.approvals}/{stage.approvals_required} approval(s)"
    if stage.status == "baking" and stage.bake_until:
        detail += f" · baking until {stage.bake_until.astimezone().strftime('%H:%M:%S')}"
    return detail


def _cluster_table(view: DeploymentView, width: int) -> Table:
    """Per phase and wave, per cluster: done / failed / running / left."""
    columns = (
        ("stage", WORDS),
        ("cluster", FOLD),
        *((name, WHOLE) for name in ("nodes", "done", "failed", "running", "left")),
    )
    rows = []
    for stage in view.stages:
        for cluster, counts in stage.clusters.items():
            total = sum(count for status, count in counts.items() if status != "queued")
            done = sum(counts.get(status, 0) for status in FINISHED)
            never = sum(counts.get(status, 0) for status in NEVER_RAN)
            failed = counts.get("failed", 0) + counts.get("interrupted", 0)
            running = counts.get("running", 0)
            rows.append(
                (
                    stage.name,
                    cluster,
                    str(total),
                    str(done),
                    str(failed),
                    str(running),
                    str(total - done - never - running),
                )
            )
    return fitted_table(columns, rows, width, title="by cluster")


def deployments_table(views: Sequence[DeploymentView], width: int) -> Table:
    columns = (
        ("id", WHOLE),
        ("type", WORDS),  # a type's name is one word: whole, while the others can give
        ("status", WORDS),
        ("nodes", WHOLE),
        ("failed", WORDS),
        ("target", FOLD),
        ("by", FOLD),
        ("created", WORDS),
        ("took", WHOLE),
    )
    rows = [
        (
            str(view.id),
            view.type,
            status_text(view.status),
            f"{view.nodes_done}/{view.node_count}",
            failed_cell(view),
            view.target,
            view.requester,
            view.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            duration(view.started_at, view.finished_at),
        )
        for view in views
    ]
    return fitted_table(columns, rows, width)


def failed_cell(view: DeploymentView) -> str:
    """Failed tasks, and the nodes that failed and were set aside: never shown as none."""
    failed = str(view.counts.get("failed", 0) + view.counts.get("interrupted", 0))
    return f"{failed} +{view.nodes_excluded} excl." if view.nodes_excluded else failed


def log_line(entry: LogEntry, *, show_node: bool) -> Text:
    prefix = f"{entry.node} " if show_node else ""
    stamp = entry.at.astimezone().strftime("%H:%M:%S")
    style = {"stderr": "yellow", "squall": "cyan"}.get(entry.stream, "")
    return Text.assemble((f"{stamp} {prefix}", "bright_black"), (entry.text, style))


def duration(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None:
        return "not started"
    return took(((end or dt.datetime.now(dt.UTC)) - start).total_seconds())


def took(seconds: float) -> str:
    """How long something took, as the CLI and the console both say it: tenths of a second
    under a minute (a 0.2 s run did not take 0 s), then minutes and seconds, then hours.
    Never less than nothing, whatever two machines' clocks say."""
    seconds = max(seconds, 0.0)
    if round(seconds, 1) < 60:
        return f"{seconds:.1f}s"
    minutes, whole = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{whole:02d}s"


OVERVIEW_COLUMNS: dict[str, tuple[tuple[str, str, str], ...]] = {
    # report kind: (column of its main table, or `failure`; header; how it may narrow)
    "deployment": (
        ("node", "node", WORDS),
        ("cluster", "cluster", WORDS),
        ("stage", "stage", FOLD),
        ("status", "status", WORDS),
        ("attempt", "attempt", WHOLE),
        ("took", "took", WHOLE),
        ("failure", "failure", FOLD),
    ),
    "cluster": (
        ("deployment", "id", WHOLE),
        ("type", "type", FOLD),
        ("status", "status", WORDS),
        ("requester", "by", FOLD),
        ("created", "created (UTC)", WORDS),
        ("took", "took", WHOLE),
        ("nodes", "nodes", WHOLE),
        ("succeeded", "succeeded", WHOLE),
        ("failed", "failed", WHOLE),
    ),
    "node": (
        ("deployment", "id", WHOLE),
        ("type", "type", FOLD),
        ("stage", "stage", FOLD),
        ("status", "status", WORDS),
        ("attempt", "attempt", WHOLE),
        ("created", "created (UTC)", WORDS),
        ("took", "took", WHOLE),
        ("failure", "failure", FOLD),
    ),
}
"""What the terminal shows of each report's main table: the columns a person reads, in
words (`created` in UTC, `failure` the failed step, exit code and error in one); the CSV,
JSON and PDF have every column."""


def report_overview(report: Any, width: int, rows: int = 40) -> Group:
    """A report in the terminal: its headline figures, then its main table's first rows."""
    from squall.core.reports.fingerprint import fingerprint, kind_of
    from squall.core.reports.tables import MAIN_TABLE, tables

    kind = kind_of(report)
    main = tables(report)[MAIN_TABLE[kind]]
    shown = OVERVIEW_COLUMNS[kind]
    table = fitted_table(
        [(header, how) for _, header, how in shown],
        [
            tuple(
                _overview_cell(name, dict(zip(main.headers, row, strict=True)))
                for name, _, _ in shown
            )
            for row in main.rows[:rows]
        ],
        width,
        title=main.title,
    )
    parts: list[Any] = [Text(report_headline(report), style="bold"), table]
    if len(main.rows) > rows:
        parts.append(Text(f"… {len(main.rows) - rows} more row(s): use --csv or --pdf"))
    parts.append(Text(f"data SHA-256 {fingerprint(report)}", style="dim"))
    return Group(*parts)


def _overview_cell(name: str, row: dict[str, Any]) -> str:
    if name == "failure":
        step, code, error = row["failed_step"], row["exit_code"], row["error"]
        parts = [f"at {step}" if step else "", "" if code is None else f"exit {code}", error or ""]
        return ", ".join(part for part in parts if part).replace("\n", " ⏎ ")
    if name == "created":
        return dt.datetime.fromisoformat(row["created_at"]).strftime("%Y-%m-%d %H:%M")
    if name == "took":
        return "" if row["duration_s"] is None else f"{float(row['duration_s']):.1f}s"
    value = row[name]
    if value is None:
        return ""
    return words(str(value)) if name == "status" else str(value)


def report_headline(report: Any) -> str:
    from squall.core.reports.model import ClusterReport, DeploymentReport

    if isinstance(report, DeploymentReport):
        counts = ", ".join(
            f"{count} {words(status)}" for status, count in sorted(report.counts.items())
        )
        status = words(report.status)
        return f"deployment {report.deployment_id} {report.title}: {status} ({counts})"
    if isinstance(report, ClusterReport):
        rate = "n/a" if report.success_rate is None else f"{report.success_rate:.0%}"
        return (
            f"cluster {report.cluster} from {report.since:%Y-%m-%d %H:%M} to "
            f"{report.until:%Y-%m-%d %H:%M} UTC: {len(report.deployments)} deployment(s), "
            f"success rate {rate}, {report.node_failures} node failure(s)"
        )
    rate = "n/a" if report.failure_rate is None else f"{report.failure_rate:.0%}"
    last = report.last_deployed
    deployed = f"#{last.deployment_id} {last.type}" if last else "never"
    return (
        f"node {report.node} ({report.cluster}): {len(report.history)} node task(s), "
        f"failure rate {rate}, last deployed {deployed}"
    )


def deliveries_table(sent: DeliveriesView, width: int) -> Table:
    """What JIRA and Slack were told about a deployment, and what is still owed."""
    columns = (
        ("to", FOLD),
        ("action", WORDS),
        ("for", WORDS),
        ("state", WORDS),
        ("tries", WHOLE),
        ("error", FOLD),
    )
    rows = [
        (
            delivery.destination,
            delivery.action,
            delivery.event,
            status_text(delivery.status),
            str(delivery.attempts),
            delivery.error or "",
        )
        for delivery in sent.deliveries
    ]
    return fitted_table(columns, rows, width, title="deliveries")


def held_text(destination: str, held: Held, deployment_id: int) -> str:
    """Which failed delivery holds a deployment's later ones, and how to free them."""
    whose = [
        "this deployment" if behind == deployment_id else f"deployment {behind} (same ticket)"
        for behind in held.behind
    ]
    if held.unseen:
        whose.append("a deployment you may not see (same ticket)")
    retry = ", ".join(f"`squall deliveries retry {behind}`" for behind in held.behind)
    give_up = ", ".join(f"`squall deliveries give-up {behind}`" for behind in held.behind)
    text = f"{destination}: {held.waiting} delivery(ies) held behind a failed one of "
    text += ", ".join(whose)
    if held.behind:
        text += f"; {retry} once its cause is fixed, or {give_up}"
    return text
