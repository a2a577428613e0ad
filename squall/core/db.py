"""The one place that owns the database engine, sessions and migrations.

SQLite (WAL) is the default; PostgreSQL is selected by URL. Writes go through
`Database.write()`, a transaction that on SQLite starts with `BEGIN IMMEDIATE` so two
processes sharing the file never interleave a read and a write, and that threads of one
process take in turn (SQLite has one writer anyway; queueing in Python is faster than
SQLite's sleeping busy handler). Reads use `Database.read()` and never block writers.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from squall.core.changes import ChangeFeed, ChangeListener

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA_REVISION = "0009"
"""The newest migration; a test keeps it equal to Alembic's head."""


class Database:
    def __init__(self, url: str, *, pool_size: int = 20, audit_key: bytes = b"") -> None:
        """`audit_key` keys the audit log's hash chain (see core.audit); every session
        carries it, so whoever writes a record signs it."""
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self._write_lock = threading.RLock() if self.is_sqlite else None
        if self.is_sqlite:
            _create_private(self.url.database)
            self.engine = _sqlite_engine(url, pool_size)
            self.read_engine = _sqlite_engine(url, pool_size, immediate=False)
        else:
            self.engine = create_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
            self.read_engine = self.engine
        # Shared by every session of this database (a session's info is a shallow copy):
        # the gaps in event ids this process is watching (see core.events).
        info: dict[str, Any] = {"audit_key": audit_key, "event_gaps": {}}
        self._writer = sessionmaker(self.engine, expire_on_commit=False, info=info)
        self._reader = sessionmaker(self.read_engine, expire_on_commit=False, info=info)
        self.changes = ChangeFeed()
        self.changes.install(self._writer)
        self._listener: ChangeListener | None = None

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction that changes state; committed on success, rolled back on error."""
        lock = self._write_lock or contextlib.nullcontext()
        with lock, self._writer.begin() as session:
            yield session

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only view; anything written here is discarded when it closes."""
        with self._reader() as session:
            yield session

    def migrate(self) -> None:
        """Bring the schema to the newest revision; safe when several processes start at once."""
        if self.revision() == SCHEMA_REVISION:
            return  # the common case, without loading Alembic
        from alembic import command
        from alembic.config import Config

        with self._migration_lock():
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            with self.engine.connect() as connection:
                raw = connection.connection.driver_connection if self.is_sqlite else None
                if raw is not None:
                    # A batch migration copies a table and drops the old one; with foreign
                    # keys on, SQLite would cascade that drop to every row referring to it.
                    # (Outside a transaction: inside one, SQLite ignores this pragma.)
                    raw.execute("PRAGMA foreign_keys=OFF")
                try:
                    with connection.begin():
                        config.attributes["connection"] = connection
                        command.upgrade(config, "head")
                        if raw is not None:
                            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                            if broken:
                                raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")
                finally:
                    if raw is not None:
                        raw.execute("PRAGMA foreign_keys=ON")

    def revision(self) -> str | None:
        """The schema's current migration, or None for an empty database."""
        with self.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            found = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            connection.rollback()
            return str(found) if found is not None else None

    def listen(self, wait: float = 5.0) -> None:
        """Hear of changes other processes commit (PostgreSQL's LISTEN/NOTIFY); on SQLite
        this process's own changes are all there is to hear, and watchers also poll.
        Returns once listening, or after `wait` seconds (it keeps trying meanwhile)."""
        if self.is_sqlite or self._listener is not None:
            return
        conninfo = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._listener = ChangeListener(conninfo, self.changes).start()
        self._listener.connected.wait(wait)

    def dispose(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.is_sqlite:
            database = self.url.database
            if not database or database == ":memory:":
                yield
                return
            lock_path = Path(database).with_suffix(".migrate.lock")
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            with lock_path.open("w") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                yield
        else:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(727001)"))
                try:
                    yield
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(727001)"))
                    connection.commit()


def _sqlite_engine(url: str, pool_size: int, *, immediate: bool = True) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 60},
        pool_size=pool_size,
        max_overflow=pool_size,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling is turned off so that BEGIN is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _switch_to_wal(cursor: Any, patience: float = 60.0) -> None:
    """Turning a new database file to WAL needs it to itself, and SQLite answers "locked"
    at once rather than waiting: processes starting together on one new file take turns."""
    deadline = time.monotonic() + patience
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def insert_or_ignore(
    session: Session, table: Any, rows: list[dict[str, Any]], key: list[str]
) -> list[Any]:
    """Insert rows, skipping those whose key exists; returns the key values inserted."""
    if not rows:
        return []
    statement = _insert_or_ignore(_dialect(session), table, tuple(key))
    return [row[0] if len(key) == 1 else tuple(row) for row in session.execute(statement, rows)]


def upsert(session: Session, table: Any, rows: list[dict[str, Any]], key: list[str]) -> None:
    """Insert rows, or update every given column of those whose key exists."""
    if not rows:
        return
    columns = tuple(name for name in rows[0] if name not in key)
    session.execute(_upsert(_dialect(session), table, tuple(key), columns), rows)


# The statements are made once per table and kept: each is then compiled once per process
# and run with all its rows as parameters (a statement with the rows written into it would
# be a new statement, compiled anew, for every number of rows).
@functools.cache
def _insert_or_ignore(dialect: str, table: Any, key: tuple[str, ...]) -> Any:
    return (
        _dialect_insert(dialect, table)
        .on_conflict_do_nothing(index_elements=key)
        .returning(*[table.c[name] for name in key])
    )


@functools.cache
def _upsert(dialect: str, table: Any, key: tuple[str, ...], columns: tuple[str, ...]) -> Any:
    statement = _dialect_insert(dialect, table)
    return statement.on_conflict_do_update(
        index_elements=key, set_={name: statement.excluded[name] for name in columns}
    )


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _dialect_insert(dialect: str, table: Any) -> Any:
    # Each dialect loads only where it is used: SQLite's is small, PostgreSQL's is not.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def _create_private(database: str | None) -> None:
    """The database file is created readable by its owner only (0600), before SQLite
    opens it: SQLite gives its -wal and -shm files the database file's permissions."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
