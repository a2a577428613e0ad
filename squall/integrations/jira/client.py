"""The `jira` client, built once per server and token, with its errors turned into the
outbox's: retry later (down, rate-limited, timed out) or give up (credentials, missing
ticket). Messages are built here, never from `str(JIRAError)`, which prints the request
headers and with them the token."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from squall import DeliveryFailed, RetryLater
from squall.integrations.common import retry_after
from squall.integrations.jira.settings import JiraSettings

if TYPE_CHECKING:  # the client library loads when JIRA is first called, not with the plugin
    from jira import JIRA, JIRAError

T = TypeVar("T")
_clients: dict[tuple[str, str, float], JIRA] = {}
_lock = threading.Lock()


def client(settings: JiraSettings) -> JIRA:
    """A connected client (the constructor asks the server for its version)."""
    from jira import JIRA

    if not settings.url or not settings.token:
        raise DeliveryFailed("JIRA is not configured: set jira.url and jira.token")
    token = settings.token.get_secret_value()
    key = (settings.url, token, settings.timeout)
    with _lock:
        found = _clients.get(key)
    if found is not None:
        return found
    made = call(
        lambda: JIRA(
            settings.url,
            token_auth=token,
            timeout=settings.timeout,
            max_retries=0,  # the outbox retries, with backoff, across restarts
            options={"check_update": False},
        ),
        "connecting to JIRA",
    )
    with _lock:
        _clients[key] = made
    return made


def call(request: Callable[[], T], doing: str) -> T:
    import requests
    from jira import JIRAError

    try:
        return request()
    except JIRAError as exc:
        raise translate(exc, doing) from None
    except requests.Timeout:
        raise RetryLater(f"JIRA did not answer in time while {doing}", ambiguous=True) from None
    except requests.RequestException as exc:
        reason = type(exc).__name__
        raise RetryLater(f"JIRA is unreachable while {doing} ({reason})", ambiguous=True) from None


def translate(exc: JIRAError, doing: str) -> Exception:
    status = exc.status_code
    text = (exc.text or "").strip()
    detail = f": {text}" if text else ""
    if status in (401, 403):
        what = "rejected the credentials" if status == 401 else "refused access"
        return DeliveryFailed(
            f"JIRA {what} ({status}) while {doing}{detail}; check jira.token and the "
            "permissions of its user"
        )
    if status == 429:
        headers = exc.response.headers if exc.response is not None else {}
        wait = retry_after(headers.get("Retry-After"))
        return RetryLater(f"JIRA is rate-limiting (429) while {doing}", after=wait)
    if status is None or status >= 500:
        return RetryLater(f"JIRA failed ({status or 'no answer'}) while {doing}", ambiguous=True)
    return DeliveryFailed(f"JIRA refused ({status}) {doing}{detail}")
