"""Small pieces pages share. Big, repeated things (phase bars of a hundred deployments)
are drawn as one block of HTML rather than thousands of elements, so the browser and the
page's websocket stay light; grids of thousands of nodes are drawn in the browser (see
squall.ui.grids)."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence

from nicegui import ui

from squall.core.services.board import Segment
from squall.ui.console import took
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
    set aside, cancelled or never started leave their part grey. A rollback's nodes undone
    fill in the colour of *rolled back*, so a bar undone never reads as all green."""
    parts = []
    for segment in segments:
        ok = "rolled_back" if segment.kind == "rollback" else "succeeded"
        width = max(segment.total, 1) if segment.kind == "deploy" else max(segment.total // 3, 1)
        total = max(segment.total, 1)
        done = 100 * segment.succeeded / total
        failed = 100 * segment.failed / total
        running = 100 * segment.running / total
        title = html.escape(
            f"{segment.name}: {segment.status}, {segment.done}/{segment.total} done, "
            f"{segment.failed} failed, {segment.running} running"
        )
        # Empty parts are left out: most stages of a busy board are all done or not started.
        fills = "".join(
            f'<div class="sq-{part}" style="width:{share:.0f}%"></div>'
            for part, share in ((ok, done), ("failed", failed), ("running", running))
            if round(share)
        )
        parts.append(f'<div class="sq-seg" title="{title}" style="flex-grow:{width}">{fills}</div>')
    return f'<div class="sq-bar">{"".join(parts)}</div>'


def elapsed(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None:
        return "—"
    return took(((end or dt.datetime.now(dt.UTC)) - start).total_seconds())


def seconds(span: dt.timedelta | float | None) -> str:
    """An estimate (time left) in whole seconds."""
    if span is None:
        return "—"
    total = int(span.total_seconds() if isinstance(span, dt.timedelta) else span)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


CODE_SPANS = (
    '<q-td :props="props"><template v-for="(part, index) in String(props.value ?? \'\')'
    '.split(\'`\')" :key="index"><code v-if="index % 2">{{ part }}</code>'
    "<template v-else>{{ part }}</template></template></q-td>"
)
"""A table cell that shows `backquoted` words as code: descriptions are written for the
command line's help and docs, which render them so (Vue escapes the text)."""


def code_spans(table: ui.table, *columns: str) -> ui.table:
    """Show the backquoted words of these columns' cells as code."""
    for column in columns:
        table.add_slot(f"body-cell-{column}", CODE_SPANS)
    return table


def plain(text: str) -> str:
    """`text` without its backquotes, where only plain text goes (an input's hint)."""
    return text.replace("`", "")
