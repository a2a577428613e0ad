"""Squall at scale: `squall worker` processes on one PostgreSQL database, a UI-only
`squall serve --no-worker`, a worker killed with SIGKILL mid-task, PostgreSQL restarting
under a running deployment, and live updates between processes (LISTEN/NOTIFY)."""

from __future__ import annotations

import json
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from served import free_port, installation, wait_until
from sqlalchemy import create_engine, select, text

from squall.core.changes import touch
from squall.core.db import Database
from squall.core.engine.leadership import SCHEDULER_LOCK, SchedulerLock
from squall.core.models import Event, NodeTask
from squall.testing.fleet import Fleet

PG_BIN = Path("/usr/lib/postgresql/15/bin")
NODES = [f"node-0{index}" for index in range(1, 9)]
TARGET = "host:node-0[1-8]"


def marks(fleet: Fleet, node: str, name: str) -> list[str]:
    path = fleet.node(node).root / name
    return path.read_text().split() if path.exists() else []


def events(database_url: str, deployment_id: int, kind: str) -> list[Event]:
    db = Database(database_url)
    try:
        with db.read() as session:
            return list(
                session.scalars(
                    select(Event).where(Event.deployment_id == deployment_id, Event.kind == kind)
                )
            )
    finally:
        db.dispose()


def test_a_worker_killed_mid_task_loses_nothing_and_reruns_no_finished_step(
    tmp_path: Path, postgres_url: str, fleet: Fleet
) -> None:
    with installation(tmp_path / "data", postgres_url, fleet, lease_seconds=2.0) as squall:
        victim = squall.worker(slots=4)
        survivor = squall.worker(slots=4)
        # Each step leaves a mark on the node; verify runs long enough to be killed in.
        deployment_id = squall.harness.create(
            "cache_rebuild",
            target=TARGET,
            params={
                "rebuild_command": ["sh", "-c", "echo $$ >> rebuilt; echo rebuilt on $(hostname)"],
                "verify_command": ["sh", "-c", "echo $$ >> verified; sleep 4"],
                "verify_attempts": 1,
            },
            parallelism=8,
        )
        wait_until(
            lambda: all(marks(fleet, node, "verified") for node in NODES), "every verify to start"
        )
        with squall.harness.runtime.db.read() as session:
            held = {
                row.node_name: row.worker
                for row in session.execute(
                    select(NodeTask.node_name, NodeTask.worker).where(
                        NodeTask.deployment_id == deployment_id
                    )
                )
            }
        victims = sorted(node for node, worker in held.items() if f":{victim.pid}:" in worker)
        assert victims and len(victims) < len(NODES), held  # both workers had some
        lines_before = squall.harness.logs(deployment_id)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        view = wait_for_final(squall.harness, deployment_id, timeout=90)
        assert view.status == "succeeded", view.failures
        interrupted = events(postgres_url, deployment_id, "task.interrupted")
        assert sorted(event.data["node"] for event in interrupted) == victims
        assert all(str(victim.pid) in event.data["worker"] for event in interrupted)
        requeued = events(postgres_url, deployment_id, "task.requeued")
        assert len(requeued) == len(victims)
        assert all("'verify' was running" in event.data["note"] for event in requeued)
        assert survivor.poll() is None
    for node in NODES:
        assert len(marks(fleet, node, "rebuilt")) == 1, node  # a finished step never reran
        expected_verifies = 2 if node in victims else 1  # the interrupted one did, visibly
        assert len(marks(fleet, node, "verified")) == expected_verifies, node
    after = squall.harness.logs(deployment_id)
    assert all(line in after for line in lines_before)  # what the dead worker wrote is kept
    assert sum("rebuilt on" in line for line in after) == len(NODES)


def wait_for_final(harness: object, deployment_id: int, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = harness.view(deployment_id)  # type: ignore[attr-defined]
        if view.status in ("succeeded", "failed", "cancelled"):
            return view
        time.sleep(0.2)
    raise AssertionError(f"deployment {deployment_id} still {view.status} after {timeout}s")


def test_a_ui_process_follows_a_worker_elsewhere_as_it_writes(
    tmp_path: Path, postgres_url: str, fleet: Fleet
) -> None:
    with installation(tmp_path / "data", postgres_url, fleet) as squall:
        url = squall.serve()  # --no-worker: this process runs nothing
        token = squall.token()
        squall.worker(slots=4)
        script = "for i in 1 2 3 4 5 6; do echo tick-$i; sleep 0.7; done"
        created = httpx.post(
            f"{url}/api/v1/deployments",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "type": "cache_rebuild",
                "target": "host:node-0[1-2]",
                "params": {"rebuild_command": ["sh", "-c", script]},
            },
        )
        deployment_id = created.json()["id"]
        lags: list[float] = []
        items = []
        with httpx.stream(
            "GET",
            f"{url}/api/v1/deployments/{deployment_id}/follow",
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(10, read=60),
        ) as response:
            for line in response.iter_lines():
                item = json.loads(line)
                items.append(item)
                if item["kind"] == "log" and item["text"].startswith("tick-"):
                    written = _timestamp(item["at"])
                    lags.append(time.time() - written)
    ticks = [item["text"] for item in items if item["kind"] == "log" and "tick" in item["text"]]
    assert sorted(ticks) == sorted(f"tick-{i}" for i in range(1, 7) for _ in range(2))
    assert items[-1] == {"kind": "end", "status": "succeeded"}
    # Told by NOTIFY, not found by the 2 s safety poll: well under a second, typically.
    assert statistics.median(lags) < 0.8, lags
    assert max(lags) < 1.9, lags


def _timestamp(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(text).timestamp()


def test_changes_committed_in_another_process_reach_this_one(
    tmp_path: Path, postgres_url: str, fleet: Fleet
) -> None:
    with installation(tmp_path / "data", postgres_url, fleet) as squall:
        db = squall.harness.runtime.db
        db.listen()
        assert db._listener is not None and db._listener.connected.wait(10)
        deployment_id = squall.harness.create("noop", target="host:node-01")
        seen = db.changes.version(deployment_id)  # our own commit counted already
        assert seen >= 1
        squall.worker(slots=2)
        # Only a notice from the worker's process can move it on: nothing here writes.
        wait_until(lambda: db.changes.version(deployment_id) > seen, "a notice", timeout=30)
        wait_for_final(squall.harness, deployment_id, timeout=60)


def test_one_process_schedules_and_another_takes_over_when_it_dies(postgres_url: str) -> None:
    first, second = Database(postgres_url), Database(postgres_url)
    try:
        holder, other = SchedulerLock(first), SchedulerLock(second)
        assert holder.held()
        assert not other.held() and not other.held()
        assert holder.held()  # still ours, round after round
        with second.engine.connect() as connection:  # its session ends, as when it dies
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND objid = :key AND granted"
                ),
                {"key": SCHEDULER_LOCK},
            )
        wait_until(other.held, "the other process to take over", timeout=10)
        assert not holder.held()  # the old holder sees it lost the lock
        assert not SchedulerLock(Database(postgres_url)).held()
    finally:
        first.dispose()
        second.dispose()


def test_every_process_schedules_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'squall.db'}"
    assert SchedulerLock(Database(url)).held() and SchedulerLock(Database(url)).held()


# --- PostgreSQL restarting under a running deployment -------------------------------------


@dataclass
class PrivatePostgres:
    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/squall"

    def ctl(self, *args: str) -> None:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.folder / "data"),
                "-l",
                str(self.folder / "server.log"),
                "-w",
                *args,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL 15 cluster of this test's own, which it may restart at will."""
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        pytest.skip(f"PostgreSQL 15 server binaries are not installed in {PG_BIN}")
    folder = Path(tempfile.mkdtemp(prefix="squall-pg-"))
    shutil.chown(folder, "postgres", "postgres")
    server = PrivatePostgres(folder, free_port())
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(PG_BIN / "initdb"),
            "-D",
            str(folder / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    options = f"-p {server.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    server.ctl("-o", options, "start")
    try:
        admin = create_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/postgres",
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as connection:
            connection.execute(text("CREATE DATABASE squall"))
        admin.dispose()
        yield server
    finally:
        server.ctl("-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_workers_carry_on_when_postgresql_restarts_under_a_deployment(
    tmp_path: Path, private_postgres: PrivatePostgres, fleet: Fleet
) -> None:
    with installation(tmp_path / "data", private_postgres.url, fleet, lease_seconds=8) as squall:
        squall.worker(slots=2)
        squall.worker(slots=2)
        deployment_id = squall.harness.create(
            "cache_rebuild",
            target=TARGET,
            params={"rebuild_command": ["sh", "-c", "echo $$ >> rebuilt; sleep 1; echo rebuilt"]},
            parallelism=4,
        )
        wait_until(lambda: marks(fleet, "node-01", "rebuilt"), "the first node to start")
        private_postgres.ctl("-m", "fast", "restart")
        assert squall.harness.view(deployment_id).status == "running"  # restarted under it
        view = wait_for_final(squall.harness, deployment_id, timeout=120)
        assert view.status == "succeeded", view.failures
        logs = squall.harness.logs(deployment_id)
    assert sum(line == "rebuilt" for line in logs) == len(NODES)
    for node in NODES:
        assert len(marks(fleet, node, "rebuilt")) == 1, node


def test_a_commit_tells_watchers_in_this_process_and_a_rollback_does_not(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'squall.db'}")
    try:
        with db.write() as session:
            touch(session, [7, 8, None])
        assert (db.changes.version(7), db.changes.version(8), db.changes.version()) == (1, 1, 1)
        with pytest.raises(RuntimeError), db.write() as session:
            touch(session, [7])
            raise RuntimeError("rolled back")
        with db.write() as session:
            touch(session, [9])
        assert (db.changes.version(7), db.changes.version(9)) == (1, 1)
    finally:
        db.dispose()


def test_subscribers_hear_each_commit_here_until_they_leave_and_a_faulty_one_harms_nothing(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'squall.db'}")
    heard: list[frozenset[int]] = []

    def faulty(_ids: frozenset[int]) -> None:
        raise RuntimeError("a subscriber's own bug")

    try:
        db.changes.subscribe(faulty)
        leave = db.changes.subscribe(heard.append)
        with db.write() as session:
            touch(session, [7, 8])
        with pytest.raises(RuntimeError), db.write() as session:
            touch(session, [9])
            raise RuntimeError("rolled back: nobody hears of it")
        db.changes.publish([11])  # heard from another process (LISTEN): counted, not told
        leave()
        with db.write() as session:
            touch(session, [10])
        assert heard == [frozenset({7, 8})]
        assert db.changes.version(10) == db.changes.version(11) == 1
    finally:
        db.dispose()
