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

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from squall.core.changes import touch
from squall.core.db import Database, upsert
from squall.core.engine.progress import advance, requeue_interrupted
from squall.core.events import NewEvent, emit_many
from squall.core.models import LogLine, NodeLease, NodeTask, StepResult, TaskAttempt
from squall.core.status import TaskStatus

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
        self._queue: queue.Queue[Record | None] = queue.Queue(maxsize=max_queue)
        self._on_flushed = on_flushed
        self._stopping = threading.Event()
        self._idle = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._loop, name="squall-recorder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def writing_now(self) -> bool:
        """The caller is this recorder's own thread (committing what it was handed)."""
        return threading.current_thread() is self._thread

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
        self._queue.put(None)  # wakes the thread up at once
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            first = self._queue.get()
            if first is None:
                break
            batch: list[Record] = [first]
            deadline = time.monotonic() + 0.05
            while len(batch) < 20_000:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    # Outcomes free a worker slot: write them now. Log lines can wait a
                    # moment for company.
                    if any(isinstance(item, TaskOutcome) for item in batch):
                        break
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(0.005)
                    continue
                if item is None:
                    self._stopping.set()
                    break
                batch.append(item)
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
        for outcome in outcomes:
            current_step.pop(outcome.task_id, None)  # finished: no point in saying where it is
        with self._db.write() as session:
            if lines:
                # The table's insert: one statement for the batch (the ORM's bulk insert
                # would split it by which values are None, such as lines outside a step).
                session.execute(insert(LOG_LINES), lines)
            upsert(
                session,
                StepResult.__table__,
                [step.__dict__.copy() for step in steps.values()],
                ["task_id", "attempt", "position"],
            )
            if current_step:
                session.execute(
                    update(TASKS)
                    .where(
                        TASKS.c.id == bindparam("new_task"), TASKS.c.status == TaskStatus.RUNNING
                    )
                    .values(current_step=bindparam("new_position")),
                    [
                        {"new_task": task, "new_position": position}
                        for task, position in current_step.items()
                    ],
                )
            # Log lines change what watchers show without an event: tell them too.
            touch(session, {line["deployment_id"] for line in lines})
            emit_many(session, events)
            applied, stage_of = self._apply(session, outcomes)
            advance(session, _may_move(session, applied, stage_of))
        return outcomes

    def _apply(
        self, session: Session, outcomes: list[TaskOutcome]
    ) -> tuple[list[TaskOutcome], dict[int, int]]:
        """Record the end of tasks, except those that stopped being their worker's meanwhile
        (reaped after a lost claim: another worker may be running them). The outcomes
        recorded, and the stage of each of their tasks."""
        if not outcomes:
            return [], {}
        running = {
            row.id: row
            for row in session.execute(
                select(
                    TASKS.c.id,
                    TASKS.c.stage_id,
                    TASKS.c.worker,
                    TASKS.c.attempt,
                    TASKS.c.started_at,
                ).where(
                    TASKS.c.id.in_([outcome.task_id for outcome in outcomes]),
                    TASKS.c.status == TaskStatus.RUNNING,
                )
            )
        }

        def still_theirs(outcome: TaskOutcome) -> bool:
            task = running.get(outcome.task_id)
            return task is not None and task.worker == outcome.worker

        applied = [outcome for outcome in outcomes if still_theirs(outcome)]
        for outcome in outcomes:
            if not still_theirs(outcome):
                log.warning(
                    "task %s was no longer %s's; its outcome is dropped",
                    outcome.task_id,
                    outcome.worker,
                )
        if not applied:
            return [], {}
        session.execute(
            update(TASKS)
            .where(TASKS.c.id == bindparam("new_task"), TASKS.c.status == TaskStatus.RUNNING)
            .values(
                status=bindparam("new_status"),
                finished_at=bindparam("new_finished_at"),
                lease_expires_at=None,
                failed_step=bindparam("new_failed_step"),
                failed_step_name=bindparam("new_failed_step_name"),
                exit_code=bindparam("new_exit_code"),
                error=bindparam("new_error"),
                last_lines=bindparam("new_last_lines"),
            ),
            [
                {
                    "new_task": outcome.task_id,
                    "new_status": outcome.status,
                    "new_finished_at": outcome.finished_at,
                    "new_failed_step": outcome.failed_step,
                    "new_failed_step_name": outcome.failed_step_name,
                    "new_exit_code": outcome.exit_code,
                    "new_error": outcome.error,
                    "new_last_lines": outcome.last_lines or None,
                }
                for outcome in applied
            ],
        )
        session.execute(
            insert(ATTEMPTS),
            [
                {
                    "deployment_id": outcome.deployment_id,
                    "task_id": outcome.task_id,
                    "attempt": running[outcome.task_id].attempt,
                    "node_name": outcome.node,
                    "stage_name": outcome.stage,
                    "status": outcome.status,
                    "worker": outcome.worker,
                    "started_at": running[outcome.task_id].started_at,
                    "finished_at": outcome.finished_at,
                    "failed_step": outcome.failed_step,
                    "failed_step_name": outcome.failed_step_name,
                    "exit_code": outcome.exit_code,
                    "error": outcome.error,
                    "last_lines": outcome.last_lines or None,
                }
                for outcome in applied
            ],
        )
        task_ids = [outcome.task_id for outcome in applied]
        session.execute(delete(NodeLease).where(NodeLease.task_id.in_(task_ids)))
        emit_many(session, [_finished_event(outcome) for outcome in applied])
        requeue_interrupted(
            session,
            [outcome.task_id for outcome in applied if outcome.status == TaskStatus.INTERRUPTED],
        )
        return applied, {outcome.task_id: running[outcome.task_id].stage_id for outcome in applied}


def _may_move(session: Session, applied: list[TaskOutcome], stage_of: dict[int, int]) -> set[int]:
    """The deployments these outcomes may move forward. A success in a stage where other
    tasks still run changes nothing (a stage halts on failures and ends once nothing in it
    runs), and looking would cost five queries, in the write lock, for every batch: the
    scheduler's round looks at every active deployment anyway."""
    succeeded = {
        stage_of[outcome.task_id] for outcome in applied if outcome.status == TaskStatus.SUCCEEDED
    }
    running = set(
        session.scalars(
            select(TASKS.c.stage_id)
            .where(TASKS.c.stage_id.in_(succeeded), TASKS.c.status == TaskStatus.RUNNING)
            .distinct()
        )
        if succeeded
        else ()
    )
    return {
        outcome.deployment_id
        for outcome in applied
        if outcome.status != TaskStatus.SUCCEEDED or stage_of[outcome.task_id] not in running
    }


TASKS: Table = NodeTask.__table__  # type: ignore[assignment]  # a mapped class's Table
"""Statements here use the table, not the ORM: no per-row session bookkeeping. Their
bound parameters are named `new_…`: SQLAlchemy reserves column names for itself."""
LOG_LINES: Table = LogLine.__table__  # type: ignore[assignment]
ATTEMPTS: Table = TaskAttempt.__table__  # type: ignore[assignment]


def _finished_event(outcome: TaskOutcome) -> NewEvent:
    data: dict[str, Any] = {"node": outcome.node, "stage": outcome.stage}
    if outcome.status != TaskStatus.SUCCEEDED:
        data.update(
            step=outcome.failed_step_name,
            exit_code=outcome.exit_code,
            error=outcome.error,
            last_lines=outcome.last_lines[-5:],
        )
    return NewEvent(
        f"task.{outcome.status.value}",
        deployment_id=outcome.deployment_id,
        task_id=outcome.task_id,
        data=data,
    )
