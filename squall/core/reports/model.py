"""What a report holds: frozen values the PDF, the CSV and JSON exports and the console
all render. Everything here is data Squall can compute again from its database, except
`Generation`, which says when and for whom a copy was made (see `squall.core.reports.fingerprint`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from squall.core.reporting import ReportSection


@dataclass(frozen=True)
class Generation:
    """Who had a copy made, and when: printed on every page, left out of the fingerprint."""

    at: dt.datetime
    by: str
    squall_version: str
    as_of_event: int = 0
    """The last event the report covers: the record as of that moment. 0 for copies made
    before Squall kept the copies it issued."""


@dataclass(frozen=True)
class Durations:
    """Seconds, over the node tasks (or deployments) that finished; None when none did."""

    count: int
    mean: float | None
    median: float | None
    p95: float | None
    max: float | None


# --- one deployment ---------------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalLine:
    stage: str
    approver: str
    at: dt.datetime
    comment: str | None


@dataclass(frozen=True)
class StageLine:
    """One stage (phase, wave, health check, rollback): what was planned, what happened."""

    position: int
    name: str
    kind: str
    status: str
    nodes: int
    succeeded: int
    failed: int
    skipped: int
    other: int
    """Cancelled, interrupted, excluded, inconclusive, pending or running."""
    parallelism: int
    max_failures: str | None
    gate: bool
    approvals_required: int
    bake_seconds: float
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


@dataclass(frozen=True)
class ClusterLine:
    cluster: str
    nodes: int
    succeeded: int
    failed: int
    skipped: int
    other: int
    durations: Durations


@dataclass(frozen=True)
class StepCell:
    name: str
    status: str
    exit_code: int | None


@dataclass(frozen=True)
class NodeLine:
    """One node task, its latest attempt."""

    node: str
    cluster: str
    stage: str
    stage_kind: str
    """`deploy`, `check` (a health check of deployed nodes) or `rollback`."""
    status: str
    attempt: int
    steps: tuple[StepCell, ...]
    failed_step: str | None
    exit_code: int | None
    error: str | None
    duration: float | None
    last_lines: tuple[str, ...]
    """The end of its output, kept for failures only."""
    address: str | None = None
    """How it was reached: `host` or `host:port` (the port when not 22)."""
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None


@dataclass(frozen=True)
class Signature:
    """Nodes that failed the same way: at one step, with one first error line."""

    step: str
    error: str
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    kind: str
    actor: str | None
    detail: str


@dataclass(frozen=True)
class RunLine:
    """One node's run that did not succeed, in one attempt: kept after a retry."""

    node: str
    cluster: str
    stage: str
    status: str
    failure_point: str
    """`failed at step write, exit code 1`, `interrupted during step prepare (may have
    partly run)`."""
    exit_code: int | None
    error: str | None
    last_lines: tuple[str, ...]
    finished_at: dt.datetime


@dataclass(frozen=True)
class AttemptLine:
    """One attempt: attempt 1 is the deployment, each retry adds one."""

    number: int
    started_by: str
    started_at: dt.datetime | None
    nodes: int
    """Nodes it ran: all for attempt 1, those retried for later ones."""
    counts: Mapping[str, int]
    """How its node runs ended."""
    failures: tuple[RunLine, ...]


@dataclass(frozen=True)
class RollbackLine:
    """The deployment was rolled back: by whom, when, and what was restored."""

    by: str
    at: dt.datetime
    nodes: int
    restored: int
    """Nodes whose rollback succeeded."""
    failed: int
    stages: tuple[str, ...]
    """The rollback stages, each undoing one deploy stage."""


@dataclass(frozen=True)
class DeploymentReport:
    deployment_id: int
    type: str
    title: str
    status: str
    requester: str
    ticket: str | None
    target: str
    attempt: int
    params: Mapping[str, Any]
    """Secrets appear as `***`."""
    options: Mapping[str, Any]
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    approvals: tuple[ApprovalLine, ...]
    stages: tuple[StageLine, ...]
    clusters: tuple[ClusterLine, ...]
    nodes: tuple[NodeLine, ...]
    signatures: tuple[Signature, ...]
    timeline: tuple[TimelineEntry, ...]
    sections: tuple[ReportSection, ...]
    """What the deployment type's plugin adds (file diffs, versions before and after)."""
    durations: Durations
    generation: Generation
    attempts: tuple[AttemptLine, ...] = ()
    """Every attempt, with the failures of each (history is never overwritten)."""
    rollback: RollbackLine | None = None
    environments: tuple[str, ...] = ()
    """The environments of the nodes it targets."""

    @property
    def had_failures(self) -> bool:
        """A node failed in some attempt, even if a retry then succeeded."""
        return any(attempt.failures for attempt in self.attempts)

    @property
    def counts(self) -> dict[str, int]:
        """Nodes by the status of their deploy task (health checks and rollbacks apart)."""
        totals: dict[str, int] = {}
        for line in self.nodes:
            if line.stage_kind == "deploy":
                totals[line.status] = totals.get(line.status, 0) + 1
        return totals


# --- a cluster over a period ------------------------------------------------------------


@dataclass(frozen=True)
class DeploymentLine:
    """A deployment as one cluster saw it: its own status, this cluster's node tasks."""

    deployment_id: int
    type: str
    title: str
    status: str
    requester: str
    created_at: dt.datetime
    duration: float | None
    nodes: int
    succeeded: int
    failed: int
    failed_runs: int = 0
    """Node runs that failed in any attempt (a retry does not erase them)."""
    attempts: int = 1


@dataclass(frozen=True)
class FailureCount:
    name: str
    """A node, or a step."""
    failures: int
    tasks: int
    """Node tasks it took part in (for a step: the failures are all that is counted)."""
    runs: int = 0
    """A node's runs that ended, every attempt of a retried task included, as its failures
    are counted: the failure rate is failures / runs."""


@dataclass(frozen=True)
class ClusterReport:
    cluster: str
    environment: str | None
    since: dt.datetime
    until: dt.datetime
    deployments: tuple[DeploymentLine, ...]
    succeeded: int
    failed: int
    """Deployments that finished without plainly succeeding: failed, cancelled, rolled back
    or succeeded with exclusions (the PDF names each; every line carries its status)."""
    unfinished: int
    success_rate: float | None
    """Succeeded / finished deployments, None when none finished."""
    node_tasks: int
    node_failures: int
    failures_by_node: tuple[FailureCount, ...]
    """Most failures first: the nodes that fail most."""
    failures_by_step: tuple[FailureCount, ...]
    deployment_durations: Durations
    task_durations: Durations
    generation: Generation
    with_failures: int = 0
    """Deployments with a failed node run in any attempt, retried successfully or not."""


# --- one node ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeHistoryLine:
    deployment_id: int
    type: str
    title: str
    version: str | None
    created_at: dt.datetime
    stage: str
    status: str
    attempt: int
    failed_step: str | None
    exit_code: int | None
    error: str | None
    duration: float | None


@dataclass(frozen=True)
class NodeFailure:
    deployment_id: int
    at: dt.datetime | None
    step: str | None
    exit_code: int | None
    error: str | None
    last_lines: tuple[str, ...]


@dataclass(frozen=True)
class NodeReport:
    node: str
    cluster: str
    until: dt.datetime
    history: tuple[NodeHistoryLine, ...]
    """Newest first."""
    last_deployed: NodeHistoryLine | None
    """The latest deploy task that succeeded on it."""
    failure_rate: float | None
    """Failed / ended runs (every attempt; tasks that never ran have none), None when none
    ended."""
    last_failures: tuple[NodeFailure, ...]
    durations: Durations
    generation: Generation
    version: str | None = None
    """The release it runs: where the last switch of a single_instance deployment (or
    its rollback) left it; None when no deployment switched it."""
    version_deployment: int | None = None
    """The deployment that made that switch."""
    runs: int = 0
    """Its runs that ended: the failure rate's denominator."""


Report = DeploymentReport | ClusterReport | NodeReport
