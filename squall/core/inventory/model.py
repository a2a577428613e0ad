"""What an inventory file describes, once parsed: clusters of nodes, independent of the format."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

Transport = Literal["ssh", "local"]
TRANSPORTS: tuple[Transport, ...] = ("ssh", "local")

# Commas separate selector terms, so a name containing one could never be selected.
_FORBIDDEN_IN_NAMES = re.compile(r"[\s,]")


def name_problem(value: str) -> str | None:
    """Why `value` cannot name a cluster, node or tag, or None when it can."""
    if not value:
        return "must not be empty"
    if _FORBIDDEN_IN_NAMES.search(value):
        return f"must not contain whitespace or commas: {value!r}"
    return None


def port_problem(value: int) -> str | None:
    """Why `value` is not a usable TCP port, or None when it is."""
    if not 1 <= value <= 65535:
        return f"port must be between 1 and 65535, not {value}"
    return None


@dataclass(frozen=True)
class NodeSpec:
    """One machine Squall can deploy to, as an inventory file describes it.

    `tags` is normalised to a sorted tuple without duplicates, and `vars` to a read-only
    mapping (left out of the hash, so nodes stay usable in sets). `vars` carries the few
    extra settings a transport needs, such as `jump_host` or `root` (the folder a local
    node lives in).
    """

    name: str
    host: str
    port: int = 22
    user: str | None = None
    transport: Transport = "ssh"
    tags: tuple[str, ...] = ()
    vars: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", tuple(sorted(set(self.tags))))
        object.__setattr__(self, "vars", MappingProxyType(dict(self.vars)))


@dataclass(frozen=True)
class ClusterSpec:
    """A named group of nodes deployed together, optionally tied to an environment."""

    name: str
    environment: str | None
    nodes: tuple[NodeSpec, ...]


@dataclass(frozen=True)
class InventorySpec:
    """Every cluster of one inventory file; node names are unique across all of them."""

    source: str
    clusters: tuple[ClusterSpec, ...]

    def nodes(self) -> Iterator[tuple[ClusterSpec, NodeSpec]]:
        """Every node with its cluster, in file order."""
        for cluster in self.clusters:
            for node in cluster.nodes:
                yield cluster, node
