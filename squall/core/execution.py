"""What a step sees while it runs on a node: the connection, the log and its outcome."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from squall.core.plan import NodeInfo
from squall.core.shell import Shell

Stream = Literal["stdout", "stderr", "squall"]


class LogSink(Protocol):
    """Where a step's output goes, line by line; Squall's own notes use stream `squall`."""

    def write(self, line: str, stream: Stream = "squall") -> None: ...


@dataclass(frozen=True)
class CommandResult:
    exit_code: int | None
    """None when the command did not exit: it timed out, was interrupted or was killed."""
    duration: float
    timed_out: bool = False
    interrupted: bool = False
    stdout: bytes = b""
    """Only filled when the caller asked to capture output instead of logging it."""
    stderr: bytes = b""
    signal: str | None = None
    """The signal that killed the command, when one did and Squall did not send it: its
    name ("KILL"), or "unknown" over SSH, where paramiko does not pass the name on."""

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0

    @property
    def failed(self) -> bool:
        return not self.succeeded


class NodeConnection(Protocol):
    """One open connection to a node, kept across the steps of a node task.

    Relative paths and commands start in the node's working folder (`$HOME` over SSH,
    the node's folder for local nodes).
    """

    node: NodeInfo

    @property
    def interrupted(self) -> bool:
        """True once the task was cancelled: steps that wait or retry should stop."""
        ...

    def run(
        self, command: Shell, *, timeout: float, log: LogSink | None, stdin: bytes | None = None
    ) -> CommandResult:
        """Run a command built with `sh()` or `argv()`; stream its output to `log`, or
        capture it (`stdout`, `stderr`) when `log` is None."""
        ...

    def sleep(self, seconds: float) -> bool:
        """Wait `seconds`, waking up at once when interrupted; False if interrupted."""
        ...

    def read_file(self, path: str, *, timeout: float) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        ...

    def write_file(self, path: str, data: bytes, *, mode: int | None, timeout: float) -> None:
        """Replace the file atomically (write a temporary file, rename it over)."""
        ...


@dataclass(frozen=True)
class StepOutcome:
    """The result of one step: it succeeded, or it failed with an exit code and/or an error."""

    exit_code: int | None = 0
    error: str | None = None
    data: Mapping[str, Any] | None = None
    """Structured facts a step recorded (shown in reports, kept with the step result)."""
    inconclusive: bool = False
    """A check that could not decide; the deployment pauses for a person."""

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.exit_code in (0, None) and not self.inconclusive

    @property
    def failed(self) -> bool:
        return not self.succeeded

    @classmethod
    def ok(cls, data: Mapping[str, Any] | None = None) -> StepOutcome:
        return cls(exit_code=0, data=data)

    @classmethod
    def failure(
        cls, error: str, *, exit_code: int | None = None, data: Mapping[str, Any] | None = None
    ) -> StepOutcome:
        return cls(exit_code=exit_code, error=error, data=data)

    @classmethod
    def undecided(cls, reason: str, *, exit_code: int | None = None) -> StepOutcome:
        return cls(exit_code=exit_code, error=reason, inconclusive=True)

    @classmethod
    def from_command(cls, result: CommandResult, timeout: float) -> StepOutcome:
        if result.timed_out:
            return cls.failure(f"timed out after {timeout:g}s")
        if result.interrupted:
            return cls.failure("interrupted")
        if result.signal == "unknown":
            return cls.failure("killed by a signal")
        if result.signal:
            return cls.failure(f"killed by signal {result.signal}")
        if result.exit_code != 0:
            # The runner replaces this with the command's first line on stderr, if any.
            return cls.failure(f"exited with status {result.exit_code}", exit_code=result.exit_code)
        return cls.ok()
