"""Moving deployments forward: start them, finish stages, halt on thresholds, reap lost tasks.

Every function here runs inside the caller's write transaction and is idempotent, so any
process may call it at any time: a transition is a conditional update of the current
state, never a blind write.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core.events import NewEvent, emit_many
from core.models import Deployment, NodeLease, NodeTask, Stage, StepResult, utcnow
from core.plan import Threshold
from core.status import DeploymentStatus, StageStatus, TaskStatus

D, S, T = DeploymentStatus, StageStatus, TaskStatus
ACTIVE = (D.PENDING, D.RUNNING, D.PAUSED)
FAILURES = (T.FAILED, T.INTERRUPTED)


def active_deployment_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Deployment.id).where(Deployment.status.in_(ACTIVE))))


def advance(session: Session, deployment_ids: Iterable[int] | None = None) -> None:
    """Take every given (default: every active) deployment as far as it can go now."""
    ids = list(deployment_ids) if deployment_ids is not None else active_deployment_ids(session)
    if not ids:
        return
    deployments = session.scalars(
        select(Deployment).where(Deployment.id.in_(ids), Deployment.status.in_(ACTIVE))
    ).all()
    if not deployments:
        return
    live_ids = [deployment.id for deployment in deployments]
    stages: dict[int, list[Stage]] = defaultdict(list)
    for stage in session.scalars(
        select(Stage).where(Stage.deployment_id.in_(live_ids)).order_by(Stage.position)
    ):
        stages[stage.deployment_id].append(stage)
    counts: dict[int, Counter[TaskStatus]] = defaultdict(Counter)
    for stage_id, status, count in session.execute(
        select(NodeTask.stage_id, NodeTask.status, func.count())
        .where(NodeTask.deployment_id.in_(live_ids))
        .group_by(NodeTask.stage_id, NodeTask.status)
    ):
        counts[stage_id][status] = count
    events: list[NewEvent] = []
    now = utcnow()
    for deployment in deployments:
        _advance_one(session, deployment, stages[deployment.id], counts, events, now)
    session.flush()
    emit_many(session, events)


def _advance_one(
    session: Session,
    deployment: Deployment,
    stages: list[Stage],
    counts: dict[int, Counter[TaskStatus]],
    events: list[NewEvent],
    now: dt.datetime,
) -> None:
    def note(kind: str, **data: object) -> None:
        events.append(NewEvent(kind, deployment_id=deployment.id, data=data))

    if deployment.status == D.PENDING:
        deployment.status = D.RUNNING
        deployment.started_at = deployment.started_at or now
        note("deployment.started")
    halted = False
    for stage in stages:
        tally = counts[stage.id]
        total = sum(tally.values())
        if stage.status == S.RUNNING and exceeded(stage, tally):
            stage.status = S.HALTING
            note(
                "stage.halting",
                stage=stage.name,
                failed=sum(tally[status] for status in FAILURES),
                allowed=allowed_failures(stage, total),
            )
        if stage.status in (S.RUNNING, S.HALTING) and tally[T.RUNNING] == 0:
            if stage.status == S.HALTING:
                _skip_pending(session, deployment.id, stage, events, now)
                tally[T.SKIPPED] += tally.pop(T.PENDING, 0)
                _finish_stage(stage, S.FAILED, tally, now, note)
            elif tally[T.PENDING] == 0:
                outcome = S.SUCCEEDED if tally[T.SUCCEEDED] == total else S.FAILED
                _finish_stage(stage, outcome, tally, now, note)
        if stage.status in (S.RUNNING, S.HALTING):
            return
        if stage.status == S.PENDING:
            if halted:
                _skip_pending(session, deployment.id, stage, events, now)
                tally[T.SKIPPED] += tally.pop(T.PENDING, 0)
                stage.status = S.SKIPPED
                stage.finished_at = now
                note("stage.skipped", stage=stage.name)
                continue
            if deployment.status == D.PAUSED:
                return
            stage.status = S.RUNNING
            stage.started_at = now
            note("stage.started", stage=stage.name, nodes=total)
            return
        halted = halted or exceeded(stage, tally)
    all_succeeded = all(
        counts[stage.id][T.SUCCEEDED] == sum(counts[stage.id].values()) for stage in stages
    )
    deployment.status = D.SUCCEEDED if all_succeeded else D.FAILED
    deployment.finished_at = now
    failed = sum(counts[stage.id][status] for stage in stages for status in FAILURES)
    note(f"deployment.{deployment.status.value}", failed=failed)


def _finish_stage(
    stage: Stage, status: StageStatus, tally: Counter[TaskStatus], now: dt.datetime, note: object
) -> None:
    stage.status = status
    stage.finished_at = now
    assert callable(note)
    note(
        f"stage.{status.value}",
        stage=stage.name,
        **{state.value: count for state, count in sorted(tally.items()) if count},
    )


def allowed_failures(stage: Stage, total: int) -> int | None:
    if stage.max_failures is not None:
        return Threshold(count=stage.max_failures).allowed(total)
    if stage.max_failure_percent is not None:
        return Threshold(percent=stage.max_failure_percent).allowed(total)
    return None


def exceeded(stage: Stage, tally: Counter[TaskStatus]) -> bool:
    allowed = allowed_failures(stage, sum(tally.values()))
    return allowed is not None and sum(tally[status] for status in FAILURES) > allowed


def _skip_pending(
    session: Session, deployment_id: int, stage: Stage, events: list[NewEvent], now: dt.datetime
) -> None:
    skipped = session.scalars(
        update(NodeTask)
        .where(NodeTask.stage_id == stage.id, NodeTask.status == T.PENDING)
        .values(status=T.SKIPPED, finished_at=now)
        .returning(NodeTask.id)
    ).all()
    events.extend(
        NewEvent(
            "task.skipped", deployment_id=deployment_id, task_id=task_id, data={"stage": stage.name}
        )
        for task_id in skipped
    )


def reap_expired(session: Session, now: dt.datetime | None = None) -> list[int]:
    """Running tasks whose worker stopped renewing the claim become `interrupted`."""
    now = now or utcnow()
    lost = session.execute(
        update(NodeTask)
        .where(NodeTask.status == T.RUNNING, NodeTask.lease_expires_at < now)
        .values(status=T.INTERRUPTED, finished_at=now, lease_expires_at=None)
        .returning(NodeTask.id, NodeTask.deployment_id, NodeTask.worker, NodeTask.node_name)
    ).all()
    if not lost:
        return []
    task_ids = [row.id for row in lost]
    session.execute(delete(NodeLease).where(NodeLease.task_id.in_(task_ids)))
    events: list[NewEvent] = []
    for row in lost:
        error = f"worker {row.worker} stopped renewing its claim (crashed or cut off)"
        session.execute(update(NodeTask).where(NodeTask.id == row.id).values(error=error))
        events.append(
            NewEvent(
                "task.interrupted",
                deployment_id=row.deployment_id,
                task_id=row.id,
                data={"node": row.node_name, "worker": row.worker, "error": error},
            )
        )
    emit_many(session, events)
    requeue_interrupted(session, task_ids)
    advance(session, {row.deployment_id for row in lost})
    return task_ids


def requeue_interrupted(session: Session, task_ids: list[int]) -> None:
    """Queue interrupted tasks again where their type allows it, from their first unfinished
    step; the event says which step was in flight and so runs a second time."""
    rows = session.execute(
        select(
            NodeTask.id,
            NodeTask.deployment_id,
            NodeTask.attempt,
            NodeTask.current_step,
            NodeTask.step_names,
        )
        .join(Deployment, Deployment.id == NodeTask.deployment_id)
        .where(
            NodeTask.id.in_(task_ids),
            NodeTask.status == T.INTERRUPTED,
            Deployment.retry_interrupted.is_(True),
            Deployment.status.in_(ACTIVE),
        )
    ).all()
    events: list[NewEvent] = []
    for row in rows:
        done = session.scalar(
            select(func.count()).where(
                StepResult.task_id == row.id,
                StepResult.attempt == row.attempt,
                StepResult.status == T.SUCCEEDED,
            )
        )
        in_flight = row.step_names[row.current_step] if row.current_step is not None else None
        session.execute(
            update(NodeTask)
            .where(NodeTask.id == row.id, NodeTask.status == T.INTERRUPTED)
            .values(status=T.PENDING, resume_from=done or 0, worker=None, finished_at=None)
        )
        events.append(
            NewEvent(
                "task.requeued",
                deployment_id=row.deployment_id,
                task_id=row.id,
                data={
                    "resume_from": done or 0,
                    "note": (
                        f"step {in_flight!r} was running when its worker stopped; it runs again"
                        if in_flight
                        else "no step had started"
                    ),
                },
            )
        )
    emit_many(session, events)
