"""Report services: a deployment's report, a cluster's over a period, a node's; their
PDF, CSV and JSON renderings; checking a copy against Squall.

Seeing a report needs `deployment.view` on what it covers: the deployment (its clusters,
environments and type), the cluster, or every cluster the node was deployed in.
`deployment_pdf` and `deployment_pdf_name` are for integrations acting as the system
itself (attaching the report to a ticket), with no person to check.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from squall.core import audit
from squall.core.auth import Actor, AuthTarget, authorize, is_allowed
from squall.core.errors import ValidationError
from squall.core.models import Cluster, Deployment, Event, Node, ReportCopy, utcnow
from squall.core.permissions import Permission
from squall.core.reports import data, exports, pdf, verify
from squall.core.reports.fingerprint import fingerprint, parse_moment, request_of
from squall.core.reports.model import (
    ClusterReport,
    DeploymentReport,
    Generation,
    NodeReport,
    Report,
)
from squall.core.runtime import Runtime
from squall.core.services.deployments import get, visible

SYSTEM = "Squall (system)"


def deployment_report(
    session: Session,
    rt: Runtime,
    actor: Actor,
    deployment_id: int,
    *,
    generation: Generation | None = None,
) -> DeploymentReport:
    """A deployment's report: who, what, when, parameters (secrets as `***`), approvals,
    the plan and results per stage, per cluster and per node, error signatures, the
    timeline, and the sections its type's plugin adds.

    Raises NotFound for an unknown deployment, PermissionDenied without `deployment.view`
    on it. `generation` is for checking a copy: the report as it was generated then."""
    get(session, rt, actor, deployment_id)
    generation = generation or _now(actor, _last_event(session, deployment_id))
    return data.deployment_report(session, rt, deployment_id, generation)


def cluster_report(
    session: Session,
    rt: Runtime,
    actor: Actor,
    cluster: str,
    since: dt.datetime,
    until: dt.datetime | None = None,
    *,
    generation: Generation | None = None,
) -> ClusterReport:
    """What happened on a cluster to deployments created from `since` up to `until`
    (default: now): success rate, failures by node and by step, durations.

    Raises NotFound for a cluster neither the inventory nor any deployment knows,
    ValidationError for a period that ends before it starts, PermissionDenied without
    `deployment.view` covering the cluster."""
    until = until or utcnow()
    if since.tzinfo is None or until.tzinfo is None:
        raise ValidationError("a report period needs times with a time zone (UTC)")
    if since >= until:
        raise ValidationError(f"the period starts ({since:%Y-%m-%d %H:%M}) after it ends")
    environment = data.cluster_environment(session, cluster)
    authorize(rt.plugins.hook, actor, Permission.VIEW, _cluster_target(cluster, environment))
    generation = generation or _now(actor, _last_event(session))
    return data.cluster_report(session, cluster, since, until, generation)


def node_report(
    session: Session,
    rt: Runtime,
    actor: Actor,
    node: str,
    *,
    until: dt.datetime | None = None,
    generation: Generation | None = None,
) -> NodeReport:
    """A node's deployment history (deployments created before `until`, default now),
    the last version deployed to it, its failure rate and last failures.

    Raises NotFound for a node neither the inventory nor any deployment knows,
    PermissionDenied without `deployment.view` covering every cluster it was in."""
    clusters = data.node_clusters(session, node)
    environments = tuple(
        sorted(
            {
                environment
                for environment in session.scalars(
                    select(Cluster.environment).where(Cluster.name.in_(clusters))
                )
                if environment
            }
        )
    )
    authorize(
        rt.plugins.hook,
        actor,
        Permission.VIEW,
        AuthTarget("node", node, clusters=clusters, environments=environments),
    )
    generation = generation or _now(actor, _last_event(session))
    return data.node_report(session, rt, node, until or utcnow(), generation)


@dataclass(frozen=True)
class Choices:
    """What the actor may ask a report of, for a form to offer."""

    deployments: tuple[tuple[int, str], ...]
    """Recent deployments, newest first: id and a label."""
    clusters: tuple[str, ...]
    nodes: tuple[str, ...]


def choices(session: Session, rt: Runtime, actor: Actor, *, limit: int = 200) -> Choices:
    """The deployments, clusters and nodes of the inventory the actor may report on."""
    authorize(rt.plugins.hook, actor, Permission.VIEW, AuthTarget("report", partial=True))
    recent = session.scalars(select(Deployment).order_by(Deployment.id.desc()).limit(limit)).all()
    hook = rt.plugins.hook
    clusters = [
        (name, environment)
        for name, environment in session.execute(
            select(Cluster.name, Cluster.environment).order_by(Cluster.name)
        )
        if is_allowed(hook, actor, Permission.VIEW, _cluster_target(name, environment))
    ]
    allowed = {name for name, _ in clusters}
    nodes = session.execute(
        select(Node.name, Cluster.name)
        .join(Cluster, Cluster.id == Node.cluster_id)
        .order_by(Node.name)
    ).all()
    return Choices(
        deployments=tuple(
            (d.id, f"#{d.id} {d.title} ({d.status.words})") for d in visible(rt, actor, recent)
        ),
        clusters=tuple(name for name, _ in clusters),
        nodes=tuple(name for name, cluster in nodes if cluster in allowed),
    )


def render_pdf(rt: Runtime, actor: Actor | None, report: Report, *, keep: bool = True) -> bytes:
    """The report as a PDF: a summary page (status, key figures, charts), then tables
    whose headers repeat on every page; each page's footer names who generated it and
    when, and the SHA-256 of the report's data (`squall report verify FILE` checks it).

    The copy is kept on record (`report_copies`, and the audit log) so that it still
    verifies after the deployment moves on; `keep=False` for a preview, which does not
    verify."""
    content = pdf.render(report)
    if keep:
        _issue(rt, actor, report, "pdf", content)
    return content


def render_csv(
    rt: Runtime,
    actor: Actor | None,
    report: Report,
    table: str | None = None,
    *,
    keep: bool = True,
) -> str:
    """The report's main table as CSV: one row per node task for a deployment, per
    deployment for a cluster, per node task in its history for a node. Name another
    `table` (`clusters`, `stages`, `approvals`, `signatures`, `timeline`, `attempts`,
    `attempt_failures`, `failures_by_node`, `failures_by_step`, `last_failures`, a plugin
    section's) to get that one; `render_json` holds them all. The first line (`#squall
    {...}`) names the report and its fingerprint. Cells a spreadsheet would run as a
    formula start with an apostrophe. Kept on record like a PDF."""
    content = exports.to_csv(report, table)
    if keep:
        _issue(rt, actor, report, "csv", content.encode())
    return content


def render_json(rt: Runtime, actor: Actor | None, report: Report, *, keep: bool = True) -> str:
    """Every table of the report, its full data and that data's SHA-256, as JSON. A
    JSON export is checked by `squall report verify` like a PDF. Kept on record."""
    content = exports.to_json(report)
    if keep:
        _issue(rt, actor, report, "json", content.encode())
    return content


def _issue(rt: Runtime, actor: Actor | None, report: Report, form: str, content: bytes) -> None:
    generation = report.generation
    request = request_of(report)
    copy = ReportCopy(
        form=form,
        request=request,
        data_sha256=fingerprint(report),
        file_sha256=hashlib.sha256(content).hexdigest(),
        as_of_event=generation.as_of_event,
        generated_by=generation.by,
        generated_at=generation.at,
    )
    with rt.db.write() as session:
        session.add(copy)
        audit.record(
            session,
            actor or Actor(SYSTEM, source="system"),
            "report.issued",
            _target(request),
            {
                "form": form,
                "sha256": copy.data_sha256,
                "file_sha256": copy.file_sha256,
                "as_of_event": copy.as_of_event,
            },
        )


def verify_copy(session: Session, rt: Runtime, actor: Actor, content: bytes) -> verify.Verification:
    """Check a copy of a report (PDF, JSON or CSV) against Squall: is it consistent, is it
    a copy Squall issued, as of which moment, and what happened since?

    Raises ValidationError when the file is no Squall report; the permission checks
    are those of the report itself."""
    claims = verify.read_claims(content)
    recomputed = _recompute(session, rt, actor, claims)
    issued = [
        verify.IssuedCopy(
            copy.form, copy.file_sha256, copy.as_of_event, copy.generated_by, copy.generated_at
        )
        for copy in session.scalars(
            select(ReportCopy)
            .where(ReportCopy.data_sha256 == claims.sha256)
            .order_by(ReportCopy.id)
        )
        if copy.request == claims.request
    ]
    return verify.check(claims, content, recomputed, issued, _record(session, claims))


LATER_CHANGES = ("deployment.retried", "deployment.continued", "deployment.rollback_started")
"""Events after which a deployment's report says something new."""


def _record(session: Session, claims: verify.Claims) -> verify.Record:
    request = claims.request
    as_of = int(claims.generated.get("as_of_event") or 0)
    moment = session.scalar(select(Event.created_at).where(Event.id == as_of)) if as_of else None
    if request["kind"] != "deployment":
        return verify.Record(_target(request), moment, ())
    deployment_id = int(request["deployment_id"])
    title = session.scalar(select(Deployment.title).where(Deployment.id == deployment_id))
    later = session.scalars(
        select(Event)
        .where(
            Event.deployment_id == deployment_id,
            Event.id > as_of,
            Event.kind.in_(LATER_CHANGES),
        )
        .order_by(Event.id)
    )
    since = tuple(_describe(event) for event in later) if as_of else ()
    return verify.Record(f'deployment {deployment_id} "{title}"', moment, since)


def _describe(event: Event) -> str:
    when = f"{event.created_at:%Y-%m-%d %H:%M:%S} UTC"
    if event.kind == "deployment.retried":
        return f"attempt {event.data.get('attempt')} started by {event.actor} at {when}"
    if event.kind == "deployment.continued":
        return f"failed nodes set aside by {event.actor} at {when}"
    return f"rolled back by {event.actor} at {when}"


def _target(request: dict[str, Any]) -> str:
    if request["kind"] == "deployment":
        return f"deployment {request['deployment_id']}"
    return f"{request['kind']} {request.get('cluster') or request.get('node')}"


def _last_event(session: Session, deployment_id: int | None = None) -> int:
    query = select(func.max(Event.id))
    if deployment_id is not None:
        query = query.where(Event.deployment_id == deployment_id)
    return session.scalar(query) or 0


def _recompute(session: Session, rt: Runtime, actor: Actor, claims: verify.Claims) -> Report:
    request, generated = claims.request, claims.generated
    try:
        generation = Generation(
            parse_moment(generated["at"]),
            str(generated["by"]),
            str(generated["squall_version"]),
            int(generated.get("as_of_event") or 0),
        )
        if request["kind"] == "deployment":
            return deployment_report(
                session, rt, actor, int(request["deployment_id"]), generation=generation
            )
        if request["kind"] == "cluster":
            return cluster_report(
                session,
                rt,
                actor,
                str(request["cluster"]),
                parse_moment(request["since"]),
                parse_moment(request["until"]),
                generation=generation,
            )
        return node_report(
            session,
            rt,
            actor,
            str(request["node"]),
            until=parse_moment(request["until"]),
            generation=generation,
        )
    except (KeyError, TypeError, ValueError):
        raise ValidationError(
            "not a Squall report: its request or generation is malformed"
        ) from None


# --- for integrations, acting as the system ---------------------------------------------


def deployment_pdf(runtime: Runtime, deployment_id: int) -> bytes:
    """The deployment's PDF report, generated by the system (no person's permissions are
    checked: the caller is an integration attaching it to a ticket or a channel).

    Raises NotFound for an unknown deployment."""
    with runtime.db.read() as session:
        generation = _now(None, _last_event(session, deployment_id))
        report = data.deployment_report(session, runtime, deployment_id, generation)
    return render_pdf(runtime, None, report)


def deployment_pdf_name(runtime: Runtime, deployment_id: int) -> str:
    """The file name to give that PDF: `squall-deployment-42.pdf`."""
    return f"squall-deployment-{deployment_id}.pdf"


def _cluster_target(cluster: str, environment: str | None) -> AuthTarget:
    return AuthTarget(
        "cluster", cluster, clusters=(cluster,), environments=(environment,) if environment else ()
    )


def _now(actor: Actor | None, as_of_event: int) -> Generation:
    try:
        version = metadata.version("squall")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return Generation(utcnow(), actor.name if actor else SYSTEM, version, as_of_event)
