"""Drift between Squall and JIRA: deployments JIRA should know about but have no ticket,
and tickets whose deployment failed or never ran."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from squall.core.auth import Actor
from squall.core.errors import ConfigError
from squall.core.integration import DeploymentInfo
from squall.core.models import Deployment
from squall.core.runtime import Runtime
from squall.core.services.deployments import visible
from squall.integrations.jira.destination import for_deployment

FAILED = ("failed", "cancelled", "rolled_back")


@dataclass(frozen=True)
class Drift:
    problem: str
    """`no ticket`, `deployment failed` or `never ran`."""
    deployment: DeploymentInfo


def find_drift(session: Session, rt: Runtime, actor: Actor, *, limit: int = 1000) -> list[Drift]:
    """The most recent `limit` deployments, checked; newest first."""
    if not rt.settings.jira.configured:
        raise ConfigError("JIRA is not configured: set jira.url and jira.token")
    rows = session.scalars(select(Deployment).order_by(Deployment.id.desc()).limit(limit)).all()
    found = []
    for row in visible(rt, actor, rows):
        deployment = DeploymentInfo.from_row(row)
        if not for_deployment(rt.settings.jira, deployment).enabled:
            continue
        if deployment.ticket is None:
            found.append(Drift("no ticket", deployment))
        elif deployment.started_at is None:
            found.append(Drift("never ran", deployment))
        elif deployment.status in FAILED:
            found.append(Drift("deployment failed", deployment))
    return found
