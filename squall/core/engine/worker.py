"""The engine of one process: claims node tasks, runs them in a thread pool, keeps their
claims alive, records results, and moves deployments forward.

Threads:
- dispatcher: claims as many tasks as the pool has free slots, in one transaction;
- pool: runs claimed tasks (one connection per task);
- recorder: writes what the tasks produce, in batches;
- keeper: renews the claims of running tasks and interrupts those cancelled meanwhile;
- scheduler: moves deployments forward (stages, gates, bake times), reaps tasks of dead
  workers, delivers events. On PostgreSQL only the process holding the scheduler lock
  moves and reaps (see core.engine.leadership); every process delivers events, in turns.
- outbox: delivers events to integrations and checks holds (core.outbox), only when a
  plugin registered a destination or judges holds; its HTTP calls never hold up the rest.

Several processes may run an engine on one database; every change they make is a
conditional update of locked rows, so they cooperate without talking to each other.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from squall.core.engine.claims import ClaimedTask, claim_tasks
from squall.core.engine.dispatch import deliver_events
from squall.core.engine.leadership import SchedulerLock
from squall.core.engine.orphans import drop_lease, hold_lease
from squall.core.engine.progress import advance, reap_expired
from squall.core.engine.recorder import Recorder, TaskOutcome
from squall.core.engine.runner import TaskRun
from squall.core.errors import NotFound
from squall.core.models import Deployment, DeploymentHold, NodeTask, utcnow
from squall.core.outbox.runner import Outbox
from squall.core.plan import NodeInfo
from squall.core.runtime import Runtime
from squall.core.status import DeploymentStatus, TaskStatus
from squall.core.transports.base import ShellConnection

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Engine:
    def __init__(
        self, runtime: Runtime, *, workers: int | None = None, name: str | None = None
    ) -> None:
        self.runtime = runtime
        self.name = name or worker_name()
        self.capacity = workers or runtime.settings.engine.workers
        settings = runtime.settings.engine
        self._lease = settings.lease_seconds
        self._poll = settings.poll_seconds
        self._wake = threading.Condition()
        self._woken = False
        """A poke not yet seen by the dispatcher (guarded by `_wake`): one that comes while
        it is claiming must not be lost, or freed slots would idle a whole poll."""
        self._stopping = threading.Event()
        self._in_flight: dict[int, TaskRun] = {}
        self._pool = ThreadPoolExecutor(max_workers=self.capacity, thread_name_prefix="squall-task")
        self.recorder = Recorder(runtime.db, on_flushed=self._flushed)
        self._dispatcher = threading.Thread(
            target=self._dispatch_loop, name="squall-dispatcher", daemon=True
        )
        self._threads = [
            self._dispatcher,
            threading.Thread(target=self._keeper_loop, name="squall-keeper", daemon=True),
            threading.Thread(target=self._scheduler_loop, name="squall-scheduler", daemon=True),
        ]
        self._listeners: list[Callable[[], None]] = []
        self._unsubscribe: Callable[[], None] = lambda: None
        self.outbox = Outbox(runtime, holder=self.name)

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> Engine:
        hold_lease(self.runtime.db, self.name, self._lease)
        self._unsubscribe = self.runtime.db.changes.subscribe(self._heard)
        self.recorder.start()
        for thread in self._threads:
            thread.start()
        self.outbox.start()
        return self

    def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; give running tasks `grace` seconds, then interrupt them."""
        self._stopping.set()
        self._unsubscribe()
        self.poke()
        # Tasks the dispatcher is claiming right now must still reach the pool (and be
        # waited for below): claimed and never run, they would sit out a whole lease.
        self._dispatcher.join(timeout=60)
        with self._wake:
            self._wake.wait_for(lambda: not self._in_flight, timeout=grace)
            leftovers = list(self._in_flight.values())
        for run in leftovers:
            run.interrupt("shutdown")
        self._pool.shutdown(wait=True)
        for thread in self._threads:
            thread.join(timeout=5)
        self.outbox.stop()
        self.recorder.stop()
        drop_lease(self.runtime.db, self.name)

    def __enter__(self) -> Engine:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def poke(self) -> None:
        """Wake the dispatcher now instead of at its next poll (`stop` does, to be seen at
        once)."""
        with self._wake:
            self._woken = True
            self._wake.notify_all()

    def _heard(self, _deployment_ids: frozenset[int]) -> None:
        """A change was committed in this process: a deployment created, retried, resumed
        or approved (through the console or the API of `squall serve`), a stage started by
        the scheduler, has work to claim now, not at the next poll (`engine.poll_seconds`,
        which remains for work written by other processes). Not the engine's own writes:
        the dispatcher's claims (it looks again by itself while it fills its slots) and
        the recorder's outcomes (which wake it through `_flushed`)."""
        if threading.current_thread() is not self._dispatcher and not self.recorder.writing_now:
            self.poke()

    @property
    def idle(self) -> bool:
        """No task of this engine is running (or written but not yet let go)."""
        with self._wake:
            return not self._in_flight

    def on_progress(self, listener: Callable[[], None]) -> None:
        """Call `listener` (from the recorder thread) after each batch of outcomes is written."""
        self._listeners.append(listener)

    # --- dispatcher ------------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        while not self._stopping.is_set():
            with self._wake:
                free = self.capacity - len(self._in_flight)
            claimed: list[ClaimedTask] = []
            if free > 0:
                claimed = self._claim(free)
            for task in claimed:
                self._launch(task)
            if claimed and len(claimed) == free:
                continue
            with self._wake:
                self._wake.wait_for(
                    lambda: self._woken or self._stopping.is_set(), timeout=self._poll
                )
                self._woken = False

    def _claim(self, free: int) -> list[ClaimedTask]:
        try:
            with self.runtime.db.write() as session:
                return claim_tasks(
                    session,
                    worker=self.name,
                    capacity=free,
                    lease_seconds=self._lease,
                    box=self.runtime.secrets,
                )
        except Exception:
            log.exception("claiming tasks failed; retrying")
            self._stopping.wait(1.0)
            return []

    def _launch(self, task: ClaimedTask) -> None:
        run = TaskRun(
            task=task,
            worker=self.name,
            plugins=self.runtime.plugins,
            recorder=self.recorder,
            box=self.runtime.secrets,
            connect=self._connect,
            default_timeout=self.runtime.settings.engine.step_timeout,
        )
        with self._wake:
            self._in_flight[task.id] = run
        self._pool.submit(run.execute)

    def _connect(self, node: NodeInfo, on_trusted: Callable[[str, str], None]) -> ShellConnection:
        if node.transport == "local":
            return self.runtime.local.connect(node)
        return self.runtime.ssh.connect(node, on_trusted)

    def _flushed(self, outcomes: list[TaskOutcome]) -> None:
        if not outcomes:
            return
        with self._wake:
            for outcome in outcomes:
                self._in_flight.pop(outcome.task_id, None)
            self._woken = True
            self._wake.notify_all()
        for listener in self._listeners:
            listener()

    # --- keeper ----------------------------------------------------------------------

    def _keeper_loop(self) -> None:
        interval = min(self._lease / 3, 1.0)
        renewed = time.monotonic()
        while not self._stopping.wait(interval):
            with self._wake:
                mine = dict(self._in_flight)
            try:
                if mine:
                    self._renew(mine)
                if time.monotonic() - renewed >= self._lease / 3:
                    hold_lease(self.runtime.db, self.name, self._lease)
                    renewed = time.monotonic()
            except Exception:
                log.exception("renewing claims failed")

    def _renew(self, mine: dict[int, TaskRun]) -> None:
        expires = utcnow() + dt.timedelta(seconds=self._lease)
        with self.runtime.db.write() as session:
            renewed = set(
                session.scalars(
                    update(NodeTask)
                    .where(
                        NodeTask.id.in_(mine),
                        NodeTask.worker == self.name,
                        NodeTask.status == TaskStatus.RUNNING,
                    )
                    .values(lease_expires_at=expires)
                    .returning(NodeTask.id)
                )
            )
            cancelled = set(
                session.scalars(
                    select(NodeTask.id)
                    .join(Deployment, Deployment.id == NodeTask.deployment_id)
                    .where(
                        NodeTask.id.in_(renewed), Deployment.status == DeploymentStatus.CANCELLED
                    )
                )
            )
        for task_id, run in mine.items():
            # A task no longer ours was reaped (we were cut off too long) or finished.
            if task_id in cancelled:
                run.interrupt("cancel")
            elif task_id not in renewed:
                run.interrupt("lost")

    def interrupt_deployment(self, deployment_id: int) -> None:
        """Interrupt this process's running tasks of a deployment now (cancel, in-process)."""
        with self._wake:
            runs = [
                run for run in self._in_flight.values() if run.task.deployment_id == deployment_id
            ]
        for run in runs:
            run.interrupt("cancel")

    # --- scheduler -------------------------------------------------------------------

    def _scheduler_loop(self) -> None:
        lock = SchedulerLock(self.runtime.db)
        try:
            while not self._stopping.wait(self._poll):
                try:
                    if lock.held():
                        with self.runtime.db.write() as session:
                            reap_expired(session)
                            advance(session)
                    deliver_events(self.runtime, holder=self.name)
                except Exception:
                    log.exception("scheduling round failed")
        finally:
            lock.release()


def run_until_settled(
    runtime: Runtime,
    deployment_id: int,
    *,
    on_tick: Callable[[], None] | None = None,
    interval: float | None = None,
    timeout: float | None = None,
    wait_for_holds: bool = True,
) -> DeploymentStatus:
    """Run an engine in this process until the deployment stops moving; its final status.

    "Stops moving" means it is finished, or it waits for a person (paused, or at a gate)
    with nothing running. A deployment held on an outside condition (a ticket's status,
    see core.outbox.holds) is still moving: this engine's outbox checks it, and goes on
    once it is met. Unless `wait_for_holds` is False: then a hold checked once and still
    not met stops it too (its status is then pending, or awaiting approval).

    The state is looked at every `interval` (default a quarter second), and at once when
    the engine has written outcomes and runs nothing more (so the end is noticed without
    waiting); `on_tick` (a progress display) runs at most once per `interval`, and once
    more at the end.
    """
    interval = 0.25 if interval is None else interval
    deadline = None if timeout is None else time.monotonic() + timeout
    moved = threading.Event()
    with Engine(runtime) as engine:
        engine.on_progress(lambda: moved.set() if engine.idle else None)
        ticked = -interval
        while True:
            moved.clear()
            with runtime.db.read() as session:
                status, running, held = _settled_state(session, deployment_id)
            if wait_for_holds:
                running += held
            waiting = status.waits_for_a_person or bool(held)
            settled = (status.is_final or waiting) and not running
            now = time.monotonic()
            if on_tick is not None and (settled or now - ticked >= interval):
                on_tick()
                ticked = now
            if settled:
                engine.recorder.drain()
                return status
            if deadline is not None and now > deadline:
                raise TimeoutError(
                    f"deployment {deployment_id} still {status.value} after {timeout}s"
                )
            moved.wait(interval)


def _settled_state(session: Session, deployment_id: int) -> tuple[DeploymentStatus, int, int]:
    """Its status; how many tasks run or holds wait for their first check; how many holds
    were checked and still wait."""
    status = session.scalar(select(Deployment.status).where(Deployment.id == deployment_id))
    if status is None:
        raise NotFound(f"no deployment {deployment_id}")
    running = session.scalar(
        select(func.count()).where(
            NodeTask.deployment_id == deployment_id, NodeTask.status == TaskStatus.RUNNING
        )
    )
    holds = session.execute(
        select(DeploymentHold.checked_at.is_(None), func.count())
        .where(DeploymentHold.deployment_id == deployment_id, DeploymentHold.released_at.is_(None))
        .group_by(DeploymentHold.checked_at.is_(None))
    ).all()
    unchecked = sum(count for first, count in holds if first)
    checked = sum(count for first, count in holds if not first)
    if status.is_final:
        checked = 0
    return status, (running or 0) + unchecked, checked
