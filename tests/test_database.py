"""Schema, migrations and the tamper-evident audit chain, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, select, text, update

from squall.core import audit
from squall.core.auth import Actor
from squall.core.db import MIGRATIONS, Database, insert_or_ignore, upsert
from squall.core.models import AuditRecord, Base, EventCursor

ALICE = Actor("alice", frozenset({"admin"}), "sso")
KEY = b"k" * 32


def test_migrations_build_exactly_the_schema_the_models_describe(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert "alembic_version" in inspect(connection).get_table_names()
    db.dispose()


def test_migrating_twice_and_concurrently_is_harmless(database_url: str) -> None:
    dbs = [Database(database_url) for _ in range(3)]
    failures: list[Exception] = []

    def migrate(db: Database) -> None:
        try:
            db.migrate()
        except Exception as exc:  # noqa: BLE001 (reported below: every one must get through)
            failures.append(exc)

    threads = [threading.Thread(target=migrate, args=(db,)) for db in dbs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    dbs[0].migrate()
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    with dbs[0].engine.connect() as connection:
        (version,) = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert version[0] == head
    for db in dbs:
        db.dispose()


def test_sqlite_database_runs_in_wal_mode(tmp_path: pytest.TempPathFactory) -> None:
    db = Database(f"sqlite:///{tmp_path}/w.db")
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    db.dispose()


@pytest.fixture
def audited(database_url: str) -> Database:
    db = Database(database_url, audit_key=KEY)
    db.migrate()
    for number in range(5):
        with db.write() as session:
            audit.record(session, ALICE, "deployment.create", f"deployment {number}", {"n": number})
    return db


def records(db: Database) -> list[AuditRecord]:
    with db.read() as session:
        return list(session.scalars(select(AuditRecord).order_by(AuditRecord.id)))


def test_an_untouched_audit_chain_verifies(audited: Database) -> None:
    assert audit.verify(records(audited), KEY) == []
    assert records(audited)[0].details == {"via": "sso", "n": 0}


def test_editing_an_audit_record_is_detected(audited: Database) -> None:
    with audited.write() as session:
        session.execute(update(AuditRecord).where(AuditRecord.id == 3).values(actor="mallory"))
    breaks = audit.verify(records(audited), KEY)
    assert [(found.record_id, "edited" in found.reason) for found in breaks] == [(3, True)]


def test_deleting_an_audit_record_is_detected(audited: Database) -> None:
    with audited.write() as session:
        session.delete(session.get(AuditRecord, 2))
    breaks = audit.verify(records(audited), KEY)
    assert [found.record_id for found in breaks] == [3]
    assert "deleted or reordered" in breaks[0].reason


def test_rewriting_the_chain_without_the_key_is_detected(audited: Database) -> None:
    """Someone with write access to the database edits a record and recomputes every hash
    after it, as a plain hash chain would allow: without the installation's key, each
    recomputed record fails its check."""
    with audited.write() as session:
        previous = audit.GENESIS
        for entry in session.scalars(select(AuditRecord).order_by(AuditRecord.id)):
            if entry.id == 2:
                entry.actor = "mallory"
            entry.prev_hash = previous
            entry.hash = audit.chain_hash(entry, b"a guess at the key")
            previous = entry.hash
    breaks = audit.verify(records(audited), KEY)
    assert [found.record_id for found in breaks] == [1, 2, 3, 4, 5]
    assert all("edited" in found.reason for found in breaks)
    assert audit.verify(records(audited), b"a guess at the key") == []  # the key is the point


def test_reordering_audit_records_is_detected(audited: Database) -> None:
    chain = records(audited)
    chain[1], chain[2] = chain[2], chain[1]
    assert audit.verify(chain, KEY)


def test_concurrent_writers_never_fork_the_audit_chain(audited: Database) -> None:
    def write_some() -> None:
        for _ in range(5):
            with audited.write() as session:
                audit.record(session, ALICE, "deployment.cancel", "deployment 1")

    threads = [threading.Thread(target=write_some) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    chain = records(audited)
    assert len(chain) == 25
    assert audit.verify(chain, KEY) == []


def test_the_schema_revision_constant_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from squall.core.db import MIGRATIONS, SCHEMA_REVISION

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_REVISION


def test_upgrading_keeps_existing_rows_and_gives_them_the_new_defaults(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    from squall.core.db import MIGRATIONS

    db = Database(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            text(
                "INSERT INTO deployments (id, type, title, params, selector, requester, status, attempt,"
                " retry_interrupted, created_at) VALUES (1, 'noop', 't', '{}', 'all', 'alice', 'succeeded',"
                " 1, false, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO stages (id, deployment_id, position, name, parallelism, status)"
                " VALUES (1, 1, 0, 'probe', 50, 'succeeded')"
            )
        )
    db.migrate()
    with db.engine.connect() as connection:
        row = connection.execute(
            text("SELECT name, kind, gate, approvals_required, bake_seconds FROM stages")
        ).one()
    assert tuple(row) == ("probe", "deploy", False, 1, 0)
    db.dispose()


def test_insert_or_ignore_and_upsert_compile_once_for_any_number_of_rows(
    database_url: str,
) -> None:
    """Claims and the recorder write a different number of rows each time: the statement is
    still the same one, compiled once (not once per number of rows), and rows whose key is
    taken are skipped or updated."""
    db = Database(database_url)
    db.migrate()
    table = EventCursor.__table__
    compiled: list[tuple[str, object]] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _seen(
        _conn: object, _cursor: object, statement: str, _params: object, context: Any, _many: bool
    ) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO EVENT_CURSORS"):
            compiled.append(("upsert" if "DO UPDATE" in statement else "insert", context.compiled))

    def rows(names: str, position: int) -> list[dict[str, Any]]:
        return [{"consumer": name, "position": position} for name in names]

    with db.write() as session:
        first = insert_or_ignore(session, table, rows("ab", 1), ["consumer"])
        again = insert_or_ignore(session, table, rows("acd", 2), ["consumer"])
        third = insert_or_ignore(session, table, rows("bcdef", 3), ["consumer"])
        upsert(session, table, rows("ag", 7), ["consumer"])
        upsert(session, table, rows("bch", 8), ["consumer"])
    assert sorted(first) == ["a", "b"]
    assert sorted(again) == ["c", "d"]  # "a" was there: skipped, and not returned
    assert sorted(third) == ["e", "f"]
    with db.read() as session:
        positions = dict(session.execute(select(table.c.consumer, table.c.position)).all())
    assert positions == {
        "a": 7, "b": 8, "c": 8, "d": 2, "e": 3, "f": 3, "g": 7, "h": 8,
    }  # fmt: skip
    for kind in ("insert", "upsert"):
        assert len({id(form) for seen, form in compiled if seen == kind}) == 1, kind
    db.dispose()
