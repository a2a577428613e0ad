"""The web console: NiceGUI pages and a few JSON routes over the same core services as
the CLI. `create_console` registers everything; `run_server` serves it."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import ipaddress
from typing import Any

from nicegui import app, ui

from api.auth import SESSION_COOKIE, Authenticator, LoginGuard
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
    """Register every page and route of the console for this runtime, behind the guard
    that lets only signed-in people (or the local operator) through."""
    authenticator = Authenticator(runtime)
    app.add_middleware(LoginGuard, authenticator=authenticator)
    authenticator.register_routes(app)
    console = Console(runtime)
    for area in (board, deployment, wizard, inventory, catalogue, log_pane):
        area.register(console)
    return console


def session_options(runtime: Runtime) -> dict[str, Any]:
    """The session cookie: HttpOnly (always, with Starlette), SameSite=Lax, Secure when the
    console is served over https, and lasting as long as a sign-in."""
    sso = runtime.settings.sso
    return {
        "session_cookie": SESSION_COOKIE,
        "same_site": "lax",
        "https_only": bool(sso.public_url and sso.public_url.startswith("https://")),
        "max_age": int(sso.session_hours * 3600),
    }


def session_secret(runtime: Runtime) -> str:
    """Derived from the installation's secret key: sessions survive a restart and hold in
    every console process of one installation."""
    return hmac.new(runtime.secrets.key, b"squall session cookies", hashlib.sha256).hexdigest()


def run_server(runtime: Runtime, *, host: str, port: int, show: bool, native: bool = False) -> None:
    if not is_loopback(host) and not runtime.settings.sso.enabled:
        raise ConfigError(
            f"refusing to listen on {host}: without single sign-on the console is for the "
            "person at this machine only; use 127.0.0.1, or configure sso"
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
        storage_secret=session_secret(runtime),
        session_middleware_kwargs=session_options(runtime),
        show_welcome_message=True,
        favicon="🌩",
    )
