"""What is asked for, and the plan shown before anything runs (`--dry-run`, the API)
(made by `squall.core.services.deployments`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from squall.core.plan import DeploymentOptions


@dataclass(frozen=True)
class DeploymentRequest:
    type: str
    params: Mapping[str, Any]
    target: str
    options: DeploymentOptions = field(default_factory=DeploymentOptions)
    ticket: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class NodePreview:
    name: str
    cluster: str
    steps: tuple[str, ...]
    """Each step as `name: what it does`, secrets masked."""


@dataclass(frozen=True)
class StagePreview:
    name: str
    kind: str
    gate: bool
    approvals: int
    parallelism: int | None
    max_failures: str | None
    bake_seconds: float
    nodes: tuple[NodePreview, ...]


@dataclass(frozen=True)
class PlanPreview:
    """A plan as people see it before it runs (`--dry-run`, the API): nothing secret in it."""

    type: str
    target: str
    node_count: int
    stages: tuple[StagePreview, ...]
