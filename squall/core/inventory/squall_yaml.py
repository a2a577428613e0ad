"""Squall's own inventory format: a `clusters` mapping, validated field by field.

```yaml
clusters:
  web-eu:
    environment: production          # optional
    defaults:                        # optional: user, port, transport, tags, jump_host
      user: deploy
      tags: [web]
    nodes:
      - name: web-eu-1               # optional; defaults to host
        host: 10.0.0.1               # optional when name is given (see below)
        port: 2222
        tags: [canary]               # added to defaults.tags
        jump_host: bastion.example.com
      - web-eu-2.example.com         # shorthand: host only, name = host
  demo:
    nodes:
      - name: demo-1
        transport: local
        root: /var/lib/squall/demo/demo-1
```

A node's host defaults to its name, or to `localhost` for a local node.
"""

from __future__ import annotations

from typing import Annotated, Self, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Strict, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from squall.core.errors import InventoryError
from squall.core.inventory import _yaml
from squall.core.inventory.model import (
    ClusterSpec,
    InventorySpec,
    NodeSpec,
    Transport,
    name_problem,
    port_problem,
)


def _checked_name(value: str) -> str:
    problem = name_problem(value)
    if problem is not None:
        raise PydanticCustomError("squall_name", "{problem}", {"problem": problem})
    return value


def _checked_port(value: int) -> int:
    problem = port_problem(value)
    if problem is not None:
        raise PydanticCustomError("squall_port", "{problem}", {"problem": problem})
    return value


def _checked_not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("squall_blank", "must not be empty")
    return value


Name = Annotated[str, AfterValidator(_checked_name)]
# Strict so that `port: yes` is refused instead of silently becoming port 1.
Port = Annotated[int, Strict(), AfterValidator(_checked_port)]
Folder = Annotated[str, AfterValidator(_checked_not_blank)]
_T = TypeVar("_T")


class _Model(BaseModel):
    # Hosts and names such as `1234` are read by YAML as numbers; they are still names.
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, frozen=True)


class _Defaults(_Model):
    user: Name | None = None
    port: Port | None = None
    transport: Transport | None = None
    tags: list[Name] = []
    jump_host: Name | None = None


class _Node(_Model):
    name: Name | None = None
    host: Name | None = None
    port: Port | None = None
    user: Name | None = None
    transport: Transport | None = None
    tags: list[Name] = []
    jump_host: Name | None = None
    root: Folder | None = None

    @model_validator(mode="before")
    @classmethod
    def _expand_shorthand(cls, data: object) -> object:
        if isinstance(data, str | int) and not isinstance(data, bool):
            return {"host": str(data)}
        return data

    @model_validator(mode="after")
    def _has_name_or_host(self) -> Self:
        if self.name is None and self.host is None:
            raise PydanticCustomError("squall_node", "a node needs a name or a host")
        return self


class _Cluster(_Model):
    environment: Name | None = None
    defaults: _Defaults = _Defaults()
    nodes: list[_Node]


class _File(_Model):
    clusters: dict[Name, _Cluster]


def parse_squall_yaml(text: str, source: str) -> InventorySpec:
    """Parse Squall's YAML inventory format; every error names its line and field."""
    root = _yaml.compose(text, source)
    if root is None:
        raise InventoryError(
            "the file is empty; expected a top-level 'clusters' mapping", source=source, line=1
        )
    data = _yaml.construct(root, source)
    if not isinstance(data, dict) or "clusters" not in data:
        raise InventoryError(
            "expected a top-level 'clusters' mapping", source=source, line=_yaml.line(root)
        )
    try:
        parsed = _File.model_validate(data)
    except PydanticValidationError as error:
        raise _located(error.errors(include_url=False), root, source) from error

    clusters: list[ClusterSpec] = []
    first_lines: dict[str, int] = {}
    for cluster_name, cluster in parsed.clusters.items():
        nodes: list[NodeSpec] = []
        for index, node in enumerate(cluster.nodes):
            spec = _node_spec(node, cluster.defaults)
            field = "name" if node.name is not None else "host"
            at = _yaml.line_of(root, ("clusters", cluster_name, "nodes", index, field))
            if spec.name in first_lines:
                raise InventoryError(
                    f"clusters.{cluster_name}.nodes[{index}].{field}: node name {spec.name!r} "
                    f"is already used on line {first_lines[spec.name]}",
                    source=source,
                    line=at,
                )
            first_lines[spec.name] = at
            nodes.append(spec)
        clusters.append(ClusterSpec(cluster_name, cluster.environment, tuple(nodes)))
    return InventorySpec(source=source, clusters=tuple(clusters))


def _node_spec(node: _Node, defaults: _Defaults) -> NodeSpec:
    transport: Transport = _first_set(node.transport, defaults.transport) or "ssh"
    name = node.name if node.name is not None else node.host
    assert name is not None, "guaranteed by _Node._has_name_or_host"
    host = node.host if node.host is not None else "localhost" if transport == "local" else name
    node_vars = {
        "jump_host": _first_set(node.jump_host, defaults.jump_host),
        "root": node.root,
    }
    return NodeSpec(
        name=name,
        host=host,
        port=_first_set(node.port, defaults.port) or 22,
        user=_first_set(node.user, defaults.user),
        transport=transport,
        tags=(*defaults.tags, *node.tags),
        vars={key: value for key, value in node_vars.items() if value is not None},
    )


def _first_set(*values: _T | None) -> _T | None:
    return next((value for value in values if value is not None), None)


def _located(errors: list[ErrorDetails], root: yaml.Node, source: str) -> InventoryError:
    """The first problem in the file, as an error naming its line and field.

    A missing field can only point at its parent's line, so a problem on a line of its
    own (often the misspelled field) is shown first.
    """
    problems = sorted(
        (
            error["type"] == "missing",
            _yaml.line_of(root, _yaml_path(error["loc"])),
            _field_path(error["loc"]),
            _message(error),
        )
        for error in errors
    )
    _, at, field, message = problems[0]
    more = len(problems) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return InventoryError(f"{field}: {message}" if field else message, source=source, line=at)


def _yaml_path(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # Pydantic marks an invalid mapping key with a trailing "[key]" step.
    return tuple(step for step in loc if step != "[key]")


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for step in _yaml_path(loc):
        path += f"[{step}]" if isinstance(step, int) else f".{step}" if path else step
    return path


def _message(error: ErrorDetails) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required field is missing"
    return error["msg"]
