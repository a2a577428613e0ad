"""The `slack:` section of Squall's settings (`SQUALL_SLACK__…`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr


class SlackSettings(BaseModel):
    """The Slack integration; off while `token` is empty. Every key but `url`, `token`,
    `users` and `environments` may be overridden per environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = "https://slack.com/api/"
    """Slack's Web API."""
    token: SecretStr | None = None
    """The bot token (xoxb-…); never logged or stored."""
    timeout: float = 10.0
    """Seconds to wait for an answer."""
    enabled: bool = True
    """False in an environment's overrides keeps its deployments out of Slack."""
    channel: str | None = None
    """Channel id (C…) the status cards go to."""
    card_seconds: float = 5.0
    """At most one edit of a deployment's status card this often."""
    temporary_channels: bool = False
    """Group deployments get a channel of their own, archived `archive_after` seconds
    after they end; the main channel gets a pointer to it."""
    archive_after: float = 86400.0
    """Seconds after its deployment ends that a temporary channel is archived."""
    invite: str = ""
    """Comma-separated Squall user names invited to a temporary channel besides the
    requester and the approvers."""
    users: dict[str, str] = {}
    """Squall user name → Slack user id (U…), to invite people to temporary channels."""
    environments: dict[str, dict[str, Any]] = {}
    """Environment name → the keys it sets differently."""

    @property
    def configured(self) -> bool:
        return self.token is not None and bool(self.token.get_secret_value())
