"""Report services: a deployment's report, a cluster's over a period, a node's; their
PDF, CSV and JSON renderings; checking a copy against Squall.

Seeing a report needs `deployment.view` on what it covers: the deployment (its clusters,
environments and type), the cluster, or every cluster the node was deployed in.
`deployment_pdf` and `deployment_pdf_name` are for integrations acting as the system
itself (attaching the report to a ticket), with no person to check.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import metadata

from sqlalchemy import select
from sqlalchemy.orm import Session

from squall.core.auth import Actor, AuthTarget, authorize, is_allowed
from squall.core.errors import ValidationError
from squall.core.models import Cluster, Deployment, Node, utcnow
from squall.core.permissions import Permission
from squall.core.reports import data, exports, pdf, verify
from squall.core.reports.fingerprint import parse_moment
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
    return data.deployment_report(session, rt, deployment_id, generation or _now(actor))


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
    return data.cluster_report(session, cluster, since, until, generation or _now(actor))


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
    return data.node_report(session, rt, node, until or utcnow(), generation or _now(actor))


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
            (d.id, f"#{d.id} {d.title} ({d.status.value})") for d in visible(rt, actor, recent)
        ),
        clusters=tuple(name for name, _ in clusters),
        nodes=tuple(name for name, cluster in nodes if cluster in allowed),
    )


def render_pdf(report: Report) -> bytes:
    """The report as a PDF: a summary page (status, key figures, charts), then tables
    whose headers repeat on every page; each page's footer names who generated it and
    when, and the SHA-256 of the report's data (`squall report verify FILE` checks it)."""
    return pdf.render(report)


def render_csv(report: Report, table: str | None = None) -> str:
    """The report's main table as CSV: one row per node task for a deployment, per
    deployment for a cluster, per node task in its history for a node. Name another
    `table` (`clusters`, `stages`, `approvals`, `signatures`, `timeline`,
    `failures_by_node`, `failures_by_step`, `last_failures`, a plugin section's) to get
    that one; `render_json` holds them all. Cells a spreadsheet would run as a formula
    start with an apostrophe."""
    return exports.to_csv(report, table)


def render_json(report: Report) -> str:
    """Every table of the report, its full data and that data's SHA-256, as JSON. A
    JSON export is checked by `squall report verify` like a PDF."""
    return exports.to_json(report)


def verify_copy(session: Session, rt: Runtime, actor: Actor, content: bytes) -> verify.Verification:
    """Check a copy of a report (PDF or JSON) against Squall: is it consistent, does
    Squall compute the same data now, and does every page show what Squall renders?

    Raises ValidationError when the file is no Squall report; the permission checks
    are those of the report itself."""
    claims = verify.read_claims(content)
    recomputed = _recompute(session, rt, actor, claims)
    return verify.compare(claims, recomputed)


def _recompute(session: Session, rt: Runtime, actor: Actor, claims: verify.Claims) -> Report:
    request, generated = claims.request, claims.generated
    try:
        generation = Generation(
            parse_moment(generated["at"]), str(generated["by"]), str(generated["squall_version"])
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
        report = data.deployment_report(session, runtime, deployment_id, _now(None))
    return render_pdf(report)


def deployment_pdf_name(runtime: Runtime, deployment_id: int) -> str:
    """The file name to give that PDF: `squall-deployment-42.pdf`."""
    return f"squall-deployment-{deployment_id}.pdf"


def _cluster_target(cluster: str, environment: str | None) -> AuthTarget:
    return AuthTarget(
        "cluster", cluster, clusters=(cluster,), environments=(environment,) if environment else ()
    )


def _now(actor: Actor | None) -> Generation:
    try:
        version = metadata.version("squall")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return Generation(utcnow(), actor.name if actor else SYSTEM, version)
