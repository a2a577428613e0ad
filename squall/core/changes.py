"""The change feed: which deployments changed, told to every Squall process that watches.

A transaction that records progress or logs marks its deployments with `touch`. When it
commits, this process's `ChangeFeed` hears of it at once; on PostgreSQL the same transaction
also sends `NOTIFY squall_changes`, which a `ChangeListener` thread in every other process
(UI processes, API servers) turns into the same in-process notice. Watchers (pages, the
API's follow stream) compare the feed's versions instead of polling the database in a tight
loop; they still look now and then, so a notice lost while a connection was down only
delays them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from sqlalchemy import event, text
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
CHANNEL = "squall_changes"
_MARKS = "squall_changed"
ANY = 0
"""The key under which every change is counted too: for watchers of all deployments."""


class ChangeFeed:
    """This process's view of changes: a counter per deployment (and one for any); and the
    subscribers told of each change this process commits (an engine, to claim new work at
    once)."""

    def __init__(self) -> None:
        self._versions: dict[int, int] = {}
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[frozenset[int]], None]] = []

    def publish(self, deployment_ids: Iterable[int]) -> None:
        ids = frozenset(deployment_ids)
        if not ids:
            return
        with self._lock:
            for deployment_id in (*ids, ANY):
                self._versions[deployment_id] = self._versions.get(deployment_id, 0) + 1

    def subscribe(self, subscriber: Callable[[frozenset[int]], None]) -> Callable[[], None]:
        """Call `subscriber` with the deployments of every change committed in this process
        from now on, in the committing thread (keep it quick); returns what unsubscribes it.
        Changes heard from other processes are not told: on PostgreSQL every worker's log
        lines come as notices, many a second, and are for watchers to count."""
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def _tell(self, ids: frozenset[int]) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber(ids)
            except Exception:  # a subscriber's fault must not fail the committer
                log.exception("a change subscriber failed")

    def version(self, deployment_id: int = ANY) -> int:
        """How many changes of this deployment (default: of any) this process heard of."""
        with self._lock:
            return self._versions.get(deployment_id, 0)

    def install(self, sessions: sessionmaker[Session]) -> None:
        """Publish the deployments a session's transaction touched once it commits."""

        @event.listens_for(sessions, "after_commit")
        def _committed(session: Session) -> None:
            marked = session.info.pop(_MARKS, None)
            if marked:
                self.publish(marked)
                self._tell(frozenset(marked))

        @event.listens_for(sessions, "after_rollback")
        def _rolled_back(session: Session) -> None:
            session.info.pop(_MARKS, None)


def touch(session: Session, deployment_ids: Iterable[int | None]) -> None:
    """Mark deployments as changed by the caller's transaction (told when it commits)."""
    ids = {deployment_id for deployment_id in deployment_ids if deployment_id}
    if not ids:
        return
    marked: set[int] = session.info.setdefault(_MARKS, set())
    new = ids - marked
    if not new:
        return
    marked.update(new)
    if session.get_bind().dialect.name == "postgresql":
        # Delivered to listeners when (and only if) the transaction commits.
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": CHANNEL, "payload": ",".join(map(str, sorted(new)))},
        )


class ChangeListener:
    """A thread holding a PostgreSQL connection that LISTENs on the change channel and hands
    every notice to a `ChangeFeed`; it reconnects (and tells everyone "look again") after the
    server restarts or the network drops."""

    def __init__(self, conninfo: str, feed: ChangeFeed, *, retry_seconds: float = 1.0) -> None:
        self.conninfo = conninfo
        self.feed = feed
        self.retry_seconds = retry_seconds
        self.connected = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="squall-listen", daemon=True)

    def start(self) -> ChangeListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.connected.set()
                    self.feed.publish({ANY})  # notices may have been missed: look again
                    while not self._stopping.is_set():
                        for notice in conn.notifies(timeout=0.5):
                            self.feed.publish(_parse(notice.payload))
            except psycopg.Error as exc:
                self.connected.clear()
                log.warning("change listener lost its connection (%s); reconnecting", exc)
                time.sleep(self.retry_seconds)


def _parse(payload: str) -> set[int]:
    return {int(part) for part in payload.split(",") if part.strip().isdigit()}
