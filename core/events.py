"""Events: one row per state change, written in the same transaction as the change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from core.changes import touch
from core.models import Event, utcnow


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
    session.execute(
        insert(Event),
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


def committed_after(
    session: Session, position: int, *, limit: int, gap_seconds: float, now: dt.datetime
) -> list[Event]:
    """Events after id `position`, in id order, stopping before any that a missing id
    younger than `gap_seconds` precedes.

    On PostgreSQL ids come from a sequence and transactions commit in any order: id 7
    may be visible while id 6 is still being written. Reading on past 7 would skip 6
    for good, so a consumer waits at a young gap; a gap older than `gap_seconds` is a
    rolled-back transaction (or deleted rows) and is passed over."""
    rows = session.scalars(
        select(Event).where(Event.id > position).order_by(Event.id).limit(limit)
    ).all()
    taken: list[Event] = []
    expected = position + 1
    young = now - dt.timedelta(seconds=gap_seconds)
    for row in rows:
        if row.id != expected and row.created_at > young:
            break
        taken.append(row)
        expected = row.id + 1
    return taken
