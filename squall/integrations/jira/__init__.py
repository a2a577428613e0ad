"""JIRA: the ticket as system of record for every deployment that has one.

Configured under `jira:` (see docs/integrations.md). Registers the `jira` destination of
the outbox, refuses deployments without a required ticket, and holds deployments and
gates while their ticket is not in an allowed status.
"""

from __future__ import annotations

from collections.abc import Callable

from squall import hookimpl
from squall.core.integration import DeploymentInfo, Destination
from squall.core.settings import Settings
from squall.integrations.common import check_overrides
from squall.integrations.jira.destination import NAME, JiraDestination
from squall.integrations.jira.gate import gates_of, waiting_reason


@hookimpl
def squall_register_destinations(
    register: Callable[[Destination], None], settings: Settings
) -> None:
    if settings.jira.configured:
        check_overrides(settings.jira, "jira", ("url", "token", "environments", "types"))
        register(JiraDestination(settings.jira))


@hookimpl
def squall_deployment_gates(deployment: DeploymentInfo, settings: Settings) -> list[str]:
    return gates_of(settings.jira, deployment)


@hookimpl
def squall_gate_check(deployment: DeploymentInfo, gate: str, settings: Settings) -> str | None:
    if gate != NAME:
        return None
    return waiting_reason(settings.jira, deployment)
