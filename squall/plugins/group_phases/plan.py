"""Phases of a group deployment: pure, no I/O.

    lightning          a few nodes spread over the clusters (or chosen ones)
    lightning health   the health command on those nodes, if there is one
    thunder 1 … N      the other nodes in waves, each wave spread over the clusters
    thunder k health   after each wave, if there is a health command

Each node is deployed once, by its inner type's steps. Bake time comes after a phase or
wave, before its health check; a gate comes before a phase or wave.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from squall import (
    Argv,
    NodeInfo,
    NodePlan,
    Plan,
    PlanError,
    PlanRequest,
    StageKind,
    StagePlan,
    Threshold,
    ValidationError,
    argv,
    health,
    parse_nested,
)

Gate = Literal["auto", "manual"]


def _threshold(value: str) -> str:
    try:
        Threshold.parse(value)
    except ValidationError as exc:
        raise ValueError(str(exc)) from None
    return value


class Phase(BaseModel):
    """How one phase (lightning) or every wave of a phase (thunder) runs."""

    model_config = ConfigDict(extra="forbid")

    gate: Gate = Field(
        "auto", description="manual: a person (not the requester) promotes it first."
    )
    parallelism: int | None = Field(
        None, ge=1, description="Nodes at once; default: the deployment's."
    )
    max_fail: str = Field(
        "10%", description="Failures tolerated (3 or 10%); one more halts the group."
    )
    bake_seconds: float = Field(0, ge=0, description="Wait after the nodes are done.")
    health_command: Argv | None = Field(
        None, description="Run on each node after the bake: exit 0 passes, 3 is inconclusive."
    )
    health_timeout: float = Field(60, gt=0, description="Seconds the health command may take.")

    _max_fail = field_validator("max_fail")(_threshold)


class GroupParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inner_type: str = Field(description="The deployment type every node runs, e.g. config_change.")
    # Validated after inner_type (fields validate in order), by the inner type's own model.
    inner_params: Any = Field(
        default_factory=dict, validate_default=True, description="Parameters of that type."
    )
    lightning_size: str = Field(
        "auto", description="auto (min(5%, 10), at least 1), a count, or a percentage."
    )
    lightning_clusters: list[str] = Field(
        default_factory=list, description="Lightning is these clusters' nodes instead."
    )
    lightning_nodes: list[str] = Field(
        default_factory=list, description="Lightning is these nodes instead."
    )
    wave_size: str = Field(
        "20%", description="Thunder wave size: a count or a percentage of thunder."
    )
    lightning: Phase = Field(default_factory=Phase)
    thunder: Phase = Field(default_factory=lambda: Phase(gate="manual"))
    wave_gate: Gate = Field("auto", description="Gate between thunder waves.")
    approvals: int = Field(1, ge=1, le=10, description="Approvals a manual gate needs.")

    @field_validator("lightning_size")
    @classmethod
    def _lightning_size(cls, value: str) -> str:
        return value if value == "auto" else _threshold(value)

    @field_validator("wave_size")
    @classmethod
    def _wave_size(cls, value: str) -> str:
        threshold = Threshold.parse(_threshold(value))
        if not (threshold.count or threshold.percent):
            raise ValueError("a wave has at least one node")
        return value

    @field_validator("inner_type")
    @classmethod
    def _not_a_group(cls, value: str) -> str:
        if value == "group":
            raise ValueError("a group deployment cannot wrap another group deployment")
        return value

    @field_validator("inner_params")
    @classmethod
    def _inner(cls, value: Any, info: ValidationInfo) -> Any:
        inner_type = info.data.get("inner_type")
        if inner_type is None:
            return value  # inner_type itself is wrong: that error says enough
        # The inner type's own model: its validation messages, and its secrets stay secret.
        return parse_nested(info, inner_type, value)

    @model_validator(mode="after")
    def _one_way_to_choose_lightning(self) -> Self:
        if self.lightning_clusters and self.lightning_nodes:
            raise ValueError("choose lightning by clusters or by nodes, not both")
        return self


def lightning_size(total: int, size: str = "auto") -> int:
    """min(5% of the nodes, 10) for `auto`; otherwise the count or percentage; at least 1."""
    if size == "auto":
        return max(1, min(math.ceil(total * 0.05), 10))
    threshold = Threshold.parse(size)
    wanted = threshold.share(total)
    return max(1, min(wanted, total))


def spread(nodes: list[NodeInfo]) -> list[NodeInfo]:
    """The nodes reordered round-robin over their clusters: any prefix touches them evenly."""
    by_cluster: dict[str, list[NodeInfo]] = defaultdict(list)
    for node in nodes:
        by_cluster[node.cluster].append(node)
    queues = [list(members) for _, members in sorted(by_cluster.items())]
    ordered: list[NodeInfo] = []
    while any(queues):
        for queue in queues:
            if queue:
                ordered.append(queue.pop(0))
    return ordered


def choose_lightning(params: GroupParams, nodes: list[NodeInfo]) -> list[NodeInfo]:
    names = {node.name for node in nodes}
    if params.lightning_nodes:
        unknown = sorted(set(params.lightning_nodes) - names)
        if unknown:
            raise PlanError(f"lightning nodes not in the target: {', '.join(unknown)}")
        return [node for node in nodes if node.name in set(params.lightning_nodes)]
    if params.lightning_clusters:
        clusters = {node.cluster for node in nodes}
        unknown = sorted(set(params.lightning_clusters) - clusters)
        if unknown:
            raise PlanError(f"lightning clusters not in the target: {', '.join(unknown)}")
        return [node for node in nodes if node.cluster in set(params.lightning_clusters)]
    return spread(nodes)[: lightning_size(len(nodes), params.lightning_size)]


def waves(nodes: list[NodeInfo], size: str) -> list[list[NodeInfo]]:
    """Thunder's nodes in waves of a fixed size, each spread over the clusters."""
    if not nodes:
        return []
    threshold = Threshold.parse(size)
    per_wave = max(1, threshold.share(len(nodes)))
    ordered = spread(nodes)
    return [ordered[start : start + per_wave] for start in range(0, len(ordered), per_wave)]


def plan(request: PlanRequest[GroupParams]) -> Plan:
    params = request.params
    if request.plan_nested is None:
        raise PlanError("group deployments need a planner for their inner type")
    inner = request.plan_nested(params.inner_type, _raw(params.inner_params), request.targets)
    steps = {node_plan.node.name: node_plan for stage in inner.stages for node_plan in stage.nodes}
    nodes = [node for node in request.targets if node.name in steps]
    first = choose_lightning(params, nodes)
    chosen = {node.name for node in first}
    rest = [node for node in nodes if node.name not in chosen]
    stages: list[StagePlan] = []
    _phase(stages, "lightning", first, params.lightning, params.lightning.gate, params, steps)
    for number, wave in enumerate(waves(rest, params.wave_size), start=1):
        gate = params.thunder.gate if number == 1 else params.wave_gate
        _phase(stages, f"thunder {number}", wave, params.thunder, gate, params, steps)
    # Its nodes run the inner type's steps: they may run again after a crash if those may.
    return Plan(tuple(stages), retry_interrupted=inner.retry_interrupted)


def rollback(request: PlanRequest[GroupParams]) -> Plan:
    """Undo through the inner type's own rollback (Squall orders it by stage)."""
    if request.plan_nested is None:
        raise PlanError("group deployments need a planner for their inner type")
    return request.plan_nested(
        request.params.inner_type, _raw(request.params.inner_params), request.targets
    )


def _phase(
    stages: list[StagePlan],
    name: str,
    nodes: list[NodeInfo],
    phase: Phase,
    gate: Gate,
    params: GroupParams,
    steps: dict[str, NodePlan],
) -> None:
    if not nodes:
        return
    stages.append(
        StagePlan(
            name,
            tuple(steps[node.name] for node in nodes),
            parallelism=phase.parallelism,
            max_failures=Threshold.parse(phase.max_fail),
            gate=gate == "manual",
            approvals=params.approvals,
            bake_seconds=phase.bake_seconds,
        )
    )
    if phase.health_command:
        check = health("health", argv(phase.health_command), timeout=phase.health_timeout)
        stages.append(
            StagePlan(
                f"{name} health",
                tuple(NodePlan(node, (check,)) for node in nodes),
                parallelism=phase.parallelism,
                max_failures=Threshold(count=0),
                kind=StageKind.CHECK,
            )
        )


def _raw(inner: Any) -> dict[str, Any]:
    return inner.model_dump() if isinstance(inner, BaseModel) else dict(inner)
