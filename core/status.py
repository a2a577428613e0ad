"""Status machines of deployments, stages and node tasks, and the transitions they allow."""

from __future__ import annotations

from enum import StrEnum

from core.errors import InvalidTransition


class DeploymentStatus(StrEnum):
    PENDING = "pending"
    AWAITING_APPROVAL = "awaiting_approval"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL_DEPLOYMENT


class StageStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    HALTING = "halting"
    """Its failure threshold was exceeded: no new node starts, running ones finish."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL_STAGE


class TaskStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    """Its worker stopped renewing the claim (crashed or cut off) before it finished."""

    @property
    def is_final(self) -> bool:
        return self in _FINAL_TASK


_FINAL_DEPLOYMENT = {
    DeploymentStatus.SUCCEEDED,
    DeploymentStatus.FAILED,
    DeploymentStatus.CANCELLED,
}
_FINAL_STAGE = {
    StageStatus.SUCCEEDED,
    StageStatus.FAILED,
    StageStatus.SKIPPED,
    StageStatus.CANCELLED,
}
_FINAL_TASK = {
    TaskStatus.SUCCEEDED,
    TaskStatus.FAILED,
    TaskStatus.SKIPPED,
    TaskStatus.CANCELLED,
    TaskStatus.INTERRUPTED,
}

D, S, T = DeploymentStatus, StageStatus, TaskStatus

DEPLOYMENT_TRANSITIONS: dict[DeploymentStatus, frozenset[DeploymentStatus]] = {
    D.PENDING: frozenset({D.AWAITING_APPROVAL, D.RUNNING, D.FAILED, D.CANCELLED}),
    D.AWAITING_APPROVAL: frozenset({D.RUNNING, D.CANCELLED}),
    D.RUNNING: frozenset({D.PAUSED, D.SUCCEEDED, D.FAILED, D.CANCELLED}),
    D.PAUSED: frozenset({D.RUNNING, D.CANCELLED}),
    D.SUCCEEDED: frozenset(),
    # A failed deployment runs again when its failed nodes are retried.
    D.FAILED: frozenset({D.RUNNING}),
    D.CANCELLED: frozenset(),
}

STAGE_TRANSITIONS: dict[StageStatus, frozenset[StageStatus]] = {
    S.PENDING: frozenset({S.RUNNING, S.SKIPPED, S.CANCELLED}),
    S.RUNNING: frozenset({S.HALTING, S.SUCCEEDED, S.FAILED, S.CANCELLED}),
    S.HALTING: frozenset({S.FAILED, S.CANCELLED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset({S.RUNNING}),
    S.SKIPPED: frozenset({S.RUNNING}),
    S.CANCELLED: frozenset(),
}

TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    T.PENDING: frozenset({T.RUNNING, T.SKIPPED, T.CANCELLED}),
    T.RUNNING: frozenset({T.SUCCEEDED, T.FAILED, T.CANCELLED, T.INTERRUPTED}),
    T.SUCCEEDED: frozenset(),
    T.FAILED: frozenset({T.PENDING}),
    T.SKIPPED: frozenset({T.PENDING}),
    T.CANCELLED: frozenset(),
    T.INTERRUPTED: frozenset({T.PENDING, T.FAILED}),
}


def check_deployment(current: DeploymentStatus, new: DeploymentStatus, action: str) -> None:
    if new not in DEPLOYMENT_TRANSITIONS[current]:
        raise InvalidTransition(f"cannot {action} a deployment that is {current.value}")


def sources(table: dict[TaskStatus, frozenset[TaskStatus]], new: TaskStatus) -> list[TaskStatus]:
    """Every task status from which `new` may be reached (for conditional updates)."""
    return [status for status, targets in table.items() if new in targets]
