"""The `slack_sdk` WebClient, with its errors turned into the outbox's: retry later
(down, rate-limited, timed out) or give up (a rejected token, a missing scope)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.error import URLError

from squall import DeliveryFailed, RetryLater
from squall.integrations.common import retry_after
from squall.integrations.slack.settings import SlackSettings

if TYPE_CHECKING:  # slack_sdk loads when Slack is first called, not with the plugin
    from slack_sdk import WebClient

T = TypeVar("T")

FATAL = {
    "invalid_auth": "Slack rejected the bot token (invalid_auth); check slack.token",
    "not_authed": "no Slack token was sent (not_authed); set slack.token",
    "token_revoked": "the Slack bot token was revoked; set a new slack.token",
    "account_inactive": "the Slack bot's account is inactive (account_inactive)",
    "missing_scope": "the Slack bot lacks a scope (missing_scope); see docs/integrations.md",
    "not_in_channel": "the Slack bot is not in the channel (not_in_channel); invite it",
    "channel_not_found": "the Slack channel does not exist or is hidden from the bot",
    "is_archived": "the Slack channel is archived",
}
"""Errors trying again cannot fix."""
PASSING = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
"""Errors Slack answers with 200 that say it is having trouble."""


class ChannelArchived(DeliveryFailed):
    """The channel was archived (a temporary one, after its deployment ended)."""


def client(settings: SlackSettings) -> WebClient:
    if not settings.configured or settings.token is None:
        raise DeliveryFailed("Slack is not configured: set slack.token")
    from slack_sdk import WebClient

    base = settings.url if settings.url.endswith("/") else f"{settings.url}/"
    # No retry handlers: the outbox retries, with backoff, across restarts.
    return WebClient(
        token=settings.token.get_secret_value(),
        base_url=base,
        timeout=settings.timeout,  # type: ignore[arg-type]  # urllib takes fractions of seconds
        retry_handlers=[],
    )


def call(request: Callable[[], T], doing: str) -> T:
    from slack_sdk.errors import SlackApiError, SlackClientError

    try:
        return request()
    except SlackApiError as exc:
        raise translate(exc.response, doing) from None
    except (TimeoutError, URLError, ConnectionError) as exc:
        reason = type(exc).__name__
        raise RetryLater(f"Slack did not answer while {doing} ({reason})", ambiguous=True) from None
    except (SlackClientError, json.JSONDecodeError) as exc:
        reason = type(exc).__name__
        raise RetryLater(f"Slack gave an unreadable answer while {doing} ({reason})") from None


def translate(response: Any, doing: str) -> Exception:
    status = response.status_code
    error = response.get("error") if isinstance(response.data, dict) else None
    if status == 429 or error == "ratelimited":
        headers = {key.lower(): value for key, value in (response.headers or {}).items()}
        wait = headers.get("retry-after")
        if isinstance(wait, list):
            wait = wait[0] if wait else None
        return RetryLater(f"Slack is rate-limiting (429) while {doing}", after=retry_after(wait))
    if status >= 500 or error in PASSING:
        return RetryLater(f"Slack failed ({error or status}) while {doing}", ambiguous=True)
    if error == "is_archived":
        return ChannelArchived(f"{FATAL[error]}, while {doing}")
    if error in FATAL:
        return DeliveryFailed(f"{FATAL[error]}, while {doing}")
    return DeliveryFailed(f"Slack refused {doing}: {error or status}")
