"""Group deployment: one change rolled out over many clusters in phases.

A first, small phase (lightning: min(5% of the nodes, 10), at least one, spread over the
clusters) runs before the rest (thunder). Each node runs the steps the inner deployment
type plans for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core import DeploymentType, hookimpl
from plugins.group_phases.plan import GroupParams, plan


@hookimpl
def squall_register_types(register: Callable[[DeploymentType[Any]], None]) -> None:
    register(
        DeploymentType(
            name="group",
            title="Group deployment",
            description="Rolls another deployment type out over many clusters in phases: "
            "lightning (a small first wave spread over the clusters), then thunder (the rest).",
            parameters=GroupParams,
            plan=plan,
        )
    )
