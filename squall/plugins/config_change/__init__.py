"""Configuration change: write a file on every node, keep a backup, validate, reload.

The file's new content is given whole, or as a template filled from parameters (and the
node's own name, cluster and host). On each node Squall backs up the current file,
writes the new one atomically, logs the diff, runs the validate command (and puts the
old file back if it fails), then runs the reload command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from squall import (
    DeploymentSummary,
    DeploymentType,
    LogSink,
    NodeConnection,
    NodeInfo,
    ReportSection,
    Step,
    StepOutcome,
    hookimpl,
)
from squall.plugins.config_change.plan import ConfigChangeParams, plan, rollback
from squall.plugins.config_change.steps import (
    RESTORE,
    VALIDATE,
    WRITE,
    restore_previous,
    validate,
    write,
)


@hookimpl
def squall_register_types(register: Callable[[DeploymentType[Any]], None]) -> None:
    register(
        DeploymentType(
            name="config_change",
            title="Configuration change",
            description="Writes a configuration file on each node (whole content or a template), "
            "keeps a backup, shows the diff, validates it (restoring the backup on failure) "
            "and reloads the service. Rolls back by restoring the backup.",
            parameters=ConfigChangeParams,
            plan=plan,
            rollback=rollback,
            retry_interrupted=True,
        )
    )


@hookimpl
def squall_execute_step(
    step: Step, node: NodeInfo, connection: NodeConnection, log: LogSink
) -> StepOutcome | None:
    if step.kind == WRITE:
        return write(step, connection, log)
    if step.kind == VALIDATE:
        return validate(step, connection, log)
    if step.kind == RESTORE:
        return restore_previous(step, connection, log)
    return None


@hookimpl
def squall_report_sections(deployment: DeploymentSummary) -> list[ReportSection] | None:
    if deployment.type != "config_change":
        return None
    rows = []
    for task in deployment.tasks:
        written = next((step for step in task.steps if step.name == "write"), None)
        if written is None or written.data is None:
            continue
        data = written.data
        validated = next((step for step in task.steps if step.name == "validate"), None)
        if data.get("changed") and validated is not None and validated.status == "failed":
            change = "rolled back"  # the validate step put the previous file back
        elif data.get("created"):
            change = "created"
        elif data.get("changed"):
            change = "changed"
        else:
            change = "mode changed" if data.get("mode_changed") else "unchanged"
        rows.append(
            (
                task.node,
                change,
                f"+{data.get('added', 0)} -{data.get('removed', 0)}",
                str(data.get("backup") or ""),
            )
        )
    if not rows:
        return None
    changed = sum(1 for row in rows if row[1] not in ("unchanged", "rolled back"))
    sections = [
        ReportSection(
            title="Files written",
            text=f"{deployment.params.get('path')}: {changed} of {len(rows)} node(s) changed",
            headers=("node", "change", "lines", "backup"),
            rows=tuple(rows),
        )
    ]
    diffs = _diffs(deployment)
    if diffs:
        sections.append(ReportSection(title="File diffs", text=diffs))
    return sections


MAX_DIFFS = 10


def _diffs(deployment: DeploymentSummary) -> str:
    """Each distinct diff once, with the nodes that got it (most nodes get the same)."""
    nodes_by_diff: dict[tuple[str, ...], list[str]] = {}
    total_lines: dict[tuple[str, ...], int] = {}
    for task in deployment.tasks:
        for step in task.steps:
            if step.name == "write" and step.data and step.data.get("diff"):
                diff = tuple(str(line) for line in step.data["diff"])
                nodes_by_diff.setdefault(diff, []).append(task.node)
                total_lines[diff] = int(step.data.get("diff_lines", len(diff)))
    blocks = []
    ordered = sorted(nodes_by_diff.items(), key=lambda item: -len(item[1]))
    for diff, nodes in ordered[:MAX_DIFFS]:
        shown = ", ".join(nodes[:8]) + (f" and {len(nodes) - 8} more" if len(nodes) > 8 else "")
        more = total_lines[diff] - len(diff)
        tail = [f"… {more} more line(s) in the deployment's log"] if more > 0 else []
        blocks.append("\n".join([f"{len(nodes)} node(s): {shown}", *diff, *tail]))
    if len(ordered) > MAX_DIFFS:
        blocks.append(f"{len(ordered) - MAX_DIFFS} more distinct diff(s) in the deployment's log")
    return "\n\n".join(blocks)
