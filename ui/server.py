"""The web console: a NiceGUI app over the same core services as the CLI."""

from __future__ import annotations

import ipaddress
import secrets

from nicegui import app, ui

from core.auth import local_operator
from core.errors import ConfigError
from core.runtime import Runtime
from core.services import views
from ui.console import duration


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_pages(runtime: Runtime) -> None:
    actor = local_operator()

    @ui.page("/")
    def board() -> None:
        ui.label("Squall").classes("text-2xl font-bold")
        ui.label(f"signed in as {actor.name} (local operator)").classes("text-sm text-gray-500")
        columns = [
            {"name": name, "label": name, "field": name, "align": "left"}
            for name in ("id", "type", "status", "nodes", "failed", "target", "requester", "took")
        ]
        table = (
            ui.table(columns=columns, rows=[], row_key="id").mark("deployments").classes("w-full")
        )

        def refresh() -> None:
            with runtime.db.read() as session:
                recent = views.recent_deployments(session, runtime, actor, limit=50)
            table.rows = [
                {
                    "id": view.id,
                    "type": view.type,
                    "status": view.status,
                    "nodes": f"{view.nodes_done}/{view.node_count}",
                    "failed": view.counts.get("failed", 0) + view.counts.get("interrupted", 0),
                    "target": view.target,
                    "requester": view.requester,
                    "took": duration(view.started_at, view.finished_at),
                }
                for view in recent
            ]
            table.update()

        refresh()
        ui.timer(1.0, refresh)


def run_server(runtime: Runtime, *, host: str, port: int, show: bool) -> None:
    if not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host}: without single sign-on the console is for the "
            "person at this machine only; use 127.0.0.1"
        )
    build_pages(runtime)
    app.on_shutdown(runtime.close)
    ui.run(
        host=host,
        port=port,
        title="Squall",
        show=show,
        reload=False,
        storage_secret=secrets.token_urlsafe(32),
        show_welcome_message=True,
    )
