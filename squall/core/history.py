"""A deployment's attempts, read back from the record: who started each, when, on which
nodes, and how every run of every node ended (its failure point, exit code and output).

Attempt 1 is the deployment itself; each retry adds one (the `deployment.retried` event
says who and when). Runs come from `task_attempts`, which is never changed, so attempt 1's
failures stay visible after attempt 2 succeeds.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from squall.core.models import Deployment, Event, NodeTask, TaskAttempt
from squall.core.values.history import Attempt, Run


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
