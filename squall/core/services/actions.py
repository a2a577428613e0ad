"""What operators do to a deployment that exists: pause, resume, cancel (abort), promote a
gate, retry failed nodes, set them aside and continue, roll back.

Each action checks authorization and the deployment's state, changes it, and writes its
events and audit record in the caller's transaction; then the deployment moves forward
as far as it can at once.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from squall.core import audit
from squall.core.auth import Actor, is_allowed
from squall.core.engine.orphans import Holder, holders, is_orphaned
from squall.core.engine.progress import advance
from squall.core.errors import InvalidTransition, PermissionDenied, PlanError, ValidationError
from squall.core.events import NewEvent, emit, emit_many
from squall.core.models import Approval, Deployment, NodeTask, Stage, StepResult, utcnow
from squall.core.permissions import Permission
from squall.core.plan import NodeInfo, NodePlan, Plan, StagePlan
from squall.core.runtime import Runtime
from squall.core.secrets import has_secrets
from squall.core.services.deployments import (
    deployment_target,
    get_for,
    get_to_run,
    options_from_json,
    plan_rollback,
    store_plan,
    without_rollback,
)
from squall.core.status import (
    DeploymentStatus,
    StageKind,
    StageStatus,
    TaskStatus,
    check_deployment,
)

D, S, T, K = DeploymentStatus, StageStatus, TaskStatus, StageKind
UNFINISHED_STAGES = (S.PENDING, S.WAITING, S.RUNNING, S.HALTING, S.BAKING)
RETRIABLE = (T.FAILED, T.INTERRUPTED, T.SKIPPED, T.INCONCLUSIVE, T.CANCELLED, T.NOT_STARTED)
"""Tasks a retry runs again: those that failed, could not decide, or never ran to an end."""
ROLLBACK_FROM = (
    D.FAILED,
    D.SUCCEEDED,
    D.SUCCEEDED_WITH_EXCLUSIONS,
    D.CANCELLED,
    D.PAUSED,
    D.AWAITING_APPROVAL,
)
RETRYABLE = (D.FAILED, D.PAUSED, D.CANCELLED, D.SUCCEEDED_WITH_EXCLUSIONS)
"""A cancelled deployment may be retried too: an aborted crash is picked up again so; and
one that succeeded with exclusions, to give its nodes set aside the change after all."""


def cancel(session: Session, rt: Runtime, actor: Actor, deployment_id: int) -> None:
    """Abort: stop scheduling at once; running steps are interrupted by their workers."""
    deployment = get_for(session, rt, actor, deployment_id, Permission.CONTROL)
    check_deployment(deployment.status, D.CANCELLED, "cancel")
    now = utcnow()
    deployment.status = D.CANCELLED
    deployment.finished_at = now
    # A node waiting to resume after a crash had partly run: cancelled. Nodes whose turn
    # had not come are "not started", never "cancelled" or done.
    cut_short = session.scalars(
        update(NodeTask)
        .where(
            NodeTask.deployment_id == deployment_id,
            NodeTask.status == T.PENDING,
            NodeTask.started_at.is_not(None),
        )
        .values(status=T.CANCELLED, finished_at=now)
        .returning(NodeTask.id)
    ).all()
    never_ran = _close_pending(session, deployment_id, T.NOT_STARTED, S.CANCELLED, now)
    emit_many(
        session,
        [NewEvent("task.cancelled", deployment_id=deployment_id, task_id=t) for t in cut_short]
        + [NewEvent("task.not_started", deployment_id=deployment_id, task_id=t) for t in never_ran],
    )
    emit(session, "deployment.cancelled", deployment_id=deployment_id, actor=actor.name)
    audit.record(session, actor, "deployment.cancel", f"deployment {deployment_id}")


def pause(session: Session, rt: Runtime, actor: Actor, deployment_id: int) -> None:
    """No new node or stage starts; running nodes finish; bake time keeps running."""
    deployment = get_for(session, rt, actor, deployment_id, Permission.CONTROL)
    check_deployment(deployment.status, D.PAUSED, "pause")
    deployment.status = D.PAUSED
    emit(
        session,
        "deployment.paused",
        deployment_id=deployment_id,
        actor=actor.name,
        reason="operator",
    )
    audit.record(session, actor, "deployment.pause", f"deployment {deployment_id}")


def resume(session: Session, rt: Runtime, actor: Actor, deployment_id: int) -> None:
    """Go on after a pause. After an inconclusive health check, resuming accepts it.

    A running deployment that is orphaned (the process running it died, see
    `squall.core.engine.orphans`) is taken up again: the caller runs it (`squall resume`
    does, in its own process)."""
    deployment = get_for(session, rt, actor, deployment_id, Permission.CONTROL)
    details: dict[str, Any] = {}
    held = holders(session, deployment_id) if deployment.status == D.RUNNING else []
    if held:
        raise InvalidTransition(f"deployment {deployment_id} is running: {_held(held)}")
    if deployment.status == D.RUNNING and is_orphaned(session, deployment):
        details["orphaned"] = True
    elif deployment.status != D.PAUSED:
        raise InvalidTransition(
            f"deployment {deployment_id} is {deployment.status.words}, not paused"
        )
    deployment.status = D.RUNNING
    emit(session, "deployment.resumed", deployment_id=deployment_id, actor=actor.name, **details)
    audit.record(session, actor, "deployment.resume", f"deployment {deployment_id}", details)
    advance(session, [deployment_id])


def _held(held: list[Holder]) -> str:
    """Who holds the running tasks, and when their claims run out if that process died."""
    parts = []
    for holder in held:
        until = f" until {holder.until.astimezone():%H:%M:%S}" if holder.until else ""
        parts.append(f"worker {holder.worker} holds {holder.tasks} node task(s){until}")
    return "; ".join(parts) + " (if that process died, resume once that time has passed)"


def promote(
    session: Session, rt: Runtime, actor: Actor, deployment_id: int, comment: str | None = None
) -> str:
    """Approve the gate the deployment waits at; returns the stage's name.

    Four-eyes: the requester never approves their own deployment's gates. A stage whose
    gate needs several approvals starts once enough different people approved it."""
    deployment = get_for(session, rt, actor, deployment_id, Permission.APPROVE)
    stage = session.scalar(
        select(Stage)
        .where(Stage.deployment_id == deployment_id, Stage.status == S.WAITING)
        .order_by(Stage.position)
        .limit(1)
    )
    if stage is None:
        raise InvalidTransition(f"deployment {deployment_id} has no gate waiting for approval")
    if rt.settings.four_eyes and actor.name == deployment.requester:
        raise PermissionDenied(
            actor.name,
            Permission.APPROVE,
            f"deployment {deployment_id}: the requester never approves their own gate",
        )
    already = session.scalar(
        select(Approval.id).where(Approval.stage_id == stage.id, Approval.actor == actor.name)
    )
    if already is not None:
        raise ValidationError(f"{actor.name} already approved {stage.name}")
    session.add(
        Approval(deployment_id=deployment_id, stage_id=stage.id, actor=actor.name, comment=comment)
    )
    session.flush()
    approvals = session.scalar(select(func.count()).where(Approval.stage_id == stage.id)) or 0
    details: dict[str, Any] = {
        "stage": stage.name,
        "approvals": approvals,
        "required": stage.approvals_required,
        "comment": comment,
    }
    emit(session, "gate.approved", deployment_id=deployment_id, actor=actor.name, **details)
    audit.record(session, actor, "deployment.promote", f"deployment {deployment_id}", details)
    advance(session, [deployment_id])
    return stage.name


def retry(
    session: Session,
    rt: Runtime,
    actor: Actor,
    deployment_id: int,
    nodes: list[str] | None = None,
) -> int:
    """Run the failed nodes (or only `nodes` among them) again as a new attempt; nodes
    that succeeded are left alone.

    Nodes skipped because a threshold halted their stage run too (they never ran), and
    inconclusive health checks are taken again; after an abort, so are the cancelled
    nodes. Nodes set aside (excluded) stay aside while others are left to retry, unless
    named: once the deployment succeeded with exclusions, they are what a retry runs.
    Returns the new attempt number."""
    deployment = get_to_run(session, rt, actor, deployment_id, Permission.RETRY)
    if deployment.status not in RETRYABLE:
        orphaned = deployment.status == D.RUNNING and is_orphaned(session, deployment)
        raise InvalidTransition(
            f"deployment {deployment_id} is orphaned (the process running it stopped): "
            f"`squall resume {deployment_id}` runs it here (then retry what failed), "
            f"`squall abort {deployment_id}` ends it"
            if orphaned
            else f"cannot retry a deployment that is {deployment.status.words}"
        )
    _refuse_after_rollback(session, deployment)
    attempt = deployment.attempt + 1
    chosen = [NodeTask.node_name.in_(nodes)] if nodes else []
    statuses = retriable(deployment.status, named=bool(nodes))
    # What the ended attempt did stays in task_attempts; the tasks start over.
    retried = session.execute(
        update(NodeTask)
        .where(
            NodeTask.deployment_id == deployment_id,
            NodeTask.status.in_(statuses),
            *chosen,
        )
        .values(
            status=T.PENDING,
            attempt=attempt,
            resume_from=0,
            worker=None,
            started_at=None,
            finished_at=None,
            current_step=None,
            failed_step=None,
            failed_step_name=None,
            exit_code=None,
            error=None,
            last_lines=None,
        )
        .returning(NodeTask.stage_id, NodeTask.node_name)
    ).all()
    if not retried:
        which = f" among {', '.join(nodes)}" if nodes else ""
        raise ValidationError(f"deployment {deployment_id} has no failed node to retry{which}")
    deployment.attempt = attempt
    deployment.status = D.RUNNING
    deployment.finished_at = None
    # Their stages run again (cancelled ones too); a gate already approved stays approved.
    session.execute(
        update(Stage)
        .where(Stage.id.in_({row.stage_id for row in retried}))
        .values(status=S.PENDING, finished_at=None, bake_until=None)
    )
    nodes = sorted({row.node_name for row in retried})
    details: dict[str, Any] = {"attempt": attempt, "nodes": nodes}
    emit(session, "deployment.retried", deployment_id=deployment_id, actor=actor.name, **details)
    audit.record(session, actor, "deployment.retry", f"deployment {deployment_id}", details)
    advance(session, [deployment_id])
    return attempt


def retriable(status: DeploymentStatus, *, named: bool = False) -> tuple[TaskStatus, ...]:
    """The task outcomes a retry of a deployment in `status` runs again."""
    if named or status == D.SUCCEEDED_WITH_EXCLUSIONS:
        return (*RETRIABLE, T.EXCLUDED)
    return RETRIABLE


def _only_failed_nodes(session: Session, deployment_id: int) -> bool:
    """Whether every node of the deployment failed (or was interrupted): then setting them
    aside leaves none to go on with, and would end a deployment that changed nothing as
    "succeeded with exclusions"."""
    failed = select(NodeTask.node_name).where(
        NodeTask.deployment_id == deployment_id,
        NodeTask.status.in_([T.FAILED, T.INTERRUPTED]),
    )
    others = session.scalar(
        select(func.count())
        .select_from(NodeTask)
        .where(NodeTask.deployment_id == deployment_id, NodeTask.node_name.not_in(failed))
    )
    return not others and bool(session.scalar(select(func.count()).select_from(failed.subquery())))


def exclude_failed(session: Session, rt: Runtime, actor: Actor, deployment_id: int) -> list[str]:
    """Set the failed nodes aside and go on with the others; returns the nodes set aside.

    A stage halted by its failures is judged again without them; stages skipped because
    of it run after all (their gates still need approval)."""
    deployment = get_for(session, rt, actor, deployment_id, Permission.RETRY)
    if deployment.status not in (D.FAILED, D.PAUSED, D.RUNNING, D.AWAITING_APPROVAL):
        raise InvalidTransition(f"cannot continue a deployment that is {deployment.status.words}")
    _refuse_after_rollback(session, deployment)
    if _only_failed_nodes(session, deployment_id):
        raise ValidationError(
            f"every node of deployment {deployment_id} failed: with none to go on with, setting "
            "them aside would end it as a success that changed nothing; retry it instead"
        )
    now = utcnow()
    excluded = session.execute(
        update(NodeTask)
        .where(
            NodeTask.deployment_id == deployment_id,
            NodeTask.status.in_([T.FAILED, T.INTERRUPTED]),
        )
        # A failed node's run ended when it failed, not when it was set aside.
        .values(status=T.EXCLUDED, finished_at=func.coalesce(NodeTask.finished_at, now))
        .returning(NodeTask.id, NodeTask.node_name)
    ).all()
    if not excluded:
        raise ValidationError(f"deployment {deployment_id} has no failed node to set aside")
    nodes = sorted({row.node_name for row in excluded})
    # Nodes set aside are not health-checked later either.
    session.execute(
        update(NodeTask)
        .where(
            NodeTask.deployment_id == deployment_id,
            NodeTask.node_name.in_(nodes),
            NodeTask.status.in_([T.PENDING, T.SKIPPED]),
        )
        .values(status=T.EXCLUDED, finished_at=func.coalesce(NodeTask.finished_at, now))
    )
    session.execute(
        update(NodeTask)
        .where(NodeTask.deployment_id == deployment_id, NodeTask.status == T.SKIPPED)
        .values(status=T.PENDING, finished_at=None)
    )
    session.execute(
        update(Stage)
        .where(Stage.deployment_id == deployment_id, Stage.status == S.FAILED)
        .values(status=S.RUNNING, finished_at=None)
    )
    session.execute(
        update(Stage)
        .where(Stage.deployment_id == deployment_id, Stage.status == S.SKIPPED)
        .values(status=S.PENDING, finished_at=None)
    )
    if deployment.status == D.FAILED:
        deployment.status = D.RUNNING
        deployment.finished_at = None
    emit_many(
        session,
        [
            NewEvent("task.excluded", deployment_id=deployment_id, task_id=row.id, actor=actor.name)
            for row in excluded
        ],
    )
    emit(
        session,
        "deployment.continued",
        deployment_id=deployment_id,
        actor=actor.name,
        excluded=nodes,
    )
    audit.record(
        session, actor, "deployment.exclude", f"deployment {deployment_id}", {"nodes": nodes}
    )
    advance(session, [deployment_id])
    return nodes


def rollback(session: Session, rt: Runtime, actor: Actor, deployment_id: int) -> int:
    """Undo every node that completed, or failed after running a step (it may be partly
    changed), in reverse stage order; returns how many nodes. The type's rollback planner
    leaves out the nodes it has nothing to undo on.

    Work not yet done is skipped. The undoing runs as stages of the same deployment,
    with logs and failure points like any other; it ends `rolled_back`, or `failed` if
    a node could not be restored."""
    deployment = get_to_run(session, rt, actor, deployment_id, Permission.ROLLBACK)
    _refuse_after_rollback(session, deployment)
    if deployment.status not in ROLLBACK_FROM:
        raise InvalidTransition(
            f"cannot roll back a deployment that is {deployment.status.words}: pause it first"
        )
    running = session.scalar(
        select(func.count()).where(
            NodeTask.deployment_id == deployment_id, NodeTask.status == T.RUNNING
        )
    )
    if running:
        raise InvalidTransition(f"{running} node(s) are still running: roll back once they finish")
    if cannot := without_rollback(rt, deployment):
        raise PlanError(f"deployments of type {', '.join(cannot)} cannot be rolled back")
    touched = session.execute(
        select(NodeTask, Stage)
        .join(Stage, Stage.id == NodeTask.stage_id)
        .where(
            NodeTask.deployment_id == deployment_id,
            NodeTask.status.in_([T.SUCCEEDED, T.FAILED]),
            Stage.kind == K.DEPLOY,
        )
        .order_by(Stage.position.desc(), NodeTask.position)
    ).all()
    results = _results(session, [task for task, _ in touched])
    done = [
        (task, stage)
        for task, stage in touched
        if task.status == T.SUCCEEDED or task.node_name in results
    ]
    if not done:
        raise ValidationError(f"deployment {deployment_id} has no node to roll back")
    targets = tuple(NodeInfo.from_json(task.node) for task, _ in done)
    plan = plan_rollback(rt, deployment, targets, results)
    steps = {
        node_plan.node.name: node_plan.steps for stage in plan.stages for node_plan in stage.nodes
    }
    by_stage: dict[int, list[NodePlan]] = defaultdict(list)
    stages: dict[int, Stage] = {}
    for task, stage in done:
        if task.node_name in steps:
            by_stage[stage.id].append(
                NodePlan(NodeInfo.from_json(task.node), steps[task.node_name])
            )
            stages[stage.id] = stage
    rollback_plan = Plan(
        tuple(
            StagePlan(
                f"rollback {stages[stage_id].name}",
                tuple(nodes),
                parallelism=stages[stage_id].parallelism,
                kind=K.ROLLBACK,
            )
            for stage_id, nodes in by_stage.items()  # deploy stages, last first
        )
    )
    now = utcnow()
    skipped = _close_pending(session, deployment_id, T.SKIPPED, S.SKIPPED, now)
    store_plan(
        session,
        rt,
        deployment,
        rollback_plan,
        options_from_json(deployment.options),
        secret=has_secrets(deployment.params),
        undoes={f"rollback {stage.name}": stage.id for stage in stages.values()},
    )
    deployment.status = D.RUNNING
    deployment.finished_at = None
    node_count = sum(len(stage.nodes) for stage in rollback_plan.stages)
    emit_many(
        session,
        [NewEvent("task.skipped", deployment_id=deployment_id, task_id=task) for task in skipped],
    )
    emit(
        session,
        "deployment.rollback_started",
        deployment_id=deployment_id,
        actor=actor.name,
        nodes=node_count,
    )
    audit.record(
        session, actor, "deployment.rollback", f"deployment {deployment_id}", {"nodes": node_count}
    )
    advance(session, [deployment_id])
    return node_count


def _refuse_after_rollback(session: Session, deployment: Deployment) -> None:
    rolled = session.scalar(
        select(Stage.id)
        .where(Stage.deployment_id == deployment.id, Stage.kind == K.ROLLBACK)
        .limit(1)
    )
    if rolled is not None:
        raise InvalidTransition(f"deployment {deployment.id} was rolled back")


def _results(session: Session, tasks: list[NodeTask]) -> dict[str, dict[str, dict[str, Any]]]:
    """What each task's steps recorded in its latest attempt: node → step → data."""
    found: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    names = {task.id: task.node_name for task in tasks}
    for result in session.scalars(
        select(StepResult)
        .join(
            NodeTask,
            and_(NodeTask.id == StepResult.task_id, NodeTask.attempt == StepResult.attempt),
        )
        .where(StepResult.task_id.in_(names))
    ):
        found[names[result.task_id]][result.name] = dict(result.data or {})
    return dict(found)


def available(session: Session, rt: Runtime, actor: Actor, deployment_id: int) -> list[str]:
    """The actions `actor` may take on the deployment now (to show, never to enforce:
    every action checks again when it is taken)."""
    deployment = get_for(session, rt, actor, deployment_id, Permission.VIEW)
    status = deployment.status
    tally = dict(
        session.execute(
            select(NodeTask.status, func.count())
            .where(NodeTask.deployment_id == deployment_id)
            .group_by(NodeTask.status)
        ).all()
    )
    to_retry = sum(tally.get(state, 0) for state in retriable(status))
    failed = tally.get(T.FAILED, 0) + tally.get(T.INTERRUPTED, 0)
    rolled = session.scalar(
        select(Stage.id)
        .where(Stage.deployment_id == deployment_id, Stage.kind == K.ROLLBACK)
        .limit(1)
    )
    offered: list[tuple[str, Permission]] = []
    if status in (D.RUNNING, D.AWAITING_APPROVAL):
        offered.append(("pause", Permission.CONTROL))
    if status == D.PAUSED:
        offered.append(("resume", Permission.CONTROL))
    if status == D.AWAITING_APPROVAL and not (
        rt.settings.four_eyes and actor.name == deployment.requester
    ):
        offered.append(("promote", Permission.APPROVE))
    if to_retry and status in RETRYABLE and rolled is None:
        offered.append(("retry", Permission.RETRY))
    if (
        failed
        and status in (D.FAILED, D.PAUSED, D.RUNNING, D.AWAITING_APPROVAL)
        and rolled is None
        and not _only_failed_nodes(session, deployment_id)
    ):
        offered.append(("exclude", Permission.RETRY))
    if status in ROLLBACK_FROM and rolled is None and not without_rollback(rt, deployment):
        offered.append(("rollback", Permission.ROLLBACK))
    if not status.is_final:
        offered.append(("cancel", Permission.CONTROL))
    target = deployment_target(deployment)
    return [
        name
        for name, permission in offered
        if is_allowed(rt.plugins.hook, actor, permission, target)
    ]


def _close_pending(
    session: Session,
    deployment_id: int,
    task_status: TaskStatus,
    stage_status: StageStatus,
    now: dt.datetime,
) -> Sequence[int]:
    """End what has not started: pending node tasks and unfinished stages. Returns the ids
    of the tasks it ended."""
    ended = session.scalars(
        update(NodeTask)
        .where(NodeTask.deployment_id == deployment_id, NodeTask.status == T.PENDING)
        .values(status=task_status, finished_at=now)
        .returning(NodeTask.id)
    ).all()
    session.execute(
        update(Stage)
        .where(Stage.deployment_id == deployment_id, Stage.status.in_(UNFINISHED_STAGES))
        .values(status=stage_status, finished_at=now)
    )
    return ended


BY_NAME: dict[str, Callable[..., Any]] = {
    "pause": pause,
    "resume": resume,
    "cancel": cancel,
    "promote": promote,
    "retry": retry,
    "exclude": exclude_failed,
    "rollback": rollback,
}
"""The operator actions by the names the `squall` command and the REST API give them."""
