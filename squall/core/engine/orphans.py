"""Deployments nothing runs any more: the process running them died or stopped.

A `squall deploy` runs its deployment in its own process, with no server. Killed, it
leaves the deployment `running` and its node tasks claimed; once their claims run out,
whoever looks next (any `squall` command, a worker) reaps them (see
`squall.core.engine.progress.reap_expired`): they become interrupted, and are queued
again where the type allows it. The deployment is then *orphaned* until some process
runs it again (`squall resume ID`, or a `squall serve`/`squall worker`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from squall.core.models import Deployment, Event, NodeTask
from squall.core.status import DeploymentStatus, TaskStatus


@dataclass(frozen=True)
class Holder:
    """A worker holding running node tasks of a deployment, and until when at least."""

    worker: str
    tasks: int
    until: dt.datetime | None


def holders(session: Session, deployment_id: int) -> list[Holder]:
    """Who runs the deployment's tasks now, by their claims (they may have died since)."""
    return [
        Holder(worker or "?", count, until)
        for worker, count, until in session.execute(
            select(NodeTask.worker, func.count(), func.max(NodeTask.lease_expires_at))
            .where(NodeTask.deployment_id == deployment_id, NodeTask.status == TaskStatus.RUNNING)
            .group_by(NodeTask.worker)
            .order_by(NodeTask.worker)
        )
    ]


def is_orphaned(session: Session, deployment: Deployment) -> bool:
    """Running, none of its tasks is, and the last thing its tasks did was be interrupted
    (their worker died or stopped), none started since: no process is working on it."""
    if deployment.status != DeploymentStatus.RUNNING or holders(session, deployment.id):
        return False
    latest = session.execute(
        select(Event.kind)
        .where(
            Event.deployment_id == deployment.id,
            Event.kind.in_(("task.interrupted", "task.started")),
        )
        .order_by(Event.id.desc())
        .limit(1)
    ).scalar()
    return latest == "task.interrupted"
