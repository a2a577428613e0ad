"""Drift between Squall and JIRA: deployments JIRA should know about but have no ticket,
and tickets whose deployment failed or never ran."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from squall import DeploymentInfo
from squall.integrations.jira.destination import for_deployment
from squall.integrations.jira.settings import JiraSettings

FAILED = ("failed", "cancelled", "rolled_back")


@dataclass(frozen=True)
class Drift:
    problem: str
    """`no ticket`, `deployment failed` or `never ran`."""
    deployment: DeploymentInfo


def find_drift(settings: JiraSettings, deployments: Iterable[DeploymentInfo]) -> list[Drift]:
    """The drifted ones of `deployments`, in their order; those whose environment keeps
    JIRA out are not."""
    found = []
    for deployment in deployments:
        if not for_deployment(settings, deployment).enabled:
            continue
        if deployment.ticket is None:
            found.append(Drift("no ticket", deployment))
        elif deployment.started_at is None:
            found.append(Drift("never ran", deployment))
        elif deployment.status in FAILED:
            found.append(Drift("deployment failed", deployment))
    return found
