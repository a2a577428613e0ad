"""Where the console is, for links in messages (JIRA comments, Slack cards): the
configured public address, else the address `squall serve` last served it at. Never a
guess: a process that knows neither leaves links out."""

from __future__ import annotations

import ipaddress
import socket

from squall.core.settings import Settings

SERVED_FILE = "console-url"
"""In the data directory: written by `squall serve`, read by every process sharing it."""


def record_served(settings: Settings, host: str, port: int) -> str:
    """Remember the address the console is served at; returns it."""
    shown = host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and address.is_unspecified:
        shown = socket.getfqdn()  # listening everywhere: the name others reach it by
    elif address is not None and address.version == 6:
        shown = f"[{host}]"
    url = f"http://{shown}:{port}"
    (settings.data_dir / SERVED_FILE).write_text(url + "\n")
    return url


def console_url(settings: Settings) -> str | None:
    """`sso.public_url`, else where `squall serve` serves the console, else None."""
    if settings.sso.public_url:
        return settings.sso.public_url.rstrip("/")
    try:
        served = (settings.data_dir / SERVED_FILE).read_text().strip()
    except OSError:
        return None
    return served.rstrip("/") or None
