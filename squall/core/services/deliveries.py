"""What integrations did about a deployment: each delivery's state, the ids they keep,
and handing failed deliveries back to the outbox once their cause is fixed."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from squall.core import audit
from squall.core.auth import Actor
from squall.core.errors import ValidationError
from squall.core.models import Delivery, Deployment, DestinationLink, Event, utcnow
from squall.core.outbox.order import turns
from squall.core.permissions import Permission
from squall.core.runtime import Runtime
from squall.core.services.deployments import get, get_for, visible
from squall.core.values.deliveries import DeliveriesView, DeliveryView


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
    held = {
        delivery_id: behind.deployment_id
        for destination in {row.destination for row, _ in rows if row.status == "pending"}
        for delivery_id, behind in turns(session, destination).held.items()
    }
    # Another deployment on the same ticket is named only to those who may see it.
    others = set(held.values()) - {deployment_id}
    shown = {deployment_id} | {
        found.id
        for found in visible(
            rt, actor, session.scalars(select(Deployment).where(Deployment.id.in_(others))).all()
        )
    }
    return DeliveriesView(
        deployment_id,
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
                queue=row.queue,
                held=row.id in held,
                held_behind=held[row.id] if held.get(row.id) in shown else None,
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
