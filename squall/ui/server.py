"""The web console: NiceGUI pages and a few JSON routes over the same core services as
the CLI. `create_console` registers everything; `run_server` serves it."""

from __future__ import annotations

import importlib.util
import ipaddress
from typing import Any

from nicegui import app, ui

from squall.api.server import install, session_options
from squall.core.console_url import record_served
from squall.core.errors import ConfigError
from squall.core.runtime import Runtime
from squall.ui import log_pane
from squall.ui.context import Console
from squall.ui.pages import access, board, catalogue, deployment, inventory, reports, wizard


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_console(runtime: Runtime) -> Console:
    """Register every page and route of the console for this runtime, behind the guard
    that lets only signed-in people (or the local operator) through."""
    install(app, runtime)
    console = Console(runtime)
    for area in (board, deployment, wizard, inventory, catalogue, reports, access, log_pane):
        area.register(console)
    return console


def session_arguments(runtime: Runtime) -> dict[str, Any]:
    """ui.run's names for the session cookie's settings."""
    options = session_options(runtime)
    return {"storage_secret": options.pop("secret_key"), "session_middleware_kwargs": options}


def run_server(runtime: Runtime, *, host: str, port: int, show: bool, native: bool = False) -> None:
    if not is_loopback(host) and not runtime.settings.sso.enabled:
        raise ConfigError(
            f"refusing to listen on {host}: without single sign-on the console is for the "
            "person at this machine only; use 127.0.0.1, or configure sso"
        )
    if native and importlib.util.find_spec("webview") is None:
        raise ConfigError("--native needs pywebview: pip install 'squall[native]'")
    create_console(runtime)
    record_served(runtime.settings, host, port)
    app.on_shutdown(runtime.close)
    ui.run(
        host=host,
        port=port,
        title="Squall",
        show=show and not native,
        native=native,
        reload=False,
        **session_arguments(runtime),
        show_welcome_message=True,
        favicon="🌩",
    )
