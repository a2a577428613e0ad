"""Import of Ansible inventories, in Ansible's INI and YAML formats.

Ansible groups become Squall clusters:

- a host's cluster is the first group, in file order, that lists it directly; hosts listed
  only in `all` or `ungrouped` go to a cluster named `ungrouped`; groups that list no host
  directly (pure parents) are not clusters;
- every group a host belongs to, directly or through children, except `all`, becomes
  one of its tags;
- `ansible_host`, `ansible_port`, `ansible_user` (or their older `ansible_ssh_*` forms) and
  `ansible_connection` (`local`, or an SSH one) are resolved with Ansible's precedence:
  host vars over child group vars over parent group vars; `squall_environment` sets the
  cluster's environment and must agree across the cluster's hosts. Other vars are ignored.

Unlike Ansible, which skips some malformed entries with a warning, every malformed entry
is an error naming its line.
"""

from __future__ import annotations

import ast
import re
import shlex

import yaml

from squall.core.errors import InventoryError
from squall.core.inventory import _yaml
from squall.core.inventory._ansible_groups import ALL, UNGROUPED, USED_VARS, AnsibleGraph, Var
from squall.core.inventory._host_patterns import expand_host_pattern
from squall.core.inventory.model import InventorySpec

_SECTION = re.compile(r"^\[(?P<group>[^:\]\s]+)(?::(?P<kind>\w+))?\]\s*(?:[#;].*)?$")
_CHILD = re.compile(r"^(?P<group>[^:\]\s]+)\s*(?:[#;].*)?$")
_SECTION_KINDS = ("hosts", "vars", "children")
_GROUP_KEYS = frozenset({"hosts", "vars", "children"})


def parse_ansible_ini(text: str, source: str) -> InventorySpec:
    """Parse an Ansible INI inventory; every error names its line."""
    return _IniReader(source).read(text).to_inventory()


def parse_ansible_yaml(text: str, source: str) -> InventorySpec:
    """Parse an Ansible YAML inventory; every error names its line."""
    root = _yaml.compose(text, source)
    if root is None:
        return InventorySpec(source=source, clusters=())
    return _YamlReader(source).read(root).to_inventory()


def _ansible_value(text: str) -> str:
    # Ansible reads INI values as Python literals when they are one, which is how
    # `"quoted"` loses its quotes and `22  # ssh` its comment.
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return str(value) if isinstance(value, str | int | float) else text


class _IniReader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.graph = AnsibleGraph(source)
        # Like Ansible, a group must be declared by [group] or [group:children] somewhere,
        # possibly later, before [group:vars] or a children entry may refer to it.
        self.declared = {ALL, UNGROUPED}
        self.references: list[tuple[int, str, str]] = []

    def read(self, text: str) -> AnsibleGraph:
        group, kind = UNGROUPED, "hosts"
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if (line.startswith("[") and line.endswith("]")) or _SECTION.match(line):
                group, kind = self._section(line, number)
            elif kind == "hosts":
                self._hosts(group, line, number)
            elif kind == "vars":
                self._group_var(group, line, number)
            else:
                self._child(group, line, number)
        self._check_references()
        return self.graph

    def _error(self, message: str, line: int) -> InventoryError:
        return InventoryError(message, source=self.source, line=line)

    def _section(self, line: str, number: int) -> tuple[str, str]:
        match = _SECTION.match(line)
        if match is None:
            raise self._error(
                f"invalid section header {line}: expected [group], [group:vars] or "
                "[group:children], without spaces",
                number,
            )
        group, kind = match["group"], match["kind"] or "hosts"
        if kind not in _SECTION_KINDS:
            raise self._error(
                f"section [{group}:{kind}] has unknown type {kind!r}; "
                "expected [group], [group:vars] or [group:children]",
                number,
            )
        self.graph.group(group, line=number)
        if kind == "vars":
            self.references.append((number, group, f"section [{group}:vars] is for"))
        else:
            self.declared.add(group)
        return group, kind

    def _hosts(self, group: str, line: str, number: int) -> None:
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as error:
            raise self._error(f"cannot read host line: {error}", number) from error
        if not tokens:
            return
        pattern = expand_host_pattern(tokens[0], source=self.source, line=number)
        host_vars = dict(self._host_var(token, number) for token in tokens[1:])
        if pattern.port is not None:
            host_vars["ansible_port"] = Var(str(pattern.port), number)
        for name in pattern.names:
            self.graph.add_host(group, name, line=number).vars.update(host_vars)

    def _host_var(self, token: str, number: int) -> tuple[str, Var]:
        key, equals, value = token.partition("=")
        if not equals or not key:
            raise self._error(f"expected key=value host variable, got {token!r}", number)
        return key, Var(_ansible_value(value), number)

    def _group_var(self, group: str, line: str, number: int) -> None:
        key, equals, value = line.partition("=")
        if not equals or not key.strip():
            raise self._error(f"expected key=value in [{group}:vars], got {line!r}", number)
        self.graph.groups[group].vars[key.strip()] = Var(_ansible_value(value.strip()), number)

    def _child(self, group: str, line: str, number: int) -> None:
        match = _CHILD.match(line)
        if match is None:
            raise self._error(f"expected a group name in [{group}:children], got {line!r}", number)
        child = match["group"]
        self.graph.add_child(group, child, line=number)
        self.references.append((number, child, f"section [{group}:children] includes"))

    def _check_references(self) -> None:
        for number, group, referrer in self.references:
            if group not in self.declared:
                raise self._error(
                    f"{referrer} undefined group {group!r}; declare it with [{group}]", number
                )


class _YamlReader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.graph = AnsibleGraph(source)

    def read(self, root: yaml.Node) -> AnsibleGraph:
        groups = self._mapping(root, "the top level of an Ansible YAML inventory")
        for key, value in groups:
            self._group(self._key(key), value, parent=None, line=_yaml.line(key))
        return self.graph

    def _error(self, message: str, node: yaml.Node) -> InventoryError:
        return InventoryError(message, source=self.source, line=_yaml.line(node))

    def _mapping(self, node: yaml.Node, what: str) -> list[tuple[yaml.Node, yaml.Node]]:
        """The items of a mapping node; a YAML null counts as an empty mapping."""
        if isinstance(node, yaml.MappingNode):
            return list(node.value)
        if isinstance(node, yaml.ScalarNode) and _yaml.scalar_text(node) is None:
            return []
        raise self._error(f"{what} must be a mapping, found a {_kind(node)}", node)

    def _key(self, node: yaml.Node) -> str:
        text = _yaml.scalar_text(node) if isinstance(node, yaml.ScalarNode) else None
        if text is None:
            raise self._error("expected a name as the key", node)
        return text

    def _group(self, name: str, node: yaml.Node, *, parent: str | None, line: int) -> None:
        group = self.graph.group(name, line=line)
        if parent is not None:
            self.graph.add_child(parent, name, line=line)
        for key_node, value in self._mapping(node, f"group {name!r}"):
            key = self._key(key_node)
            if key not in _GROUP_KEYS:
                raise self._error(
                    f"group {name!r} has unknown key {key!r}; expected hosts, vars or children",
                    key_node,
                )
            if key == "vars":
                group.vars.update(self._vars(value, f"vars of group {name!r}"))
            elif key == "children":
                for child_key, child in self._mapping(value, f"children of group {name!r}"):
                    self._group(
                        self._key(child_key), child, parent=name, line=_yaml.line(child_key)
                    )
            else:
                self._hosts(name, value)

    def _hosts(self, group: str, node: yaml.Node) -> None:
        items: list[tuple[yaml.Node, yaml.Node | None]]
        if isinstance(node, yaml.ScalarNode) and _yaml.scalar_text(node) is not None:
            # Ansible accepts a lone host written as a string.
            items = [(node, None)]
        else:
            items = list(self._mapping(node, f"hosts of group {group!r}"))
        for pattern_node, vars_node in items:
            line = _yaml.line(pattern_node)
            pattern = expand_host_pattern(self._key(pattern_node), source=self.source, line=line)
            host_vars = {}
            if vars_node is not None:
                host_vars = self._vars(vars_node, f"vars of host {pattern_node.value!r}")
            if pattern.port is not None:
                host_vars["ansible_port"] = Var(str(pattern.port), line)
            for name in pattern.names:
                self.graph.add_host(group, name, line=line).vars.update(host_vars)

    def _vars(self, node: yaml.Node, what: str) -> dict[str, Var]:
        found: dict[str, Var] = {}
        for key_node, value in self._mapping(node, what):
            key = self._key(key_node)
            if isinstance(value, yaml.ScalarNode):
                text = _yaml.scalar_text(value)
                if text is not None:
                    found[key] = Var(text, _yaml.line(value))
            elif key in USED_VARS:
                # Lists and mappings are fine for the vars Squall ignores, not for these.
                raise self._error(f"{key} must be a single value, found a {_kind(value)}", value)
        return found


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "mapping"
    if isinstance(node, yaml.SequenceNode):
        return "list"
    return "single value"
