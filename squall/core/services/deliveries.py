"""What integrations did about a deployment: each delivery's state, the ids they keep,
and handing failed deliveries back to the outbox once their cause is fixed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from squall.core import audit
from squall.core.auth import Actor
from squall.core.errors import ValidationError
from squall.core.models import Delivery, DestinationLink, Event, utcnow
from squall.core.permissions import Permission
from squall.core.runtime import Runtime
from squall.core.services.deployments import get, get_for


@dataclass(frozen=True)
class DeliveryView:
    id: int
    destination: str
    action: str
    event: str
    status: str
    """delivered, pending, failed or given_up."""
    attempts: int
    error: str | None
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    ordered: bool = True
    """Goes out in order with the deployment's other ordered deliveries (a status card,
    edited in place, does not)."""


@dataclass(frozen=True)
class DeliveriesView:
    deliveries: tuple[DeliveryView, ...]
    links: Mapping[str, Mapping[str, Any]]
    """Destination → what it knows the deployment by (a JIRA key, a Slack channel)."""

    def count(self, status: str) -> int:
        return sum(1 for delivery in self.deliveries if delivery.status == status)

    def held(self) -> dict[str, int]:
        """Per destination, the pending deliveries waiting behind a failed one (they go
        out in order once it is retried or given up)."""
        blocked = {d.destination for d in self.deliveries if d.status == "failed" and d.ordered}
        found: dict[str, int] = {}
        for delivery in self.deliveries:
            if (
                delivery.destination in blocked
                and delivery.status == "pending"
                and delivery.ordered
            ):
                found[delivery.destination] = found.get(delivery.destination, 0) + 1
        return found


def deliveries(session: Session, rt: Runtime, actor: Actor, deployment_id: int) -> DeliveriesView:
    get(session, rt, actor, deployment_id)
    rows = session.execute(
        select(Delivery, Event.kind)
        .join(Event, Event.id == Delivery.event_id)
        .where(Delivery.deployment_id == deployment_id)
        .order_by(Delivery.destination, Delivery.id)
    ).all()
    links = session.scalars(
        select(DestinationLink).where(DestinationLink.deployment_id == deployment_id)
    ).all()
    return DeliveriesView(
        tuple(
            DeliveryView(
                id=row.id,
                destination=row.destination,
                action=row.action,
                event=kind,
                status=row.status,
                attempts=row.attempts,
                error=row.last_error,
                next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
                delivered_at=row.delivered_at,
                ordered=row.ordered,
            )
            for row, kind in rows
        ),
        {link.destination: dict(link.data) for link in links},
    )


def retry_failed(session: Session, rt: Runtime, actor: Actor, deployment_id: int) -> int:
    """Try the failed deliveries of a deployment again (after fixing a token, say)."""
    get_for(session, rt, actor, deployment_id, Permission.RETRY)
    retried = session.scalars(
        update(Delivery)
        .where(Delivery.deployment_id == deployment_id, Delivery.status == "failed")
        .values(status="pending", attempts=0, next_attempt_at=utcnow(), ambiguous=True)
        .returning(Delivery.id)
    ).all()
    if not retried:
        raise ValidationError(f"deployment {deployment_id} has no failed delivery to retry")
    audit.record(
        session,
        actor,
        "deployment.retry_deliveries",
        f"deployment {deployment_id}",
        {"deliveries": len(retried)},
    )
    return len(retried)


def give_up_failed(session: Session, rt: Runtime, actor: Actor, deployment_id: int) -> int:
    """Give up a deployment's failed deliveries, so the later ones they hold go out."""
    get_for(session, rt, actor, deployment_id, Permission.RETRY)
    given_up = session.scalars(
        update(Delivery)
        .where(Delivery.deployment_id == deployment_id, Delivery.status == "failed")
        .values(status="given_up")
        .returning(Delivery.id)
    ).all()
    if not given_up:
        raise ValidationError(f"deployment {deployment_id} has no failed delivery to give up")
    audit.record(
        session,
        actor,
        "deployment.give_up_deliveries",
        f"deployment {deployment_id}",
        {"deliveries": len(given_up)},
    )
    return len(given_up)
