"""The board at `/`: every active and recent deployment, live."""

from __future__ import annotations

import datetime as dt
import html

from nicegui import ui

from squall.core.errors import PermissionDenied
from squall.core.permissions import Permission
from squall.core.services import access
from squall.core.services.board import BoardFilter, BoardRow, board
from squall.ui import components
from squall.ui.context import Console
from squall.ui.theme import frame

PERIODS = {"last hour": 1, "last day": 24, "last week": 24 * 7, "any time": None}
STATUSES = [
    "pending",
    "awaiting_approval",
    "running",
    "paused",
    "succeeded",
    "failed",
    "cancelled",
    "rolled_back",
]
REFRESH_SECONDS = 1.0


def register(console: Console) -> None:
    @ui.page("/")
    async def board_page() -> None:
        with frame(console, "Deployments"):
            await Board(console).build()


class Board:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.shown = ""

    async def build(self) -> None:
        with ui.row().classes("w-full items-end gap-4"):
            self.statuses = (
                ui.select(STATUSES, multiple=True, label="Status", clearable=True)
                .classes("w-64")
                .mark("filter-status")
            )
            self.type = (
                ui.select([], label="Type", clearable=True).classes("w-48").mark("filter-type")
            )
            self.cluster = (
                ui.select([], label="Cluster", clearable=True)
                .classes("w-48")
                .mark("filter-cluster")
            )
            self.requester = (
                ui.select([], label="Requester", clearable=True)
                .classes("w-48")
                .mark("filter-requester")
            )
            self.period = (
                ui.select(list(PERIODS), value="any time", label="Created")
                .classes("w-36")
                .mark("filter-period")
            )
            if Permission.CREATE in access.abilities(self.console.runtime, self.console.actor()):
                ui.button(
                    "New deployment", icon="add", on_click=lambda: ui.navigate.to("/new")
                ).mark("new-deployment")
        self.summary = ui.label().classes("text-sm text-gray-600").mark("board-summary")
        self.table = ui.html("", sanitize=False).classes("w-full").mark("board")
        for control in (self.statuses, self.type, self.cluster, self.requester, self.period):
            control.on_value_change(self.refresh)
        await self.refresh()
        self.console.live(self.refresh, every=REFRESH_SECONDS)

    def filters(self) -> BoardFilter:
        hours = PERIODS.get(self.period.value or "any time")
        # To the minute, so that every open board asks the same question (and shares it).
        now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
        since = now - dt.timedelta(hours=hours) if hours else None
        return BoardFilter(
            statuses=tuple(self.statuses.value or ()),
            type=self.type.value or None,
            cluster=self.cluster.value or None,
            requester=self.requester.value or None,
            since=since,
        )

    async def refresh(self) -> None:
        try:
            rows = await self.console.read_shared(board, self.filters())
        except PermissionDenied as refused:
            self.summary.set_text(str(refused))
            return
        self._offer(self.type, {row.type for row in rows})
        self._offer(self.cluster, {cluster for row in rows for cluster in row.clusters})
        self._offer(self.requester, {row.requester for row in rows})
        active = sum(
            1 for row in rows if row.status in ("pending", "running", "paused", "awaiting_approval")
        )
        waiting = sum(1 for row in rows if row.status == "awaiting_approval")
        self.summary.set_text(
            f"{len(rows)} deployment(s) · {active} active · {waiting} awaiting approval"
        )
        rendered = render(rows)
        if rendered != self.shown:  # only send what changed
            self.shown = rendered
            self.table.set_content(rendered)

    @staticmethod
    def _offer(select: ui.select, values: set[str]) -> None:
        options = sorted(values | ({select.value} if select.value else set()))
        if options != select.options:
            select.set_options(options, value=select.value)


def render(rows: list[BoardRow]) -> str:
    if not rows:
        return '<div class="text-gray-500 p-4">No deployment matches.</div>'
    head = "".join(
        f"<th>{title}</th>"
        for title in (
            "#",
            "status",
            "deployment",
            "targets",
            "by",
            "ticket",
            "stages",
            "done / failed / running / left",
            "failure point",
            "elapsed",
            "left",
        )
    )
    body = "".join(_row(row) for row in rows)
    return f'<table class="sq-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _row(row: BoardRow) -> str:
    escape = html.escape
    link = f"/deployments/{row.id}"
    clusters = ", ".join(row.clusters[:3]) + (
        f" +{len(row.clusters) - 3}" if len(row.clusters) > 3 else ""
    )
    held = (
        f'<br><span class="sq-muted" data-held="{row.id}">{escape(row.held_by)}</span>'
        if row.held_by
        else ""
    )
    if row.held_by:
        eta = "waits for a ticket or another outside condition"
    elif row.status in ("awaiting_approval", "paused"):
        eta = "waits for a person"
    else:
        eta = components.seconds(row.eta_seconds) if row.eta_seconds is not None else "—"
    cells = [
        f'<a href="{link}" class="squall-deployment" data-id="{row.id}">{row.id}</a>',
        f'<span class="sq-chip sq-{row.status}">{escape(row.status.replace("_", " "))}</span>{held}',
        f'<a href="{link}">{escape(row.title)}</a><br><span class="sq-muted">{escape(row.type)}</span>',
        f'{escape(row.target)}<br><span class="sq-muted">{escape(clusters)}</span>',
        escape(row.requester),
        escape(row.ticket or ""),
        components.phase_bar(row.segments),
        f'{row.done}/{row.total} · <b class="sq-fg-failed">{row.failed}</b> · {row.running} · {row.remaining}'
        + (
            f' · <span class="sq-muted" title="never ran">{row.never_ran} not run</span>'
            if row.never_ran
            else ""
        ),
        f'<span class="sq-fg-failed">{escape(row.failure or "")}</span>',
        components.elapsed(row.started_at, row.finished_at),
        eta,
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"
