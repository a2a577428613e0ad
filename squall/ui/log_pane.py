"""A deployment's log in the console: a pane over the whole log however long it is, and
controls to show all nodes, identical output grouped or one node, to search, follow and
download.

The rows never travel through the page's websocket: the pane (log_pane.js) fetches
windows of them from a JSON route as the operator scrolls, 500 at a time, and only the
rows in sight are in the browser's page.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Self, cast
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from nicegui import app, ui

from squall.api.v1 import refusal
from squall.core.errors import SquallError
from squall.core.services.logs import LogNode, LogPage, Mode, log_nodes, log_text, log_window
from squall.ui.context import Console
from squall.ui.theme import STATUS_COLORS

MODES: dict[str, str] = {"all": "All nodes", "grouped": "Grouped", "node": "One node"}
DOWNLOAD_CHUNK = 256 * 1024
"""Characters sent at a time when downloading."""
NODE_REFRESH_SECONDS = 5.0
SEARCH_DEBOUNCE_MS = 400
NODE_CHOICES = 100
"""Nodes offered at once in the node choice, failed first: typing narrows them down (a
10,000-node list would weigh more than the rest of the page)."""


def register(console: Console) -> None:
    """Register the routes the log pane reads from."""
    register_log_routes(console)


def log_url(deployment_id: int) -> str:
    return f"/api/ui/deployments/{deployment_id}/log"


def register_log_routes(console: Console) -> None:
    """`GET /api/ui/deployments/{id}/log` (a window of a view, as JSON) and
    `GET /api/ui/deployments/{id}/log.txt` (the whole log, or one node's, as a file).

    Plain `def` handlers: FastAPI runs them in its thread pool, off the event loop."""
    runtime = console.runtime

    @app.get("/api/ui/deployments/{deployment_id}/log")
    def log_window_json(
        request: Request,
        deployment_id: int,
        mode: str = "all",
        node: str | None = None,
        q: str | None = None,
        start: int = 0,
        count: int = 500,
    ) -> Response:
        try:
            with runtime.db.read() as session:
                page = log_window(
                    session,
                    runtime,
                    console.actor(request),
                    deployment_id,
                    mode=cast(Mode, mode),  # log_window refuses anything else
                    node=node or None,
                    search=q or None,
                    start=start,
                    count=count,
                )
        except SquallError as error:
            return refusal(error)
        return JSONResponse(page_json(page))

    @app.get("/api/ui/deployments/{deployment_id}/log.txt")
    def log_download(request: Request, deployment_id: int, node: str | None = None) -> Response:
        # The session outlives this function: the response reads lines while it is sent.
        held = contextlib.ExitStack()
        session = held.enter_context(runtime.db.read())
        try:
            lines = log_text(
                session, runtime, console.actor(request), deployment_id, node=node or None
            )
        except SquallError as error:
            held.close()
            return refusal(error)
        name = f"deployment-{deployment_id}" + (f"-{_file_safe(node)}" if node else "")
        return StreamingResponse(
            _chunks(lines, held),
            media_type="text/plain; charset=utf-8",
            headers={"Content-Disposition": f"attachment; filename={name}.log"},
        )


def page_json(page: LogPage) -> dict[str, Any]:
    return {
        "total": page.total,
        "start": page.start,
        "last_line_id": page.last_line_id,
        "rows": [
            {
                "number": row.number,
                "kind": row.kind,
                "node": row.node,
                "stream": row.stream,
                "at": row.at.isoformat() if row.at else None,
                "text": row.text,
                "nodes": list(row.nodes),
                "status": row.status,
            }
            for row in page.rows
        ],
    }


def _chunks(lines: Iterator[str], held: contextlib.ExitStack) -> Iterator[bytes]:
    with held:
        batch: list[str] = []
        size = 0
        for line in lines:
            batch.append(line)
            size += len(line)
            if size >= DOWNLOAD_CHUNK:
                yield "".join(batch).encode()
                batch, size = [], 0
        if batch:
            yield "".join(batch).encode()


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


class LogPane(ui.element, component="log_pane.js"):
    """A window over a deployment's whole log; `show(...)` changes what it shows."""

    def __init__(
        self,
        console: Console,
        deployment_id: int,
        *,
        mode: Mode = "all",
        node: str | None = None,
        follow: bool = False,
        height: str = "60vh",
    ) -> None:
        super().__init__()
        self.console = console
        self.deployment_id = deployment_id
        self._listeners: list[Callable[[], None]] = []
        self._props["url"] = log_url(deployment_id)
        self._props["mode"] = mode
        self._props["node"] = node or ""
        self._props["search"] = ""
        self._props["follow"] = follow
        self._props["colors"] = STATUS_COLORS
        self._props["height"] = height
        self.on("unfollow", lambda _: self.show(follow=False))
        self.classes("w-full").mark("log-pane")

    @property
    def mode(self) -> Mode:
        return cast(Mode, self._props["mode"])

    @property
    def node(self) -> str | None:
        return cast(str, self._props["node"]) or None

    @property
    def search(self) -> str:
        return cast(str, self._props["search"])

    @property
    def follow(self) -> bool:
        return bool(self._props["follow"])

    @property
    def download_url(self) -> str:
        """The whole log as a file; only the node's when one node is shown."""
        url = f"{log_url(self.deployment_id)}.txt"
        return f"{url}?node={quote(self.node)}" if self.mode == "node" and self.node else url

    def show(
        self,
        *,
        mode: Mode | None = None,
        node: str | None = None,
        search: str | None = None,
        follow: bool | None = None,
    ) -> None:
        """Change what the pane shows; what is not given stays as it is."""
        wanted = {"mode": mode, "node": node, "search": search, "follow": follow}
        changes = {
            key: value
            for key, value in wanted.items()
            if value is not None and self._props.get(key) != value
        }
        if not changes:
            return
        self._props.update(changes)
        for listener in list(self._listeners):
            listener()

    def show_node(self, name: str) -> None:
        """Show one node's log (for a click on the node in the deployment's node grid)."""
        self.show(mode="node", node=name)

    def on_change(self, listener: Callable[[], None]) -> Self:
        """Call `listener` whenever what the pane shows changes (to keep controls in step)."""
        self._listeners.append(listener)
        return self

    def reload(self) -> None:
        """Fetch what is in sight again (after the deployment was retried, for example)."""
        self.run_method("reload")


class LogControls:
    """The view toggle, node choice, search, follow switch and download link of a pane,
    placed in the current container."""

    def __init__(self, pane: LogPane, nodes: Sequence[LogNode]) -> None:
        self.pane = pane
        self.nodes = tuple(nodes)
        self.typed = ""
        self.mode = ui.toggle(MODES, value=pane.mode, on_change=self._mode_chosen).mark("log-mode")
        self.node = (
            ui.select(
                self._options(),
                value=pane.node,
                label="Node",
                with_input=True,
                on_change=self._node_chosen,
            )
            .classes("w-56")
            .mark("log-node")
        )
        self.node.on("input-value", self._typed)
        self.search = (
            ui.input("Search", value=pane.search, on_change=self._searched)
            .props(f"debounce={SEARCH_DEBOUNCE_MS} clearable dense")
            .classes("w-64")
            .mark("log-search")
        )
        self.follow = ui.switch("Follow", value=pane.follow, on_change=self._follow_switched).mark(
            "log-follow"
        )
        self.download = ui.link("Download", pane.download_url).mark("log-download")
        pane.on_change(self.sync)
        ui.timer(NODE_REFRESH_SECONDS, self.refresh)

    def sync(self) -> None:
        """Show what the pane shows (after `show_node`, or after the operator scrolled up)."""
        self.mode.value = self.pane.mode
        if self.pane.node in self._labels():
            self.node.set_options(self._options(), value=self.pane.node)
        self.search.value = self.pane.search
        self.follow.value = self.pane.follow
        self.download.props["href"] = self.pane.download_url

    async def refresh(self) -> None:
        """Statuses change while it runs: keep failed nodes first in the node choice."""
        # Shared: every viewer of a 10,000-node deployment would read its tasks otherwise.
        nodes = await self.pane.console.read_shared(
            log_nodes, self.pane.deployment_id, ttl=NODE_REFRESH_SECONDS
        )
        if nodes != self.nodes:
            self.nodes = nodes
            self.node.set_options(self._options(), value=self.node.value)

    def _labels(self) -> dict[str, str]:
        return {node.name: f"{node.name} · {node.status}" for node in self.nodes}

    def _options(self) -> dict[str, str]:
        """The first NODE_CHOICES nodes whose label holds what was typed, and the node
        shown (a click in the grid may choose any)."""
        labels = self._labels()
        needle = self.typed.casefold()
        options: dict[str, str] = {}
        for name, label in labels.items():
            if len(options) == NODE_CHOICES:
                break
            if needle in label.casefold():
                options[name] = label
        shown = self.pane.node
        if shown in labels:
            options[shown] = labels[shown]
        return options

    def _typed(self, event: Any) -> None:
        self.typed = str(event.args or "")
        self.node.set_options(self._options(), value=self.node.value)

    def _mode_chosen(self, event: Any) -> None:
        mode = cast(Mode, event.value)
        if mode == "node" and not self.pane.node and self.nodes:
            self.pane.show(mode=mode, node=self.nodes[0].name)  # the first failed node, if any
        else:
            self.pane.show(mode=mode)

    def _node_chosen(self, event: Any) -> None:
        if event.value:
            self.pane.show(mode="node", node=event.value)

    def _searched(self, event: Any) -> None:
        self.pane.show(search=event.value or "")

    def _follow_switched(self, event: Any) -> None:
        self.pane.show(follow=bool(event.value))


async def log_controls(pane: LogPane) -> LogControls:
    """Controls for `pane` in a row of their own, placed in the current container."""
    nodes = await pane.console.read(log_nodes, pane.deployment_id)
    with ui.row().classes("w-full items-center gap-4"):
        return LogControls(pane, nodes)


async def log_view(
    console: Console,
    deployment_id: int,
    *,
    mode: Mode = "all",
    follow: bool = False,
    nodes: Sequence[LogNode] | None = None,
) -> LogPane:
    """The controls above the pane: what a deployment page places. `nodes`: the
    deployment's (see `log_nodes`), when the page has them already."""
    if nodes is None:
        nodes = await console.read(log_nodes, deployment_id)
    with ui.column().classes("w-full gap-2"):
        bar = ui.row().classes("w-full items-center gap-4")
        pane = LogPane(console, deployment_id, mode=mode, follow=follow)
        with bar:
            LogControls(pane, nodes)
    return pane
