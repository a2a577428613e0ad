"""Due deliveries → `Destination.send`, one at a time, outside any transaction; the
outcome is recorded right after, in one short write."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from squall.core.events import EventInfo
from squall.core.integration import DeliveryFailed, DeploymentInfo, Destination, NotYet, RetryLater
from squall.core.models import Delivery, Deployment, DestinationLink, Event, utcnow
from squall.core.outbox.context import AttemptContext
from squall.core.outbox.intake import DELIVERED, FAILED, PENDING
from squall.core.outbox.order import turns
from squall.core.runtime import Runtime
from squall.core.secrets import Redactor

log = logging.getLogger(__name__)


def due(runtime: Runtime, destination: str, now: dt.datetime) -> list[int]:
    """Deliveries to attempt now: ordered ones whose turn it is (see `order`), then
    coalesced ones whose time has come."""
    with runtime.db.read() as session:
        ordered = turns(session, destination, now).heads
        coalesced = session.scalars(
            select(Delivery.id)
            .where(
                Delivery.destination == destination,
                Delivery.status == PENDING,
                Delivery.ordered.is_(False),
                Delivery.next_attempt_at <= now,
            )
            .order_by(Delivery.id)
        ).all()
    return [*ordered, *coalesced]


def attempt(runtime: Runtime, destination: Destination, delivery_id: int, redact: Redactor) -> str:
    """Attempt one delivery; its status afterwards."""
    with runtime.db.read() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None or delivery.status != PENDING:
            return delivery.status if delivery else FAILED
        event = session.get(Event, delivery.event_id)
        deployment = session.get(Deployment, delivery.deployment_id)
        link = session.get(DestinationLink, (destination.name, delivery.deployment_id))
        if event is None or deployment is None:
            return _record(runtime, delivery_id, failed="its event or deployment was deleted")
        context = AttemptContext(
            runtime,
            destination.name,
            action=delivery.action,
            event=EventInfo.from_row(event),
            deployment=DeploymentInfo.from_row(deployment),
            attempts=delivery.attempts,
            ambiguous=delivery.ambiguous,
            link=link.data if link else {},
        )
        attempts = delivery.attempts
    settings = runtime.settings.outbox
    try:
        destination.send(context)
    except RetryLater as exc:
        wait = exc.after
        if wait is None:
            wait = min(settings.backoff_seconds * 2**attempts, settings.backoff_max_seconds)
        return _record(
            runtime, delivery_id, retry=redact(str(exc)), wait=wait, ambiguous=exc.ambiguous
        )
    except DeliveryFailed as exc:
        return _record(runtime, delivery_id, failed=redact(str(exc)))
    except NotYet as exc:
        return _record(runtime, delivery_id, waiting=redact(str(exc)), wait=settings.poll_seconds)
    except Exception as exc:  # a bug in the plugin: keep the delivery, say what broke
        log.exception("%s failed on delivery %s", destination.name, delivery_id)
        wait = min(settings.backoff_seconds * 2**attempts, settings.backoff_max_seconds)
        message = redact(f"{type(exc).__name__}: {exc}")
        return _record(runtime, delivery_id, retry=message, wait=wait, ambiguous=True)
    return _record(runtime, delivery_id)


def _record(
    runtime: Runtime,
    delivery_id: int,
    *,
    retry: str | None = None,
    failed: str | None = None,
    waiting: str | None = None,
    wait: float = 0.0,
    ambiguous: bool = False,
) -> str:
    now = utcnow()
    with runtime.db.write() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            return FAILED
        if waiting is not None:
            delivery.last_error = waiting
            delivery.next_attempt_at = now + dt.timedelta(seconds=wait)
            return delivery.status
        delivery.attempts += 1
        if failed is not None:
            delivery.status = FAILED
            delivery.last_error = failed
        elif retry is not None:
            delivery.last_error = retry
            delivery.ambiguous = delivery.ambiguous or ambiguous
            delivery.next_attempt_at = now + dt.timedelta(seconds=wait)
        else:
            delivery.status = DELIVERED
            delivery.delivered_at = now
            delivery.last_error = None
            delivery.ambiguous = False
        return delivery.status
