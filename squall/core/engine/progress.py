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

from squall.core.events import NewEvent, emit_many
from squall.core.models import (
    Approval,
    Deployment,
    DeploymentHold,
    LogLine,
    NodeLease,
    NodeTask,
    Stage,
    StepResult,
    TaskAttempt,
    utcnow,
)
from squall.core.plan import Threshold
from squall.core.status import FAILURES, DeploymentStatus, StageKind, StageStatus, TaskStatus

D, S, T, K = DeploymentStatus, StageStatus, TaskStatus, StageKind
ACTIVE = (D.PENDING, D.RUNNING, D.PAUSED, D.AWAITING_APPROVAL)
DONE_WELL = (T.SUCCEEDED, T.EXCLUDED, T.INCONCLUSIVE)
"""Task outcomes a stage counts as done: inconclusive checks were accepted by a person
(the deployment paused on them), excluded nodes were set aside by one."""


def active_deployment_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Deployment.id).where(Deployment.status.in_(ACTIVE))))


def advance(
    session: Session, deployment_ids: Iterable[int] | None = None, *, now: dt.datetime | None = None
) -> None:
    """Take every given (default: every active) deployment as far as it can go now."""
    ids = list(deployment_ids) if deployment_ids is not None else active_deployment_ids(session)
    if not ids:
        return
    # Locked (on PostgreSQL) so two processes never move one deployment at once: the second
    # waits, then sees what the first did. In id order, so two callers cannot deadlock here;
    # FOR NO KEY UPDATE, so the key-share locks that inserting its log lines and events took
    # (foreign keys) do not deadlock with it either.
    deployments = session.scalars(
        select(Deployment)
        .where(Deployment.id.in_(ids), Deployment.status.in_(ACTIVE))
        .order_by(Deployment.id)
        .with_for_update(of=Deployment, key_share=True)
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
    approvals: Counter[int] = Counter(
        {
            stage_id: count
            for stage_id, count in session.execute(
                select(Approval.stage_id, func.count())
                .where(Approval.deployment_id.in_(live_ids))
                .group_by(Approval.stage_id)
            )
        }
    )
    holds: dict[int, list[DeploymentHold]] = defaultdict(list)
    for hold in session.scalars(
        select(DeploymentHold).where(DeploymentHold.deployment_id.in_(live_ids))
    ):
        holds[hold.deployment_id].append(hold)
    events: list[NewEvent] = []
    for deployment in deployments:
        _Progress(
            session, deployment, counts, approvals, holds[deployment.id], events, now or utcnow()
        ).run(stages[deployment.id])
    session.flush()
    emit_many(session, events)


class _Progress:
    """One deployment moved forward: its stages in order, as far as they can go."""

    def __init__(
        self,
        session: Session,
        deployment: Deployment,
        counts: dict[int, Counter[TaskStatus]],
        approvals: Counter[int],
        holds: list[DeploymentHold],
        events: list[NewEvent],
        now: dt.datetime,
    ) -> None:
        self.session = session
        self.deployment = deployment
        self.counts = counts
        self.approvals = approvals
        self.holds = holds
        self.events = events
        self.now = now

    def note(self, kind: str, **data: object) -> None:
        self.events.append(NewEvent(kind, deployment_id=self.deployment.id, data=data))

    def run(self, stages: list[Stage]) -> None:
        deployment = self.deployment
        if deployment.status == D.PENDING:
            if self._held(""):
                return  # an outside condition (a ticket's status) is not met yet
            deployment.status = D.RUNNING
            deployment.started_at = deployment.started_at or self.now
            self.note("deployment.started")
        halted = False
        for stage in stages:
            tally = self.counts[stage.id]
            self._settle(stage, tally)
            if stage.status in (S.RUNNING, S.HALTING, S.BAKING):
                return  # still working on it
            if stage.status in (S.PENDING, S.WAITING):
                if halted and stage.kind != K.ROLLBACK:
                    self._skip(stage, tally)
                    continue
                self._start(stage)
                return
            if stage.kind != K.ROLLBACK:
                halted = halted or exceeded(stage, tally)
            if deployment.status == D.PAUSED:
                return  # an inconclusive check paused it just now, or an operator did
        self._finish(stages)

    def _settle(self, stage: Stage, tally: Counter[TaskStatus]) -> None:
        """Halt on the threshold, bake, and complete a stage whose nodes are done."""
        if stage.status == S.RUNNING and exceeded(stage, tally):
            stage.status = S.HALTING
            failed = sum(tally[status] for status in FAILURES)
            allowed = allowed_failures(stage, sum(tally.values()))
            self.note("stage.halting", stage=stage.name, failed=failed, allowed=allowed)
        if stage.status in (S.RUNNING, S.HALTING) and tally[T.RUNNING] == 0:
            if stage.status == S.HALTING:
                self._skip_pending(stage, tally)
                self._complete(stage, S.FAILED, tally)
            elif tally[T.PENDING] == 0:
                if stage.bake_seconds > 0 and stage.bake_until is None:
                    stage.status = S.BAKING
                    stage.bake_until = self.now + dt.timedelta(seconds=stage.bake_seconds)
                    self.note("stage.baking", stage=stage.name, until=stage.bake_until.isoformat())
                else:
                    self._complete_done(stage, tally)
        if stage.status == S.BAKING and stage.bake_until and self.now >= stage.bake_until:
            self._complete_done(stage, tally)

    def _complete_done(self, stage: Stage, tally: Counter[TaskStatus]) -> None:
        total = sum(tally.values())
        done_well = sum(tally[status] for status in DONE_WELL)
        self._complete(stage, S.SUCCEEDED if done_well == total else S.FAILED, tally)
        undecided = tally[T.INCONCLUSIVE]
        if undecided and stage.kind == K.CHECK and self.deployment.status == D.RUNNING:
            self.deployment.status = D.PAUSED
            self.note(
                "deployment.paused",
                reason=f"health check inconclusive on {undecided} node(s) of {stage.name}",
                stage=stage.name,
            )

    def _complete(self, stage: Stage, status: StageStatus, tally: Counter[TaskStatus]) -> None:
        stage.status = status
        stage.finished_at = self.now
        counts = {state.value: count for state, count in sorted(tally.items()) if count}
        self.note(f"stage.{status.value}", stage=stage.name, **counts)

    def _start(self, stage: Stage) -> None:
        deployment = self.deployment
        if deployment.status == D.PAUSED:
            return
        if stage.gate and self.approvals[stage.id] < stage.approvals_required:
            if stage.status == S.PENDING:
                stage.status = S.WAITING
                self.note(
                    "gate.waiting",
                    stage=stage.name,
                    approvals=self.approvals[stage.id],
                    required=stage.approvals_required,
                )
            if deployment.status == D.RUNNING:
                deployment.status = D.AWAITING_APPROVAL
            return
        if stage.gate and self._hold_stage(stage):
            if deployment.status == D.RUNNING:
                deployment.status = D.AWAITING_APPROVAL
            return
        if deployment.status == D.AWAITING_APPROVAL:
            deployment.status = D.RUNNING
        stage.status = S.RUNNING
        stage.started_at = self.now
        self.note("stage.started", stage=stage.name, nodes=sum(self.counts[stage.id].values()))

    def _held(self, stage: str) -> bool:
        return any(hold.stage == stage and hold.released_at is None for hold in self.holds)

    def _hold_stage(self, stage: Stage) -> bool:
        """An approved gate is checked again against the outside conditions the
        deployment has (holds are placed at creation), once, when it is approved."""
        gates = sorted({hold.gate for hold in self.holds})
        checked = {hold.gate for hold in self.holds if hold.stage == stage.name}
        for gate in gates:
            if gate in checked:
                continue
            reason = f"checking {gate} before {stage.name}"
            hold = DeploymentHold(
                deployment_id=self.deployment.id, gate=gate, stage=stage.name, reason=reason
            )
            self.session.add(hold)
            self.holds.append(hold)
            self.note("hold.waiting", gate=gate, stage=stage.name, reason=reason)
        return self._held(stage.name)

    def _skip(self, stage: Stage, tally: Counter[TaskStatus]) -> None:
        self._skip_pending(stage, tally)
        stage.status = S.SKIPPED
        stage.finished_at = self.now
        self.note("stage.skipped", stage=stage.name)

    def _skip_pending(self, stage: Stage, tally: Counter[TaskStatus]) -> None:
        skipped = self.session.scalars(
            update(NodeTask)
            .where(NodeTask.stage_id == stage.id, NodeTask.status == T.PENDING)
            .values(status=T.SKIPPED, finished_at=self.now)
            .returning(NodeTask.id)
        ).all()
        tally[T.SKIPPED] += tally.pop(T.PENDING, 0)
        self.events.extend(
            NewEvent(
                "task.skipped",
                deployment_id=self.deployment.id,
                task_id=task_id,
                data={"stage": stage.name},
            )
            for task_id in skipped
        )

    def _finish(self, stages: list[Stage]) -> None:
        """Every stage is final: so is the deployment."""
        deployment = self.deployment
        rollback = [stage for stage in stages if stage.kind == K.ROLLBACK]
        judged = rollback or [stage for stage in stages if stage.kind != K.ROLLBACK]
        clean = all(
            sum(self.counts[stage.id][status] for status in DONE_WELL)
            == sum(self.counts[stage.id].values())
            for stage in judged
        )
        excluded = sum(self.counts[stage.id][T.EXCLUDED] for stage in judged)
        if rollback:
            deployment.status = D.ROLLED_BACK if clean else D.FAILED
        elif not clean:
            deployment.status = D.FAILED
        else:
            # Nodes set aside after failing did not get the change: never plain success.
            deployment.status = D.SUCCEEDED_WITH_EXCLUSIONS if excluded else D.SUCCEEDED
        deployment.finished_at = self.now
        failed = sum(self.counts[stage.id][status] for stage in judged for status in FAILURES)
        details = {"failed": failed, "excluded": excluded} if excluded else {"failed": failed}
        self.note(f"deployment.{deployment.status.value}", **details)


def allowed_failures(stage: Stage, total: int) -> int | None:
    if stage.max_failures is not None:
        return Threshold(count=stage.max_failures).allowed(total)
    if stage.max_failure_percent is not None:
        return Threshold(percent=stage.max_failure_percent).allowed(total)
    return None


def exceeded(stage: Stage, tally: Counter[TaskStatus]) -> bool:
    allowed = allowed_failures(stage, sum(tally.values()))
    return allowed is not None and sum(tally[status] for status in FAILURES) > allowed


def reap_expired(session: Session, now: dt.datetime | None = None) -> list[int]:
    """Running tasks whose worker stopped renewing the claim become `interrupted`."""
    now = now or utcnow()
    lost = session.execute(
        update(NodeTask)
        .where(NodeTask.status == T.RUNNING, NodeTask.lease_expires_at < now)
        .values(status=T.INTERRUPTED, finished_at=now, lease_expires_at=None)
        .returning(
            NodeTask.id,
            NodeTask.deployment_id,
            NodeTask.worker,
            NodeTask.node_name,
            NodeTask.attempt,
            NodeTask.current_step,
            NodeTask.step_names,
        )
    ).all()
    if not lost:
        return []
    task_ids = [row.id for row in lost]
    session.execute(delete(NodeLease).where(NodeLease.task_id.in_(task_ids)))
    runs = {
        task.id: (task, stage_name)
        for task, stage_name in session.execute(
            select(NodeTask, Stage.name)
            .join(Stage, Stage.id == NodeTask.stage_id)
            .where(NodeTask.id.in_(task_ids))
        )
    }
    events: list[NewEvent] = []
    for row in lost:
        error = f"worker {row.worker} stopped renewing its claim (crashed or cut off)"
        # The failure point is the step that was running: it may have partly run.
        step = row.step_names[row.current_step] if row.current_step is not None else None
        session.execute(
            update(NodeTask)
            .where(NodeTask.id == row.id)
            .values(error=error, failed_step=row.current_step, failed_step_name=step)
        )
        if row.current_step is not None:
            session.execute(
                update(StepResult)
                .where(
                    StepResult.task_id == row.id,
                    StepResult.attempt == row.attempt,
                    StepResult.position == row.current_step,
                    StepResult.status == T.RUNNING,
                )
                .values(status=T.INTERRUPTED, finished_at=now, error=error)
            )
        task, stage_name = runs[row.id]
        session.add(
            TaskAttempt(
                deployment_id=row.deployment_id,
                task_id=row.id,
                attempt=row.attempt,
                node_name=row.node_name,
                stage_name=stage_name,
                status=T.INTERRUPTED,
                worker=row.worker,
                started_at=task.started_at,
                finished_at=now,
                failed_step=row.current_step,
                failed_step_name=step,
                error=error,
            )
        )
        events.append(
            NewEvent(
                "task.interrupted",
                deployment_id=row.deployment_id,
                task_id=row.id,
                data={"node": row.node_name, "worker": row.worker, "step": step, "error": error},
            )
        )
    emit_many(session, events)
    requeue_interrupted(session, task_ids)
    advance(session, {row.deployment_id for row in lost})
    return task_ids


def requeue_interrupted(session: Session, task_ids: list[int]) -> None:
    """Queue interrupted tasks again where their type allows it, from their first unfinished
    step; the event says which step was in flight and so runs a second time."""
    if not task_ids:
        return
    rows = session.execute(
        select(
            NodeTask.id,
            NodeTask.deployment_id,
            NodeTask.attempt,
            NodeTask.current_step,
            NodeTask.failed_step,
            NodeTask.step_names,
            NodeTask.node_name,
            NodeTask.worker,
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
    now = utcnow()
    for row in rows:
        done = session.scalar(
            select(func.count()).where(
                StepResult.task_id == row.id,
                StepResult.attempt == row.attempt,
                StepResult.status == T.SUCCEEDED,
            )
        )
        # Where it stopped: its failure point, or (older rows) the step last seen running.
        position = row.failed_step if row.failed_step is not None else row.current_step
        in_flight = row.step_names[position] if position is not None else None
        session.execute(
            update(NodeTask)
            .where(NodeTask.id == row.id, NodeTask.status == T.INTERRUPTED)
            .values(status=T.PENDING, resume_from=done or 0, worker=None, finished_at=None)
        )
        note = (
            f"step {in_flight!r} was running when worker {row.worker} stopped; "
            "it runs again, so it may have run twice"
            if in_flight
            else f"worker {row.worker} stopped before any step of this run had started"
        )
        if in_flight:
            # Marks, in the node's log, where the step's second run starts.
            session.add(
                LogLine(
                    deployment_id=row.deployment_id,
                    task_id=row.id,
                    attempt=row.attempt,
                    step=position,
                    stream="squall",
                    at=now,
                    text=f"⟳ {note}",
                )
            )
        events.append(
            NewEvent(
                "task.requeued",
                deployment_id=row.deployment_id,
                task_id=row.id,
                data={
                    "node": row.node_name,
                    "attempt": row.attempt,
                    "step": in_flight,
                    "resume_from": done or 0,
                    "note": note,
                },
            )
        )
    emit_many(session, events)
