"""The board: every active and recent deployment in one view, built with a handful of
grouped queries however many deployments and node tasks there are."""

from __future__ import annotations

import datetime as dt
import math
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Row, exists, func, or_, select
from sqlalchemy.orm import Session, defer

from squall.core.auth import Actor, AuthTarget, authorize
from squall.core.errors import ValidationError
from squall.core.models import (
    Deployment,
    DeploymentHold,
    NodeTask,
    Stage,
    StepResult,
    failure_point_condition,
    utcnow,
)
from squall.core.permissions import Permission
from squall.core.readmodel import DeploymentRecord, record_fields
from squall.core.runtime import Runtime
from squall.core.services.deployments import visible
from squall.core.status import DeploymentStatus, StageKind, StageStatus, TaskStatus

D, S, T = DeploymentStatus, StageStatus, TaskStatus
FINISHED_TASK = {
    T.SUCCEEDED,
    T.FAILED,
    T.INCONCLUSIVE,
    T.CANCELLED,
    T.INTERRUPTED,
    T.EXCLUDED,
}
"""Nodes that ran and ended; skipped and not-started ones never ran, so are never "done"."""


@dataclass(frozen=True)
class BoardFilter:
    statuses: tuple[str, ...] = ()
    type: str | None = None
    cluster: str | None = None
    requester: str | None = None
    since: dt.datetime | None = None
    limit: int = 200
    """Recent finished deployments shown besides every active one."""
    sort: str = "attention"
    """`attention` (see `attention`) or `newest` (by id, newest first)."""


SORTS = ("attention", "newest")
RECENT_FAILURE = dt.timedelta(hours=24)
ATTENTION = ("waits for a person", "running", "recently failed", "the rest")
"""The board's order: what a person must act on first."""


@dataclass(frozen=True)
class Segment:
    """One stage in a deployment's phase bar."""

    name: str
    kind: str
    status: str
    total: int
    done: int
    failed: int
    running: int
    succeeded: int = 0
    """The green part of the bar: only nodes that got the change."""


@dataclass(frozen=True, kw_only=True)
class BoardRow(DeploymentRecord):
    """A deployment on the board: its phase bar, progress, latest failure, time left."""

    segments: tuple[Segment, ...]
    total: int
    done: int
    failed: int
    running: int
    failure: str | None
    """The latest failure point, in a line."""
    eta_seconds: float | None
    """Estimated time left (gates excluded), from earlier durations of the same steps on
    the same target; None while there is no such history, or when `overdue`."""
    overdue: bool = False
    """A running step has taken longer than the same step took before on this target."""
    held_by: str | None = None
    """The outside condition it waits for (e.g. a JIRA ticket's status), if any."""

    never_ran: int = 0
    """Nodes that will not run: skipped, or not started before a cancel."""
    excluded: int = 0
    """Nodes that failed and were set aside (counted as done, never as succeeded)."""

    @property
    def remaining(self) -> int:
        return self.total - self.done - self.running - self.never_ran

    def attention(self, now: dt.datetime) -> int:
        """Its place in `ATTENTION`: a gate, a pause or an outside hold first, then what
        runs (or is about to), then failures of the last day, then everything else."""
        status = D(self.status)
        if status.waits_for_a_person or self.held_by:
            return 0
        if not status.is_final:
            return 1
        if status == D.FAILED and self.finished_at and now - self.finished_at < RECENT_FAILURE:
            return 2
        return 3


StageRow = Row[int, int, str, StageKind, StageStatus, int, float, dt.datetime | None]
"""A stage's id, deployment_id, name, kind, status, parallelism, bake_seconds, bake_until."""


def board(
    session: Session, rt: Runtime, actor: Actor, filters: BoardFilter | None = None
) -> list[BoardRow]:
    filters = filters or BoardFilter()
    if filters.sort not in SORTS:
        raise ValidationError(f"unknown sort {filters.sort!r}: use one of {', '.join(SORTS)}")
    authorize(rt.plugins.hook, actor, Permission.VIEW, AuthTarget("deployment", partial=True))
    # Not the parameters and options (JSON, big for group deployments): the board shows
    # neither, and reading one by mistake raises instead of querying once per row.
    query = select(Deployment).options(
        defer(Deployment.params, raiseload=True), defer(Deployment.options, raiseload=True)
    )
    if filters.statuses:
        query = query.where(Deployment.status.in_([D(value) for value in filters.statuses]))
    if filters.type:
        query = query.where(Deployment.type == filters.type)
    if filters.requester:
        query = query.where(Deployment.requester == filters.requester)
    if filters.since:
        query = query.where(Deployment.created_at >= filters.since)
    if filters.cluster:
        query = query.where(
            exists().where(
                NodeTask.deployment_id == Deployment.id, NodeTask.cluster_name == filters.cluster
            )
        )
    active = [status for status in D if not status.is_final]
    deployments = session.scalars(
        query.where(
            or_(
                Deployment.status.in_(active),
                Deployment.id.in_(
                    query.with_only_columns(Deployment.id)
                    .order_by(Deployment.id.desc())
                    .limit(filters.limit)
                    .scalar_subquery()
                ),
            )
        ).order_by(Deployment.id.desc())
    ).all()
    deployments = visible(rt, actor, deployments)
    if not deployments:
        return []
    ids = [deployment.id for deployment in deployments]
    stages: dict[int, list[StageRow]] = defaultdict(list)
    # The columns the rows and the estimate use, not whole Stage objects (hundreds of them).
    for stage in session.execute(
        select(
            Stage.id,
            Stage.deployment_id,
            Stage.name,
            Stage.kind,
            Stage.status,
            Stage.parallelism,
            Stage.bake_seconds,
            Stage.bake_until,
        )
        .where(Stage.deployment_id.in_(ids))
        .order_by(Stage.position)
    ):
        stages[stage.deployment_id].append(stage)
    counts: dict[int, Counter[TaskStatus]] = defaultdict(Counter)
    for stage_id, status, count in session.execute(
        select(NodeTask.stage_id, NodeTask.status, func.count())
        .where(NodeTask.deployment_id.in_(ids))
        # In the order of the index (deployment, status, stage, cluster): the rows are
        # counted as the index is read, without sorting them first.
        .group_by(NodeTask.deployment_id, NodeTask.status, NodeTask.stage_id)
    ):
        counts[stage_id][status] += count
    failures = _latest_failures(session, ids)
    holds = _open_holds(session, ids)
    estimates = Estimator(
        session, stages, counts, {d.id: (d.type, d.selector) for d in deployments}
    )
    rows = []
    for deployment in deployments:
        segments = tuple(_segment(stage, counts[stage.id]) for stage in stages[deployment.id])
        deploying = [segment for segment in segments if segment.kind == StageKind.DEPLOY]
        rows.append(
            BoardRow(
                **record_fields(deployment),
                segments=segments,
                total=sum(segment.total for segment in deploying),
                done=sum(segment.done for segment in deploying),
                failed=sum(segment.failed for segment in segments),
                running=sum(segment.running for segment in segments),
                never_ran=sum(
                    counts[stage.id][T.SKIPPED] + counts[stage.id][T.NOT_STARTED]
                    for stage in stages[deployment.id]
                    if stage.kind == StageKind.DEPLOY
                ),
                excluded=sum(
                    counts[stage.id][T.EXCLUDED]
                    for stage in stages[deployment.id]
                    if stage.kind == StageKind.DEPLOY
                ),
                failure=failures.get(deployment.id),
                eta_seconds=None
                if deployment.status.is_final
                else estimates.time_left(deployment.id),
                overdue=not deployment.status.is_final and estimates.overdue(deployment.id),
                held_by=None if deployment.status.is_final else holds.get(deployment.id),
            )
        )
    if filters.sort == "attention":
        now = utcnow()
        rows.sort(key=lambda row: row.attention(now))  # stable: newest first within a rank
    return rows


def _open_holds(session: Session, ids: list[int]) -> dict[int, str]:
    held: dict[int, list[str]] = defaultdict(list)
    for deployment_id, reason in session.execute(
        select(DeploymentHold.deployment_id, DeploymentHold.reason)
        .where(DeploymentHold.deployment_id.in_(ids), DeploymentHold.released_at.is_(None))
        .order_by(DeploymentHold.id)
    ):
        held[deployment_id].append(reason)
    return {deployment_id: "; ".join(reasons) for deployment_id, reasons in held.items()}


def _segment(stage: StageRow, tally: Counter[TaskStatus]) -> Segment:
    return Segment(
        name=stage.name,
        kind=stage.kind.value,
        status=stage.status.value,
        total=sum(tally.values()),
        done=sum(tally[status] for status in FINISHED_TASK),
        failed=tally[T.FAILED] + tally[T.INTERRUPTED],
        running=tally[T.RUNNING],
        succeeded=tally[T.SUCCEEDED] + tally[T.INCONCLUSIVE],
    )


def _latest_failures(session: Session, ids: list[int]) -> dict[int, str]:
    ranked = (
        select(
            NodeTask.deployment_id,
            NodeTask.node_name,
            NodeTask.failed_step_name,
            NodeTask.exit_code,
            NodeTask.error,
            NodeTask.status,
            func.row_number()
            .over(partition_by=NodeTask.deployment_id, order_by=NodeTask.finished_at.desc())
            .label("rank"),
        )
        .where(
            NodeTask.deployment_id.in_(ids),
            failure_point_condition(),
        )
        .subquery()
    )
    found = {}
    for row in session.execute(select(ranked).where(ranked.c.rank == 1)):
        code = f" (exit {row.exit_code})" if row.exit_code is not None else ""
        step = row.failed_step_name or "?"
        first_line = (row.error or "").splitlines()[0] if row.error else ""
        aside = " (excluded)" if row.status == T.EXCLUDED else ""
        found[row.deployment_id] = f"{row.node_name}{aside} at {step}{code}: {first_line}"
    return found


@dataclass
class _StepDurations:
    """Median seconds of each (deployment type, target, step name), from recent step
    results: the same step on other nodes may take another time altogether."""

    medians: dict[tuple[str, str, str], float] = field(default_factory=dict)
    read_at: float = 0.0
    types: set[str] = field(default_factory=set)


_DURATIONS: dict[str, _StepDurations] = {}
"""Per database: recent step durations are read once every 30 s, not on every refresh."""
_DURATIONS_LOCK = threading.Lock()
_DURATIONS_TTL = 30.0


def step_medians(session: Session, types: Iterable[str]) -> dict[tuple[str, str, str], float]:
    database = str(session.get_bind().engine.url)
    with _DURATIONS_LOCK:
        cached = _DURATIONS.setdefault(database, _StepDurations())
        if time.monotonic() - cached.read_at < _DURATIONS_TTL and set(types) <= cached.types:
            return cached.medians
    samples: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    # The newest successful steps first (by primary key), then their types: joining first
    # would sort every step result ever recorded.
    recent = (
        select(StepResult.task_id, StepResult.name, StepResult.started_at, StepResult.finished_at)
        .where(StepResult.status == T.SUCCEEDED, StepResult.finished_at.is_not(None))
        .order_by(StepResult.id.desc())
        .limit(20_000)
        .subquery()
    )
    for kind, target, name, started, finished in session.execute(
        select(
            Deployment.type,
            Deployment.selector,
            recent.c.name,
            recent.c.started_at,
            recent.c.finished_at,
        )
        .join(NodeTask, NodeTask.id == recent.c.task_id)
        .join(Deployment, Deployment.id == NodeTask.deployment_id)
        .where(Deployment.type.in_(set(types)))
    ):
        if finished is not None:
            samples[(kind, target, name)].append((finished - started).total_seconds())
    medians = {key: statistics.median(values) for key, values in samples.items()}
    with _DURATIONS_LOCK:
        _DURATIONS[database] = _StepDurations(medians, time.monotonic(), set(types))
    return medians


class Estimator:
    """Time left = for each unfinished stage, its waves of `parallelism` nodes times a
    node's expected time (the sum of its steps' median durations on earlier runs of the
    same type and target), less what the running wave has done, plus bake time. Without
    such history there is no honest estimate (None: "estimating"); a running node past
    its expected time is overdue."""

    def __init__(
        self,
        session: Session,
        stages: dict[int, list[StageRow]],
        counts: dict[int, Counter[TaskStatus]],
        kinds: dict[int, tuple[str, str]],
    ) -> None:
        self.stages = stages
        self.counts = counts
        self.kinds = kinds
        self.medians = step_medians(session, {kind for kind, _ in kinds.values()})
        # Only unfinished stages have time left (a finished deployment's are all final).
        stage_ids = [
            stage.id
            for stages_of in stages.values()
            for stage in stages_of
            if not stage.status.is_final
        ]
        first_tasks = (
            select(func.min(NodeTask.id))
            .where(NodeTask.stage_id.in_(stage_ids))
            .group_by(NodeTask.stage_id)
        )
        self.step_names: dict[int, list[str]] = {
            stage_id: list(names)
            for stage_id, names in session.execute(
                select(NodeTask.stage_id, NodeTask.step_names).where(NodeTask.id.in_(first_tasks))
            )
        }
        self.running_since: dict[int, dt.datetime] = {
            stage_id: started
            for stage_id, started in session.execute(
                select(NodeTask.stage_id, func.min(NodeTask.started_at))
                .where(NodeTask.stage_id.in_(stage_ids), NodeTask.status == T.RUNNING)
                .group_by(NodeTask.stage_id)
            )
            if started is not None
        }
        self.late: set[int] = set()

    def _per_node(self, deployment_id: int, stage: StageRow) -> float | None:
        kind, target = self.kinds[deployment_id]
        known = [
            self.medians.get((kind, target, name)) for name in self.step_names.get(stage.id, [])
        ]
        if any(value is None for value in known):
            return None  # no history for some step: no honest estimate
        return sum(value for value in known if value is not None)

    def time_left(self, deployment_id: int) -> float | None:
        now = utcnow()
        total = 0.0
        for stage in self.stages[deployment_id]:
            if stage.status.is_final:
                continue
            per_node = self._per_node(deployment_id, stage)
            if per_node is None:
                return None
            tally = self.counts[stage.id]
            left = tally[T.PENDING] + tally[T.RUNNING]
            total += math.ceil(left / max(stage.parallelism, 1)) * per_node
            since = self.running_since.get(stage.id)
            if since is not None:
                spent = (now - since).total_seconds()
                if spent > per_node:
                    self.late.add(deployment_id)
                    return None
                total -= spent
            if stage.status == S.BAKING and stage.bake_until:
                total += max((stage.bake_until - now).total_seconds(), 0.0)
            elif stage.bake_seconds:
                total += stage.bake_seconds
        return total

    def overdue(self, deployment_id: int) -> bool:
        """Whether `time_left` found a node running past its expected time."""
        return deployment_id in self.late
