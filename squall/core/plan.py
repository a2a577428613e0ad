"""What a deployment will do: a Plan of ordered stages, node plans and steps.

Planners are pure functions of their request, so a plan can be previewed (`--dry-run`)
exactly as it will run. Everything here is a frozen value that serialises to JSON.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from squall.core.errors import ValidationError
from squall.core.shell import Shell
from squall.core.status import StageKind

if TYPE_CHECKING:
    from pydantic import BaseModel


@dataclass(frozen=True)
class NodeInfo:
    """A node as plugins see it: a value, not a database row."""

    name: str
    cluster: str
    host: str
    port: int = 22
    user: str | None = None
    transport: str = "ssh"
    tags: tuple[str, ...] = ()
    vars: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    environment: str | None = None

    @property
    def address(self) -> str:
        """Where the node is reached, as people read it: host:port, or a local node's
        folder (nothing listens on a port for it)."""
        if self.transport == "local":
            return self.vars.get("root", self.host)
        return f"{self.host}:{self.port}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cluster": self.cluster,
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "transport": self.transport,
            "tags": list(self.tags),
            "vars": dict(self.vars),
            "environment": self.environment,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NodeInfo:
        return cls(
            name=data["name"],
            cluster=data["cluster"],
            host=data["host"],
            port=int(data.get("port") or 22),
            user=data.get("user"),
            transport=data.get("transport", "ssh"),
            tags=tuple(data.get("tags", ())),
            vars=MappingProxyType(dict(data.get("vars") or {})),
            environment=data.get("environment"),
        )


@dataclass(frozen=True)
class Step:
    """One thing done on a node: `run` a command, `upload` a file, or a plugin's own kind.

    `args` must be JSON-serialisable; the kind decides what it holds. Build steps with
    `run`, `check` and `upload` rather than by hand.
    """

    name: str
    kind: str
    args: Mapping[str, Any]
    timeout: float | None = None
    """Seconds before the step is interrupted; None means the engine's default."""
    summary: str = ""
    """What the step does, in a line, for plan previews (`run` steps show their command)."""

    def describe(self) -> str:
        if self.summary:
            return self.summary
        if self.kind == "run":
            attempts = int(self.args.get("attempts", 1))
            return f"$ {self.args['command']}" + (
                f"  [up to {attempts} attempts]" if attempts > 1 else ""
            )
        if self.kind == "upload":
            return f"write {self.args['path']}"
        return self.kind

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "args": dict(self.args),
            "timeout": self.timeout,
            "summary": self.summary,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Step:
        return cls(
            data["name"],
            data["kind"],
            MappingProxyType(dict(data["args"])),
            data["timeout"],
            data.get("summary", ""),
        )


def run(
    name: str,
    command: Shell,
    *,
    timeout: float | None = None,
    attempts: int = 1,
    interval: float = 0.0,
    facts: bool = False,
) -> Step:
    """Run a command; fail on a non-zero exit. With `attempts` > 1 it is retried
    `interval` seconds apart until it succeeds. With `facts`, `key=value` lines of its
    output are recorded as the step's data."""
    if not isinstance(command, Shell):
        raise TypeError("run() takes a Shell built with sh() or argv(), never a plain string")
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    return Step(
        name,
        "run",
        MappingProxyType(
            {"command": command.text, "attempts": attempts, "interval": interval, "facts": facts}
        ),
        timeout,
    )


def check(
    name: str,
    command: Shell,
    *,
    attempts: int = 5,
    interval: float = 2.0,
    timeout: float | None = None,
) -> Step:
    """A command retried until it exits 0 (a service coming up, a port opening)."""
    return run(name, command, timeout=timeout, attempts=attempts, interval=interval)


def health(name: str, command: Shell, *, timeout: float | None = None) -> Step:
    """A health verdict, read from the exit status as monitoring plugins do: 0 passes,
    3 (unknown) or no status at all (timed out) is inconclusive, anything else fails.
    An inconclusive check pauses the deployment for a person to decide."""
    return Step(
        name,
        "run",
        MappingProxyType({"command": command.text, "attempts": 1, "interval": 0.0, "health": True}),
        timeout,
    )


def upload(name: str, path: str, content: str | bytes, *, mode: int | None = None) -> Step:
    """Write `content` to `path` on the node atomically (a temporary file renamed over it)."""
    data = content.encode() if isinstance(content, str) else content
    return Step(
        name,
        "upload",
        MappingProxyType(
            {"path": path, "content_base64": base64.b64encode(data).decode(), "mode": mode}
        ),
    )


@dataclass(frozen=True)
class NodePlan:
    node: NodeInfo
    steps: tuple[Step, ...]


_THRESHOLD = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")


@dataclass(frozen=True)
class Threshold:
    """How many node failures a stage tolerates: a count, or a percentage of its nodes."""

    count: int | None = None
    percent: float | None = None

    def __post_init__(self) -> None:
        if (self.count is None) == (self.percent is None):
            raise ValidationError("a threshold is either a count or a percentage")
        if self.count is not None and self.count < 0:
            raise ValidationError("a failure threshold cannot be negative")
        if self.percent is not None and not 0 <= self.percent <= 100:
            raise ValidationError("a failure percentage must be between 0 and 100")

    @classmethod
    def parse(cls, text: str | int) -> Threshold:
        """`3` tolerates three failures; `10%` tolerates a tenth of the stage's nodes."""
        match = _THRESHOLD.match(str(text))
        if not match:
            raise ValidationError(
                f"invalid failure threshold {text!r}: use a count like 3 or a percentage like 10%"
            )
        number, percent = match.groups()
        if percent:
            return cls(percent=float(number))
        if "." in number:
            raise ValidationError(f"invalid failure threshold {text!r}: a count is a whole number")
        return cls(count=int(number))

    def allowed(self, total: int) -> int:
        """Failures tolerated among `total` nodes; one more halts the stage."""
        if self.count is not None:
            return self.count
        assert self.percent is not None
        return math.floor(total * self.percent / 100)

    def share(self, total: int) -> int:
        """How many of `total` nodes this is, rounded up (a wave or phase size)."""
        if self.count is not None:
            return self.count
        assert self.percent is not None
        return math.ceil(total * self.percent / 100)

    def __str__(self) -> str:
        return str(self.count) if self.count is not None else f"{self.percent:g}%"


@dataclass(frozen=True)
class StagePlan:
    """Nodes worked on together; stages run one after another.

    A `gate` makes the deployment wait before the stage until a person promotes it (not
    the requester; as many people as `approvals`). `bake_seconds` is waited out after the
    stage's nodes are done, before anything else starts. A `check` stage runs a health
    check (see `health()`) on nodes an earlier stage deployed.
    """

    name: str
    nodes: tuple[NodePlan, ...]
    parallelism: int | None = None
    """Nodes worked on at once; None means the deployment's option (default 50)."""
    max_failures: Threshold | None = None
    """Failures tolerated before the stage halts; None means the deployment's option."""
    kind: StageKind = StageKind.DEPLOY
    gate: bool = False
    approvals: int = 1
    bake_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.bake_seconds < 0:
            raise ValidationError("a bake time cannot be negative")
        if self.approvals < 1:
            raise ValidationError("a gate needs at least one approval")


@dataclass(frozen=True)
class Plan:
    stages: tuple[StagePlan, ...]
    retry_interrupted: bool | None = None
    """Whether a node task whose worker died may run again from the step it was in; None
    means the deployment type's `retry_interrupted`. A type that runs another type's
    steps (group) passes on the plan it got from `plan_nested`."""

    @property
    def node_count(self) -> int:
        return sum(len(stage.nodes) for stage in self.stages)


@dataclass(frozen=True)
class DeploymentOptions:
    """How to run a deployment, whatever its type."""

    parallelism: int = 50
    max_failures: Threshold | None = None
    """None: every node runs, whatever the failures."""
    step_timeout: float | None = None
    """The most any step may take (see `bound`); None: each step's own timeout."""

    def __post_init__(self) -> None:
        if self.parallelism < 1:
            raise ValidationError("parallelism must be at least 1")
        if self.step_timeout is not None and self.step_timeout <= 0:
            raise ValidationError("a step timeout must be positive")

    def bound(self, timeout: float | None) -> float | None:
        """A step's timeout in this deployment: the step's own (what its type chose) capped
        by `step_timeout`; a step without one gets `step_timeout`, else (None) the engine's
        default. The deployment's limit always binds, whatever the type."""
        if self.step_timeout is None:
            return timeout
        return self.step_timeout if timeout is None else min(timeout, self.step_timeout)


P = TypeVar("P", bound="BaseModel")


@dataclass(frozen=True)
class PlanRequest(Generic[P]):
    """Everything a planner may look at; `params` is the type's own validated model."""

    type: str
    params: P
    targets: tuple[NodeInfo, ...]
    options: DeploymentOptions = field(default_factory=DeploymentOptions)
    deployment_id: int | None = None
    """None while previewing (`--dry-run`)."""
    plan_nested: NestedPlanner | None = None
    """Plans a deployment of another type over some of the targets (validating its
    parameters) for the same purpose, for types that wrap others, such as group
    deployments."""
    purpose: Purpose = "deploy"
    """`rollback` when planning the undoing of this deployment's finished nodes (then the
    type's `rollback` planner is called, and `targets` are those nodes)."""
    results: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """For a rollback: what each node's steps recorded (node name → step name → data),
    e.g. the release a node ran before."""


Purpose = Literal["deploy", "rollback"]
NestedPlanner = Callable[[str, Mapping[str, Any], tuple[NodeInfo, ...]], "Plan"]


def nodes_in_order(targets: Sequence[NodeInfo]) -> tuple[NodeInfo, ...]:
    """Targets in a stable order: by cluster, then by name."""
    return tuple(sorted(targets, key=lambda node: (node.cluster, node.name)))
