"""Small pieces pages share. Big, repeated things (phase bars of a hundred deployments,
grids of a thousand nodes) are drawn as one block of HTML rather than thousands of
elements, so the browser and the page's websocket stay light."""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Sequence

from nicegui import ui

from squall.core.services.board import Segment
from squall.core.services.views import StepRow, TaskCell
from squall.ui.theme import STATUS_COLORS


def color(status: str) -> str:
    return STATUS_COLORS.get(status, "#9e9e9e")


def status_chip(status: str) -> ui.badge:
    return (
        ui.badge(status.replace("_", " "), color=color(status))
        .classes("text-white")
        .mark(f"status-{status}")
    )


def phase_bar(segments: Sequence[Segment]) -> str:
    """A deployment's stages side by side (lightning → thunder waves), each filled as far
    as its nodes are done: green only for nodes that succeeded, red for failed ones; nodes
    set aside, cancelled or never started leave their part grey."""
    parts = []
    for segment in segments:
        width = max(segment.total, 1) if segment.kind == "deploy" else max(segment.total // 3, 1)
        total = max(segment.total, 1)
        done = 100 * segment.succeeded / total
        failed = 100 * segment.failed / total
        running = 100 * segment.running / total
        title = html.escape(
            f"{segment.name}: {segment.status}, {segment.done}/{segment.total} done, "
            f"{segment.failed} failed, {segment.running} running"
        )
        parts.append(
            f'<div class="sq-seg" title="{title}" style="flex-grow:{width}">'
            f'<div class="sq-succeeded" style="width:{done:.0f}%"></div>'
            f'<div class="sq-failed" style="width:{failed:.0f}%"></div>'
            f'<div class="sq-running" style="width:{running:.0f}%"></div></div>'
        )
    return f'<div class="sq-bar">{"".join(parts)}</div>'


def node_grid(tasks: Sequence[TaskCell]) -> str:
    """One square per node task, coloured by status, grouped by stage (a group deployment's
    phase or wave) and, within it, labelled by cluster; squares wrap, so the grid is never
    wider than the window. A click opens the node's log (the page listens for the
    `node-clicked` event)."""
    stages: dict[str, dict[str, list[TaskCell]]] = {}
    for task in tasks:
        stages.setdefault(task.stage, {}).setdefault(task.cluster, []).append(task)
    blocks = []
    for stage, clusters in stages.items():
        parts = []
        for cluster, cells in clusters.items():
            squares = "".join(
                f'<div class="squall-node sq-{cell.status}" data-node="{html.escape(cell.node)}" '
                f'title="{html.escape(_cell_title(cell))}"></div>'
                for cell in cells
            )
            parts.append(
                f'<div class="sq-cluster" data-cluster="{html.escape(cluster)}">'
                f'<div class="sq-stage">{html.escape(cluster)} · {len(cells)}</div>'
                f'<div class="sq-grid">{squares}</div></div>'
            )
        total = sum(len(cells) for cells in clusters.values())
        blocks.append(
            f'<div style="margin-bottom:8px"><div class="sq-stage"><b>{html.escape(stage)}</b> · '
            f"{total} node(s) in {len(clusters)} cluster(s)</div>"
            f'<div class="sq-clusters">{"".join(parts)}</div></div>'
        )
    # One listener for the whole grid instead of one handler per square.
    return (
        "<div onclick=\"const n = event.target.closest('.squall-node'); "
        "if (n) emitEvent('node-clicked', n.dataset.node)\">" + "".join(blocks) + "</div>"
    )


def step_grid(tasks: Sequence[TaskCell], steps: Sequence[StepRow]) -> str:
    """Steps down, node tasks across: each cell the node's status at that step, so a
    column of red shows one node failing, a row of red one step failing everywhere.
    A cell is a few bytes (10,000 nodes by a few steps stay light); its tooltip is made on
    hover from the node names, sent once."""
    names = html.escape(json.dumps([task.node for task in tasks]))
    rows = []
    for step in steps:
        cells = "".join(f'<i class="sq-{status or "none"}"></i>' for status in step.by_node)
        rows.append(
            f'<div class="sq-step" data-step="{html.escape(step.name)}">'
            f'<span>{html.escape(step.name)}</span><div class="sq-cells">{cells}</div></div>'
        )
    hover = (
        "const c = event.target; if (c.tagName !== 'I' || c.title) return; "
        "const i = Array.prototype.indexOf.call(c.parentNode.children, c); "
        "const s = c.className.slice(3); "
        "c.title = JSON.parse(this.dataset.nodes)[i] + ' · ' + "
        "c.closest('.sq-step').dataset.step + ': ' + (s === 'none' ? 'not reached' : s)"
    )
    return f'<div data-nodes="{names}" onmouseover="{hover}">{"".join(rows)}</div>'


def _cell_title(cell: TaskCell) -> str:
    text = f"{cell.node} [{cell.cluster}] {cell.status}"
    if cell.current_step:
        text += f" · at {cell.current_step}"
    if cell.failed_step:
        text += f" · {cell.failed_step}: {cell.error or ''}"
    return text


def elapsed(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None:
        return "—"
    return seconds((end or dt.datetime.now(dt.UTC)) - start)


def seconds(span: dt.timedelta | float | None) -> str:
    if span is None:
        return "—"
    total = int(span.total_seconds() if isinstance(span, dt.timedelta) else span)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
