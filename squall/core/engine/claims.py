"""Claiming node tasks: the only way a task starts running.

A claim happens in one write transaction: pick running stages with room under their
parallelism, pick their pending tasks whose node no other deployment holds, take the
node leases (a primary key makes a second holder impossible), then flip the tasks to
`running` with a conditional update. On PostgreSQL the stage rows are locked with
`FOR UPDATE SKIP LOCKED`, so workers in other processes go to other stages instead of
waiting; on SQLite the transaction is `BEGIN IMMEDIATE`, so claims never interleave.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from squall.core.db import insert_or_ignore
from squall.core.events import NewEvent, emit_many
from squall.core.models import Deployment, NodeLease, NodeTask, Stage, utcnow
from squall.core.plan import NodeInfo, Step
from squall.core.secrets import SecretBox
from squall.core.status import DeploymentStatus, StageStatus, TaskStatus


@dataclass(frozen=True)
class ClaimedTask:
    id: int
    deployment_id: int
    deployment_type: str
    stage: str
    attempt: int
    node: NodeInfo
    steps: tuple[Step, ...]
    resume_from: int
    sealed_params: dict[str, Any]


def claim_tasks(
    session: Session,
    *,
    worker: str,
    capacity: int,
    lease_seconds: float,
    box: SecretBox,
    now: dt.datetime | None = None,
) -> list[ClaimedTask]:
    if capacity <= 0:
        return []
    now = now or utcnow()
    stages = session.execute(
        select(Stage.id, Stage.deployment_id, Stage.parallelism, Stage.name)
        .join(Deployment, Deployment.id == Stage.deployment_id)
        .where(Stage.status == StageStatus.RUNNING, Deployment.status == DeploymentStatus.RUNNING)
        .order_by(Stage.deployment_id, Stage.position)
        .with_for_update(of=Stage, skip_locked=True)
    ).all()
    if not stages:
        return []
    running = {
        stage_id: count
        for stage_id, count in session.execute(
            select(NodeTask.stage_id, func.count())
            .where(
                NodeTask.stage_id.in_([stage.id for stage in stages]),
                NodeTask.status == TaskStatus.RUNNING,
            )
            .group_by(NodeTask.stage_id)
        )
    }
    leased = select(NodeLease.node_name)
    claimed_ids: list[int] = []
    stage_names: dict[int, str] = {}
    for stage in stages:
        room = min(stage.parallelism - running.get(stage.id, 0), capacity - len(claimed_ids))
        if room <= 0:
            continue
        candidates = session.execute(
            select(NodeTask.id, NodeTask.node_name)
            .where(
                NodeTask.stage_id == stage.id,
                NodeTask.status == TaskStatus.PENDING,
                NodeTask.node_name.not_in(leased),
            )
            .order_by(NodeTask.position)
            .limit(room)
            .with_for_update(skip_locked=True)
        ).all()
        if not candidates:
            continue
        won = set(
            insert_or_ignore(
                session,
                NodeLease.__table__,
                [
                    {
                        "node_name": task.node_name,
                        "deployment_id": stage.deployment_id,
                        "task_id": task.id,
                        "acquired_at": now,
                    }
                    for task in candidates
                ],
                ["node_name"],
            )
        )
        claimed_ids.extend(task.id for task in candidates if task.node_name in won)
        stage_names[stage.id] = stage.name
        if len(claimed_ids) >= capacity:
            break
    if not claimed_ids:
        return []
    rows = session.execute(
        update(NodeTask)
        .where(NodeTask.id.in_(claimed_ids), NodeTask.status == TaskStatus.PENDING)
        .values(
            status=TaskStatus.RUNNING,
            worker=worker,
            lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
            started_at=now,
            finished_at=None,
            current_step=None,
        )
        .returning(
            NodeTask.id,
            NodeTask.deployment_id,
            NodeTask.stage_id,
            NodeTask.attempt,
            NodeTask.node,
            NodeTask.steps,
            NodeTask.resume_from,
        )
    ).all()
    deployments = {
        row.id: row
        for row in session.execute(
            select(Deployment.id, Deployment.type, Deployment.params).where(
                Deployment.id.in_({row.deployment_id for row in rows})
            )
        )
    }
    emit_many(
        session,
        [
            NewEvent(
                "task.started",
                deployment_id=row.deployment_id,
                task_id=row.id,
                data={"node": row.node["name"], "attempt": row.attempt, "worker": worker},
            )
            for row in rows
        ],
    )
    return [
        ClaimedTask(
            id=row.id,
            deployment_id=row.deployment_id,
            deployment_type=deployments[row.deployment_id].type,
            stage=stage_names[row.stage_id],
            attempt=row.attempt,
            node=NodeInfo.from_json(row.node),
            steps=tuple(Step.from_json(step) for step in json.loads(unseal_steps(row.steps, box))),
            resume_from=row.resume_from,
            sealed_params=deployments[row.deployment_id].params,
        )
        for row in rows
    ]


_SEALED = "sealed:"


def seal_steps(steps_json: str, box: SecretBox, has_secrets: bool) -> str:
    """Steps are stored encrypted when they may contain a secret parameter's value."""
    return _SEALED + box.encrypt(steps_json) if has_secrets else steps_json


def unseal_steps(stored: str, box: SecretBox) -> str:
    return box.decrypt(stored.removeprefix(_SEALED)) if stored.startswith(_SEALED) else stored
