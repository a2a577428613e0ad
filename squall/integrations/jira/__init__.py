"""JIRA: the ticket as system of record for every deployment that has one.

Configured under `jira:` (see docs/integrations.md). Declares that settings section,
registers the `jira` destination of the outbox, refuses deployments without a required
ticket, holds deployments and gates while their ticket is not in an allowed status, and
adds `squall jira drift`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import typer

from squall import CommandContext, DeploymentInfo, Destination, Settings, hookimpl
from squall.integrations.common import check_overrides
from squall.integrations.jira.commands import jira_commands
from squall.integrations.jira.destination import NAME, JiraDestination
from squall.integrations.jira.gate import check_ticket, gates_of, waiting_reason
from squall.integrations.jira.settings import JiraSettings


@hookimpl
def squall_settings_model() -> tuple[str, type[JiraSettings]]:
    return NAME, JiraSettings


@hookimpl
def squall_register_destinations(
    register: Callable[[Destination], None], settings: Settings
) -> None:
    jira = settings.section(NAME, JiraSettings)
    if jira.configured:
        check_overrides(jira, NAME, ("url", "token", "environments", "types"))
        register(JiraDestination(jira))


@hookimpl
def squall_deployment_gates(deployment: DeploymentInfo, settings: Settings) -> list[str]:
    return gates_of(settings.section(NAME, JiraSettings), deployment)


@hookimpl
def squall_check_deployment(deployment: DeploymentInfo, settings: Settings) -> None:
    check_ticket(settings.section(NAME, JiraSettings), deployment)


@hookimpl
def squall_gate_check(deployment: DeploymentInfo, gate: str, settings: Settings) -> str | None:
    if gate != NAME:
        return None
    return waiting_reason(settings.section(NAME, JiraSettings), deployment)


@hookimpl
def squall_register_commands(
    app: typer.Typer, open_squall: Callable[[], AbstractContextManager[CommandContext]]
) -> None:
    app.add_typer(jira_commands(open_squall), name=NAME)
