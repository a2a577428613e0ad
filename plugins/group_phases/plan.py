"""Phases of a group deployment: pure, no I/O."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core import NodeInfo, Plan, PlanError, PlanRequest, StagePlan


class GroupParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inner_type: str = Field(description="The deployment type every node runs, e.g. config_change.")
    inner_params: dict[str, Any] = Field(
        default_factory=dict, description="Parameters of that type."
    )


def lightning_size(total: int) -> int:
    """min(5% of the nodes, 10), at least one."""
    return max(1, min(math.ceil(total * 0.05), 10))


def spread(nodes: list[NodeInfo], count: int) -> list[NodeInfo]:
    """`count` nodes taken round-robin over the clusters, so the first wave sees each one."""
    by_cluster: dict[str, list[NodeInfo]] = defaultdict(list)
    for node in nodes:
        by_cluster[node.cluster].append(node)
    queues = [list(members) for _, members in sorted(by_cluster.items())]
    chosen: list[NodeInfo] = []
    while len(chosen) < count:
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return chosen


def plan(request: PlanRequest[GroupParams]) -> Plan:
    params = request.params
    if params.inner_type == "group":
        raise PlanError("a group deployment cannot wrap another group deployment")
    if request.plan_nested is None:
        raise PlanError("group deployments need a planner for their inner type")
    inner = request.plan_nested(params.inner_type, params.inner_params, request.targets)
    steps = {node_plan.node.name: node_plan for stage in inner.stages for node_plan in stage.nodes}
    nodes = [node for node in request.targets if node.name in steps]
    first = spread(nodes, lightning_size(len(nodes)))
    chosen = {node.name for node in first}
    stages = [StagePlan("lightning", tuple(steps[node.name] for node in first))]
    rest = tuple(steps[node.name] for node in nodes if node.name not in chosen)
    if rest:
        stages.append(StagePlan("thunder", rest))
    return Plan(tuple(stages))
