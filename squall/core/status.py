"""Status machines of deployments, stages and node tasks, and the transitions they allow."""

from __future__ import annotations

from enum import StrEnum

from squall.core.errors import InvalidTransition


class DeploymentStatus(StrEnum):
    PENDING = "pending"
    AWAITING_APPROVAL = "awaiting_approval"
    """A stage's gate waits for a person to promote it."""
    RUNNING = "running"
    PAUSED = "paused"
    """By an operator, or by a health check that could not decide."""
    SUCCEEDED = "succeeded"
    SUCCEEDED_WITH_EXCLUSIONS = "succeeded_with_exclusions"
    """Every node succeeded except those an operator set aside after they failed."""
    FAILED = "failed"
    CANCELLED = "cancelled"
    ROLLED_BACK = "rolled_back"

    @property
    def words(self) -> str:
        """How people read it: `succeeded with exclusions`, `awaiting approval`."""
        return self.value.replace("_", " ")

    @property
    def is_final(self) -> bool:
        return self in _FINAL_DEPLOYMENT

    @property
    def waits_for_a_person(self) -> bool:
        return self in (DeploymentStatus.AWAITING_APPROVAL, DeploymentStatus.PAUSED)


class StageStatus(StrEnum):
    PENDING = "pending"
    WAITING = "waiting"
    """Its gate waits for approval."""
    RUNNING = "running"
    HALTING = "halting"
    """Its failure threshold was exceeded: no new node starts, running ones finish."""
    BAKING = "baking"
    """Its nodes are done; it waits out its bake time before the next stage."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL_STAGE


class StageKind(StrEnum):
    DEPLOY = "deploy"
    """Runs the change; each node is in one deploy stage at most."""
    CHECK = "check"
    """A health check of nodes an earlier stage deployed: pass, fail or inconclusive."""
    ROLLBACK = "rollback"
    """Undoes what a deploy stage did."""


class TaskStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"
    """A health check that could not tell pass from fail; a person decides."""
    SKIPPED = "skipped"
    """Never ran: a failure threshold halted its stage, or the deployment was rolled back."""
    NOT_STARTED = "not_started"
    """Never ran: the deployment was cancelled before its turn."""
    CANCELLED = "cancelled"
    """Was running when the deployment was cancelled: it may have partly run."""
    INTERRUPTED = "interrupted"
    """Its worker stopped renewing the claim (crashed or cut off) before it finished."""
    EXCLUDED = "excluded"
    """Failed, then set aside by an operator so the deployment could go on."""

    @property
    def is_final(self) -> bool:
        return self in _FINAL_TASK


_FINAL_DEPLOYMENT = {
    DeploymentStatus.SUCCEEDED,
    DeploymentStatus.SUCCEEDED_WITH_EXCLUSIONS,
    DeploymentStatus.FAILED,
    DeploymentStatus.CANCELLED,
    DeploymentStatus.ROLLED_BACK,
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
    TaskStatus.INCONCLUSIVE,
    TaskStatus.SKIPPED,
    TaskStatus.NOT_STARTED,
    TaskStatus.CANCELLED,
    TaskStatus.INTERRUPTED,
    TaskStatus.EXCLUDED,
}
NEVER_RAN = frozenset({TaskStatus.SKIPPED, TaskStatus.NOT_STARTED})
"""Task outcomes of nodes that were never touched."""
FAILURES = frozenset({TaskStatus.FAILED, TaskStatus.INTERRUPTED})
"""Task outcomes that count against a stage's failure threshold."""
UNSUCCESSFUL = frozenset({TaskStatus.FAILED, TaskStatus.INTERRUPTED, TaskStatus.INCONCLUSIVE})
"""Task outcomes that always have a failure point to show."""


def has_failure_point(status: str, failed_step: str | None, error: str | None) -> bool:
    """Whether a task has a failure point to show: failed, interrupted, inconclusive, or set
    aside after failing. A node set aside also sets aside its later tasks (its health
    check), which never ran and have none. (`models.failure_point_condition` asks SQL the same.)"""
    if status in UNSUCCESSFUL:
        return True
    return status == TaskStatus.EXCLUDED and bool(failed_step or error)


D, S, T = DeploymentStatus, StageStatus, TaskStatus

DEPLOYMENT_TRANSITIONS: dict[DeploymentStatus, frozenset[DeploymentStatus]] = {
    D.PENDING: frozenset({D.AWAITING_APPROVAL, D.RUNNING, D.FAILED, D.CANCELLED}),
    D.AWAITING_APPROVAL: frozenset({D.RUNNING, D.PAUSED, D.CANCELLED}),
    D.RUNNING: frozenset(
        {
            D.AWAITING_APPROVAL,
            D.PAUSED,
            D.SUCCEEDED,
            D.SUCCEEDED_WITH_EXCLUSIONS,
            D.FAILED,
            D.CANCELLED,
            D.ROLLED_BACK,
        }
    ),
    D.PAUSED: frozenset(
        {D.RUNNING, D.SUCCEEDED, D.SUCCEEDED_WITH_EXCLUSIONS, D.FAILED, D.CANCELLED}
    ),
    # A finished deployment runs again to retry its failed nodes, to go on without them,
    # or to roll back.
    D.SUCCEEDED: frozenset({D.RUNNING}),
    D.SUCCEEDED_WITH_EXCLUSIONS: frozenset({D.RUNNING}),
    D.FAILED: frozenset({D.RUNNING}),
    D.CANCELLED: frozenset({D.RUNNING}),
    D.ROLLED_BACK: frozenset(),
}

STAGE_TRANSITIONS: dict[StageStatus, frozenset[StageStatus]] = {
    S.PENDING: frozenset({S.WAITING, S.RUNNING, S.SKIPPED, S.CANCELLED}),
    S.WAITING: frozenset({S.RUNNING, S.SKIPPED, S.CANCELLED}),
    S.RUNNING: frozenset({S.HALTING, S.BAKING, S.SUCCEEDED, S.FAILED, S.CANCELLED}),
    S.HALTING: frozenset({S.FAILED, S.CANCELLED}),
    S.BAKING: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED}),
    S.SUCCEEDED: frozenset({S.PENDING}),  # its nodes set aside retried
    # Retried, or set aside and continued.
    S.FAILED: frozenset({S.PENDING, S.RUNNING}),
    S.SKIPPED: frozenset({S.PENDING}),
    S.CANCELLED: frozenset({S.PENDING}),  # a cancelled deployment retried
}

TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    T.PENDING: frozenset({T.RUNNING, T.SKIPPED, T.NOT_STARTED, T.CANCELLED, T.EXCLUDED}),
    T.RUNNING: frozenset({T.SUCCEEDED, T.FAILED, T.INCONCLUSIVE, T.CANCELLED, T.INTERRUPTED}),
    T.SUCCEEDED: frozenset(),
    T.FAILED: frozenset({T.PENDING, T.EXCLUDED}),
    T.INCONCLUSIVE: frozenset({T.PENDING}),
    T.SKIPPED: frozenset({T.PENDING, T.EXCLUDED}),
    T.NOT_STARTED: frozenset({T.PENDING}),
    T.CANCELLED: frozenset({T.PENDING}),
    T.INTERRUPTED: frozenset({T.PENDING, T.FAILED, T.EXCLUDED}),
    T.EXCLUDED: frozenset({T.PENDING}),  # retried once the rest is done, or by name
}


def check_deployment(current: DeploymentStatus, new: DeploymentStatus, action: str) -> None:
    if new not in DEPLOYMENT_TRANSITIONS[current]:
        raise InvalidTransition(f"cannot {action} a deployment that is {current.words}")


def task_sources(new: TaskStatus) -> list[TaskStatus]:
    """Every task status from which `new` may be reached (for conditional updates)."""
    return [status for status, targets in TASK_TRANSITIONS.items() if new in targets]
