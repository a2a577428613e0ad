"""A worker that dies in the middle of a step, without a second process to kill."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import update

from squall.core.engine.claims import claim_tasks
from squall.core.engine.progress import reap_expired
from squall.core.models import NodeTask, StepResult, utcnow
from squall.core.plan import DeploymentOptions
from squall.core.services import deployments
from squall.core.status import TaskStatus
from squall.core.values.deployments import DeploymentRequest
from squall.testing.harness import SquallHarness


def crashed_mid_step(
    harness: SquallHarness, type_name: str, target: str, params: dict[str, Any], *, step: int = 0
) -> int:
    """A deployment of one node whose worker started its step `step` (the earlier ones
    succeeded), then died; its claim ran out and the task was reaped. Created and claimed
    in one transaction, so no engine running meanwhile takes the task first."""
    with harness.runtime.db.write() as session:
        deployment_id = deployments.create(
            session,
            harness.runtime,
            harness.actor,
            DeploymentRequest(
                type=type_name, params=params, target=target, options=DeploymentOptions()
            ),
        )
        (task,) = claim_tasks(
            session, worker="dead-worker", capacity=1, lease_seconds=1, box=harness.runtime.secrets
        )
        assert task.deployment_id == deployment_id
        for position in range(step + 1):
            session.add(
                StepResult(
                    task_id=task.id,
                    attempt=task.attempt,
                    position=position,
                    name=task.steps[position].name,
                    status=TaskStatus.SUCCEEDED if position < step else TaskStatus.RUNNING,
                    started_at=utcnow(),
                )
            )
        session.execute(update(NodeTask).where(NodeTask.id == task.id).values(current_step=step))
    with harness.runtime.db.write() as session:
        reap_expired(session, now=utcnow() + dt.timedelta(seconds=2))
    return deployment_id
