"""Ansible's group and host graph, and how Squall turns it into clusters and nodes.

Both Ansible readers (INI and YAML) fill an `AnsibleGraph`; `to_inventory` then applies
Ansible's rules: group membership through children, variable precedence, and the implicit
`all` and `ungrouped` groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from squall.core.errors import InventoryError
from squall.core.inventory.model import (
    ClusterSpec,
    InventorySpec,
    NodeSpec,
    Transport,
    name_problem,
    port_problem,
)

ALL = "all"
UNGROUPED = "ungrouped"

# Connection plugins that reach the node over SSH; anything else Squall cannot drive.
_SSH_CONNECTIONS = frozenset({"ssh", "paramiko", "paramiko_ssh", "smart"})
# The first name set wins; the `ansible_ssh_*` spellings are Ansible's older aliases.
_HOST_VARS = ("ansible_host", "ansible_ssh_host")
_PORT_VARS = ("ansible_port", "ansible_ssh_port")
_USER_VARS = ("ansible_user", "ansible_ssh_user")
USED_VARS = frozenset(
    {
        *_HOST_VARS,
        *_PORT_VARS,
        *_USER_VARS,
        "ansible_connection",
        "ansible_group_priority",
        "squall_environment",
    }
)


@dataclass(frozen=True)
class Var:
    """A variable's value as text, and the line that set it (for error messages)."""

    value: str
    line: int


@dataclass
class Group:
    name: str
    line: int
    vars: dict[str, Var] = field(default_factory=dict)
    parents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)


@dataclass
class Host:
    name: str
    line: int
    vars: dict[str, Var] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)


class AnsibleGraph:
    """Groups and hosts as an Ansible inventory declares them, in file order."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.groups: dict[str, Group] = {}
        self.hosts: dict[str, Host] = {}
        self.group(ALL, line=1)
        self.group(UNGROUPED, line=1)

    def group(self, name: str, *, line: int) -> Group:
        """The named group, created empty on first mention."""
        if name not in self.groups:
            problem = name_problem(name)
            if problem is not None:
                raise InventoryError(f"group name {problem}", source=self.source, line=line)
            self.groups[name] = Group(name, line)
        return self.groups[name]

    def add_host(self, group_name: str, host_name: str, *, line: int) -> Host:
        host = self.hosts.setdefault(host_name, Host(host_name, line))
        if group_name not in host.groups:
            host.groups.append(group_name)
        return host

    def add_child(self, parent_name: str, child_name: str, *, line: int) -> None:
        parent = self.group(parent_name, line=line)
        child = self.group(child_name, line=line)
        if child_name == parent_name or parent_name in self._descendants(child_name):
            raise InventoryError(
                f"adding group {child_name!r} as a child of {parent_name!r} "
                "makes a group its own ancestor",
                source=self.source,
                line=line,
            )
        if child_name not in parent.children:
            parent.children.append(child_name)
            child.parents.append(parent_name)

    def _descendants(self, name: str) -> set[str]:
        found: set[str] = set()
        pending = list(self.groups[name].children)
        while pending:
            child = pending.pop()
            if child not in found:
                found.add(child)
                pending.extend(self.groups[child].children)
        return found

    def to_inventory(self) -> InventorySpec:
        """Clusters from the groups that list hosts directly (`squall.core.inventory.ansible`)."""
        nodes_by_cluster: dict[str, list[NodeSpec]] = {}
        environments: dict[str, tuple[str | None, str]] = {}
        for host in self.hosts.values():
            memberships = self._memberships(host)
            resolved = self._resolved_vars(host, memberships)
            cluster = next((g for g in host.groups if g not in (ALL, UNGROUPED)), UNGROUPED)
            self._check_environment(cluster, host, resolved.get("squall_environment"), environments)
            nodes_by_cluster.setdefault(cluster, []).append(self._node(host, memberships, resolved))
        return InventorySpec(
            source=self.source,
            clusters=tuple(
                ClusterSpec(name, environments[name][0], tuple(nodes))
                for name, nodes in nodes_by_cluster.items()
            ),
        )

    def _memberships(self, host: Host) -> list[str]:
        """Every group the host belongs to, directly or through children, `all` excluded."""
        found: list[str] = []
        pending = list(host.groups)
        while pending:
            name = pending.pop(0)
            if name not in found and name != ALL:
                found.append(name)
                pending.extend(self.groups[name].parents)
        # As in Ansible, `ungrouped` only holds hosts that are in no other group.
        others = [name for name in found if name != UNGROUPED]
        return others or [UNGROUPED]

    def _resolved_vars(self, host: Host, memberships: list[str]) -> dict[str, Var]:
        # Ansible's order: shallow groups first, deeper (child) groups override them;
        # at equal depth, by `ansible_group_priority`, then by name; host vars last.
        depths: dict[str, int] = {}
        ordered = sorted(
            [ALL, *memberships],
            key=lambda name: (self._depth(name, depths), self._priority(name), name),
        )
        resolved: dict[str, Var] = {}
        for name in ordered:
            resolved.update(self.groups[name].vars)
        resolved.update(host.vars)
        return resolved

    def _depth(self, name: str, depths: dict[str, int]) -> int:
        if name == ALL:
            return 0
        if name not in depths:
            parents = self.groups[name].parents
            depths[name] = 1 + max((self._depth(p, depths) for p in parents), default=0)
        return depths[name]

    def _priority(self, name: str) -> int:
        priority = self.groups[name].vars.get("ansible_group_priority")
        if priority is None:
            return 1
        try:
            return int(priority.value)
        except ValueError:
            raise InventoryError(
                f"ansible_group_priority must be a whole number, not {priority.value!r}",
                source=self.source,
                line=priority.line,
            ) from None

    def _node(self, host: Host, memberships: list[str], resolved: dict[str, Var]) -> NodeSpec:
        address = _first(resolved, _HOST_VARS)
        if address is not None:
            problem = name_problem(address.value)
            if problem is not None:
                raise InventoryError(
                    f"ansible_host {problem}", source=self.source, line=address.line
                )
        user = _first(resolved, _USER_VARS)
        return NodeSpec(
            name=host.name,
            host=address.value if address is not None else host.name,
            port=self._port(_first(resolved, _PORT_VARS)),
            user=user.value if user is not None else None,
            transport=self._transport(resolved.get("ansible_connection")),
            tags=tuple(memberships),
        )

    def _port(self, port: Var | None) -> int:
        if port is None:
            return 22
        try:
            number = int(port.value)
        except ValueError:
            raise InventoryError(
                f"ansible_port must be a number, not {port.value!r}",
                source=self.source,
                line=port.line,
            ) from None
        problem = port_problem(number)
        if problem is not None:
            raise InventoryError(f"ansible_port: {problem}", source=self.source, line=port.line)
        return number

    def _transport(self, connection: Var | None) -> Transport:
        if connection is None or connection.value in _SSH_CONNECTIONS:
            return "ssh"
        if connection.value == "local":
            return "local"
        raise InventoryError(
            f"ansible_connection {connection.value!r} is not supported; "
            "Squall reaches nodes over ssh or local",
            source=self.source,
            line=connection.line,
        )

    def _check_environment(
        self,
        cluster: str,
        host: Host,
        environment: Var | None,
        environments: dict[str, tuple[str | None, str]],
    ) -> None:
        value = environment.value if environment is not None else None
        if cluster not in environments:
            environments[cluster] = (value, host.name)
            return
        expected, first_host = environments[cluster]
        if value != expected:
            raise InventoryError(
                f"cluster {cluster!r} would span two environments: host {host.name!r} has "
                f"squall_environment {value!r}, host {first_host!r} has {expected!r}",
                source=self.source,
                line=environment.line if environment is not None else host.line,
            )


def _first(resolved: dict[str, Var], names: tuple[str, ...]) -> Var | None:
    return next((resolved[name] for name in names if name in resolved), None)
