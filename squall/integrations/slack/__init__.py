"""Slack: one live status card per deployment, its story in a thread.

Configured under `slack:` (see docs/integrations.md). Declares that settings section and
registers the `slack` destination of the outbox.
"""

from __future__ import annotations

from collections.abc import Callable

from squall import Destination, Settings, hookimpl
from squall.integrations.common import check_overrides
from squall.integrations.slack.destination import NAME, SlackDestination
from squall.integrations.slack.settings import SlackSettings


@hookimpl
def squall_settings_model() -> tuple[str, type[SlackSettings]]:
    return NAME, SlackSettings


@hookimpl
def squall_register_destinations(
    register: Callable[[Destination], None], settings: Settings
) -> None:
    slack = settings.section(NAME, SlackSettings)
    if slack.configured:
        check_overrides(slack, NAME, ("url", "token", "users", "environments"))
        register(SlackDestination(slack))
