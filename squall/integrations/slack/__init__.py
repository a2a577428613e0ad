"""Slack: one live status card per deployment, its story in a thread.

Configured under `slack:` (see docs/integrations.md). Registers the `slack` destination
of the outbox.
"""

from __future__ import annotations

from collections.abc import Callable

from squall import hookimpl
from squall.core.integration import Destination
from squall.core.settings import Settings
from squall.integrations.common import check_overrides
from squall.integrations.slack.destination import SlackDestination


@hookimpl
def squall_register_destinations(
    register: Callable[[Destination], None], settings: Settings
) -> None:
    if settings.slack.configured:
        check_overrides(settings.slack, "slack", ("url", "token", "users", "environments"))
        register(SlackDestination(settings.slack))
