"""Cache rebuild: run a rebuild command on every node, then an optional verify command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from squall import (
    Argv,
    DeploymentType,
    NodePlan,
    Plan,
    PlanRequest,
    StagePlan,
    argv,
    check,
    hookimpl,
    run,
)


class CacheRebuildParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rebuild_command: Argv = Field(
        description="The command that rebuilds the cache, e.g. app-cache rebuild --all."
    )
    verify_command: Argv | None = Field(
        None, description="Checks the rebuilt cache; retried until it succeeds or attempts run out."
    )
    verify_attempts: int = Field(
        3, ge=1, le=100, description="How often the verify command is tried."
    )
    verify_interval: float = Field(5.0, ge=0, description="Seconds between verify attempts.")
    timeout: float = Field(1800, gt=0, description="Seconds the rebuild may take.")


def plan(request: PlanRequest[CacheRebuildParams]) -> Plan:
    params = request.params
    steps = [run("rebuild", argv(params.rebuild_command), timeout=params.timeout)]
    if params.verify_command:
        steps.append(
            check(
                "verify",
                argv(params.verify_command),
                attempts=params.verify_attempts,
                interval=params.verify_interval,
                timeout=min(params.timeout, 600),
            )
        )
    return Plan(
        (StagePlan("rebuild", tuple(NodePlan(node, tuple(steps)) for node in request.targets)),)
    )


@hookimpl
def squall_register_types(register: Callable[[DeploymentType[Any]], None]) -> None:
    register(
        DeploymentType(
            name="cache_rebuild",
            title="Cache rebuild",
            description="Runs a cache rebuild command on each node, then verifies the result.",
            parameters=CacheRebuildParams,
            plan=plan,
            retry_interrupted=True,
        )
    )
