"""Which process schedules: one at a time on PostgreSQL, taken over when it dies.

Reaping lost tasks, starting stages, opening gates and ending bake times are safe to run
anywhere (each is a conditional change of locked rows), but running them in every worker
process at once only makes them wait for each other. So on PostgreSQL the scheduler runs
where a session-level advisory lock is held. The lock lives as long as the connection that
took it: when the holder is killed or cut off, the server drops it and the next process
that tries takes over. On SQLite writes are serialized anyway, so every process may
schedule.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from squall.core.db import Database

log = logging.getLogger(__name__)
SCHEDULER_LOCK = 727003
"""The advisory lock's key (727001 serializes migrations, 727002 the audit chain)."""


class SchedulerLock:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._connection: Connection | None = None

    def held(self) -> bool:
        """Whether this process schedules now: the lock is (still, or newly) ours."""
        if self._db.is_sqlite:
            return True
        try:
            if self._connection is None:
                return self._try_take()
            # Still connected, so still ours (the server drops the lock with the session).
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
            return True
        except SQLAlchemyError as exc:
            log.warning("lost the scheduler lock's connection (%s); will try again", exc)
            self._drop()
            return False

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEDULER_LOCK}
            )
            self._connection.commit()
        except SQLAlchemyError:
            pass  # the session is gone, and the lock with it
        self._drop()

    def _try_take(self) -> bool:
        connection = self._db.engine.connect()
        try:
            taken = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": SCHEDULER_LOCK}
            ).scalar()
            connection.commit()
        except SQLAlchemyError:
            connection.invalidate()
            connection.close()
            raise
        if not taken:
            connection.close()
            return False
        self._connection = connection
        log.info("this process schedules deployments now")
        return True

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()
                self._connection.close()
            except SQLAlchemyError:
                pass
            self._connection = None
