"""Reading the event table without skipping: ids that commit out of order on PostgreSQL,
for the plugin hooks (core.engine.dispatch) and the integrations' outbox alike."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from squall import hookimpl
from squall.core.events import EventInfo, committed_after, emit
from squall.core.models import Event
from squall.testing.harness import SquallHarness


class Listener:
    def __init__(self) -> None:
        self.kinds: list[str] = []

    @hookimpl
    def squall_on_event(self, event: EventInfo) -> None:
        self.kinds.append(event.kind)


@pytest.fixture
def listener() -> Listener:
    return Listener()


@pytest.fixture
def squall(tmp_path: Path, postgres_url: str, listener: Listener) -> Iterator[SquallHarness]:
    with SquallHarness(tmp_path / "squall", [listener], database_url=postgres_url) as harness:
        yield harness


def read(squall: SquallHarness, after: int = 0) -> list[str]:
    with squall.runtime.db.read() as session:
        return [row.kind for row in committed_after(session, after, limit=100)]


def test_an_event_committed_late_is_waited_for_not_skipped(
    squall: SquallHarness, listener: Listener
) -> None:
    with squall.runtime.db.write() as session:
        emit(session, "first")
    late = squall.runtime.db.write()
    session = late.__enter__()
    emit(session, "late")  # takes the next id; commits after the one below
    session.flush()
    with squall.runtime.db.write() as other:
        emit(other, "early")
    assert read(squall) == ["first"]
    assert squall.deliver_events() == 1
    assert listener.kinds == ["first"]
    late.__exit__(None, None, None)
    assert read(squall) == ["first", "late", "early"]
    assert squall.deliver_events() == 2
    assert listener.kinds == ["first", "late", "early"]


def test_a_slow_transaction_is_waited_for_however_long_it_takes(
    squall: SquallHarness, listener: Listener
) -> None:
    late = squall.runtime.db.write()
    session = late.__enter__()
    emit(session, "slow")
    session.flush()
    with squall.runtime.db.write() as other:
        emit(other, "quick")
    for _ in range(3):  # no clock decides: the writer is still at work
        assert read(squall) == []
        assert squall.deliver_events() == 0
        time.sleep(0.3)
    late.__exit__(None, None, None)
    assert read(squall) == ["slow", "quick"]
    assert squall.deliver_events() == 2
    assert listener.kinds == ["slow", "quick"]


def test_a_rolled_back_event_leaves_a_gap_that_is_passed_over(
    squall: SquallHarness, listener: Listener
) -> None:
    with pytest.raises(RuntimeError), squall.runtime.db.write() as session:
        emit(session, "rolled back")
        session.flush()
        raise RuntimeError("the change failed")
    with squall.runtime.db.write() as session:
        emit(session, "after")
    # The first look notes who was writing; the next sees they are gone and the id unused.
    assert read(squall) == []
    assert read(squall) == ["after"]
    assert squall.deliver_events() == 1
    assert listener.kinds == ["after"]
    with squall.runtime.db.read() as session:
        assert session.scalars(select(Event.kind)).all() == ["after"]
