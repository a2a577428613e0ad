"""Writes what workers observe — log lines, step results, task outcomes — in batches.

Workers never wait for the database while a command runs: they hand records to this
thread, which writes everything queued so far in one transaction (log lines with one
multi-row insert), several times a second. Records are applied in the order they were
made, so a task's outcome always lands after its log lines. A failed write is retried,
never dropped.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.exc import SQLAlchemyError

from core.db import Database, upsert
from core.engine.progress import advance, requeue_interrupted
from core.events import NewEvent, emit_many
from core.models import LogLine, NodeLease, NodeTask, StepResult
from core.status import TaskStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogRecord:
    deployment_id: int
    task_id: int
    attempt: int
    step: int | None
    stream: str
    at: dt.datetime
    text: str


@dataclass(frozen=True)
class StepRecord:
    task_id: int
    attempt: int
    position: int
    name: str
    status: TaskStatus
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    exit_code: int | None = None
    error: str | None = None
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class TaskOutcome:
    task_id: int
    deployment_id: int
    worker: str
    status: TaskStatus
    finished_at: dt.datetime
    failed_step: int | None = None
    failed_step_name: str | None = None
    exit_code: int | None = None
    error: str | None = None
    last_lines: list[str] = field(default_factory=list)
    node: str = ""
    stage: str = ""


@dataclass(frozen=True)
class EventRecord:
    event: NewEvent


Record = LogRecord | StepRecord | TaskOutcome | EventRecord


class Recorder:
    def __init__(
        self,
        db: Database,
        *,
        on_flushed: Callable[[list[TaskOutcome]], None] | None = None,
        max_queue: int = 200_000,
    ) -> None:
        self._db = db
        self._queue: queue.Queue[Record] = queue.Queue(maxsize=max_queue)
        self._on_flushed = on_flushed
        self._stopping = threading.Event()
        self._idle = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._loop, name="squall-recorder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, record: Record) -> None:
        """Queue a record; blocks when the queue is full, which slows a chatty command down."""
        with self._idle:
            self._pending += 1
        self._queue.put(record)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is written."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def stop(self) -> None:
        self.drain()
        self._stopping.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            deadline = time.monotonic() + 0.05
            while len(batch) < 20_000:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    # Outcomes free a worker slot: write them now. Log lines can wait a
                    # moment for company.
                    if any(isinstance(item, TaskOutcome) for item in batch):
                        break
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(0.005)
            self._write_until_done(batch)
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()

    def _write_until_done(self, batch: list[Record]) -> None:
        delay = 0.1
        while True:
            try:
                outcomes = self._write(batch)
            except SQLAlchemyError:
                log.exception("could not write %d records; retrying in %.1fs", len(batch), delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if self._on_flushed is not None:
                self._on_flushed(outcomes)
            return

    def _write(self, batch: list[Record]) -> list[TaskOutcome]:
        lines: list[dict[str, Any]] = []
        steps: dict[tuple[int, int, int], StepRecord] = {}
        current_step: dict[int, int] = {}
        outcomes: list[TaskOutcome] = []
        events: list[NewEvent] = []
        for record in batch:
            if isinstance(record, LogRecord):
                lines.append(record.__dict__.copy())
            elif isinstance(record, StepRecord):
                steps[(record.task_id, record.attempt, record.position)] = record
                if record.status == TaskStatus.RUNNING:
                    current_step[record.task_id] = record.position
            elif isinstance(record, TaskOutcome):
                outcomes.append(record)
            else:
                events.append(record.event)
        applied: list[TaskOutcome] = []
        with self._db.write() as session:
            if lines:
                session.execute(insert(LogLine), lines)
            upsert(
                session,
                StepResult.__table__,
                [step.__dict__.copy() for step in steps.values()],
                ["task_id", "attempt", "position"],
            )
            for task_id, position in current_step.items():
                session.execute(
                    update(NodeTask)
                    .where(NodeTask.id == task_id, NodeTask.status == TaskStatus.RUNNING)
                    .values(current_step=position)
                )
            emit_many(session, events)
            for outcome in outcomes:
                if self._apply(session, outcome):
                    applied.append(outcome)
            advance(session, {outcome.deployment_id for outcome in applied})
        return outcomes

    def _apply(self, session: Any, outcome: TaskOutcome) -> bool:
        """Record a task's end, unless the task stopped being this worker's meanwhile."""
        changed = session.execute(
            update(NodeTask)
            .where(
                NodeTask.id == outcome.task_id,
                NodeTask.status == TaskStatus.RUNNING,
                NodeTask.worker == outcome.worker,
            )
            .values(
                status=outcome.status,
                finished_at=outcome.finished_at,
                lease_expires_at=None,
                failed_step=outcome.failed_step,
                failed_step_name=outcome.failed_step_name,
                exit_code=outcome.exit_code,
                error=outcome.error,
                last_lines=outcome.last_lines or None,
            )
        ).rowcount
        if not changed:
            log.warning(
                "task %s was no longer claimed by %s; its outcome is dropped",
                outcome.task_id,
                outcome.worker,
            )
            return False
        session.execute(delete(NodeLease).where(NodeLease.task_id == outcome.task_id))
        data: dict[str, Any] = {"node": outcome.node, "stage": outcome.stage}
        if outcome.status != TaskStatus.SUCCEEDED:
            data.update(
                step=outcome.failed_step_name,
                exit_code=outcome.exit_code,
                error=outcome.error,
                last_lines=outcome.last_lines[-5:],
            )
        emit_many(
            session,
            [
                NewEvent(
                    f"task.{outcome.status.value}",
                    deployment_id=outcome.deployment_id,
                    task_id=outcome.task_id,
                    data=data,
                )
            ],
        )
        if outcome.status == TaskStatus.INTERRUPTED:
            requeue_interrupted(session, [outcome.task_id])
        return True
