"""Hands committed events to the `squall_on_event` hook, in order.

The event table is the outbox; a cursor row says how far delivery got. A process takes a
batch by moving the cursor with a conditional update, so two processes never deliver the
same batch.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update

from core.db import insert_or_ignore
from core.events import EventInfo
from core.models import Event, EventCursor
from core.runtime import Runtime

log = logging.getLogger(__name__)
CONSUMER = "hooks"


def deliver_events(runtime: Runtime, *, batch: int = 500) -> int:
    """Deliver the next batch of events to plugins; returns how many were delivered."""
    with runtime.db.write() as session:
        insert_or_ignore(
            session,
            EventCursor.__table__,
            [{"consumer": CONSUMER, "position": 0}],
            ["consumer"],
        )
        position = session.scalar(
            select(EventCursor.position).where(EventCursor.consumer == CONSUMER)
        )
        rows = session.scalars(
            select(Event).where(Event.id > position).order_by(Event.id).limit(batch)
        ).all()
        if not rows:
            return 0
        moved = session.scalar(
            update(EventCursor)
            .where(EventCursor.consumer == CONSUMER, EventCursor.position == position)
            .values(position=rows[-1].id)
            .returning(EventCursor.consumer)
        )
        if moved is None:  # another process took this batch
            return 0
        events = [EventInfo.from_row(row) for row in rows]
    for event in events:
        for implementation in runtime.plugins.hook.squall_on_event.get_hookimpls():
            try:
                implementation.function(
                    **{name: event for name in implementation.argnames if name == "event"}
                )
            except Exception:
                log.exception("plugin %s failed on event %s", implementation.plugin_name, event.id)
    return len(events)
