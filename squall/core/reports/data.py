"""Computing reports from the database: one deployment, a cluster over a period, a node.

No authorization here (`squall.core.services.reports` checks it); no rendering either. Every
string that came from a node or a plugin passes through the deployment's redactor, so a
secret a plugin echoed somewhere is masked in every format alike.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Row, and_, select
from sqlalchemy.orm import Session

from squall.core import history
from squall.core.errors import NotFound, SquallError
from squall.core.models import (
    Approval,
    Cluster,
    Deployment,
    Event,
    Node,
    NodeTask,
    Stage,
    StepResult,
    TaskAttempt,
)
from squall.core.readmodel import record_fields
from squall.core.reporting import DeploymentSummary, ReportSection, StepSummary, TaskSummary
from squall.core.reports.model import (
    ApprovalLine,
    AttemptLine,
    ClusterLine,
    ClusterReport,
    DeploymentLine,
    DeploymentReport,
    FailureCount,
    Generation,
    NodeFailure,
    NodeHistoryLine,
    NodeLine,
    NodeReport,
    RollbackLine,
    RunLine,
    Signature,
    StageLine,
    StepCell,
    TimelineEntry,
)
from squall.core.reports.stats import durations, natural, rate, seconds
from squall.core.runtime import Runtime
from squall.core.secrets import Redactor, has_secrets, redacted_params, secret_values, unseal_params
from squall.core.status import (
    NEVER_RAN,
    UNSUCCESSFUL,
    DeploymentStatus,
    StageKind,
    TaskStatus,
    has_failure_point,
)

FAILED = UNSUCCESSFUL
LAST_FAILURES = 5
TIMELINE_SKIPS = ("task.",)
"""Node tasks are in the node table; the timeline keeps what happened to the whole."""
RERUN = "task.requeued"
"""Kept in the timeline all the same: a step its worker stopped in ran again, maybe twice."""


def deployment_summary(session: Session, rt: Runtime, deployment: Deployment) -> DeploymentSummary:
    """What report plugins are handed: every task with its latest attempt's steps, every
    string from the nodes masked with the deployment's redactor."""
    redact = deployment_redactor(rt, deployment)
    stage_names = {
        stage_id: name
        for stage_id, name in session.execute(
            select(Stage.id, Stage.name).where(Stage.deployment_id == deployment.id)
        )
    }
    return _summary(
        deployment,
        _task_rows(session, deployment.id),
        _latest_steps(session, deployment.id, redact),
        stage_names,
        redact,
    )


def deployment_report(
    session: Session, rt: Runtime, deployment_id: int, generation: Generation
) -> DeploymentReport:
    deployment = session.get(Deployment, deployment_id)
    if deployment is None:
        raise NotFound(f"no deployment {deployment_id}")
    redact = deployment_redactor(rt, deployment)
    stages = session.scalars(
        select(Stage).where(Stage.deployment_id == deployment_id).order_by(Stage.position)
    ).all()
    stage_by_id = {stage.id: stage for stage in stages}
    tasks = _task_rows(session, deployment_id)
    steps = _latest_steps(session, deployment_id, redact)
    nodes = tuple(
        NodeLine(
            node=task.node_name,
            cluster=task.cluster_name,
            stage=stage_by_id[task.stage_id].name,
            stage_kind=stage_by_id[task.stage_id].kind.value,
            status=task.status.value,
            attempt=task.attempt,
            steps=tuple(StepCell(s.name, s.status, s.exit_code) for s in steps[task.id]),
            failed_step=task.failed_step_name,
            exit_code=task.exit_code,
            error=redact(task.error) if task.error else None,
            duration=seconds(task.started_at, task.finished_at),
            last_lines=(
                tuple(redact(line) for line in task.last_lines or ())
                if task.status in FAILED
                else ()
            ),
            address=_address(task.node),
            started_at=task.started_at,
            finished_at=task.finished_at,
        )
        for task in tasks
    )
    params = redacted_params(deployment.params)
    summary = _summary(deployment, tasks, steps, {stage.id: stage.name for stage in stages}, redact)
    deployed = [line for line in nodes if line.stage_kind == StageKind.DEPLOY.value]
    by_stage: dict[int, list[NodeLine]] = defaultdict(list)
    for line, task in zip(nodes, tasks, strict=True):
        by_stage[task.stage_id].append(line)
    return DeploymentReport(
        deployment_id=deployment.id,
        type=deployment.type,
        title=deployment.title,
        status=deployment.status.value,
        requester=deployment.requester,
        ticket=deployment.ticket,
        target=deployment.selector,
        attempt=deployment.attempt,
        params=params,
        options=dict(deployment.options),
        created_at=deployment.created_at,
        started_at=deployment.started_at,
        finished_at=deployment.finished_at,
        approvals=_approvals(session, deployment_id),
        stages=tuple(_stage_line(stage, by_stage[stage.id]) for stage in stages),
        clusters=_cluster_lines(deployed),
        nodes=nodes,
        signatures=signatures(nodes),
        timeline=_timeline(session, deployment_id, redact),
        sections=_sections(rt, summary, redact),
        durations=durations(line.duration for line in deployed),
        generation=generation,
        attempts=_attempt_lines(session, deployment, redact),
        rollback=_rollback_line(session, deployment_id, stages, by_stage),
        environments=tuple(sorted(deployment.scope.get("environments", ()))),
    )


def _attempt_lines(
    session: Session, deployment: Deployment, redact: Redactor
) -> tuple[AttemptLine, ...]:
    return tuple(
        AttemptLine(
            number=attempt.number,
            started_by=attempt.started_by,
            started_at=attempt.started_at,
            nodes=len(attempt.nodes),
            counts=dict(sorted(attempt.counts.items())),
            failures=tuple(
                RunLine(
                    node=run.node,
                    cluster=run.cluster,
                    stage=run.stage,
                    status=run.status,
                    failure_point=run.failure_point,
                    exit_code=run.exit_code,
                    error=redact(run.error) if run.error else None,
                    last_lines=tuple(redact(line) for line in run.last_lines),
                    finished_at=run.finished_at,
                )
                for run in attempt.failures
            ),
        )
        for attempt in history.attempts(session, deployment)
    )


def _rollback_line(
    session: Session,
    deployment_id: int,
    stages: Sequence[Stage],
    by_stage: Mapping[int, list[NodeLine]],
) -> RollbackLine | None:
    started = session.scalar(
        select(Event)
        .where(Event.deployment_id == deployment_id, Event.kind == "deployment.rollback_started")
        .order_by(Event.id)
        .limit(1)
    )
    if started is None:
        return None
    undoing = [stage for stage in stages if stage.kind == StageKind.ROLLBACK]
    lines = [line for stage in undoing for line in by_stage[stage.id]]
    return RollbackLine(
        by=started.actor or "",
        at=started.created_at,
        nodes=len(lines),
        restored=sum(1 for line in lines if line.status == TaskStatus.SUCCEEDED),
        failed=sum(1 for line in lines if TaskStatus(line.status) in FAILED),
        stages=tuple(stage.name for stage in undoing),
    )


def _task_rows(session: Session, deployment_id: int) -> Sequence[Row[Any]]:
    """Only the columns reports show: not the stored steps (maybe encrypted). Stage by
    stage, nodes in natural order (web-2 before web-10)."""
    rows = session.execute(
        select(
            NodeTask.id,
            NodeTask.stage_id,
            NodeTask.node_name,
            NodeTask.cluster_name,
            NodeTask.node,
            NodeTask.status,
            NodeTask.attempt,
            NodeTask.failed_step_name,
            NodeTask.exit_code,
            NodeTask.error,
            NodeTask.last_lines,
            NodeTask.started_at,
            NodeTask.finished_at,
            Stage.position,
        )
        .join(Stage, Stage.id == NodeTask.stage_id)
        .where(NodeTask.deployment_id == deployment_id)
        .order_by(Stage.position, NodeTask.position)
    ).all()
    return sorted(rows, key=lambda row: (row.position, natural(row.node_name)))


def _address(node: Mapping[str, Any]) -> str | None:
    host = node.get("host")
    if not host:
        return None
    port = node.get("port") or 22
    return f"{host}:{port}" if port != 22 else str(host)


def _latest_steps(
    session: Session, deployment_id: int, redact: Redactor
) -> dict[int, list[StepSummary]]:
    """Step results of each task's latest attempt, by task id."""
    steps: dict[int, list[StepSummary]] = defaultdict(list)
    for row in session.execute(
        select(
            StepResult.task_id,
            StepResult.position,
            StepResult.name,
            StepResult.status,
            StepResult.exit_code,
            StepResult.error,
            StepResult.data,
        )
        .join(
            NodeTask,
            and_(NodeTask.id == StepResult.task_id, NodeTask.attempt == StepResult.attempt),
        )
        .where(NodeTask.deployment_id == deployment_id)
        .order_by(StepResult.task_id, StepResult.position)
    ):
        steps[row.task_id].append(
            StepSummary(
                row.position,
                row.name,
                row.status.value,
                row.exit_code,
                redact(row.error) if row.error else None,
                redact.redact_json(row.data) if row.data else None,
            )
        )
    return steps


def _summary(
    deployment: Deployment,
    tasks: Sequence[Row[Any]],
    steps: Mapping[int, list[StepSummary]],
    stage_names: Mapping[int, str],
    redact: Redactor,
) -> DeploymentSummary:
    return DeploymentSummary(
        **record_fields(deployment),
        params=redacted_params(deployment.params),
        tasks=tuple(
            TaskSummary(
                node=task.node_name,
                cluster=task.cluster_name,
                stage=stage_names[task.stage_id],
                status=task.status.value,
                attempt=task.attempt,
                exit_code=task.exit_code,
                error=redact(task.error) if task.error else None,
                failed_step=task.failed_step_name,
                last_lines=tuple(redact(text) for text in task.last_lines or ()),
                steps=tuple(steps.get(task.id, ())),
                started_at=task.started_at,
                finished_at=task.finished_at,
            )
            for task in tasks
        ),
    )


def deployment_redactor(rt: Runtime, deployment: Deployment) -> Redactor:
    """Masks the clear values of the deployment's secret parameters."""
    if not has_secrets(deployment.params):
        return Redactor([])
    try:
        params = rt.plugins.parse_params(
            deployment.type, unseal_params(deployment.params, rt.secrets)
        )
    except SquallError:
        # The type is gone or its model changed: masked parameters are still shown as `***`.
        return Redactor([])
    return Redactor(secret_values(params))


def _approvals(session: Session, deployment_id: int) -> tuple[ApprovalLine, ...]:
    return tuple(
        ApprovalLine(stage_name, approval.actor, approval.created_at, approval.comment)
        for approval, stage_name in session.execute(
            select(Approval, Stage.name)
            .join(Stage, Stage.id == Approval.stage_id)
            .where(Approval.deployment_id == deployment_id)
            .order_by(Approval.id)
        )
    )


def _stage_line(stage: Stage, lines: list[NodeLine]) -> StageLine:
    tally = Counter(line.status for line in lines)
    succeeded, failed, skipped = _outcomes(tally)
    if stage.max_failures is not None:
        threshold: str | None = str(stage.max_failures)
    elif stage.max_failure_percent is not None:
        threshold = f"{stage.max_failure_percent:g}%"
    else:
        threshold = None
    return StageLine(
        position=stage.position,
        name=stage.name,
        kind=stage.kind.value,
        status=stage.status.value,
        nodes=len(lines),
        succeeded=succeeded,
        failed=failed,
        skipped=skipped,
        other=len(lines) - succeeded - failed - skipped,
        parallelism=stage.parallelism,
        max_failures=threshold,
        gate=stage.gate,
        approvals_required=stage.approvals_required,
        bake_seconds=stage.bake_seconds,
        started_at=stage.started_at,
        finished_at=stage.finished_at,
    )


def _outcomes(tally: Mapping[str, int]) -> tuple[int, int, int]:
    failed = sum(tally.get(status.value, 0) for status in FAILED)
    return tally.get("succeeded", 0), failed, tally.get("skipped", 0)


def _cluster_lines(deployed: list[NodeLine]) -> tuple[ClusterLine, ...]:
    by_cluster: dict[str, list[NodeLine]] = defaultdict(list)
    for line in deployed:
        by_cluster[line.cluster].append(line)
    result = []
    for cluster, lines in sorted(by_cluster.items()):
        succeeded, failed, skipped = _outcomes(Counter(line.status for line in lines))
        result.append(
            ClusterLine(
                cluster=cluster,
                nodes=len(lines),
                succeeded=succeeded,
                failed=failed,
                skipped=skipped,
                other=len(lines) - succeeded - failed - skipped,
                durations=durations(line.duration for line in lines),
            )
        )
    return tuple(result)


def signatures(lines: Iterable[NodeLine]) -> tuple[Signature, ...]:
    """Failed nodes (and those set aside after failing) grouped by step and first error
    line, the largest group first."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for line in lines:
        if has_failure_point(line.status, line.failed_step, line.error):
            first = line.error.strip().splitlines()[0] if line.error and line.error.strip() else ""
            groups[(line.failed_step or "connect", first or "no error")].append(line.node)
    return tuple(
        Signature(step, error, tuple(sorted(nodes, key=natural)))
        for (step, error), nodes in sorted(
            groups.items(), key=lambda item: (-len(item[1]), item[0])
        )
    )


def _timeline(session: Session, deployment_id: int, redact: Redactor) -> tuple[TimelineEntry, ...]:
    entries = []
    for event in session.scalars(
        select(Event).where(Event.deployment_id == deployment_id).order_by(Event.id)
    ):
        if event.kind.startswith(TIMELINE_SKIPS) and event.kind != RERUN:
            continue
        detail = ", ".join(
            f"{key}={value}"
            for key, value in sorted(event.data.items())
            if key != "params" and value not in (None, "", [], {})
        )
        if event.kind == RERUN:
            detail = f"{event.data.get('node')} (attempt {event.data.get('attempt')}): " + str(
                event.data.get("note")
            )
        entries.append(TimelineEntry(event.created_at, event.kind, event.actor, redact(detail)))
    return tuple(entries)


def _sections(
    rt: Runtime, summary: DeploymentSummary, redact: Redactor
) -> tuple[ReportSection, ...]:
    found: list[ReportSection] = []
    for sections in rt.plugins.hook.squall_report_sections(deployment=summary):
        for section in sections or ():
            found.append(
                ReportSection(
                    title=redact(section.title),
                    text=redact(section.text),
                    headers=tuple(redact(str(header)) for header in section.headers),
                    rows=tuple(tuple(redact(str(cell)) for cell in row) for row in section.rows),
                    rows_for_exports=section.rows_for_exports,
                )
            )
    return tuple(found)


# --- history: a cluster over a period, a node --------------------------------------------


def cluster_report(
    session: Session,
    cluster: str,
    since: dt.datetime,
    until: dt.datetime,
    generation: Generation,
) -> ClusterReport:
    environment = cluster_environment(session, cluster)
    rows = session.execute(
        select(
            Deployment.id,
            Deployment.type,
            Deployment.title,
            Deployment.status,
            Deployment.requester,
            Deployment.created_at,
            Deployment.started_at,
            Deployment.finished_at,
            NodeTask.node_name,
            NodeTask.status.label("task_status"),
            NodeTask.failed_step_name,
            NodeTask.started_at.label("task_started"),
            NodeTask.finished_at.label("task_finished"),
            Stage.kind,
        )
        .join(NodeTask, NodeTask.deployment_id == Deployment.id)
        .join(Stage, Stage.id == NodeTask.stage_id)
        .where(
            NodeTask.cluster_name == cluster,
            Deployment.created_at >= since,
            Deployment.created_at < until,
        )
        .order_by(Deployment.id, NodeTask.id)
    ).all()
    by_deployment: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_deployment[row.id].append(row)
    runs = _runs_in(session, list(by_deployment), cluster)
    lines = []
    for deployment_id, tasks in by_deployment.items():
        first = tasks[0]
        deployed = [task for task in tasks if task.kind == StageKind.DEPLOY]
        lines.append(
            DeploymentLine(
                deployment_id=deployment_id,
                type=first.type,
                title=first.title,
                status=first.status.value,
                requester=first.requester,
                created_at=first.created_at,
                duration=seconds(first.started_at, first.finished_at),
                nodes=len(deployed),
                succeeded=sum(1 for task in deployed if task.task_status == TaskStatus.SUCCEEDED),
                failed=sum(1 for task in deployed if task.task_status in FAILED),
                failed_runs=sum(1 for run in runs.get(deployment_id, ()) if run.status in FAILED),
                attempts=max((run.attempt for run in runs.get(deployment_id, ())), default=1),
            )
        )
    finished = [line for line in lines if DeploymentStatus(line.status).is_final]
    succeeded = sum(1 for line in finished if line.status == DeploymentStatus.SUCCEEDED)
    # Failures are counted per run, every attempt included: a node that failed and then
    # succeeded on retry still failed once. Deployments from before runs were kept count
    # their tasks' latest state.
    failed_runs = [
        (run.node_name, run.failed_step_name)
        for found in runs.values()
        for run in found
        if run.status in FAILED
    ] + [
        (row.node_name, row.failed_step_name)
        for row in rows
        if row.id not in runs and row.task_status in FAILED
    ]
    node_tasks: Counter[str] = Counter(row.node_name for row in rows)
    for found in runs.values():
        node_tasks.update(Counter(run.node_name for run in found) - node_tasks)
    # The failures' denominator, drawn as they are: every run, or where none was kept, the
    # tasks that ran (as in a node's report; a task that never ran has no run).
    node_runs: Counter[str] = Counter(
        run.node_name for found in runs.values() for run in found
    ) + Counter(
        row.node_name
        for row in rows
        if row.id not in runs and row.task_status.is_final and row.task_status not in NEVER_RAN
    )
    node_failures: Counter[str] = Counter(node for node, _ in failed_runs)
    step_failures: Counter[str] = Counter(step or "connect" for _, step in failed_runs)
    return ClusterReport(
        cluster=cluster,
        environment=environment,
        since=since,
        until=until,
        deployments=tuple(lines),
        succeeded=succeeded,
        failed=len(finished) - succeeded,
        unfinished=len(lines) - len(finished),
        success_rate=rate(succeeded, len(finished)),
        node_tasks=len(rows),
        node_failures=sum(node_failures.values()),
        failures_by_node=tuple(
            FailureCount(node, count, node_tasks[node], node_runs[node])
            for node, count in sorted(node_failures.items(), key=lambda item: (-item[1], item[0]))
        ),
        failures_by_step=tuple(
            FailureCount(step, count, count)
            for step, count in sorted(step_failures.items(), key=lambda item: (-item[1], item[0]))
        ),
        deployment_durations=durations(line.duration for line in finished),
        task_durations=durations(seconds(row.task_started, row.task_finished) for row in rows),
        generation=generation,
        with_failures=sum(1 for line in lines if line.failed or line.failed_runs),
    )


def _runs_in(session: Session, deployment_ids: list[int], cluster: str) -> dict[int, list[Any]]:
    """The kept runs of these deployments' node tasks in one cluster, by deployment."""
    found: dict[int, list[Any]] = defaultdict(list)
    if not deployment_ids:
        return found
    for row in session.execute(
        select(
            TaskAttempt.deployment_id,
            TaskAttempt.node_name,
            TaskAttempt.status,
            TaskAttempt.failed_step_name,
            TaskAttempt.attempt,
        )
        .join(NodeTask, NodeTask.id == TaskAttempt.task_id)
        .where(TaskAttempt.deployment_id.in_(deployment_ids), NodeTask.cluster_name == cluster)
        .order_by(TaskAttempt.id)
    ):
        found[row.deployment_id].append(row)
    return found


def cluster_environment(session: Session, cluster: str) -> str | None:
    """The cluster's environment; NotFound if neither the inventory nor history knows it."""
    found = session.execute(select(Cluster.environment).where(Cluster.name == cluster)).first()
    if found is not None:
        environment: str | None = found.environment
        return environment
    if session.scalar(select(NodeTask.id).where(NodeTask.cluster_name == cluster).limit(1)):
        return None
    raise NotFound(f"no cluster {cluster!r} in the inventory or in any deployment")


def node_clusters(session: Session, node: str) -> tuple[str, ...]:
    """The clusters a node is in now and was in when deployed: what its report reveals."""
    found = set(
        session.scalars(select(NodeTask.cluster_name).where(NodeTask.node_name == node).distinct())
    )
    current = session.scalar(
        select(Cluster.name).join(Node, Node.cluster_id == Cluster.id).where(Node.name == node)
    )
    if current is not None:
        found.add(current)
    if not found:
        raise NotFound(f"no node {node!r} in the inventory or in any deployment")
    return tuple(sorted(found))


def node_report(
    session: Session, rt: Runtime, node: str, until: dt.datetime, generation: Generation
) -> NodeReport:
    clusters = node_clusters(session, node)
    current = session.scalar(
        select(Cluster.name).join(Node, Node.cluster_id == Cluster.id).where(Node.name == node)
    )
    rows = session.execute(
        select(NodeTask, Deployment, Stage.name, Stage.kind)
        .join(Deployment, Deployment.id == NodeTask.deployment_id)
        .join(Stage, Stage.id == NodeTask.stage_id)
        .where(NodeTask.node_name == node, Deployment.created_at < until)
        .order_by(Deployment.created_at.desc(), NodeTask.id.desc())
    ).all()
    runs: dict[int, list[TaskAttempt]] = defaultdict(list)
    for run in session.scalars(
        select(TaskAttempt)
        .where(TaskAttempt.task_id.in_([task.id for task, *_ in rows]))
        .order_by(TaskAttempt.id.desc())
    ):
        runs[run.task_id].append(run)
    redactors: dict[int, Redactor] = {}
    history: list[NodeHistoryLine] = []
    outcomes: list[TaskStatus] = []
    """How each run ended (each task's latest state where no run was kept)."""
    failures: list[NodeFailure] = []
    last_deployed = None
    for task, deployment, stage_name, kind in rows:
        redact = redactors.get(deployment.id)
        if redact is None:
            redact = redactors[deployment.id] = deployment_redactor(rt, deployment)
        line = NodeHistoryLine(
            deployment_id=deployment.id,
            type=deployment.type,
            title=deployment.title,
            version=_version(redacted_params(deployment.params)),
            created_at=deployment.created_at,
            stage=stage_name,
            status=task.status.value,
            attempt=task.attempt,
            failed_step=task.failed_step_name,
            exit_code=task.exit_code,
            error=redact(task.error) if task.error else None,
            duration=seconds(task.started_at, task.finished_at),
        )
        history.append(line)
        if (
            last_deployed is None
            and kind == StageKind.DEPLOY
            and task.status == TaskStatus.SUCCEEDED
        ):
            last_deployed = line
        # Every failed run counts, a retried one too; tasks that never ran have no run.
        ran = task.status.is_final and task.status not in NEVER_RAN
        kept: Sequence[TaskAttempt | NodeTask] = runs.get(task.id) or ([task] if ran else [])
        outcomes += [ended.status for ended in kept]
        for ended in kept:
            if ended.status in FAILED and len(failures) < LAST_FAILURES:
                failures.append(
                    NodeFailure(
                        deployment_id=deployment.id,
                        at=ended.finished_at,
                        step=ended.failed_step_name,
                        exit_code=ended.exit_code,
                        error=redact(ended.error) if ended.error else None,
                        last_lines=tuple(redact(text) for text in ended.last_lines or ()),
                    )
                )
    failed = sum(1 for status in outcomes if status in FAILED)
    version, switched_by = _running_version(session, node, until)
    return NodeReport(
        node=node,
        cluster=current or clusters[0],
        until=until,
        history=tuple(history),
        last_deployed=last_deployed,
        failure_rate=rate(failed, len(outcomes)),
        runs=len(outcomes),
        last_failures=tuple(failures),
        durations=durations(line.duration for line in history),
        generation=generation,
        version=version,
        version_deployment=switched_by,
    )


def _running_version(
    session: Session, node: str, until: dt.datetime
) -> tuple[str | None, int | None]:
    """The release the node's `current` link points at: the last switch that moved it,
    or what it was before when the health check then switched it back."""
    found = session.execute(
        select(StepResult.data, NodeTask.deployment_id, NodeTask.failed_step_name)
        .join(NodeTask, NodeTask.id == StepResult.task_id)
        .join(Deployment, Deployment.id == NodeTask.deployment_id)
        .where(
            NodeTask.node_name == node,
            Deployment.created_at < until,
            StepResult.name == "switch",
            StepResult.status == TaskStatus.SUCCEEDED,
        )
        .order_by(StepResult.finished_at.desc(), StepResult.id.desc())
        .limit(1)
    ).first()
    if found is None or not found.data or "current" not in found.data:
        return None, None
    switched_back = found.failed_step_name == "health"
    version = found.data.get("previous") if switched_back else found.data["current"]
    return (str(version) if version else None), found.deployment_id


def _version(params: Mapping[str, Any]) -> str | None:
    """A `version` parameter, of the deployment or of the type a group rolled out."""
    for where in (params, params.get("inner_params")):
        if isinstance(where, Mapping) and where.get("version") not in (None, ""):
            return str(where["version"])
    return None
