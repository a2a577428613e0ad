"""Deployment services: everything an operator does to a deployment.

Each call checks authorization, validates, changes state, writes the events and the audit
record, all in the caller's transaction. The CLI, the web UI and the API call these and
nothing else, so a rule written here holds everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from core import audit
from core.auth import Actor, AuthTarget, authorize
from core.engine.claims import seal_steps
from core.engine.progress import advance
from core.errors import NotFound, PlanError, ValidationError
from core.events import NewEvent, emit, emit_many
from core.models import Deployment, NodeTask, Stage, utcnow
from core.permissions import Permission
from core.plan import DeploymentOptions, NodeInfo, Plan, PlanRequest
from core.runtime import Runtime
from core.secrets import Redactor, redacted_params, seal_params, secret_values
from core.services.inventory import resolve_targets
from core.status import DeploymentStatus, StageStatus, TaskStatus, check_deployment
from core.types import DeploymentType

D, S, T = DeploymentStatus, StageStatus, TaskStatus


@dataclass(frozen=True)
class DeploymentRequest:
    type: str
    params: Mapping[str, Any]
    target: str
    options: DeploymentOptions = field(default_factory=DeploymentOptions)
    ticket: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class ValidRequest:
    """A request whose type, parameters and targets are checked; `redact` hides secrets."""

    type: DeploymentType[Any]
    params: BaseModel
    targets: tuple[NodeInfo, ...]
    redact: Redactor


@dataclass(frozen=True)
class PlannedDeployment(ValidRequest):
    plan: Plan


def preview(
    session: Session, rt: Runtime, actor: Actor, request: DeploymentRequest
) -> PlannedDeployment:
    """Validate and plan without changing anything (`--dry-run`)."""
    validated = _validate(session, rt, actor, request)
    plan = _plan(rt, validated, request.options, None)
    return PlannedDeployment(
        validated.type, validated.params, validated.targets, validated.redact, plan
    )


def create(session: Session, rt: Runtime, actor: Actor, request: DeploymentRequest) -> int:
    """Create a deployment and its plan; it starts as soon as an engine picks it up.

    If planning fails, the caller's transaction rolls back and nothing is kept."""
    validated = _validate(session, rt, actor, request)
    deployment = Deployment(
        type=validated.type.name,
        title=request.title or _default_title(validated),
        params=seal_params(validated.params, rt.secrets),
        selector=request.target,
        requester=actor.name,
        ticket=request.ticket,
        status=D.PENDING,
        retry_interrupted=validated.type.retry_interrupted,
    )
    session.add(deployment)
    session.flush()  # planners get the deployment's id (to name backups after it)
    plan = _plan(rt, validated, request.options, deployment.id)
    has_secrets = bool(validated.redact)
    for stage_position, stage_plan in enumerate(plan.stages):
        threshold = stage_plan.max_failures or request.options.max_failures
        stage = Stage(
            deployment_id=deployment.id,
            position=stage_position,
            name=stage_plan.name,
            parallelism=stage_plan.parallelism or request.options.parallelism,
            max_failures=threshold.count if threshold else None,
            max_failure_percent=threshold.percent if threshold else None,
            status=S.PENDING,
        )
        session.add(stage)
        session.flush()
        session.execute(
            insert(NodeTask),
            [
                {
                    "deployment_id": deployment.id,
                    "stage_id": stage.id,
                    "position": position,
                    "node_name": node_plan.node.name,
                    "cluster_name": node_plan.node.cluster,
                    "node": node_plan.node.to_json(),
                    "steps": seal_steps(
                        json.dumps(
                            [
                                _with_timeout(step.to_json(), request.options)
                                for step in node_plan.steps
                            ]
                        ),
                        rt.secrets,
                        has_secrets,
                    ),
                    "step_names": [step.name for step in node_plan.steps],
                    "status": T.PENDING,
                    "attempt": 1,
                    "resume_from": 0,
                }
                for position, node_plan in enumerate(stage_plan.nodes)
            ],
        )
    shown = redacted_params(validated.params)
    emit(
        session,
        "deployment.created",
        deployment_id=deployment.id,
        actor=actor.name,
        type=deployment.type,
        target=request.target,
        nodes=plan.node_count,
        params=shown,
    )
    audit.record(
        session,
        actor,
        "deployment.create",
        f"deployment {deployment.id}",
        {
            "type": deployment.type,
            "target": request.target,
            "params": shown,
            "ticket": request.ticket,
        },
    )
    advance(session, [deployment.id])
    return deployment.id


def cancel(session: Session, rt: Runtime, actor: Actor, deployment_id: int) -> None:
    """Stop scheduling at once; running steps are interrupted by their workers."""
    deployment = _get_for(session, rt, actor, deployment_id, Permission.CONTROL)
    check_deployment(deployment.status, D.CANCELLED, "cancel")
    now = utcnow()
    deployment.status = D.CANCELLED
    deployment.finished_at = now
    cancelled = session.scalars(
        update(NodeTask)
        .where(NodeTask.deployment_id == deployment_id, NodeTask.status == T.PENDING)
        .values(status=T.CANCELLED, finished_at=now)
        .returning(NodeTask.id)
    ).all()
    session.execute(
        update(Stage)
        .where(
            Stage.deployment_id == deployment_id,
            Stage.status.in_([S.PENDING, S.RUNNING, S.HALTING]),
        )
        .values(status=S.CANCELLED, finished_at=now)
    )
    emit_many(
        session,
        [
            NewEvent("task.cancelled", deployment_id=deployment_id, task_id=task_id)
            for task_id in cancelled
        ],
    )
    emit(session, "deployment.cancelled", deployment_id=deployment_id, actor=actor.name)
    audit.record(session, actor, "deployment.cancel", f"deployment {deployment_id}")


def pause(session: Session, rt: Runtime, actor: Actor, deployment_id: int) -> None:
    """No new node starts; running ones finish."""
    deployment = _get_for(session, rt, actor, deployment_id, Permission.CONTROL)
    check_deployment(deployment.status, D.PAUSED, "pause")
    deployment.status = D.PAUSED
    emit(session, "deployment.paused", deployment_id=deployment_id, actor=actor.name)
    audit.record(session, actor, "deployment.pause", f"deployment {deployment_id}")


def resume(session: Session, rt: Runtime, actor: Actor, deployment_id: int) -> None:
    deployment = _get_for(session, rt, actor, deployment_id, Permission.CONTROL)
    if deployment.status != D.PAUSED:
        raise ValidationError(
            f"deployment {deployment_id} is {deployment.status.value}, not paused"
        )
    deployment.status = D.RUNNING
    emit(session, "deployment.resumed", deployment_id=deployment_id, actor=actor.name)
    audit.record(session, actor, "deployment.resume", f"deployment {deployment_id}")
    advance(session, [deployment_id])


def retry(session: Session, rt: Runtime, actor: Actor, deployment_id: int) -> int:
    """Run the failed nodes again as a new attempt; nodes that succeeded are left alone.

    Nodes skipped because a threshold halted their stage run too: they never ran.
    Returns the new attempt number.
    """
    deployment = _get_for(session, rt, actor, deployment_id, Permission.RETRY)
    check_deployment(deployment.status, D.RUNNING, "retry")
    retried = session.execute(
        update(NodeTask)
        .where(
            NodeTask.deployment_id == deployment_id,
            NodeTask.status.in_([T.FAILED, T.INTERRUPTED, T.SKIPPED]),
        )
        .values(
            status=T.PENDING,
            attempt=deployment.attempt + 1,
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
        .returning(NodeTask.id, NodeTask.stage_id, NodeTask.node_name)
    ).all()
    if not retried:
        raise ValidationError(f"deployment {deployment_id} has no failed node to retry")
    deployment.attempt += 1
    deployment.status = D.RUNNING
    deployment.finished_at = None
    session.execute(
        update(Stage)
        .where(Stage.id.in_({row.stage_id for row in retried}))
        .values(status=S.PENDING, finished_at=None)
    )
    nodes = sorted(row.node_name for row in retried)
    emit(
        session,
        "deployment.retried",
        deployment_id=deployment_id,
        actor=actor.name,
        attempt=deployment.attempt,
        nodes=nodes,
    )
    audit.record(
        session,
        actor,
        "deployment.retry",
        f"deployment {deployment_id}",
        {"attempt": deployment.attempt, "nodes": nodes},
    )
    advance(session, [deployment_id])
    return deployment.attempt


def get(session: Session, rt: Runtime, actor: Actor, deployment_id: int) -> Deployment:
    return _get_for(session, rt, actor, deployment_id, Permission.VIEW)


def _get_for(
    session: Session, rt: Runtime, actor: Actor, deployment_id: int, permission: Permission
) -> Deployment:
    deployment = session.get(Deployment, deployment_id)
    if deployment is None:
        raise NotFound(f"no deployment {deployment_id}")
    clusters = tuple(
        session.scalars(
            select(NodeTask.cluster_name).where(NodeTask.deployment_id == deployment_id).distinct()
        )
    )
    authorize(
        rt.plugins.hook,
        actor,
        permission,
        AuthTarget(
            "deployment",
            str(deployment_id),
            clusters=clusters,
            attributes={"type": deployment.type},
        ),
    )
    return deployment


def _validate(
    session: Session, rt: Runtime, actor: Actor, request: DeploymentRequest
) -> ValidRequest:
    deployment_type = rt.plugins.type(request.type)
    targets = tuple(resolve_targets(session, request.target))
    authorize(
        rt.plugins.hook,
        actor,
        Permission.CREATE,
        AuthTarget(
            "deployment_type",
            deployment_type.name,
            clusters=tuple(sorted({node.cluster for node in targets})),
            environments=tuple(sorted({node.environment for node in targets if node.environment})),
        ),
    )
    params = validate_params(deployment_type, request.params)
    return ValidRequest(deployment_type, params, targets, Redactor(secret_values(params)))


def validate_params(deployment_type: DeploymentType[Any], raw: Mapping[str, Any]) -> BaseModel:
    try:
        params: BaseModel = deployment_type.parameters.model_validate(dict(raw))
        return params
    except PydanticValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "parameters"
            problems.append(f"{where}: {error['msg']}")
        raise ValidationError(
            f"invalid parameters for {deployment_type.name}: " + "; ".join(problems)
        ) from None


def _plan(
    rt: Runtime, planned: ValidRequest, options: DeploymentOptions, deployment_id: int | None
) -> Plan:
    def plan_nested(type_name: str, raw: Mapping[str, Any], targets: tuple[NodeInfo, ...]) -> Plan:
        inner_type = rt.plugins.type(type_name)
        params = validate_params(inner_type, raw)
        if secret_values(params):
            raise ValidationError(
                f"{type_name} parameters with secrets cannot be wrapped by {planned.type.name} yet"
            )
        return _plan(
            rt, ValidRequest(inner_type, params, targets, Redactor([])), options, deployment_id
        )

    request = PlanRequest(
        type=planned.type.name,
        params=planned.params,
        targets=planned.targets,
        options=options,
        deployment_id=deployment_id,
        plan_nested=plan_nested,
    )
    plan = rt.plugins.hook.squall_plan(request=request, deployment_type=planned.type)
    if not isinstance(plan, Plan):
        raise PlanError(f"no plugin planned the {planned.type.name} deployment")
    return _check_plan(plan, planned.targets)


def _check_plan(plan: Plan, targets: tuple[NodeInfo, ...]) -> Plan:
    """A planner's output is checked like user input: it comes from plugin code.

    Stages without nodes are dropped, so a planner need not special-case small targets."""
    plan = Plan(tuple(stage for stage in plan.stages if stage.nodes))
    if not plan.stages:
        raise PlanError("the plan has no node to work on")
    allowed = {node.name for node in targets}
    seen: set[str] = set()
    for stage in plan.stages:
        for node_plan in stage.nodes:
            name = node_plan.node.name
            if name not in allowed:
                raise PlanError(f"the plan touches node {name!r}, which the target does not select")
            if name in seen:
                raise PlanError(f"the plan runs node {name!r} twice")
            seen.add(name)
    return plan


def _with_timeout(step: dict[str, Any], options: DeploymentOptions) -> dict[str, Any]:
    if step["timeout"] is None and options.step_timeout is not None:
        step["timeout"] = options.step_timeout
    return step


def _default_title(planned: ValidRequest) -> str:
    clusters = sorted({node.cluster for node in planned.targets})
    where = clusters[0] if len(clusters) == 1 else f"{len(clusters)} clusters"
    return f"{planned.type.title} on {len(planned.targets)} nodes of {where}"


def count_nodes(session: Session, deployment_id: int) -> int:
    return session.scalar(select(func.count()).where(NodeTask.deployment_id == deployment_id)) or 0
