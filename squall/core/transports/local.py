"""The `local` transport: commands run on this machine, each node in its own folder.

It powers the demo inventory and lets a team try a deployment type without SSH. Commands
get a small, fixed environment (HOME and NODE_ROOT point at the node's folder), never
Squall's own environment, which may hold its secrets.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import selectors
import signal
import subprocess
import threading
import time
from pathlib import Path

from squall.core.plan import NodeInfo
from squall.core.transports.base import (
    KILL_GRACE,
    Ended,
    Output,
    ShellConnection,
    Stop,
    TransportError,
)

_PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ")


class LocalConnector:
    def __init__(self, default_root: Path) -> None:
        self.default_root = default_root

    def connect(self, node: NodeInfo) -> LocalConnection:
        root = Path(node.vars.get("root") or self.default_root / node.name)
        return LocalConnection(node, root)


class LocalConnection(ShellConnection):
    def __init__(self, node: NodeInfo, root: Path) -> None:
        super().__init__(node)
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self._env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
        self._env.update(HOME=str(root), NODE_ROOT=str(root), SHELL="/bin/sh")

    def read_file(self, path: str, *, timeout: float) -> bytes | None:
        return super().read_file(self._inside(path), timeout=timeout)

    def write_file(self, path: str, data: bytes, *, mode: int | None, timeout: float) -> None:
        super().write_file(self._inside(path), data, mode=mode, timeout=timeout)

    def _inside(self, path: str) -> str:
        """Files of a local node are in its folder: the rest of the host is Squall's."""
        if not inside_root(path):
            raise TransportError(
                f"{path!r} is outside the folder of local node {self.node.name}: "
                "give a path relative to it, without '..'"
            )
        return path

    def _execute(
        self, command: str, *, stdin: bytes | None, output: Output, deadline: float
    ) -> Ended:
        process = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=self.root,
            env=self._env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Its own process group, so stopping it stops everything it started.
            start_new_session=True,
        )
        if stdin is not None:
            threading.Thread(target=_feed, args=(process, stdin), daemon=True).start()
        assert process.stdout is not None and process.stderr is not None
        routes = {
            process.stdout.fileno(): output.stdout,
            process.stderr.fileno(): output.stderr.feed,
        }
        stop: Stop | None = None
        stopped_at = 0.0
        killed = False
        with selectors.DefaultSelector() as selector:
            for descriptor in routes:
                selector.register(descriptor, selectors.EVENT_READ)
            while selector.get_map() or process.poll() is None:
                for key, _ in selector.select(timeout=0.1):
                    data = os.read(key.fd, 65536)
                    if data:
                        routes[key.fd](data)
                    else:
                        selector.unregister(key.fd)
                if not selector.get_map():
                    process.poll()
                now = time.monotonic()
                if stop is None and (now >= deadline or self._interrupt.is_set()):
                    stop = "timeout" if now >= deadline else "interrupt"
                    stopped_at = now
                    _signal_group(process, signal.SIGTERM)
                elif stop is not None and not killed and now - stopped_at >= KILL_GRACE:
                    killed = True
                    _signal_group(process, signal.SIGKILL)
                if not selector.get_map() and process.returncode is not None:
                    break
        process.stdout.close()
        process.stderr.close()
        status = process.wait()
        if status < 0:  # killed by a signal (Popen's convention)
            return Ended(None, stop, _signal_name(-status))
        return Ended(status, stop)

    def close(self) -> None:
        """Nothing stays open between commands."""


def inside_root(path: str) -> bool:
    """Whether a path relative to a node's folder stays inside it."""
    normal = posixpath.normpath(path)
    return not posixpath.isabs(path) and normal != ".." and not normal.startswith("../")


def _feed(process: subprocess.Popen[bytes], data: bytes) -> None:
    assert process.stdin is not None
    try:
        process.stdin.write(data)
        process.stdin.close()
    except BrokenPipeError:
        pass  # the command did not read all of its input; its exit status says the rest


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name.removeprefix("SIG")
    except ValueError:  # a real-time signal has no name of its own
        return str(number)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(process.pid, signum)
