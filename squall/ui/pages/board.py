"""The board at `/`: every active and recent deployment, live."""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter
from urllib.parse import urlencode

from fastapi import Request
from nicegui import ui

from squall.core.errors import PermissionDenied
from squall.core.permissions import Permission
from squall.core.services import access
from squall.core.services.board import BoardFilter, BoardRow, board
from squall.core.status import DeploymentStatus
from squall.ui import components
from squall.ui.context import Console
from squall.ui.theme import frame

FINAL = {status.value for status in DeploymentStatus if status.is_final}

PERIODS = {"last hour": 1, "last day": 24, "last week": 24 * 7, "any time": None}
STATUSES = {status.value: status.words for status in DeploymentStatus}
"""Values as the URL and the services name them, labels as people read them."""
STRIP = (
    "awaiting_approval",
    "paused",
    "held",
    "running",
    "pending",
    "failed",
    "succeeded",
    "succeeded_with_exclusions",
    "cancelled",
    "rolled_back",
)
"""The summary strip's order: what waits for a person first."""
SORTS = {"attention": "needs attention first", "newest": "newest first"}
REFRESH_SECONDS = 1.0


def register(console: Console) -> None:
    @ui.page("/")
    async def board_page(request: Request) -> None:
        with frame(console, "Deployments"):
            await Board(console, dict(request.query_params)).build()


class Board:
    """Filters and sort live in the page's address, so a board can be shared and
    survives a reload: `/?status=failed,paused&cluster=web&sort=newest`."""

    def __init__(self, console: Console, query: dict[str, str]) -> None:
        self.console = console
        self.query = query
        self.shown = ""
        self.strip = ""

    async def build(self) -> None:
        query = self.query
        statuses = [value for value in query.get("status", "").split(",") if value in STATUSES]
        with ui.row().classes("w-full items-end gap-x-4 gap-y-1"):
            self.statuses = (
                ui.select(STATUSES, multiple=True, label="Status", clearable=True, value=statuses)
                .classes("w-56")
                .props("dense")
                .mark("filter-status")
            )
            self.type = self._select("type", "Type").mark("filter-type")
            self.cluster = self._select("cluster", "Cluster").mark("filter-cluster")
            self.requester = self._select("requester", "Requester").mark("filter-requester")
            period = query.get("period", "any time")
            self.period = (
                ui.select(
                    list(PERIODS),
                    value=period if period in PERIODS else "any time",
                    label="Created",
                )
                .classes("w-32")
                .props("dense")
                .mark("filter-period")
            )
            sort = query.get("sort", "attention")
            self.sort = (
                ui.select(SORTS, value=sort if sort in SORTS else "attention", label="Sort")
                .classes("w-44")
                .props("dense")
                .mark("board-sort")
            )
            if Permission.CREATE in access.abilities(self.console.runtime, self.console.actor()):
                ui.button(
                    "New deployment", icon="add", on_click=lambda: ui.navigate.to("/new")
                ).mark("new-deployment")
        self.summary = ui.html("", sanitize=False).classes("text-sm").mark("board-summary")
        with ui.element("div").classes("w-full sq-scroll"):
            self.table = ui.html("", sanitize=False).classes("w-full").mark("board")
        for control in (
            self.statuses,
            self.type,
            self.cluster,
            self.requester,
            self.period,
            self.sort,
        ):
            control.on_value_change(self.changed)
        await self.refresh()
        self.console.live(self.refresh, every=REFRESH_SECONDS)

    def _select(self, key: str, label: str) -> ui.select:
        value = self.query.get(key) or None
        return (
            ui.select([value] if value else [], value=value, label=label, clearable=True)
            .classes("w-40")
            .props("dense")
        )

    def address(self, **changes: str) -> str:
        """The board's URL for the current filters (with `changes`), defaults left out."""
        values = {
            "status": ",".join(self.statuses.value or ()),
            "type": self.type.value or "",
            "cluster": self.cluster.value or "",
            "requester": self.requester.value or "",
            "period": self.period.value if self.period.value != "any time" else "",
            "sort": self.sort.value if self.sort.value != "attention" else "",
        } | changes
        query = urlencode({key: value for key, value in values.items() if value})
        return f"/?{query}" if query else "/"

    async def changed(self) -> None:
        ui.navigate.history.replace(self.address())
        await self.refresh()

    def filters(self, *, statuses: bool = True) -> BoardFilter:
        hours = PERIODS.get(self.period.value or "any time")
        # To the minute, so that every open board asks the same question (and shares it).
        now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
        since = now - dt.timedelta(hours=hours) if hours else None
        return BoardFilter(
            statuses=tuple(self.statuses.value or ()) if statuses else (),
            type=self.type.value or None,
            cluster=self.cluster.value or None,
            requester=self.requester.value or None,
            since=since,
            sort=self.sort.value or "attention",
        )

    async def refresh(self) -> None:
        try:
            rows = await self.console.read_shared(board, self.filters())
            # The strip counts every state, whatever the status filter shows.
            every = (
                await self.console.read_shared(board, self.filters(statuses=False))
                if self.statuses.value
                else rows
            )
        except PermissionDenied as refused:
            self.summary.set_content(html.escape(str(refused)))
            return
        self._offer(self.type, {row.type for row in every})
        self._offer(self.cluster, {cluster for row in every for cluster in row.clusters})
        self._offer(self.requester, {row.requester for row in every})
        strip = self._strip(rows, every)
        if strip != self.strip:
            self.strip = strip
            self.summary.set_content(strip)
        unfiltered = self.address(sort="") == "/"
        rendered = _rendered(rows) if rows or not unfiltered else NOTHING_YET
        if rendered != self.shown:  # only send what changed
            self.shown = rendered
            self.table.set_content(rendered)

    def _strip(self, rows: list[BoardRow], every: list[BoardRow]) -> str:
        """How many deployments in each state, each a link that shows only those."""
        counts = Counter(row.status for row in every)
        counts["held"] = sum(1 for row in every if row.held_by and row.status not in FINAL)
        parts = [f'<span class="sq-muted">{len(rows)} deployment(s)</span>']
        for status in STRIP:
            if not counts[status]:
                continue
            words = f"{counts[status]} {status.replace('_', ' ')}"
            if status == "held":
                parts.append(
                    f'<span class="sq-strip" title="waiting for an outside condition">{words}</span>'
                )
                continue
            parts.append(
                f'<a class="sq-strip" data-status="{status}" '
                f'href="{html.escape(self.address(status=status))}">'
                f'<span class="sq-dot sq-{status}"></span>{words}</a>'
            )
        return f'<div data-summary class="sq-summary">{"".join(parts)}</div>'

    @staticmethod
    def _offer(select: ui.select, values: set[str]) -> None:
        options = sorted(values | ({select.value} if select.value else set()))
        if options != select.options:
            select.set_options(options, value=select.value)


_last: tuple[list[BoardRow], str] | None = None


def _rendered(rows: list[BoardRow]) -> str:
    """`render(rows)`, made once for every open board given the same answer (the boards
    asking the same within a second share one list of rows)."""
    global _last
    if _last is None or _last[0] is not rows:
        _last = (rows, render(rows))
    return _last[1]


NOTHING_YET = '<div class="text-gray-500 p-4" data-empty>No deployments yet.</div>'
"""The board of a Squall where nothing was deployed (no filter hides anything)."""


def render(rows: list[BoardRow]) -> str:
    if not rows:
        return '<div class="text-gray-500 p-4">No deployment matches.</div>'
    titles = (
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
    head = "".join(f"<th>{title}</th>" for title in titles)
    body = "".join(_row(row) for row in rows)
    return f'<table class="sq-table sq-board"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _row(row: BoardRow) -> str:
    """One line per deployment: long texts are cut, and whole in their tooltip."""
    escape = html.escape
    link = f"/deployments/{row.id}"
    if row.held_by:
        eta = "waits for a ticket or another outside condition"
    elif row.status in ("awaiting_approval", "paused"):
        eta = "waits for a person"
    elif row.status in FINAL:
        eta = "—"
    elif row.overdue:
        eta = "overdue"
    elif row.eta_seconds is None:
        eta = "estimating"
    else:
        eta = components.seconds(row.eta_seconds)
    held = (
        f' <span class="sq-muted" data-held="{row.id}">held</span>'
        if row.held_by and row.status not in FINAL
        else ""
    )
    # Red only for failures: a zero in red would read as an alarm on every healthy row.
    failed = f'<b class="sq-fg-failed">{row.failed}</b>' if row.failed else "0"
    progress = (
        f"{row.done}/{row.total} · {failed} · {row.running} · {row.remaining}"
        + (
            f' · <span class="sq-fg-excluded" title="failed, set aside">{row.excluded} excluded</span>'
            if row.excluded
            else ""
        )
        + (
            f' · <span class="sq-muted" title="never ran">{row.never_ran} not run</span>'
            if row.never_ran
            else ""
        )
    )
    cells = [
        ("", f'<a href="{link}" class="squall-deployment" data-id="{row.id}">{row.id}</a>'),
        (
            row.held_by or "",
            f'<span class="sq-chip sq-{row.status}">{escape(row.status.replace("_", " "))}</span>{held}',
        ),
        (f"{row.title} ({row.type})", f'<a href="{link}">{escape(row.title)}</a>'),
        (row.target, escape(row.target)),
        (row.requester, escape(row.requester)),
        (row.ticket or "", escape(row.ticket or "")),
        ("", components.phase_bar(row.segments)),
        ("", progress),
        (
            row.failure or "",
            f'<span class="sq-fg-failed">{escape(row.failure)}</span>' if row.failure else "",
        ),
        ("", components.elapsed(row.started_at, row.finished_at)),
        (eta if len(eta) > 12 else "", eta),
    ]
    return (
        "<tr>"
        + "".join(
            "<td" + (f' title="{escape(title)}"' if title else "") + f">{cell}</td>"
            for title, cell in cells
        )
        + "</tr>"
    )
