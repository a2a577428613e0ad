"""Deployments nothing runs any more: the process running them died or stopped.

A `squall deploy` runs its deployment in its own process, with no server. Every process
running an engine holds a lease on itself (`engine_leases`), renewed while it lives.
Killed, it leaves the deployment `running`, maybe with node tasks claimed: once their
claims run out, whoever looks next (any `squall` command, a worker) reaps them (see
`squall.core.engine.progress.reap_expired`): they become interrupted, and are queued
again where the type allows it. Once no engine's lease is alive and none of its tasks
runs, the deployment is *orphaned*, wherever it was (in a step, baking, between stages),
until some process runs it again (`squall resume ID`, or a `squall serve`/`squall worker`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from squall.core.db import Database
from squall.core.models import Deployment, EngineLease, NodeTask, utcnow
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
    """Running, none of its tasks is, and no engine is alive to move it forward."""
    if deployment.status != DeploymentStatus.RUNNING or holders(session, deployment.id):
        return False
    alive = session.scalar(
        select(EngineLease.worker).where(EngineLease.expires_at > utcnow()).limit(1)
    )
    return alive is None


def hold_lease(db: Database, worker: str, seconds: float) -> None:
    """Say this engine is alive for `seconds` more (taken at start, renewed while it runs)."""
    now = utcnow()
    until = now + dt.timedelta(seconds=seconds)
    with db.write() as session:
        found = session.get(EngineLease, worker)
        if found is None:
            session.add(EngineLease(worker=worker, started_at=now, expires_at=until))
        else:
            found.expires_at = until
        # Leases of engines long dead go too (their deployments are orphaned already).
        session.execute(
            delete(EngineLease).where(EngineLease.expires_at < now - dt.timedelta(days=1))
        )


def drop_lease(db: Database, worker: str) -> None:
    """This engine stopped: what it ran and left unfinished is orphaned from now on."""
    with db.write() as session:
        session.execute(delete(EngineLease).where(EngineLease.worker == worker))
