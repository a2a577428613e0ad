"""The web console: NiceGUI pages and a few JSON routes over the same core services as
the CLI. `create_console` registers everything; `run_server` serves it."""

from __future__ import annotations

import importlib.util
import ipaddress
import secrets

from nicegui import app, ui

from core.errors import ConfigError
from core.runtime import Runtime
from ui import log_pane
from ui.context import Console
from ui.pages import board, catalogue, deployment, inventory, wizard


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_console(runtime: Runtime) -> Console:
    """Register every page and route of the console for this runtime."""
    console = Console(runtime)
    for area in (board, deployment, wizard, inventory, catalogue, log_pane):
        area.register(console)
    return console


def run_server(runtime: Runtime, *, host: str, port: int, show: bool, native: bool = False) -> None:
    if not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host}: without single sign-on the console is for the "
            "person at this machine only; use 127.0.0.1"
        )
    if native and importlib.util.find_spec("webview") is None:
        raise ConfigError("--native needs pywebview: pip install 'squall[native]'")
    create_console(runtime)
    app.on_shutdown(runtime.close)
    ui.run(
        host=host,
        port=port,
        title="Squall",
        show=show and not native,
        native=native,
        reload=False,
        storage_secret=secrets.token_urlsafe(32),
        show_welcome_message=True,
        favicon="🌩",
    )
