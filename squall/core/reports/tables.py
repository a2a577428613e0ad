"""A report as named tables of plain values: what CSV and JSON exports write, one shape
for every format (the PDF lays the same rows out with its own column choices)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from squall.core.reports.model import (
    ClusterReport,
    DeploymentReport,
    Durations,
    NodeReport,
    Report,
    StepCell,
)

Cell = str | int | float | None


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


MAIN_TABLE = {"deployment": "nodes", "cluster": "deployments", "node": "history"}
"""The table `render_csv` writes when none is named: one row per node, deployment, task."""


def tables(report: Report) -> dict[str, Table]:
    if isinstance(report, DeploymentReport):
        found = _deployment_tables(report)
    elif isinstance(report, ClusterReport):
        found = _cluster_tables(report)
    else:
        found = _node_tables(report)
    return {table.name: table for table in found}


def steps_text(steps: tuple[StepCell, ...]) -> str:
    """`write=0 validate=1`: each step with its exit code (or its status when it had none)."""
    return " ".join(
        f"{step.name}={step.exit_code if step.exit_code is not None else step.status}"
        for step in steps
    )


def moment(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value else None


def iso(value: dt.datetime | None) -> str | None:
    """A time in the exports: ISO 8601 with its offset, so a spreadsheet knows the zone."""
    return value.astimezone(dt.UTC).isoformat(timespec="seconds") if value else None


def duration_cells(figures: Durations) -> tuple[Cell, ...]:
    return (figures.median, figures.p95, figures.max)


def _deployment_tables(report: DeploymentReport) -> list[Table]:
    found = [
        Table(
            "nodes",
            "Nodes",
            (
                "node",
                "cluster",
                "address",
                "stage",
                "status",
                "attempt",
                "steps",
                "failed_step",
                "exit_code",
                "error",
                "started_at",
                "finished_at",
                "duration_s",
                "last_lines",
            ),
            tuple(
                (
                    line.node,
                    line.cluster,
                    line.address,
                    line.stage,
                    line.status,
                    line.attempt,
                    steps_text(line.steps),
                    line.failed_step,
                    line.exit_code,
                    line.error,
                    iso(line.started_at),
                    iso(line.finished_at),
                    line.duration,
                    "\n".join(line.last_lines) or None,
                )
                for line in report.nodes
            ),
        ),
        Table(
            "clusters",
            "Clusters",
            (
                "cluster",
                "nodes",
                "succeeded",
                "failed",
                "skipped",
                "other",
                "median_s",
                "p95_s",
                "max_s",
            ),
            tuple(
                (
                    c.cluster,
                    c.nodes,
                    c.succeeded,
                    c.failed,
                    c.skipped,
                    c.other,
                    *duration_cells(c.durations),
                )
                for c in report.clusters
            ),
        ),
        Table(
            "stages",
            "Stages",
            (
                "position",
                "stage",
                "kind",
                "status",
                "nodes",
                "succeeded",
                "failed",
                "skipped",
                "other",
                "parallelism",
                "max_failures",
                "gate",
                "started_at",
                "finished_at",
            ),
            tuple(
                (
                    s.position + 1,
                    s.name,
                    s.kind,
                    s.status,
                    s.nodes,
                    s.succeeded,
                    s.failed,
                    s.skipped,
                    s.other,
                    s.parallelism,
                    s.max_failures,
                    f"{s.approvals_required} approval(s)" if s.gate else None,
                    iso(s.started_at),
                    iso(s.finished_at),
                )
                for s in report.stages
            ),
        ),
        Table(
            "approvals",
            "Approvals",
            ("stage", "approver", "at", "comment"),
            tuple((a.stage, a.approver, iso(a.at), a.comment) for a in report.approvals),
        ),
        Table(
            "signatures",
            "Error signatures",
            ("step", "error", "count", "nodes"),
            tuple((s.step, s.error, len(s.nodes), " ".join(s.nodes)) for s in report.signatures),
        ),
        Table(
            "timeline",
            "Timeline",
            ("at", "event", "actor", "detail"),
            tuple((iso(e.at), e.kind, e.actor, e.detail) for e in report.timeline),
        ),
        Table(
            "attempts",
            "Attempts",
            ("attempt", "started_by", "started_at", "nodes", "outcome"),
            tuple(
                (
                    a.number,
                    a.started_by,
                    iso(a.started_at),
                    a.nodes,
                    " ".join(f"{status}={count}" for status, count in a.counts.items()),
                )
                for a in report.attempts
            ),
        ),
        Table(
            "attempt_failures",
            "Failure points of every attempt",
            (
                "attempt",
                "node",
                "cluster",
                "stage",
                "status",
                "failure_point",
                "exit_code",
                "error",
                "finished_at",
                "last_lines",
            ),
            tuple(
                (
                    a.number,
                    r.node,
                    r.cluster,
                    r.stage,
                    r.status,
                    r.failure_point,
                    r.exit_code,
                    r.error,
                    iso(r.finished_at),
                    "\n".join(r.last_lines) or None,
                )
                for a in report.attempts
                for r in a.failures
            ),
        ),
    ]
    for section in report.sections:
        if section.rows:
            found.append(Table(_slug(section.title), section.title, section.headers, section.rows))
    return found


def _cluster_tables(report: ClusterReport) -> list[Table]:
    return [
        Table(
            "deployments",
            "Deployments",
            (
                "deployment",
                "type",
                "title",
                "status",
                "requester",
                "created_at",
                "duration_s",
                "nodes",
                "succeeded",
                "failed",
                "attempts",
                "failed_runs",
            ),
            tuple(
                (
                    d.deployment_id,
                    d.type,
                    d.title,
                    d.status,
                    d.requester,
                    iso(d.created_at),
                    d.duration,
                    d.nodes,
                    d.succeeded,
                    d.failed,
                    d.attempts,
                    d.failed_runs,
                )
                for d in report.deployments
            ),
        ),
        Table(
            "failures_by_node",
            "Failures by node",
            ("node", "failures", "tasks", "runs"),
            tuple((f.name, f.failures, f.tasks, f.runs) for f in report.failures_by_node),
        ),
        Table(
            "failures_by_step",
            "Failures by step",
            ("step", "failures"),
            tuple((f.name, f.failures) for f in report.failures_by_step),
        ),
    ]


def _node_tables(report: NodeReport) -> list[Table]:
    return [
        Table(
            "history",
            "Deployment history",
            (
                "deployment",
                "type",
                "title",
                "version",
                "created_at",
                "stage",
                "status",
                "attempt",
                "failed_step",
                "exit_code",
                "error",
                "duration_s",
            ),
            tuple(
                (
                    h.deployment_id,
                    h.type,
                    h.title,
                    h.version,
                    iso(h.created_at),
                    h.stage,
                    h.status,
                    h.attempt,
                    h.failed_step,
                    h.exit_code,
                    h.error,
                    h.duration,
                )
                for h in report.history
            ),
        ),
        Table(
            "last_failures",
            "Last failures",
            ("deployment", "at", "step", "exit_code", "error", "last_lines"),
            tuple(
                (
                    f.deployment_id,
                    iso(f.at),
                    f.step,
                    f.exit_code,
                    f.error,
                    "\n".join(f.last_lines) or None,
                )
                for f in report.last_failures
            ),
        ),
    ]


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_") or "section"
