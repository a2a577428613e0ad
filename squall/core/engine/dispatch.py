"""Hands committed events to the `squall_on_event` hook, in order, at least once.

The event table is the outbox; a cursor row says how far delivery got. A process takes
the next batch by leasing the cursor (a conditional update), delivers it, then moves the
cursor on. If it dies in between, the lease runs out and another process delivers the
batch again: an event may arrive twice, never not at all. Reading stops at a gap in the
ids that may still fill (see `squall.core.events.committed_after`), so no event is skipped.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import or_, select, update

from squall.core.db import insert_or_ignore
from squall.core.events import EventInfo, committed_after
from squall.core.models import Event, EventCursor, utcnow
from squall.core.runtime import Runtime

log = logging.getLogger(__name__)
CONSUMER = "hooks"
LEASE = dt.timedelta(seconds=60)


def deliver_events(runtime: Runtime, *, holder: str = "squall", batch: int = 500) -> int:
    """Deliver the next batch of events to plugins; returns how many were delivered."""
    implementations = runtime.plugins.hook.squall_on_event.get_hookimpls()
    if not implementations or not _undelivered(runtime):
        return 0  # nothing to do: no write transaction
    now = utcnow()
    with runtime.db.write() as session:
        insert_or_ignore(
            session, EventCursor.__table__, [{"consumer": CONSUMER, "position": 0}], ["consumer"]
        )
        position = session.scalar(
            update(EventCursor)
            .where(
                EventCursor.consumer == CONSUMER,
                or_(
                    EventCursor.holder.is_(None),
                    EventCursor.holder == holder,
                    EventCursor.held_until < now,
                ),
            )
            .values(holder=holder, held_until=now + LEASE)
            .returning(EventCursor.position)
        )
        if position is None:
            return 0  # another process is delivering
        rows = committed_after(session, position, limit=batch)
        events = [EventInfo.from_row(row) for row in rows]
    for event in events:
        # Each implementation on its own: one plugin's failure must not stop the others.
        for implementation in implementations:
            try:
                implementation.function(
                    **{name: event for name in implementation.argnames if name == "event"}
                )
            except Exception:
                log.exception("plugin %s failed on event %s", implementation.plugin_name, event.id)
    with runtime.db.write() as session:
        session.execute(
            update(EventCursor)
            .where(EventCursor.consumer == CONSUMER, EventCursor.holder == holder)
            .values(position=events[-1].id if events else position, holder=None, held_until=None)
        )
    return len(events)


def _undelivered(runtime: Runtime) -> bool:
    with runtime.db.read() as session:
        position = session.scalar(
            select(EventCursor.position).where(EventCursor.consumer == CONSUMER)
        )
        return (
            session.scalar(select(Event.id).where(Event.id > (position or 0)).limit(1)) is not None
        )
