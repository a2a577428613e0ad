"""What both transports share: command wrapping, output splitting, files through the shell.

Every command runs as `sh -c '<command>'` started from the node's working folder. The
shell first reports its process id on stderr (a line Squall removes), so a timeout or a
cancel can stop the command's whole process group, not just the connection to it.
"""

from __future__ import annotations

import abc
import re
import threading
import time
from collections.abc import Callable
from typing import Literal, NamedTuple

from squall.core.errors import SquallError
from squall.core.execution import CommandResult, LogSink, StepOutcome, Stream
from squall.core.plan import NodeInfo
from squall.core.shell import Shell, quote, sh

MAX_LINE_BYTES = 16 * 1024
"""Longer lines are stored as several consecutive lines; nothing is dropped."""
KILL_GRACE = 3.0
"""Seconds between asking a command to stop (SIGTERM) and forcing it (SIGKILL)."""
_PID_MARKER = "__squall_pid__="
_PID_LINE = re.compile(rb"^__squall_pid__=(\d+)$")
MISSING_FILE_STATUS = 44

Stop = Literal["timeout", "interrupt"]


class Ended(NamedTuple):
    """How a command ended, as a transport saw it."""

    exit_code: int | None
    """None when it did not exit: Squall stopped it, or a signal killed it."""
    stop: Stop | None = None
    """Why Squall stopped it, if it did."""
    signal: str | None = None
    """The signal that killed it, when Squall did not stop it (see CommandResult.signal)."""


class TransportError(SquallError):
    """The node could not be reached or refused us; the message says why."""


def wrap(command: str) -> str:
    return f'echo "{_PID_MARKER}$$" >&2; cd "$HOME" 2>/dev/null; exec sh -c {quote(command)}'


class LineSplitter:
    """Turns a byte stream into text lines: UTF-8 with replacement, no line dropped."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                break
            self._send(bytes(self._buffer[:newline]))
            del self._buffer[: newline + 1]
        while len(self._buffer) > MAX_LINE_BYTES:
            cut = _utf8_boundary(self._buffer, MAX_LINE_BYTES)
            self._send(bytes(self._buffer[:cut]))
            del self._buffer[:cut]

    def close(self) -> None:
        if self._buffer:
            self._send(bytes(self._buffer))
            self._buffer.clear()

    def _send(self, raw: bytes) -> None:
        text = raw.rstrip(b"\r").decode("utf-8", errors="replace")
        # NUL is valid UTF-8 but no database text column takes it (PostgreSQL refuses it).
        self._emit(text.replace("\x00", "\ufffd"))


def _utf8_boundary(data: bytearray, limit: int) -> int:
    """The largest cut at or before `limit` that does not split a UTF-8 character."""
    cut = limit
    while cut > limit - 4 and cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut if cut > limit - 4 else limit


class PidFilter:
    """Removes the wrapper's process-id line from stderr and remembers the id."""

    def __init__(self, passthrough: Callable[[bytes], None]) -> None:
        self.pid: int | None = None
        self._passthrough = passthrough
        self._head = bytearray()
        self._done = False

    def feed(self, data: bytes) -> None:
        if self._done:
            self._passthrough(data)
            return
        self._head += data
        newline = self._head.find(b"\n")
        if newline < 0 and len(self._head) < 256:
            return
        first = bytes(self._head[:newline]) if newline >= 0 else b""
        match = _PID_LINE.match(first)
        if match:
            self.pid = int(match.group(1))
            rest = bytes(self._head[newline + 1 :])
        else:
            rest = bytes(self._head)
        self._done = True
        self._head.clear()
        if rest:
            self._passthrough(rest)

    def close(self) -> None:
        if not self._done and self._head:
            self._done = True
            self._passthrough(bytes(self._head))


class Output:
    """Routes a command's two streams to a log sink line by line, or captures them."""

    def __init__(self, log: LogSink | None) -> None:
        self.captured_stdout = bytearray()
        self.captured_stderr = bytearray()
        self._log = log
        self._stdout = LineSplitter(lambda line: self._write(line, "stdout"))
        self._stderr = LineSplitter(lambda line: self._write(line, "stderr"))
        self.stderr = PidFilter(self._stderr_bytes)

    def stdout(self, data: bytes) -> None:
        if self._log is None:
            self.captured_stdout += data
        else:
            self._stdout.feed(data)

    def _stderr_bytes(self, data: bytes) -> None:
        if self._log is None:
            self.captured_stderr += data
        else:
            self._stderr.feed(data)

    def close(self) -> None:
        self.stderr.close()
        self._stdout.close()
        self._stderr.close()

    def _write(self, line: str, stream: Stream) -> None:
        assert self._log is not None
        self._log.write(line, stream)


class ShellConnection(abc.ABC):
    """A NodeConnection built on one primitive: run a wrapped command in a process group."""

    def __init__(self, node: NodeInfo) -> None:
        self.node = node
        self._interrupt = threading.Event()

    @property
    def interrupted(self) -> bool:
        return self._interrupt.is_set()

    def interrupt(self) -> None:
        """Stop the running command (and every later one); safe from any thread."""
        self._interrupt.set()

    def run(
        self, command: Shell, *, timeout: float, log: LogSink | None, stdin: bytes | None = None
    ) -> CommandResult:
        if not isinstance(command, Shell):
            raise TypeError("run() takes a Shell built with sh() or argv(), never a plain string")
        started = time.monotonic()
        if self._interrupt.is_set():
            return CommandResult(None, 0.0, interrupted=True)
        output = Output(log)
        ended = self._execute(
            wrap(command.text), stdin=stdin, output=output, deadline=started + timeout
        )
        output.close()
        stopped = ended.stop is not None
        return CommandResult(
            exit_code=None if stopped else ended.exit_code,
            duration=time.monotonic() - started,
            timed_out=ended.stop == "timeout",
            interrupted=ended.stop == "interrupt",
            stdout=bytes(output.captured_stdout),
            stderr=bytes(output.captured_stderr),
            signal=None if stopped else ended.signal,
        )

    def sleep(self, seconds: float) -> bool:
        """Wait, but wake up at once when interrupted; False if interrupted."""
        return not self._interrupt.wait(seconds)

    def read_file(self, path: str, *, timeout: float) -> bytes | None:
        script = sh(
            "if [ -e {path} ]; then cat -- {path}; else exit {missing}; fi",
            path=path,
            missing=MISSING_FILE_STATUS,
        )
        result = self.run(script, timeout=timeout, log=None)
        if result.exit_code == MISSING_FILE_STATUS:
            return None
        self._check(result, f"cannot read {path}")
        return result.stdout

    def write_file(self, path: str, data: bytes, *, mode: int | None, timeout: float) -> None:
        # Written beside the target and renamed over it; `--` everywhere, a path may start
        # with a dash. The old file's mode and owner carry over unless a mode is given.
        if mode is not None:
            keep_mode = sh(
                "chmod {mode} -- {temporary}", mode=f"{mode:o}", temporary=f"{path}.squall-tmp"
            )
        else:
            keep_mode = sh(
                "if [ -e {path} ]; then chmod --reference={path} -- {temporary}; fi",
                path=path,
                temporary=f"{path}.squall-tmp",
            )
        script = sh(
            'mkdir -p -- "$(dirname -- {path})" && cat > {temporary} && {keep_mode} && '
            "{{ [ ! -e {path} ] || chown --reference={path} -- {temporary} 2>/dev/null "
            "|| true; }} && "
            "mv -f -- {temporary} {path}",
            path=path,
            temporary=f"{path}.squall-tmp",
            keep_mode=keep_mode,
        )
        self._check(self.run(script, timeout=timeout, log=None, stdin=data), f"cannot write {path}")

    def _check(self, result: CommandResult, what: str) -> None:
        if result.timed_out:
            raise TransportError(f"{what}: timed out")
        if result.interrupted:
            raise TransportError(f"{what}: interrupted")
        if result.exit_code != 0:
            detail = result.stderr.decode("utf-8", errors="replace").strip().splitlines()
            reason = detail[-1] if detail else StepOutcome.from_command(result, 0).error
            raise TransportError(f"{what}: {reason}")

    @abc.abstractmethod
    def _execute(
        self, command: str, *, stdin: bytes | None, output: Output, deadline: float
    ) -> Ended:
        """Run the wrapped command to its end, which is when it has exited and both of its
        output streams have closed (a process it left running may still be writing to
        them); say how it ended.

        Must stop the command's process group when the deadline passes or `interrupt()`
        is called: SIGTERM first, SIGKILL after KILL_GRACE seconds."""

    @abc.abstractmethod
    def close(self) -> None: ...
