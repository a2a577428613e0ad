"""A deployment's attempts, read back from the record: who started each, when, on which
nodes, and how every run of every node ended (its failure point, exit code and output).

Attempt 1 is the deployment itself; each retry adds one (the `deployment.retried` event
says who and when). Runs come from `task_attempts`, which is never changed, so attempt 1's
failures stay visible after attempt 2 succeeds.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from squall.core.models import Deployment, Event, NodeTask, TaskAttempt
from squall.core.status import FAILURES, TaskStatus


@dataclass(frozen=True)
class Run:
    """One node's run in one attempt, as it ended."""

    node: str
    cluster: str
    stage: str
    status: str
    attempt: int
    step: str | None
    """The step it failed at (or was running when it was interrupted)."""
    exit_code: int | None
    error: str | None
    last_lines: tuple[str, ...]
    started_at: dt.datetime | None
    finished_at: dt.datetime

    @property
    def failed(self) -> bool:
        return self.status in FAILURES

    @property
    def failure_point(self) -> str:
        """Where and how it went wrong, in a few words."""
        if self.status == TaskStatus.INTERRUPTED:
            where = f"during step {self.step}" if self.step else "before any step had started"
            partly = " (may have partly run)" if self.step else ""
            return f"interrupted {where}{partly}"
        where = f"at step {self.step}" if self.step else "before any step"
        code = f", exit code {self.exit_code}" if self.exit_code is not None else ""
        return f"{self.status} {where}{code}"


@dataclass(frozen=True)
class Attempt:
    number: int
    started_by: str
    started_at: dt.datetime | None
    nodes: tuple[str, ...]
    """The nodes it ran (all for attempt 1, those retried for later ones)."""
    runs: tuple[Run, ...]

    @property
    def counts(self) -> Mapping[str, int]:
        """Runs by how they ended, each node counted once (its last run in this attempt)."""
        last: dict[tuple[str, str], Run] = {}
        for run in self.runs:
            last[(run.node, run.stage)] = run
        return dict(Counter(run.status for run in last.values()))

    @property
    def failures(self) -> tuple[Run, ...]:
        return tuple(run for run in self.runs if run.failed)


def attempts(session: Session, deployment: Deployment) -> tuple[Attempt, ...]:
    """Every attempt of the deployment, first to last."""
    clusters = dict(
        session.execute(
            select(NodeTask.node_name, NodeTask.cluster_name).where(
                NodeTask.deployment_id == deployment.id
            )
        ).all()
    )
    runs: dict[int, list[Run]] = defaultdict(list)
    for row in session.scalars(
        select(TaskAttempt)
        .where(TaskAttempt.deployment_id == deployment.id)
        .order_by(TaskAttempt.id)
    ):
        runs[row.attempt].append(
            Run(
                node=row.node_name,
                cluster=clusters.get(row.node_name, ""),
                stage=row.stage_name,
                status=row.status.value,
                attempt=row.attempt,
                step=row.failed_step_name,
                exit_code=row.exit_code,
                error=row.error,
                last_lines=tuple(row.last_lines or ()),
                started_at=row.started_at,
                finished_at=row.finished_at,
            )
        )
    found = [
        Attempt(
            1,
            deployment.requester,
            deployment.started_at,
            tuple(sorted(set(clusters))),
            tuple(runs.get(1, ())),
        )
    ]
    for event in session.scalars(
        select(Event)
        .where(Event.deployment_id == deployment.id, Event.kind == "deployment.retried")
        .order_by(Event.id)
    ):
        number = int(event.data.get("attempt", len(found) + 1))
        found.append(
            Attempt(
                number,
                event.actor or "",
                event.created_at,
                tuple(event.data.get("nodes") or ()),
                tuple(runs.get(number, ())),
            )
        )
    return tuple(found)
