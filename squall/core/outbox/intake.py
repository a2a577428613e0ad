"""New events → delivery rows, per destination (see core.integration.Action)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from squall.core.events import EventInfo
from squall.core.integration import Action, DeploymentInfo, Destination
from squall.core.models import Delivery, Deployment, Event

PENDING, DELIVERED, FAILED, GIVEN_UP = "pending", "delivered", "failed", "given_up"
"""A failed delivery holds the later ones of its deployment and its queue (to that
destination) until it is retried (pending again) or given up by a person."""


def take_in(
    session: Session, destination: Destination, events: list[Event], now: dt.datetime
) -> None:
    """Store the deliveries these events need; one writer per destination (its lease)."""
    ids = {event.deployment_id for event in events if event.deployment_id is not None}
    if not ids:
        return
    deployments = {
        row.id: DeploymentInfo.from_row(row)
        for row in session.scalars(select(Deployment).where(Deployment.id.in_(ids)))
    }
    for row in events:
        deployment = deployments.get(row.deployment_id or 0)
        if deployment is None:
            continue
        event = EventInfo.from_row(row)
        for action in destination.actions(event, deployment):
            first = now + dt.timedelta(seconds=action.after)
            if action.every is None:
                session.add(
                    Delivery(
                        destination=destination.name,
                        deployment_id=deployment.id,
                        event_id=event.id,
                        action=action.name,
                        ordered=True,
                        queue=action.queue or "",
                        next_attempt_at=first,
                        created_at=now,
                    )
                )
                continue
            _arm_coalesced(session, destination.name, deployment.id, event.id, action, first, now)
        session.flush()


def _arm_coalesced(
    session: Session,
    destination: str,
    deployment_id: int,
    event_id: int,
    action: Action,
    first: dt.datetime,
    now: dt.datetime,
) -> None:
    """One row per deployment and action: pending again after each event, but never
    sooner than `every` seconds after it was last sent."""
    found = session.scalar(
        select(Delivery).where(
            Delivery.destination == destination,
            Delivery.deployment_id == deployment_id,
            Delivery.action == action.name,
            Delivery.ordered.is_(False),
        )
    )
    if found is None:
        session.add(
            Delivery(
                destination=destination,
                deployment_id=deployment_id,
                event_id=event_id,
                action=action.name,
                ordered=False,
                next_attempt_at=first,
                created_at=now,
            )
        )
        return
    found.event_id = event_id
    if found.status != PENDING:
        found.status = PENDING
        found.attempts = 0
        found.last_error = None
        spaced = (found.delivered_at or now) + dt.timedelta(seconds=action.every or 0)
        found.next_attempt_at = max(first, spaced)
