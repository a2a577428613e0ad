"""Read models: what the CLI, the web UI and reports show about deployments and logs."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import String, and_, func, select, type_coerce
from sqlalchemy.orm import Session

from squall.core import history
from squall.core.auth import Actor, AuthTarget, authorize, is_allowed
from squall.core.engine.orphans import is_orphaned
from squall.core.models import (
    Approval,
    Deployment,
    DeploymentHold,
    Event,
    LogLine,
    NodeLease,
    NodeTask,
    Stage,
    StepResult,
    failure_point_condition,
)
from squall.core.permissions import Permission
from squall.core.readmodel import record_fields
from squall.core.reporting import DeploymentSummary, ReportSection
from squall.core.runtime import Runtime
from squall.core.secrets import redacted_params
from squall.core.services.deployments import get, visible
from squall.core.status import DeploymentStatus, TaskStatus, has_failure_point
from squall.core.values.views import (
    NEVER_RAN,
    ApprovalView,
    DeploymentView,
    FailurePoint,
    LogChunk,
    LogEntry,
    Rerun,
    StageProgress,
)

D, T = DeploymentStatus, TaskStatus


def deployment_view(
    session: Session, rt: Runtime, actor: Actor, deployment_id: int, *, live: bool = False
) -> DeploymentView:
    """`live`: only what a progress display reads several times a second (stages, counts,
    failures); the attempts, reruns and what it waits for, each read from the whole
    history, are left out."""
    deployment = get(session, rt, actor, deployment_id)
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    clusters: dict[int, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for stage_id, cluster, status, count in session.execute(
        select(NodeTask.stage_id, NodeTask.cluster_name, NodeTask.status, func.count())
        .where(NodeTask.deployment_id == deployment_id)
        .group_by(NodeTask.stage_id, NodeTask.cluster_name, NodeTask.status)
    ):
        counts[stage_id][status.value] += count
        clusters[stage_id][cluster][status.value] += count
    for stage_id, cluster, count in session.execute(
        select(NodeTask.stage_id, NodeTask.cluster_name, func.count())
        .join(
            NodeLease,
            and_(
                NodeLease.node_name == NodeTask.node_name, NodeLease.deployment_id != deployment_id
            ),
        )
        .where(NodeTask.deployment_id == deployment_id, NodeTask.status == T.PENDING)
        .group_by(NodeTask.stage_id, NodeTask.cluster_name)
    ):
        counts[stage_id]["queued"] += count
        clusters[stage_id][cluster]["queued"] += count
    approvals = session.execute(
        select(Approval, Stage.name)
        .join(Stage, Stage.id == Approval.stage_id)
        .where(Approval.deployment_id == deployment_id)
        .order_by(Approval.id)
    ).all()
    approval_counts = Counter(approval.stage_id for approval, _ in approvals)
    stage_rows = session.scalars(
        select(Stage).where(Stage.deployment_id == deployment_id).order_by(Stage.position)
    ).all()
    stages = tuple(
        StageProgress(
            name=stage.name,
            kind=stage.kind.value,
            status=stage.status.value,
            total=sum(count for status, count in counts[stage.id].items() if status != "queued"),
            counts=dict(counts[stage.id]),
            clusters={name: dict(tally) for name, tally in sorted(clusters[stage.id].items())},
            gate=stage.gate,
            approvals=approval_counts[stage.id],
            approvals_required=stage.approvals_required,
            bake_seconds=stage.bake_seconds,
            bake_until=stage.bake_until,
            started_at=stage.started_at,
            finished_at=stage.finished_at,
        )
        for stage in stage_rows
    )
    failures = tuple(
        FailurePoint(
            node=task.node_name,
            cluster=task.cluster_name,
            stage=stage_name,
            status=task.status.value,
            attempt=task.attempt,
            step=task.failed_step_name,
            exit_code=task.exit_code,
            error=task.error,
            last_lines=tuple(task.last_lines or ()),
            finished_at=task.finished_at,
        )
        for task, stage_name in session.execute(
            select(NodeTask, Stage.name)
            .join(Stage, Stage.id == NodeTask.stage_id)
            .where(
                NodeTask.deployment_id == deployment_id,
                failure_point_condition(),
            )
            .order_by(NodeTask.finished_at, NodeTask.id)
        )
    )
    return DeploymentView(
        **record_fields(deployment),
        params=redacted_params(deployment.params),
        stages=stages,
        failures=failures,
        approvals=tuple(
            ApprovalView(stage_name, approval.actor, approval.created_at, approval.comment)
            for approval, stage_name in approvals
        ),
        waiting_for=None if live else _waiting_for(session, deployment, stages),
        attempts=() if live else history.attempts(session, deployment),
        reruns=() if live else _reruns(session, deployment_id),
    )


def _reruns(session: Session, deployment_id: int) -> tuple[Rerun, ...]:
    return tuple(
        Rerun(
            node=str(event.data.get("node", "")),
            step=str(event.data["step"]),
            attempt=int(event.data.get("attempt", 1)),
            at=event.created_at,
        )
        for event in session.scalars(
            select(Event)
            .where(Event.deployment_id == deployment_id, Event.kind == "task.requeued")
            .order_by(Event.id)
        )
        if event.data.get("step")
    )


def _waiting_for(
    session: Session, deployment: Deployment, stages: tuple[StageProgress, ...]
) -> str | None:
    if not deployment.status.is_final:
        held = session.scalars(
            select(DeploymentHold.reason)
            .where(
                DeploymentHold.deployment_id == deployment.id,
                DeploymentHold.released_at.is_(None),
            )
            .order_by(DeploymentHold.id)
        ).all()
        if held:
            return "; ".join(held)
    if is_orphaned(session, deployment):
        return (
            f"a process to run it (orphaned: the process running it stopped): "
            f"`squall resume {deployment.id}` runs it here, `squall abort {deployment.id}` ends it"
        )
    if deployment.status == D.AWAITING_APPROVAL:
        for stage in stages:
            if stage.status == "waiting":
                count = f"{stage.approvals} of {stage.approvals_required}"
                return f"approval of the gate before {stage.name} ({count}, not by the requester)"
    if deployment.status == D.PAUSED:
        reason = session.scalar(
            select(Event.data)
            .where(Event.deployment_id == deployment.id, Event.kind == "deployment.paused")
            .order_by(Event.id.desc())
            .limit(1)
        )
        why = (reason or {}).get("reason", "operator")
        return "resume (paused by an operator)" if why == "operator" else f"a decision: {why}"
    return None


def recent_deployments(
    session: Session, rt: Runtime, actor: Actor, *, limit: int = 20
) -> list[DeploymentView]:
    authorize(rt.plugins.hook, actor, Permission.VIEW, AuthTarget("deployment", partial=True))
    query = select(Deployment).order_by(Deployment.id.desc())
    if not is_allowed(rt.plugins.hook, actor, Permission.VIEW, AuthTarget("deployment")):
        shown = visible(rt, actor, session.scalars(query).all())[:limit]
    else:
        shown = list(session.scalars(query.limit(limit)))
    return [deployment_view(session, rt, actor, deployment.id) for deployment in shown]


def read_logs(
    session: Session,
    rt: Runtime,
    actor: Actor,
    deployment_id: int,
    *,
    node: str | None = None,
    after: int = 0,
    limit: int = 5000,
) -> list[LogEntry]:
    """Log lines in the order they were written, from line id `after` on (for following)."""
    from squall.core.services.logs import log_scope  # the log views: not for `deploy`'s start

    get(session, rt, actor, deployment_id)
    query = (
        select(LogLine, NodeTask.node_name)
        .join(NodeTask, NodeTask.id == LogLine.task_id)
        .where(log_scope(session, deployment_id, node), LogLine.id > after)
        .order_by(LogLine.id)
        .limit(limit)
    )
    return [
        LogEntry(line.id, node_name, line.attempt, line.step, line.stream, line.at, line.text)
        for line, node_name in session.execute(query)
    ]


def report_sections(
    session: Session, rt: Runtime, actor: Actor, deployment_id: int
) -> list[ReportSection]:
    """What the deployment's type (and other plugins) add to its status and report."""
    summary = deployment_summary(session, rt, actor, deployment_id)
    return [
        section
        for sections in rt.plugins.hook.squall_report_sections(deployment=summary)
        for section in sections or ()
    ]


def log_chunk(
    session: Session,
    rt: Runtime,
    actor: Actor,
    deployment_id: int,
    *,
    node: str | None = None,
    after: int = 0,
    limit: int = 1000,
) -> LogChunk:
    # The status is read first: lines written before it turned final are all in this page
    # or a later one, so a reader stopping at `finished and not more` misses nothing.
    status = get(session, rt, actor, deployment_id).status
    if limit:
        entries = read_logs(
            session, rt, actor, deployment_id, node=node, after=after, limit=limit + 1
        )
    else:  # the status alone; a node it does not have is refused all the same
        from squall.core.services.logs import log_scope

        log_scope(session, deployment_id, node)
        entries = []
    shown = entries[:limit]
    return LogChunk(
        entries=tuple(shown),
        cursor=shown[-1].id if shown else after,
        more=len(entries) > limit,
        status=status.value,
        finished=status.is_final,
    )


def deployment_summary(
    session: Session, rt: Runtime, actor: Actor, deployment_id: int
) -> DeploymentSummary:
    """The value handed to report plugins: every task with its latest attempt's steps."""
    from squall.core.reports import data  # the reports' model: not for every command's start

    return data.deployment_summary(session, rt, get(session, rt, actor, deployment_id))


class TaskCell(NamedTuple):
    """One node task, for the node grid (a named tuple: a 10,000-node page makes 20,000)."""

    node: str
    cluster: str
    stage: str
    kind: str
    status: str
    attempt: int
    current_step: str | None
    failed_step: str | None
    error: str | None


@dataclass(frozen=True)
class StepRow:
    """How the nodes fared at one step: where failures cluster."""

    name: str
    counts: Mapping[str, int]
    failed_by_cluster: Mapping[str, int]
    by_node: tuple[str, ...]
    """Each node task's status at this step, in the order of `DeploymentDetail.tasks`
    ("" where the task has no such step or has not reached it); empty when not read (see
    `deployment_detail`'s `step_cells`)."""


@dataclass(frozen=True)
class ErrorSignature:
    """Failed nodes that failed the same way: at one step, with one first error line."""

    step: str
    error: str
    nodes: tuple[str, ...]


def node_outcomes(tasks: tuple[TaskCell, ...]) -> Counter[str]:
    """Each node counted once, by how it ended: its last stage that ran decides (a health
    check that failed makes the node failed), otherwise why it never ran."""
    outcome: dict[str, str] = {}
    for task in tasks:  # in stage order
        if task.status not in NEVER_RAN or task.node not in outcome:
            outcome[task.node] = task.status
    return Counter(outcome.values())


@dataclass(frozen=True)
class DeploymentDetail:
    view: DeploymentView
    tasks: tuple[TaskCell, ...]
    steps: tuple[StepRow, ...]
    signatures: tuple[ErrorSignature, ...]
    actions: tuple[str, ...]
    """What the person looking may do now (see `squall.core.services.actions.available`)."""

    @property
    def nodes(self) -> Counter[str]:
        """Nodes (not node tasks) by how they ended: see `node_outcomes`."""
        return node_outcomes(self.tasks)


def deployment_detail(
    session: Session,
    rt: Runtime,
    actor: Actor,
    deployment_id: int,
    *,
    step_cells: int | None = None,
) -> DeploymentDetail:
    """What a deployment's page shows. Each node's status at each step (`StepRow.by_node`)
    is read only when the deployment has at most `step_cells` node tasks (None: always)."""
    from squall.core.services.actions import available

    view = deployment_view(session, rt, actor, deployment_id)
    # Only the columns the page shows: not the stored steps, node JSON or output lines.
    # Statuses and step lists come as stored text: 20,000 tasks decode each distinct step
    # list once instead of once a task (a driver may hand a list over already decoded).
    rows = session.execute(
        select(
            NodeTask.id,
            NodeTask.node_name,
            NodeTask.cluster_name,
            type_coerce(NodeTask.status, String).label("status"),
            NodeTask.attempt,
            NodeTask.current_step,
            type_coerce(NodeTask.step_names, String).label("step_names"),
            NodeTask.failed_step_name,
            NodeTask.error,
            Stage.name,
            type_coerce(Stage.kind, String).label("kind"),
        )
        .join(Stage, Stage.id == NodeTask.stage_id)
        .where(NodeTask.deployment_id == deployment_id)
        .order_by(Stage.position, NodeTask.position)
    ).all()
    step_lists: dict[Any, list[str]] = {}

    def names_of(stored: Any) -> list[str]:
        if not isinstance(stored, str):
            return list(stored)
        if stored not in step_lists:
            step_lists[stored] = json.loads(stored)
        return step_lists[stored]

    running = TaskStatus.RUNNING.value
    tasks = tuple(
        TaskCell(
            row.node_name,
            row.cluster_name,
            row.name,
            row.kind,
            row.status,
            row.attempt,
            names_of(row.step_names)[row.current_step]
            if row.current_step is not None and row.status == running
            else None,
            row.failed_step_name,
            row.error,
        )
        for row in rows
    )
    order: dict[str, int] = {}
    seen: list[str] | None = None
    for row in rows:
        names = names_of(row.step_names)
        if names is not seen:  # the same stored list: the same object, already counted
            seen = names
            for name in names:
                order.setdefault(name, len(order))
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    failed_by_cluster: dict[str, Counter[str]] = defaultdict(Counter)
    latest = and_(NodeTask.id == StepResult.task_id, NodeTask.attempt == StepResult.attempt)
    status_text = type_coerce(StepResult.status, String)
    for name, status, count in session.execute(
        select(StepResult.name, status_text, func.count())
        .join(NodeTask, latest)
        .where(NodeTask.deployment_id == deployment_id)
        .group_by(StepResult.name, status_text)
    ):
        counts[name][status] += count
    by_node: dict[str, list[str]] = {}
    if step_cells is None or len(rows) <= step_cells:
        column = {row.id: index for index, row in enumerate(rows)}
        by_node = {name: [""] * len(rows) for name in order}
        for task_id, name, status in session.execute(
            select(StepResult.task_id, StepResult.name, status_text)
            .join(NodeTask, latest)
            .where(NodeTask.deployment_id == deployment_id)
        ):
            if name not in by_node:
                by_node[name] = [""] * len(rows)
            by_node[name][column[task_id]] = status
    for name, cluster, count in session.execute(
        select(StepResult.name, NodeTask.cluster_name, func.count())
        .join(NodeTask, latest)
        .where(
            NodeTask.deployment_id == deployment_id,
            StepResult.status.in_([T.FAILED, T.INTERRUPTED]),
        )
        .group_by(StepResult.name, NodeTask.cluster_name)
    ):
        failed_by_cluster[name][cluster] += count
    steps = tuple(
        StepRow(
            name,
            dict(counts[name]),
            dict(failed_by_cluster[name]),
            tuple(by_node.get(name, ())),
        )
        for name in sorted(order, key=order.__getitem__)
    )
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for cell in tasks:
        if has_failure_point(cell.status, cell.failed_step, cell.error):
            first_line = (cell.error or "").strip().splitlines()[0] if cell.error else "no error"
            groups[(cell.failed_step or "connect", first_line)].append(cell.node)
    signatures = tuple(
        ErrorSignature(step, error, tuple(sorted(nodes)))
        for (step, error), nodes in sorted(groups.items(), key=lambda item: -len(item[1]))
    )
    return DeploymentDetail(
        view, tasks, steps, signatures, tuple(available(session, rt, actor, deployment_id))
    )
