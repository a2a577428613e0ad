#!/usr/bin/env python
"""Scale-out benchmark: one no-op deployment of a large loopback SSH fleet, run by
`squall worker` processes on PostgreSQL (one, then two) and on SQLite (one).

    python bench/scale.py [--nodes 400] [--repeat 3] [--slots 50]

Starts ONE fleet of real sshd processes on loopback and, with that fleet, measures the
contenders interleaved, each repetition on a fresh database:

* pg-1      PostgreSQL (SQUALL_TEST_POSTGRES_URL's server, a new database), one worker
            process with --workers SLOTS;
* pg-2      the same database kind, two worker processes with SLOTS each;
* sqlite-1  SQLite (a new file), one worker process with SLOTS.

Worker processes start (and load plugins, connect, migrate) before the clock; the clock
runs from creating the deployment, from this process, to its final status, read from the
database. The stage's parallelism is 2 x SLOTS, so a second worker has room to add to.
Every node's probe must succeed, or the benchmark fails. Printed: wall seconds (median,
min-max), the ratio pg-2 / pg-1 and sqlite-1 / pg-1, each against the peer measured in
the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from squall.app import DEFAULT_PLUGINS
from squall.core.settings import EngineSettings, SSHSettings
from squall.testing.fleet import Fleet
from squall.testing.harness import SquallHarness

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get(
    "SQUALL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
CONTENDERS = {"pg-1": ("postgresql", 1), "pg-2": ("postgresql", 2), "sqlite-1": ("sqlite", 1)}


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'squall.db'}"
        return
    name = f"squall_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def worker_env(data_dir: Path, url: str, fleet: Fleet) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQUALL_")}
    env.update(
        SQUALL_DATA_DIR=str(data_dir),
        SQUALL_DATABASE_URL=url,
        SQUALL_DEMO_INVENTORY="false",
        SQUALL_ENGINE__POLL_SECONDS="0.1",
        SQUALL_SSH__KEY_FILE=str(fleet.client_key),
        SQUALL_SSH__KNOWN_HOSTS=str(fleet.known_hosts),
        PYTHONPATH=str(ROOT),
    )
    return env


def start_workers(
    count: int, slots: int, env: dict[str, str], logs: Path
) -> list[subprocess.Popen[bytes]]:
    workers = []
    for index in range(count):
        log = logs / f"worker-{index}.log"
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "squall", "worker", "--workers", str(slots)],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log.open("wb"),
            )
        )
        deadline = time.monotonic() + 60
        while b"running" not in log.read_bytes():
            if workers[-1].poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"worker did not start: {log.read_text()}")
            time.sleep(0.05)
    return workers


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.wait(timeout=30)


def one_run(name: str, fleet: Fleet, slots: int, work: Path) -> float:
    kind, count = CONTENDERS[name]
    folder = Path(tempfile.mkdtemp(dir=work, prefix=f"{name}-"))
    with database(kind, folder) as url:
        squall = SquallHarness(
            folder / "data",
            DEFAULT_PLUGINS,
            fleet=fleet,
            database_url=url,
            engine=EngineSettings(poll_seconds=0.1),
            ssh=SSHSettings(key_file=fleet.client_key, known_hosts=fleet.known_hosts),
        )
        workers = start_workers(count, slots, worker_env(folder / "data", url, fleet), folder)
        try:
            started = time.perf_counter()
            deployment_id = squall.create("noop", parallelism=2 * slots)
            while True:
                view = squall.view(deployment_id)
                if view.status in ("succeeded", "failed", "cancelled"):
                    break
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
        finally:
            stop_workers(workers)
        succeeded = view.counts.get("succeeded", 0)
        squall.close()
    if view.status != "succeeded" or succeeded != len(fleet.nodes):
        raise SystemExit(f"{name}: {view.status}, {succeeded}/{len(fleet.nodes)} nodes succeeded")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--slots", type=int, default=50, help="tasks one worker runs at once")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="squall-scale-"))
    fleet = Fleet(work / "fleet", args.nodes)
    fleet.start()
    runs: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    try:
        for repetition in range(args.repeat):
            for name in CONTENDERS:
                seconds = one_run(name, fleet, args.slots, work)
                runs[name].append(seconds)
                print(f"  run {repetition + 1} {name:9} {seconds:6.2f} s", flush=True)
    finally:
        fleet.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\n{args.nodes} nodes, noop deployment, {args.slots} slots per worker, stage "
        f"parallelism {2 * args.slots}; {platform.node()}, {os.cpu_count()} CPU(s)"
    )
    print(f"{'contender':28} {'wall s (median)':>16} {'min-max':>14} {'runs':>5}")
    labels = {
        "pg-1": "PostgreSQL, 1 worker",
        "pg-2": "PostgreSQL, 2 workers",
        "sqlite-1": "SQLite, 1 worker",
    }
    medians = {name: statistics.median(values) for name, values in runs.items()}
    for name, values in runs.items():
        print(
            f"{labels[name]:28} {medians[name]:16.2f} "
            f"{min(values):6.2f}-{max(values):<7.2f} {len(values):5}"
        )
    print()
    print(f"speed-up, 2 workers vs 1 (pg-1 / pg-2):   {medians['pg-1'] / medians['pg-2']:.2f}x")
    print(f"SQLite vs PostgreSQL (sqlite-1 / pg-1):   {medians['sqlite-1'] / medians['pg-1']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
