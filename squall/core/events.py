"""Events: one row per state change, written in the same transaction as the change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session

from squall.core.changes import touch
from squall.core.models import Event, utcnow


@dataclass(frozen=True)
class EventInfo:
    """An event as plugins receive it."""

    id: int
    kind: str
    deployment_id: int | None
    task_id: int | None
    actor: str | None
    data: Mapping[str, Any]
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: Event) -> EventInfo:
        return cls(
            row.id,
            row.kind,
            row.deployment_id,
            row.task_id,
            row.actor,
            dict(row.data),
            row.created_at,
        )


@dataclass(frozen=True)
class NewEvent:
    kind: str
    deployment_id: int | None = None
    task_id: int | None = None
    actor: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


def emit(
    session: Session,
    kind: str,
    *,
    deployment_id: int | None = None,
    task_id: int | None = None,
    actor: str | None = None,
    **data: Any,
) -> None:
    emit_many(session, [NewEvent(kind, deployment_id, task_id, actor, data)])


def emit_many(session: Session, events: Sequence[NewEvent]) -> None:
    if not events:
        return
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        # Have a transaction id before the event ids: a reader then sees this transaction
        # in progress for as long as an id it took may still commit (see committed_after).
        session.execute(text("SELECT pg_current_xact_id()"))
    session.execute(
        insert(EVENTS),
        [
            {
                "kind": event.kind,
                "deployment_id": event.deployment_id,
                "task_id": event.task_id,
                "actor": event.actor,
                "data": dict(event.data),
                "created_at": now,
            }
            for event in events
        ],
    )
    touch(session, (event.deployment_id for event in events))


EVENTS: Table = Event.__table__  # type: ignore[assignment]  # a mapped class's Table
"""Events are written through the table: no per-row bookkeeping of the ORM's bulk insert."""


def committed_after(session: Session, position: int, *, limit: int) -> list[Event]:
    """Events after id `position`, in id order, up to the first missing id that may still
    be written.

    On PostgreSQL ids come from a sequence and transactions commit in any order: id 7 may
    be visible while id 6 is still being written, and reading on past 7 would skip 6 for
    good. At a gap the transactions then in progress are noted; once none of them is, the
    gap is looked at once more: still missing, it was rolled back (or deleted) and is
    passed over. No clock is involved, so a transaction may take as long as it likes.
    SQLite commits one transaction at a time: a gap there never fills."""
    rows = list(
        session.scalars(select(Event).where(Event.id > position).order_by(Event.id).limit(limit))
    )
    if session.get_bind().dialect.name != "postgresql":
        return rows
    watched: dict[int, frozenset[int]] = session.info["event_gaps"]
    expected = position + 1
    for index, row in enumerate(rows):
        if row.id != expected and not _gap_closed(session, watched, expected, row.id):
            return rows[:index]
        expected = row.id + 1
    return rows


def _gap_closed(session: Session, watched: dict[int, frozenset[int]], first: int, end: int) -> bool:
    """Whether the ids `first` … `end - 1`, missing when read, will stay missing."""
    in_progress = _transactions_in_progress(session)
    noted = watched.get(first)
    if noted is None:
        watched[first] = in_progress  # a writer of the gap, if any, is among these
        return False
    if noted & in_progress:
        return False
    # Everyone who could have been writing it has finished; had one committed, its
    # rows are visible to this (later) statement.
    filled = session.scalar(select(Event.id).where(Event.id >= first, Event.id < end).limit(1))
    if filled is not None:
        del watched[first]
        return False
    watched[first] = frozenset()  # closed: other readers pass it after the same look
    return True


def _transactions_in_progress(session: Session) -> frozenset[int]:
    snapshot = str(session.scalar(text("SELECT pg_current_snapshot()::text")))
    own = session.scalar(text("SELECT pg_current_xact_id_if_assigned()::text"))
    running = {int(xid) for xid in snapshot.split(":")[2].split(",") if xid}
    return frozenset(running - {int(own)} if own else running)
