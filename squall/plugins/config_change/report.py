"""What a config_change says in reports, alone or rolled out by a group deployment: the
file on each node (per stage, so per wave of a group), each distinct diff, and what a
rollback restored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from squall import DeploymentSummary, ReportSection, TaskSummary

PDF_DIFFS = 10
"""Distinct diffs the PDF shows (the JSON export and the CSV table have every one)."""
PDF_DIFF_LINES = 60
"""Lines of each diff the PDF shows."""


def report_sections(deployment: DeploymentSummary) -> list[ReportSection] | None:
    params = _config_params(deployment)
    if params is None:
        return None
    written = [task for task in deployment.tasks if _step(task, "write")]
    sections = []
    if written:
        sections.append(_files_written(params, written))
        diffs = _distinct_diffs(written)
        if diffs:
            rolled_back = {task.node for task in written if _rolled_back(task)}
            sections.append(_file_diffs(diffs, rolled_back))
    restored = [
        task
        for task in deployment.tasks
        if any(step.name == "restore" and (step.data or step.error) for step in task.steps)
    ]
    if restored:
        sections.append(_files_restored(params, restored))
    return sections or None


def _config_params(deployment: DeploymentSummary) -> Mapping[str, Any] | None:
    if deployment.type == "config_change":
        return deployment.params
    inner = deployment.params.get("inner_params")
    if deployment.type == "group" and deployment.params.get("inner_type") == "config_change":
        return inner if isinstance(inner, Mapping) else {}
    return None


def _step(task: TaskSummary, name: str) -> Any:
    return next((step for step in task.steps if step.name == name and step.data), None)


def _rolled_back(task: TaskSummary) -> bool:
    """The file changed, then failed validation: the validate step put the previous one back."""
    validated = next((step for step in task.steps if step.name == "validate"), None)
    changed = bool(_step(task, "write").data.get("changed"))
    return changed and validated is not None and validated.status == "failed"


def _files_written(params: Mapping[str, Any], tasks: list[TaskSummary]) -> ReportSection:
    """One row a node; a group's rows name the stage (phase or wave) too."""
    rows: list[tuple[str, ...]] = []
    stages: list[str] = []
    changed_by_stage: dict[str, list[int]] = {}
    for task in tasks:
        data = _step(task, "write").data
        if _rolled_back(task):
            change = "rolled back"
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
        tally = changed_by_stage.setdefault(task.stage, [0, 0])
        stages.append(task.stage)
        tally[0] += change not in ("unchanged", "rolled back")
        tally[1] += 1
    changed = sum(tally[0] for tally in changed_by_stage.values())
    lines = [f"{params.get('path')}: {changed} of {len(rows)} node(s) changed"]
    headers: tuple[str, ...] = ("node", "change", "lines", "backup")
    if len(changed_by_stage) > 1:
        lines += [f"  {stage}: {n} of {total}" for stage, (n, total) in changed_by_stage.items()]
        headers = ("node", "stage", *headers[1:])
        rows = [(row[0], stage, *row[1:]) for row, stage in zip(rows, stages, strict=True)]
    return ReportSection(
        title="Files written", text="\n".join(lines), headers=headers, rows=tuple(rows)
    )


def _distinct_diffs(tasks: list[TaskSummary]) -> list[tuple[tuple[str, ...], list[str], int]]:
    """Each distinct diff once, with the nodes that got it and its whole length, the
    most common first (most nodes get the same)."""
    nodes_by_diff: dict[tuple[str, ...], list[str]] = {}
    total_lines: dict[tuple[str, ...], int] = {}
    for task in tasks:
        data = _step(task, "write").data
        if data.get("diff"):
            diff = tuple(str(line) for line in data["diff"])
            nodes_by_diff.setdefault(diff, []).append(task.node)
            total_lines[diff] = int(data.get("diff_lines", len(diff)))
    ordered = sorted(nodes_by_diff.items(), key=lambda item: -len(item[1]))
    return [(diff, nodes, total_lines[diff]) for diff, nodes in ordered]


def _file_diffs(
    diffs: list[tuple[tuple[str, ...], list[str], int]], rolled_back: set[str]
) -> ReportSection:
    blocks, rows = [], []
    for number, (diff, nodes, total) in enumerate(diffs, start=1):
        # Older deployments kept only the first lines of a diff: the log has the rest.
        kept = [f"… {total - len(diff)} more line(s) in the deployment's log"] * (total > len(diff))
        rows.append((str(number), str(len(nodes)), " ".join(nodes), "\n".join([*diff, *kept])))
        if number > PDF_DIFFS:
            continue
        shown = _names(nodes)
        # A diff is what was written; where validation failed it was not kept, and says so.
        if undone := [node for node in nodes if node in rolled_back]:
            shown += f"; rolled back on {len(undone)}, whose validation failed: {_names(undone)}"
        cut = len(diff) - PDF_DIFF_LINES
        tail = [f"… {cut} more line(s): see the JSON export (table file_diffs)"] * (cut > 0)
        blocks.append(
            "\n".join(
                [f"diff {number}, {len(nodes)} node(s): {shown}", *diff[:PDF_DIFF_LINES], *tail]
            )
        )
    if len(diffs) > PDF_DIFFS:
        blocks.append(
            f"{len(diffs) - PDF_DIFFS} more distinct diff(s): see the JSON export "
            "(table file_diffs)"
        )
    return ReportSection(
        title="File diffs",
        text="\n\n".join(blocks),
        headers=("diff", "nodes", "which", "diff_text"),
        rows=tuple(rows),
        rows_for_exports=True,
    )


def _names(nodes: list[str]) -> str:
    return ", ".join(nodes[:8]) + (f" and {len(nodes) - 8} more" if len(nodes) > 8 else "")


def _files_restored(params: Mapping[str, Any], tasks: list[TaskSummary]) -> ReportSection:
    rows = []
    for task in tasks:
        step = next(step for step in task.steps if step.name == "restore")
        what = (step.data or {}).get("restored") or step.error or step.status
        result = "restored" if step.status == "succeeded" else step.status
        rows.append((task.node, task.stage, result, str(what)))
    restored = sum(1 for row in rows if row[2] == "restored")
    return ReportSection(
        title="Files restored",
        text=f"{params.get('path')}: restored on {restored} of {len(rows)} node(s)",
        headers=("node", "stage", "result", "what"),
        rows=tuple(rows),
    )
