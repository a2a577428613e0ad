"""A deployment as people and scripts see it: stages, counts, failures, history, log pages
(made by `squall.core.services.views`)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from squall.core.readmodel import DeploymentRecord
from squall.core.values.history import Attempt


@dataclass(frozen=True)
class StageProgress:
    name: str
    kind: str
    status: str
    total: int
    counts: Mapping[str, int]
    """Tasks by status; `queued` counts pending tasks whose node another deployment holds."""
    clusters: Mapping[str, Mapping[str, int]]
    """The same counts per cluster: the blast radius, and where it is going wrong."""
    gate: bool
    approvals: int
    approvals_required: int
    bake_seconds: float
    bake_until: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @property
    def done(self) -> int:
        return sum(self.counts.get(status, 0) for status in FINISHED)

    @property
    def never_ran(self) -> int:
        """Nodes that will not run: skipped, or not started before a cancel."""
        return sum(self.counts.get(status, 0) for status in NEVER_RAN)

    @property
    def remaining(self) -> int:
        return self.total - self.done - self.never_ran - self.counts.get("running", 0)

    @property
    def outcome(self) -> str:
        """Its status named for what happened, as people read it: a stage that went on
        without the nodes set aside succeeded with exclusions, not plainly."""
        if self.status == "succeeded" and self.counts.get("excluded"):
            return "succeeded_with_exclusions"
        return self.status


FINISHED = (
    "succeeded",
    "failed",
    "inconclusive",
    "cancelled",
    "interrupted",
    "excluded",
)
"""Task outcomes of nodes that ran and ended."""


NEVER_RAN = ("skipped", "not_started")


@dataclass(frozen=True)
class FailurePoint:
    node: str
    cluster: str
    stage: str
    status: str
    attempt: int
    step: str | None
    exit_code: int | None
    error: str | None
    last_lines: tuple[str, ...]
    finished_at: dt.datetime | None


@dataclass(frozen=True)
class Rerun:
    """A step that was running when its worker stopped and ran again: it may have run twice."""

    node: str
    step: str
    attempt: int
    at: dt.datetime


@dataclass(frozen=True)
class ApprovalView:
    stage: str
    actor: str
    at: dt.datetime
    comment: str | None


@dataclass(frozen=True, kw_only=True)
class DeploymentView(DeploymentRecord):
    """A deployment in detail: its stages' progress, failure points and approvals."""

    params: Mapping[str, Any]
    """Secrets appear as `***`."""
    stages: tuple[StageProgress, ...]
    failures: tuple[FailurePoint, ...]
    """Nodes that failed, could not decide, or failed and were set aside (`excluded`)."""
    approvals: tuple[ApprovalView, ...]
    waiting_for: str | None
    """What a person must do for it to go on (promote a gate, resume), if anything."""
    attempts: tuple[Attempt, ...] = ()
    """Every attempt, first to last, with how each node's run ended: history is kept."""
    reruns: tuple[Rerun, ...] = ()
    """Steps that ran again after their worker stopped mid-step, oldest first."""

    @property
    def counts(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for stage in self.stages:
            total.update(stage.counts)
        return total

    @property
    def node_count(self) -> int:
        """Nodes the deployment deploys (health checks and rollbacks come back to them)."""
        return sum(stage.total for stage in self.stages if stage.kind == "deploy")

    @property
    def nodes_done(self) -> int:
        return sum(stage.done for stage in self.stages if stage.kind == "deploy")

    @property
    def nodes_never_ran(self) -> int:
        return sum(stage.never_ran for stage in self.stages if stage.kind == "deploy")

    @property
    def nodes_excluded(self) -> int:
        """Nodes that failed and were set aside (their health checks with them)."""
        return sum(
            stage.counts.get("excluded", 0) for stage in self.stages if stage.kind == "deploy"
        )

    @property
    def current_stage(self) -> StageProgress | None:
        """The stage being worked on or waited for; the last one when all are done."""
        for stage in self.stages:
            if stage.status not in ("succeeded", "failed", "skipped", "cancelled"):
                return stage
        return self.stages[-1] if self.stages else None


@dataclass(frozen=True)
class LogEntry:
    id: int
    node: str
    attempt: int
    step: int | None
    stream: str
    at: dt.datetime
    text: str


@dataclass(frozen=True)
class LogChunk:
    """One page of a deployment's log, for scripts that follow it."""

    entries: tuple[LogEntry, ...]
    cursor: int
    """Pass it back as `after` for the lines that follow (the last line's id here)."""
    more: bool
    """More lines are stored already: ask again at once."""
    status: str
    finished: bool
    """The deployment is final: once `more` is false too, nothing else will come."""
