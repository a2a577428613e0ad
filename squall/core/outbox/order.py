"""The turn of ordered deliveries: one goes out after every earlier one of its deployment
and of its queue (a JIRA issue two deployments share), and never past a failed one; a
failed delivery holds everything after it in both lines, and what those hold in turn,
until a person retries it or gives it up."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from squall.core.models import Delivery
from squall.core.outbox.intake import FAILED, PENDING


@dataclass(frozen=True)
class Behind:
    """The failed delivery a pending one waits behind."""

    delivery_id: int
    deployment_id: int


@dataclass(frozen=True)
class Turns:
    heads: tuple[int, ...]
    """Pending ordered deliveries whose turn it is, first made first."""
    held: dict[int, Behind]
    """Pending ordered deliveries that wait behind a failed one."""


def turns(session: Session, destination: str, now: dt.datetime | None = None) -> Turns:
    """Walk a destination's pending ordered deliveries in the order they were made. `now`:
    only heads whose attempt time has come (a head waiting out its backoff still keeps
    the ones after it waiting)."""
    failed = session.execute(
        select(Delivery.id, Delivery.deployment_id, Delivery.queue)
        .where(
            Delivery.destination == destination,
            Delivery.status == FAILED,
            Delivery.ordered.is_(True),
        )
        .order_by(Delivery.id)
    ).all()
    by_deployment: dict[int, Behind] = {}
    # An empty queue means the deployment's order only: it never enters by_queue nor
    # started_queues.
    by_queue: dict[str, Behind] = {}
    for fail in failed:
        root = Behind(fail.id, fail.deployment_id)
        by_deployment.setdefault(fail.deployment_id, root)
        if fail.queue:
            by_queue.setdefault(fail.queue, root)
    pending = session.execute(
        select(Delivery.id, Delivery.deployment_id, Delivery.queue, Delivery.next_attempt_at)
        .where(
            Delivery.destination == destination,
            Delivery.status == PENDING,
            Delivery.ordered.is_(True),
        )
        .order_by(Delivery.id)
    ).all()
    heads: list[int] = []
    held: dict[int, Behind] = {}
    started_deployments: set[int] = set()
    started_queues: set[str] = set()
    for row in pending:
        behind = by_deployment.get(row.deployment_id) or by_queue.get(row.queue)
        if behind is not None:
            held[row.id] = behind
            by_deployment.setdefault(row.deployment_id, behind)
            if row.queue:
                by_queue.setdefault(row.queue, behind)
            continue
        first = row.deployment_id not in started_deployments and row.queue not in started_queues
        if first and (now is None or row.next_attempt_at <= now):
            heads.append(row.id)
        started_deployments.add(row.deployment_id)
        if row.queue:
            started_queues.add(row.queue)
    return Turns(tuple(heads), held)
