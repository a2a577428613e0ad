"""The console while a deployment runs: how long the board and the deployment page take to
answer while a `squall deploy` process works through the fleet (bench/fanout.py --console).

A `squall serve --no-worker` serves the same data directory the deploy process writes to,
as an operator's console would; one client asks it, one request at a time, for the board
(its REST answer and its page) and the deployment's page, until the deployment ends. The
run is extra: its wall time is not one of the contenders' (the console's own CPU slows the
deploy on a small machine).
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ASKED = {
    "board (REST)": "/api/v1/deployments",
    "board page": "/",
    "deployment page": "/deployments/1",
}


@dataclass
class Samples:
    seconds: list[float] = field(default_factory=list)
    size: int = 0

    def line(self, name: str) -> str:
        if not self.seconds:
            return f"  {name:<16} no answer while it ran"
        ordered = sorted(self.seconds)
        p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
        return (
            f"  {name:<16} median {statistics.median(ordered) * 1000:6.0f} ms  "
            f"p90 {p90 * 1000:6.0f} ms  max {ordered[-1] * 1000:6.0f} ms  "
            f"{len(ordered):4d} answers, {self.size / 1024:7.0f} kB the last"
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str) -> tuple[int, int]:
    """Status and body size of one request."""
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return answer.status, len(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, 0


def serve(
    squall: str, env: dict[str, str], port: int, *extra: str, output: int | IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """Start `squall serve` on `port` and return once its REST API answers (stopped and
    RuntimeError if it exits or stays silent for 90 s)."""
    server = subprocess.Popen(
        [squall, "serve", "--no-browser", "--port", str(port), *extra],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL if output is None else output,
        stderr=subprocess.DEVNULL if output is None else subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while True:
        try:
            if get(f"http://127.0.0.1:{port}" + ASKED["board (REST)"])[0] == 200:
                return server
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.terminate()
            server.wait(timeout=30)
            raise RuntimeError("squall serve did not answer")
        time.sleep(0.2)


def measure(
    squall: str, env: dict[str, str], inventory: Path, command: list[str], workdir: Path
) -> dict[str, Samples]:
    """Serve a fresh data directory holding the fleet, run `command` (a `squall deploy`)
    on it, and ask the console for each page in turn until the deploy ends."""
    env = env | {"SQUALL_DATA_DIR": str(workdir / "console-data")}
    subprocess.run(
        [squall, "inventory", "import", str(inventory)], env=env, check=True, capture_output=True
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = serve(squall, env, port, "--no-worker")
    samples = {name: Samples() for name in ASKED}
    try:
        deploy = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        while deploy.poll() is None:
            for name, path in ASKED.items():
                started = time.perf_counter()
                status, size = get(base + path)
                if status == 200:  # the deployment page answers 404 until it is created
                    samples[name].seconds.append(time.perf_counter() - started)
                    samples[name].size = size
        if deploy.returncode != 0:
            raise RuntimeError(f"squall deploy exited {deploy.returncode}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return samples
