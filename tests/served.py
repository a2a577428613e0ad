"""Squall as separate processes, the way a team runs it at scale: `squall serve` and
`squall worker` subprocesses on one database, and API tokens to talk to them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from squall.app import DEFAULT_PLUGINS
from squall.core.auth import Actor, Grant
from squall.core.services import access
from squall.core.settings import EngineSettings, SSHSettings
from squall.testing.fleet import Fleet
from squall.testing.harness import SquallHarness

ROOT = Path(__file__).resolve().parent.parent
CI = Actor("ci", source="sso", grants=(Grant("admin"),))
"""Who the tests' token acts as: an administrator signed in through single sign-on."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Installation:
    """One Squall installation: a data directory, a database, settings every process
    shares through the environment, and an in-process harness for setting things up."""

    data_dir: Path
    database_url: str
    fleet: Fleet | None = None
    lease_seconds: float = 3.0
    settings: dict[str, str] = field(default_factory=dict)
    """Further SQUALL_* variables every process of the installation gets."""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    harness: SquallHarness = field(init=False)

    def __post_init__(self) -> None:
        ssh = SSHSettings()
        if self.fleet is not None:
            ssh = SSHSettings(key_file=self.fleet.client_key, known_hosts=self.fleet.known_hosts)
        # Every process finds the installation's key in the shared data directory.
        self.harness = SquallHarness(
            self.data_dir,
            DEFAULT_PLUGINS,
            fleet=self.fleet,
            database_url=self.database_url,
            engine=EngineSettings(lease_seconds=self.lease_seconds, poll_seconds=0.1),
            ssh=ssh,
        )

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("SQUALL_", "PYTEST_"))
        }
        env.update(
            SQUALL_DATA_DIR=str(self.data_dir),
            SQUALL_DATABASE_URL=self.database_url,
            SQUALL_DEMO_INVENTORY="false",
            SQUALL_ENGINE__LEASE_SECONDS=str(self.lease_seconds),
            SQUALL_ENGINE__POLL_SECONDS="0.1",
            # Sign-on configured, so every API call needs a token; the provider is never asked.
            SQUALL_SSO__ISSUER="http://127.0.0.1:9/never-asked",
            SQUALL_SSO__CLIENT_ID="squall",
            SQUALL_SSO__CLIENT_SECRET="not-used",
            COLUMNS="200",
            NO_COLOR="1",
            PYTHONPATH=str(ROOT),
        )
        if self.fleet is not None:
            env.update(
                SQUALL_SSH__KEY_FILE=str(self.fleet.client_key),
                SQUALL_SSH__KNOWN_HOSTS=str(self.fleet.known_hosts),
            )
        env.update(self.settings)
        env.update(extra)
        return env

    def token(self, actor: Actor = CI, scopes: list[str] | None = None) -> str:
        with self.harness.runtime.db.write() as session:
            _, secret = access.create_token(
                session, self.harness.runtime, actor, name="tests", scopes=scopes
            )
        return secret

    def serve(self, *, worker: bool = False) -> str:
        """Start `squall serve` (UI and API; a worker too if asked); its base URL."""
        port = free_port()
        args = ["serve", "--no-browser", "--port", str(port)]
        if not worker:
            args.append("--no-worker")
        self._start(*args)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/api/v1/me", timeout=2).status_code == 401:
                    return url
            self._check_alive()
            time.sleep(0.2)
        raise AssertionError(f"squall serve did not answer on {url}")

    def worker(self, slots: int = 10) -> subprocess.Popen[bytes]:
        return self._start("worker", "--workers", str(slots))

    def _start(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.data_dir / f"process-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "squall", *args],
            env=self.env(),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def _check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                raise AssertionError(f"{process.args} exited with {process.returncode}")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.harness.close()


@contextlib.contextmanager
def installation(
    data_dir: Path, database_url: str, fleet: Fleet | None = None, **options: float
) -> Iterator[Installation]:
    squall = Installation(data_dir, database_url, fleet, **options)
    try:
        yield squall
    finally:
        squall.stop()


def wait_until(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
