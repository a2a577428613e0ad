"""Deployment services: plan, preview and create deployments, look them up.

Each call checks authorization, validates, changes state, writes the events and the audit
record, all in the caller's transaction. The CLI, the web UI and the API call these and
nothing else, so a rule written here holds everywhere. What operators do to a deployment
once it exists is in `squall.core.services.actions`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from squall.core import audit
from squall.core.auth import Actor, AuthTarget, authorize, is_allowed
from squall.core.engine.claims import seal_steps
from squall.core.engine.progress import advance
from squall.core.errors import NotFound, PermissionDenied, PlanError
from squall.core.events import emit
from squall.core.integration import DeploymentInfo
from squall.core.models import Deployment, NodeTask, Stage, utcnow
from squall.core.outbox.holds import place_start_holds
from squall.core.permissions import Permission
from squall.core.plan import DeploymentOptions, NodeInfo, Plan, PlanRequest, Purpose, Threshold
from squall.core.runtime import Runtime
from squall.core.secrets import Redactor, redacted_params, seal_params, secret_values, unseal_params
from squall.core.services.calls import refusals_recorded
from squall.core.services.inventory import resolve_targets
from squall.core.status import DeploymentStatus, StageKind, StageStatus, TaskStatus
from squall.core.types import DeploymentType
from squall.core.values.deployments import (
    DeploymentRequest,
    NodePreview,
    PlanPreview,
    StagePreview,
)

D, S, T = DeploymentStatus, StageStatus, TaskStatus


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


def plan_preview(
    session: Session, rt: Runtime, actor: Actor, request: DeploymentRequest
) -> PlanPreview:
    """`preview`, shown: each stage and node with its steps described, secrets masked."""
    planned = preview(session, rt, actor, request)
    return PlanPreview(
        type=planned.type.name,
        target=request.target,
        node_count=planned.plan.node_count,
        stages=tuple(
            StagePreview(
                name=stage.name,
                kind=stage.kind.value,
                gate=stage.gate,
                approvals=stage.approvals,
                parallelism=stage.parallelism,
                max_failures=str(stage.max_failures) if stage.max_failures is not None else None,
                bake_seconds=stage.bake_seconds,
                nodes=tuple(
                    NodePreview(
                        node_plan.node.name,
                        node_plan.node.cluster,
                        tuple(
                            f"{step.name}: {planned.redact(step.describe())}"
                            for step in node_plan.steps
                        ),
                    )
                    for node_plan in stage.nodes
                ),
            )
            for stage in planned.plan.stages
        ),
    )


def preview(
    session: Session, rt: Runtime, actor: Actor, request: DeploymentRequest
) -> PlannedDeployment:
    """Validate and plan without changing anything (`--dry-run`)."""
    validated = _validate(session, rt, actor, request)
    plan = _plan(rt, validated, request.options, None)
    plan = with_required_approvals(rt, validated.type.name, _environments(validated.targets), plan)
    return PlannedDeployment(
        validated.type, validated.params, validated.targets, validated.redact, plan
    )


def check_outside(rt: Runtime, actor: Actor, request: DeploymentRequest) -> None:
    """Let plugins check a request against the outside world (`squall_check_deployment`:
    that its ticket exists) before `create`, outside any transaction, so a slow JIRA
    never holds the database. Raises what they raise (ValidationError); changes nothing."""
    with refusals_recorded(rt, actor, "create"), rt.db.read() as session:
        validated = _validate(session, rt, actor, request)
    deployment = DeploymentInfo(
        id=0,
        type=validated.type.name,
        title=request.title or _default_title(validated),
        requester=actor.name,
        ticket=request.ticket,
        status=D.PENDING.value,
        target=request.target,
        environments=tuple(_environments(validated.targets)),
        clusters=tuple(sorted({node.cluster for node in validated.targets})),
        created_at=utcnow(),
        started_at=None,
        finished_at=None,
    )
    rt.plugins.hook.squall_check_deployment(deployment=deployment, settings=rt.settings)


def create(session: Session, rt: Runtime, actor: Actor, request: DeploymentRequest) -> int:
    """Create a deployment and its plan; it starts as soon as an engine picks it up, or
    once the outside conditions plugins hold it on are met (`squall_deployment_gates`).

    If planning fails, or a plugin refuses it, the caller's transaction rolls back and
    nothing is kept."""
    validated = _validate(session, rt, actor, request)
    deployment = Deployment(
        type=validated.type.name,
        title=request.title or _default_title(validated),
        params=seal_params(validated.params, rt.secrets),
        selector=request.target,
        requester=actor.name,
        ticket=request.ticket,
        status=D.PENDING,
        options=options_json(request.options),
        scope={
            "clusters": sorted({node.cluster for node in validated.targets}),
            "environments": _environments(validated.targets),
        },
    )
    session.add(deployment)
    session.flush()  # planners get the deployment's id (to name backups after it)
    nested: set[str] = set()
    plan = _plan(rt, validated, request.options, deployment.id, nested=nested)
    # The types its nodes run (a group's inner type): what a rollback would go through.
    deployment.scope = {**deployment.scope, "types": sorted({deployment.type, *nested})}
    deployment.retry_interrupted = bool(plan.retry_interrupted)
    store_plan(session, rt, deployment, plan, request.options, secret=bool(validated.redact))
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
    place_start_holds(session, rt, deployment)
    advance(session, [deployment.id])
    return deployment.id


def get(session: Session, rt: Runtime, actor: Actor, deployment_id: int) -> Deployment:
    return get_for(session, rt, actor, deployment_id, Permission.VIEW)


def get_for(
    session: Session, rt: Runtime, actor: Actor, deployment_id: int, permission: Permission
) -> Deployment:
    """The deployment, if the actor may do `permission` on it. One they may not even see
    answers like a missing one: its existence is not theirs to learn."""
    deployment = session.get(Deployment, deployment_id)
    if deployment is None:
        raise NotFound(f"no deployment {deployment_id}")
    target = deployment_target(deployment)
    if not is_allowed(rt.plugins.hook, actor, Permission.VIEW, target):
        raise NotFound(f"no deployment {deployment_id}")
    authorize(rt.plugins.hook, actor, permission, target)
    return deployment


def get_to_run(
    session: Session, rt: Runtime, actor: Actor, deployment_id: int, permission: Permission
) -> Deployment:
    """`get_for`, for an action that runs node tasks anew (retry, roll back): on a
    `local` node that needs the permission to run commands on the Squall host itself, as
    creating it did. Going on with what was approved (promote, resume) does not."""
    deployment = get_for(session, rt, actor, deployment_id, permission)
    nodes = session.scalars(select(NodeTask.node).where(NodeTask.deployment_id == deployment_id))
    local = sorted({node["name"] for node in nodes if node.get("transport") == "local"})
    if local:
        authorize_local_nodes(rt, actor, local, deployment_target(deployment))
    return deployment


def authorize_local_nodes(
    rt: Runtime, actor: Actor, names: Sequence[str], target: AuthTarget
) -> None:
    """A `local` node runs its commands on the Squall host, as Squall's own user (next to
    its database and keys): only those holding `node.local` may run anything there."""
    if not is_allowed(rt.plugins.hook, actor, Permission.LOCAL_NODES, target):
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        raise PermissionDenied(
            actor.name, Permission.LOCAL_NODES, f"{shown} (local nodes run on the Squall host)"
        )


def visible(rt: Runtime, actor: Actor, found: Sequence[Deployment]) -> list[Deployment]:
    """Those of `found` the actor may see: all of them with an unscoped grant, else each
    checked against its clusters, environments and type."""
    hook = rt.plugins.hook
    if is_allowed(hook, actor, Permission.VIEW, AuthTarget("deployment")):
        return list(found)
    return [d for d in found if is_allowed(hook, actor, Permission.VIEW, deployment_target(d))]


def deployment_target(deployment: Deployment) -> AuthTarget:
    """What scoped grants are checked against: the clusters and environments it touches."""
    return AuthTarget(
        "deployment",
        str(deployment.id),
        clusters=tuple(deployment.scope.get("clusters", ())),
        environments=tuple(deployment.scope.get("environments", ())),
        attributes={"type": deployment.type},
    )


def _validate(
    session: Session, rt: Runtime, actor: Actor, request: DeploymentRequest
) -> ValidRequest:
    deployment_type = rt.plugins.type(request.type)
    targets = tuple(resolve_targets(session, request.target))
    target = AuthTarget(
        "deployment_type",
        deployment_type.name,
        clusters=tuple(sorted({node.cluster for node in targets})),
        environments=tuple(sorted({node.environment for node in targets if node.environment})),
    )
    authorize(rt.plugins.hook, actor, Permission.CREATE, target)
    local = [node.name for node in targets if node.transport == "local"]
    if local:
        authorize_local_nodes(rt, actor, local, target)
    params = rt.plugins.parse_params(deployment_type.name, request.params)
    return ValidRequest(deployment_type, params, targets, Redactor(secret_values(params)))


def _plan(
    rt: Runtime,
    planned: ValidRequest,
    options: DeploymentOptions,
    deployment_id: int | None,
    *,
    purpose: Purpose = "deploy",
    results: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
    nested: set[str] | None = None,
) -> Plan:
    """`nested` gathers the types planned inside this one (`plan_nested`), at any depth."""

    def plan_nested(type_name: str, raw: Mapping[str, Any], targets: tuple[NodeInfo, ...]) -> Plan:
        inner = ValidRequest(
            rt.plugins.type(type_name),
            rt.plugins.parse_params(type_name, raw),
            targets,
            Redactor([]),
        )
        if nested is not None:
            nested.add(type_name)
        return _plan(
            rt, inner, options, deployment_id, purpose=purpose, results=results, nested=nested
        )

    request = PlanRequest(
        type=planned.type.name,
        params=planned.params,
        targets=planned.targets,
        options=options,
        deployment_id=deployment_id,
        plan_nested=plan_nested,
        purpose=purpose,
        results=results or {},
    )
    plan = rt.plugins.hook.squall_plan(request=request, deployment_type=planned.type)
    if not isinstance(plan, Plan):
        raise PlanError(f"no plugin planned the {planned.type.name} deployment")
    if plan.retry_interrupted is None:
        plan = replace(plan, retry_interrupted=planned.type.retry_interrupted)
    return check_plan(plan, planned.targets)


def without_rollback(rt: Runtime, deployment: Deployment) -> list[str]:
    """The types the deployment's nodes ran (a group's inner type too) that cannot undo
    them: not installed, or without a rollback planner. Deployments recorded before Squall
    kept their types are judged by their own type (planning the rollback checks the rest)."""
    return [
        name
        for name in deployment.scope.get("types") or [deployment.type]
        if rt.plugins.types.get(name) is None or rt.plugins.type(name).rollback is None
    ]


def plan_rollback(
    rt: Runtime,
    deployment: Deployment,
    targets: tuple[NodeInfo, ...],
    results: Mapping[str, Mapping[str, Mapping[str, Any]]],
) -> Plan:
    """What undoing `targets` takes, planned by the deployment type's rollback planner."""
    deployment_type = rt.plugins.type(deployment.type)
    params = rt.plugins.parse_params(deployment.type, unseal_params(deployment.params, rt.secrets))
    planned = ValidRequest(deployment_type, params, targets, Redactor(secret_values(params)))
    options = options_from_json(deployment.options)
    return _plan(rt, planned, options, deployment.id, purpose="rollback", results=results)


def check_plan(plan: Plan, targets: tuple[NodeInfo, ...]) -> Plan:
    """A planner's output is checked like user input: it comes from plugin code.

    Every node is a target and is deployed by one stage at most (health checks and
    rollbacks come back to nodes a deploy stage had). Stages without nodes are dropped,
    so a planner need not special-case small targets."""
    plan = replace(plan, stages=tuple(stage for stage in plan.stages if stage.nodes))
    if not plan.stages:
        raise PlanError("the plan has no node to work on")
    allowed = {node.name for node in targets}
    deployed: set[str] = set()
    for stage in plan.stages:
        names = [node_plan.node.name for node_plan in stage.nodes]
        if len(set(names)) != len(names):
            raise PlanError(f"stage {stage.name!r} lists a node twice")
        for name in names:
            if name not in allowed:
                raise PlanError(f"the plan touches node {name!r}, which the target does not select")
            if stage.kind == StageKind.DEPLOY:
                if name in deployed:
                    raise PlanError(f"the plan deploys node {name!r} twice")
                deployed.add(name)
            elif stage.kind == StageKind.CHECK and name not in deployed:
                raise PlanError(f"stage {stage.name!r} checks node {name!r} before it is deployed")
    return plan


def store_plan(
    session: Session,
    rt: Runtime,
    deployment: Deployment,
    plan: Plan,
    options: DeploymentOptions,
    *,
    secret: bool,
    undoes: Mapping[str, int] | None = None,
) -> list[Stage]:
    """Add the plan's stages and node tasks after the deployment's existing stages.

    Steps are stored encrypted when the deployment has secret parameters. `undoes` maps a
    rollback stage's name to the deploy stage it restores."""
    first = session.scalar(select(func.count()).where(Stage.deployment_id == deployment.id)) or 0
    environments = deployment.scope.get("environments", [])
    plan = with_required_approvals(rt, deployment.type, environments, plan)
    stages = []
    for offset, stage_plan in enumerate(plan.stages):
        threshold = stage_plan.max_failures or (
            options.max_failures if stage_plan.kind == StageKind.DEPLOY else None
        )
        stage = Stage(
            deployment_id=deployment.id,
            position=first + offset,
            name=stage_plan.name,
            kind=stage_plan.kind,
            parallelism=stage_plan.parallelism or options.parallelism,
            max_failures=threshold.count if threshold else None,
            max_failure_percent=threshold.percent if threshold else None,
            gate=stage_plan.gate,
            approvals_required=stage_plan.approvals,
            bake_seconds=stage_plan.bake_seconds,
            undoes_stage_id=(undoes or {}).get(stage_plan.name),
            status=S.PENDING,
        )
        session.add(stage)
        session.flush()
        stages.append(stage)
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
                            [_with_timeout(step.to_json(), options) for step in node_plan.steps]
                        ),
                        rt.secrets,
                        secret,
                    ),
                    "step_names": [step.name for step in node_plan.steps],
                    "status": T.PENDING,
                    "attempt": deployment.attempt,
                    "resume_from": 0,
                }
                for position, node_plan in enumerate(stage_plan.nodes)
            ],
        )
    return stages


def with_required_approvals(
    rt: Runtime, type_name: str, environments: Sequence[str], plan: Plan
) -> Plan:
    """The plan with each stage's approvals raised to what configuration requires. The
    stored plan (what a gate asks for) and every preview come through here, so a preview
    names the approvals the gate will require."""
    needed = approvals_needed(rt, type_name, environments)
    return Plan(
        tuple(
            dataclasses.replace(stage, approvals=max(stage.approvals, needed))
            for stage in plan.stages
        )
    )


def approvals_needed(rt: Runtime, type_name: str, environments: Sequence[str]) -> int:
    """Approvals a gate of a deployment of this type in these environments needs by
    configuration: the most specific of `type@environment`, `*@environment`, `type` (the
    largest if it touches several environments), else 1."""
    rules = rt.settings.approvals
    found = []
    places: list[str | None] = [*environments] or [None]
    for environment in places:
        for key in (f"{type_name}@{environment}", f"*@{environment}", type_name):
            if key in rules:
                found.append(int(rules[key]))
                break
    return max(found, default=1)


def options_json(options: DeploymentOptions) -> dict[str, Any]:
    return {
        "parallelism": options.parallelism,
        "max_failures": str(options.max_failures) if options.max_failures else None,
        "step_timeout": options.step_timeout,
    }


def options_from_json(stored: Mapping[str, Any]) -> DeploymentOptions:
    threshold = stored.get("max_failures")
    return DeploymentOptions(
        parallelism=int(stored.get("parallelism") or 50),
        max_failures=Threshold.parse(threshold) if threshold else None,
        step_timeout=stored.get("step_timeout"),
    )


def _with_timeout(step: dict[str, Any], options: DeploymentOptions) -> dict[str, Any]:
    # The one place a deployment's step limit meets the types' own timeouts.
    step["timeout"] = options.bound(step["timeout"])
    return step


def _environments(targets: Sequence[NodeInfo]) -> list[str]:
    return sorted({node.environment for node in targets if node.environment})


def _default_title(planned: ValidRequest) -> str:
    clusters = sorted({node.cluster for node in planned.targets})
    where = clusters[0] if len(clusters) == 1 else f"{len(clusters)} clusters"
    return f"{planned.type.title} on {len(planned.targets)} nodes of {where}"
