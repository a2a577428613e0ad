"""The inventory at `/inventory`: clusters, nodes, tags, each node's last deployment, import."""

from __future__ import annotations

import html
import tempfile
from pathlib import Path

from nicegui import events, ui

from squall.core.errors import SquallError
from squall.core.services import inventory
from squall.ui.context import Console
from squall.ui.theme import frame


def register(console: Console) -> None:
    @ui.page("/inventory")
    async def inventory_page() -> None:
        with frame(console, "Inventory"):
            await InventoryPage(console).build()


class InventoryPage:
    def __init__(self, console: Console) -> None:
        self.console = console

    async def build(self) -> None:
        with ui.row().classes("items-center gap-4"):
            self.uploader = (
                ui.upload(
                    label="Import an inventory (Squall YAML or Ansible INI/YAML)",
                    auto_upload=True,
                    on_upload=self.upload,
                )
                .props("accept=.yaml,.yml,.ini,.cfg,.txt flat bordered")
                .classes("w-96")
                .mark("import")
            )
            # What became of the last file, beside it: a refused file is not "uploaded".
            self.result = ui.html("", sanitize=False).classes("max-w-xl").mark("import-result")
        self.clusters = (
            ui.table(
                columns=[
                    {"name": key, "label": key, "field": key, "align": "left"}
                    for key in ("cluster", "environment", "nodes", "source")
                ],
                rows=[],
                row_key="cluster",
                title="Clusters",
            )
            .props('dense flat no-data-label="No clusters yet: import an inventory file above."')
            .classes("w-full")
            .mark("clusters")
        )
        _quiet_when_empty(self.clusters)
        self.nodes = (
            ui.table(
                columns=[
                    {"name": key, "label": key, "field": key, "align": "left", "sortable": True}
                    for key in (
                        "node",
                        "cluster",
                        "address",
                        "transport",
                        "tags",
                        "last deployment",
                        "status",
                    )
                ],
                rows=[],
                row_key="node",
                title="Nodes",
                pagination=50,
            )
            .props(
                'dense flat no-data-label="No nodes yet." '
                'no-results-label="No node matches the filter."'
            )
            .classes("w-full")
            .mark("nodes")
        )
        _quiet_when_empty(self.nodes)
        with self.nodes.add_slot("top-right"):
            search = ui.input(placeholder="filter").props("dense clearable").mark("node-filter")
        self.nodes.bind_filter_from(search, "value")
        await self.refresh()

    async def refresh(self) -> None:
        try:
            clusters, nodes = await self.console.read(inventory.overview)
        except SquallError as refused:
            ui.notify(str(refused), type="negative", multi_line=True)
            return
        self.clusters.rows = [
            {
                "cluster": c.name,
                "environment": c.environment or "",
                "nodes": c.nodes,
                "source": c.source,
            }
            for c in clusters
        ]
        self.nodes.rows = [
            {
                "node": row.node.name,
                "cluster": row.node.cluster,
                "address": row.node.address
                if row.node.transport == "local" or not row.node.user
                else f"{row.node.user}@{row.node.address}",
                "transport": row.node.transport,
                "tags": ", ".join(row.node.tags),
                "last deployment": f"#{row.last_deployment} {row.last_type}"
                if row.last_deployment
                else "",
                "status": (row.last_status or "").replace("_", " "),
            }
            for row in nodes
        ]
        self.clusters.update()
        self.nodes.update()

    async def upload(self, event: events.UploadEventArguments) -> None:
        name = Path(event.file.name).name
        data = await event.file.read()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / name
            path.write_bytes(data)
            try:
                summary = await self.console.write(inventory.import_file, path)
            except SquallError as exc:
                # The message names the uploaded file's line, not the temporary path.
                reason = str(exc).replace(str(path), name)
                self.uploader.reset()  # the browser showed it done: 100%, in green
                self._result(f"{name} refused, nothing imported: {reason}", ok=False)
                ui.notify(reason, type="negative", multi_line=True)
                return
        await self.refresh()  # the table is up to date when the note appears
        done = (
            f"imported {len(summary.clusters)} cluster(s): {summary.added} added, "
            f"{summary.updated} updated, {summary.removed} removed"
        )
        self._result(f"{name}: {done}", ok=True)
        ui.notify(done, type="positive")

    def _result(self, text: str, *, ok: bool) -> None:
        colour = "text-green-700" if ok else "text-red-700"
        self.result.set_content(
            f'<div data-import-result class="{colour} whitespace-pre-wrap">{html.escape(text)}</div>'
        )


def _quiet_when_empty(table: ui.table) -> None:
    """An empty table says so in plain grey: Quasar's warning sign is for errors, and an
    inventory with nothing in it yet is none."""
    table.add_slot("no-data", '<div class="sq-muted" data-empty>{{ props.message }}</div>')
