"""The delivery loop of a process that runs the engine: for each destination, take in
new events and send what is due, then check holds.

One process at a time works for a destination: it leases the destination's cursor row
(as `squall.core.engine.dispatch` does for hooks), renews the lease after each send, and moves
the cursor only in the transaction that stores the deliveries. A process that dies
leaves pending deliveries behind; another (or the same, restarted) sends them.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from sqlalchemy import func, or_, select, update

from squall.core.db import insert_or_ignore
from squall.core.errors import PluginError
from squall.core.events import committed_after
from squall.core.integration import Destination
from squall.core.models import Event, EventCursor, utcnow
from squall.core.outbox.holds import check_holds
from squall.core.outbox.intake import take_in
from squall.core.outbox.sending import attempt, due
from squall.core.runtime import Runtime
from squall.core.secrets import Redactor

log = logging.getLogger(__name__)
INTAKE_BATCH = 500
SENDS_PER_ROUND = 200


def registered_destinations(runtime: Runtime) -> list[Destination]:
    found: dict[str, Destination] = {}

    def register(destination: Destination) -> None:
        if destination.name in found:
            raise PluginError(f"two plugins register a destination named {destination.name!r}")
        found[destination.name] = destination

    runtime.plugins.hook.squall_register_destinations(register=register, settings=runtime.settings)
    return list(found.values())


def start_cursors(runtime: Runtime) -> None:
    """A destination met for the first time starts with the events to come: enabling
    Slack on a Squall with a history must not replay every past deployment into a
    channel (nor JIRA comment on old tickets)."""
    destinations = registered_destinations(runtime)
    if not destinations:
        return
    with runtime.db.write() as session:
        latest = session.scalar(select(func.max(Event.id))) or 0
        insert_or_ignore(
            session,
            EventCursor.__table__,
            [{"consumer": consumer_of(d), "position": latest} for d in destinations],
            ["consumer"],
        )


def consumer_of(destination: Destination) -> str:
    return f"outbox:{destination.name}"


class Outbox:
    def __init__(self, runtime: Runtime, *, holder: str = "squall") -> None:
        self.runtime = runtime
        self.holder = holder
        self.destinations = registered_destinations(runtime)
        self.gates = bool(runtime.plugins.hook.squall_gate_check.get_hookimpls())
        settings = runtime.settings
        # Tokens never reach an error shown on a page or stored in the database.
        self._redact = Redactor([secret for secret in settings.secret_values() if secret])
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def needed(self) -> bool:
        return bool(self.destinations) or self.gates

    def run_once(self) -> int:
        """One round; how many deliveries were sent or holds released."""
        done = 0
        for destination in self.destinations:
            try:
                done += self._serve(destination)
            except Exception:
                log.exception("delivering to %s failed; trying again next round", destination.name)
        if self.gates:
            try:
                done += check_holds(self.runtime)
            except Exception:
                log.exception("checking holds failed; trying again next round")
        return done

    def drain(self, timeout: float = 30.0) -> None:
        """Run rounds until nothing is due now (tests, and the CLI before it exits)."""
        deadline = time.monotonic() + timeout
        while self.run_once() and time.monotonic() < deadline:
            pass

    # --- background thread -------------------------------------------------------------

    def start(self) -> Outbox:
        if self.needed and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="squall-outbox", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        pause = self.runtime.settings.outbox.poll_seconds
        while not self._stop.is_set():
            if not self.run_once():
                self._stop.wait(pause)

    # --- one destination ---------------------------------------------------------------

    def _serve(self, destination: Destination) -> int:
        consumer = consumer_of(destination)
        if not self._lease(consumer):
            return 0  # another process delivers for it now
        try:
            self._take_in(destination, consumer)
            sent = 0
            while sent < SENDS_PER_ROUND and not self._stop.is_set():
                ids = due(self.runtime, destination.name, utcnow())
                if not ids:
                    break
                progressed = False
                for delivery_id in ids:
                    status = attempt(self.runtime, destination, delivery_id, self._redact)
                    sent += 1
                    progressed = progressed or status != "pending"
                    if not self._lease(consumer):
                        return sent
                if not progressed:
                    break  # everything due failed and waits for its next attempt
            return sent
        finally:
            self._release(consumer)

    def _take_in(self, destination: Destination, consumer: str) -> None:
        while True:
            now = utcnow()
            with self.runtime.db.write() as session:
                cursor = session.get(EventCursor, consumer)
                position = cursor.position if cursor else 0
                events = committed_after(session, position, limit=INTAKE_BATCH)
                if not events:
                    return
                take_in(session, destination, events, now)
                session.execute(
                    update(EventCursor)
                    .where(EventCursor.consumer == consumer)
                    .values(position=events[-1].id)
                )
            if len(events) < INTAKE_BATCH:
                return

    def _lease(self, consumer: str) -> bool:
        now = utcnow()
        lease = dt.timedelta(seconds=self.runtime.settings.outbox.lease_seconds)
        with self.runtime.db.write() as session:
            insert_or_ignore(
                session,
                EventCursor.__table__,
                [{"consumer": consumer, "position": 0}],
                ["consumer"],
            )
            taken = session.execute(
                update(EventCursor)
                .where(
                    EventCursor.consumer == consumer,
                    or_(
                        EventCursor.holder.is_(None),
                        EventCursor.holder == self.holder,
                        EventCursor.held_until < now,
                    ),
                )
                .values(holder=self.holder, held_until=now + lease)
            ).rowcount  # type: ignore[attr-defined]
        return bool(taken)

    def _release(self, consumer: str) -> None:
        with self.runtime.db.write() as session:
            session.execute(
                update(EventCursor)
                .where(EventCursor.consumer == consumer, EventCursor.holder == self.holder)
                .values(holder=None, held_until=None)
            )
