"""Group deployment: one change rolled out over many clusters in phases.

A first, small phase (lightning: min(5% of the nodes, 10), at least one, spread over the
clusters, or chosen clusters or nodes) runs before the rest (thunder), in waves. Each
phase and wave has its parallelism, failure threshold, bake time, health check and gate.
Each node runs the steps its inner deployment type plans for it; a rollback uses the
inner type's rollback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from squall import DeploymentType, hookimpl
from squall.plugins.group_phases.plan import GroupParams, plan, rollback


@hookimpl
def squall_register_types(register: Callable[[DeploymentType[Any]], None]) -> None:
    register(
        DeploymentType(
            name="group",
            title="Group deployment",
            description="Rolls another deployment type out over many clusters in phases: "
            "lightning (a small first wave spread over the clusters), then thunder (the rest, "
            "in waves), with gates, bake time, health checks and rollback.",
            parameters=GroupParams,
            plan=plan,
            rollback=rollback,
        )
    )
