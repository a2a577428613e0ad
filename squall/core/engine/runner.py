"""Runs one claimed node task: connect once, run its steps in order, report the outcome."""

from __future__ import annotations

import collections
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

from squall.core.engine.claims import ClaimedTask
from squall.core.engine.recorder import EventRecord, LogRecord, Recorder, StepRecord, TaskOutcome
from squall.core.errors import ValidationError
from squall.core.events import NewEvent
from squall.core.execution import StepOutcome, Stream
from squall.core.models import utcnow
from squall.core.plan import NodeInfo, Step
from squall.core.plugins import PluginHost
from squall.core.secrets import Redactor, SecretBox, secret_values, unseal_params
from squall.core.status import TaskStatus
from squall.core.transports.base import ShellConnection, TransportError

log = logging.getLogger(__name__)

LAST_LINES = 20

EXIT_ERROR = "exited with status {}"
"""A command's failure when it said nothing on stderr (`StepOutcome.from_command`)."""
Stop = Literal["cancel", "shutdown", "lost"]
"""Why a running task is stopped: its deployment was cancelled, its worker is shutting
down, or its worker no longer holds the claim (another may run it)."""


class TaskLog:
    """The LogSink a task's steps write to: redacted, timestamped, queued for the recorder."""

    def __init__(self, recorder: Recorder, task: ClaimedTask, redact: Redactor) -> None:
        self._recorder = recorder
        self._task = task
        self.redact = redact
        self.step: int | None = None
        self.tail: collections.deque[str] = collections.deque(maxlen=LAST_LINES)
        self.first_error: str | None = None
        """The current step's first line on stderr: what a failure is known by."""

    def write(self, line: str, stream: Stream = "squall") -> None:
        text = self.redact(line) if self.redact else line
        if stream != "squall":
            self.tail.append(text)
        if stream == "stderr" and self.first_error is None and text.strip():
            self.first_error = text.strip()
        self._recorder.put(
            LogRecord(
                self._task.deployment_id,
                self._task.id,
                self._task.attempt,
                self.step,
                stream,
                utcnow(),
                text,
            )
        )


Connect = Callable[[NodeInfo, Callable[[str, str], None]], ShellConnection]


@dataclasses.dataclass
class TaskRun:
    """One execution of a claimed task; `interrupt()` may be called from another thread."""

    task: ClaimedTask
    worker: str
    plugins: PluginHost
    recorder: Recorder
    box: SecretBox
    connect: Connect
    default_timeout: float
    connection: ShellConnection | None = None
    stopped: Stop | None = None
    """Why the task was told to stop, if it was."""

    def interrupt(self, reason: Stop) -> None:
        """Stop the running step and run no more; safe from any thread."""
        if self.stopped is None:
            self.stopped = reason
        if self.connection is not None:
            self.connection.interrupt()

    def execute(self) -> None:
        task = self.task
        redact = self._redactor()
        sink = TaskLog(self.recorder, task, redact)
        try:
            outcome = self._run_steps(sink)
        except Exception as exc:
            log.exception("task %s crashed", task.id)
            sink.write(f"internal error: {type(exc).__name__}: {exc}")
            outcome = self._outcome(TaskStatus.FAILED, sink, error=f"internal error: {exc}")
        self.recorder.put(outcome)

    def _redactor(self) -> Redactor:
        if self.task.deployment_type not in self.plugins.types:
            return Redactor([])
        try:
            params = self.plugins.parse_params(
                self.task.deployment_type, unseal_params(self.task.sealed_params, self.box)
            )
        except ValidationError:
            return Redactor([])
        return Redactor(secret_values(params))

    def _run_steps(self, sink: TaskLog) -> TaskOutcome:
        task = self.task
        node = task.node
        attempt_note = f" (attempt {task.attempt})" if task.attempt > 1 else ""
        sink.write(f"connecting to {node.name} ({node.transport} {node.address}){attempt_note}")
        try:
            self.connection = self.connect(node, lambda host, key: self._trusted(sink, host, key))
        except TransportError as exc:
            sink.write(f"connection failed: {exc}")
            return self._outcome(TaskStatus.FAILED, sink, step=None, error=str(exc))
        if self.stopped is not None:
            self.connection.interrupt()
        try:
            if task.resume_from:
                sink.write(
                    f"resuming at step {task.resume_from + 1}: earlier steps already succeeded"
                )
            for position in range(task.resume_from, len(task.steps)):
                step = task.steps[position]
                if step.timeout is None:
                    step = dataclasses.replace(step, timeout=self.default_timeout)
                outcome = self._run_step(position, step, sink)
                if self.stopped is not None:
                    return self._stopped_outcome(sink, position)
                if outcome.inconclusive:
                    return self._outcome(
                        TaskStatus.INCONCLUSIVE,
                        sink,
                        step=position,
                        exit_code=outcome.exit_code,
                        error=outcome.error,
                    )
                if outcome.failed:
                    return self._outcome(
                        TaskStatus.FAILED,
                        sink,
                        step=position,
                        exit_code=outcome.exit_code,
                        error=outcome.error,
                    )
            return self._outcome(TaskStatus.SUCCEEDED, sink)
        finally:
            self.connection.close()

    def _run_step(self, position: int, step: Step, sink: TaskLog) -> StepOutcome:
        task = self.task
        sink.step = position
        sink.tail.clear()
        sink.first_error = None
        started = utcnow()
        self.recorder.put(
            StepRecord(task.id, task.attempt, position, step.name, TaskStatus.RUNNING, started)
        )
        sink.write(f"step {position + 1}/{len(task.steps)}: {step.name}")
        clock = time.monotonic()
        assert self.connection is not None
        try:
            outcome: StepOutcome | None = self.plugins.hook.squall_execute_step(
                step=step, node=task.node, connection=self.connection, log=sink
            )
            if outcome is None:
                outcome = StepOutcome.failure(f"no plugin executes steps of kind {step.kind!r}")
        except TransportError as exc:
            outcome = StepOutcome.failure(str(exc))
        except Exception as exc:
            log.exception("step %r of task %s raised", step.name, task.id)
            outcome = StepOutcome.failure(f"{type(exc).__name__}: {exc}")
        if (
            outcome.failed
            and sink.first_error
            and outcome.error == EXIT_ERROR.format(outcome.exit_code)
        ):
            # "exited with status 1" says little; the command's first complaint says what.
            outcome = dataclasses.replace(outcome, error=sink.first_error)
        if sink.redact:
            # Plugins may echo a secret in an error or in facts; they are shown and stored.
            outcome = dataclasses.replace(
                outcome,
                error=sink.redact(outcome.error) if outcome.error else None,
                data=sink.redact.redact_json(dict(outcome.data)) if outcome.data else None,
            )
        elapsed = time.monotonic() - clock
        if self.stopped is not None:
            status, verdict = TaskStatus(self._stopped_status()), f"stopped ({self.stopped})"
        elif outcome.succeeded:
            status, verdict = TaskStatus.SUCCEEDED, "ok"
        elif outcome.inconclusive:
            status, verdict = TaskStatus.INCONCLUSIVE, f"{outcome.error}"
        else:
            status, verdict = TaskStatus.FAILED, f"failed: {outcome.error}"
        sink.write(f"step {step.name}: {verdict} ({elapsed:.2f}s)")
        self.recorder.put(
            StepRecord(
                task.id,
                task.attempt,
                position,
                step.name,
                status,
                started,
                utcnow(),
                outcome.exit_code,
                outcome.error if status != TaskStatus.SUCCEEDED else None,
                dict(outcome.data) if outcome.data else None,
            )
        )
        return outcome

    def _stopped_status(self) -> TaskStatus:
        return TaskStatus.CANCELLED if self.stopped == "cancel" else TaskStatus.INTERRUPTED

    def _stopped_outcome(self, sink: TaskLog, position: int) -> TaskOutcome:
        reasons = {
            "cancel": "cancelled",
            "shutdown": f"worker {self.worker} stopped before the task finished",
            "lost": f"worker {self.worker} lost its claim on the task",
        }
        assert self.stopped is not None
        return self._outcome(
            self._stopped_status(), sink, step=position, error=reasons[self.stopped]
        )

    def _trusted(self, sink: TaskLog, hostname: str, key_fingerprint: str) -> None:
        sink.write(f"trusted the new host key of {hostname} on first use: {key_fingerprint}")
        self.recorder.put(
            EventRecord(
                NewEvent(
                    "host_key.trusted",
                    deployment_id=self.task.deployment_id,
                    task_id=self.task.id,
                    data={
                        "node": self.task.node.name,
                        "host": hostname,
                        "fingerprint": key_fingerprint,
                    },
                )
            )
        )

    def _outcome(
        self,
        status: TaskStatus,
        sink: TaskLog,
        *,
        step: int | None = None,
        exit_code: int | None = None,
        error: str | None = None,
    ) -> TaskOutcome:
        failed = status != TaskStatus.SUCCEEDED
        step_name: str | None = None
        if failed:
            step_name = self.task.steps[step].name if step is not None else "connect"
        return TaskOutcome(
            task_id=self.task.id,
            deployment_id=self.task.deployment_id,
            worker=self.worker,
            status=status,
            finished_at=utcnow(),
            failed_step=step if failed else None,
            failed_step_name=step_name,
            exit_code=exit_code if failed else None,
            error=error if failed else None,
            last_lines=list(sink.tail) if failed else [],
            node=self.task.node.name,
            stage=self.task.stage,
        )


def describe(data: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in data.items())
