"""Reading an inventory file in whichever format it is written."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Literal

import yaml

from squall.core.errors import InventoryError
from squall.core.inventory import _yaml
from squall.core.inventory.ansible import parse_ansible_ini, parse_ansible_yaml
from squall.core.inventory.model import InventorySpec
from squall.core.inventory.squall_yaml import parse_squall_yaml

InventoryFormat = Literal["squall-yaml", "ansible-yaml", "ansible-ini"]

_PARSERS: dict[InventoryFormat, Callable[[str, str], InventorySpec]] = {
    "squall-yaml": parse_squall_yaml,
    "ansible-yaml": parse_ansible_yaml,
    "ansible-ini": parse_ansible_ini,
}
_YAML_SUFFIXES = frozenset({".yaml", ".yml"})
_INI_SUFFIXES = frozenset({".ini", ".cfg"})
_ANSIBLE_GROUP_KEYS = frozenset({"hosts", "vars", "children"})
_YAML_KEY_LINE = re.compile(r"^(---|[\w.-]+:(\s|$))")


def load_inventory(path: Path) -> InventorySpec:
    """Read and parse the inventory file at `path`; any problem raises `InventoryError`."""
    return parse_inventory(read_inventory_text(path), str(path))


def read_inventory_text(path: Path) -> str:
    """The text of the inventory file at `path`; `InventoryError` when it cannot be read."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InventoryError("no such file", source=source) from None
    except IsADirectoryError:
        raise InventoryError("is a folder, not an inventory file", source=source) from None
    except PermissionError:
        raise InventoryError("cannot read the file: permission denied", source=source) from None
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        raise InventoryError("the file is not UTF-8 text", source=source, line=line) from None
    except OSError as error:
        raise InventoryError(f"cannot read the file: {error.strerror}", source=source) from None
    return text


def parse_inventory(text: str, source: str) -> InventorySpec:
    """Parse inventory text in the format `detect_format` finds; `source` names it in errors."""
    return _PARSERS[detect_format(text, source)](text, source)


def detect_format(text: str, source: str) -> InventoryFormat:
    """Which parser reads this text.

    A `.ini` or `.cfg` file is Ansible INI. Otherwise a YAML mapping with a top-level
    `clusters` key is Squall YAML, one with `all` or groups holding hosts, vars or children
    is Ansible YAML; text that is not a YAML mapping is Ansible INI, unless the file is
    named `.yaml` or `.yml` or starts like YAML (`key:` or `---`), in which case it is a
    YAML error.
    """
    suffix = PurePath(source).suffix.lower()
    if suffix in _INI_SUFFIXES:
        return "ansible-ini"
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        if suffix in _YAML_SUFFIXES or _starts_like_yaml(text):
            _yaml.compose(text, source)  # raises the error with its line
        return "ansible-ini"
    if root is None:
        # Empty, or comments only: an inventory without hosts.
        return "ansible-yaml"
    if not isinstance(root, yaml.MappingNode):
        if suffix in _YAML_SUFFIXES:
            raise InventoryError(
                "expected a mapping at the top level: 'clusters' (Squall) or Ansible groups",
                source=source,
                line=_yaml.line(root),
            )
        return "ansible-ini"
    keys = {key.value for key, _ in root.value if isinstance(key, yaml.ScalarNode)}
    if "clusters" in keys:
        return "squall-yaml"
    if "all" in keys or any(_looks_like_ansible_group(value) for _, value in root.value):
        return "ansible-yaml"
    raise InventoryError(
        "unrecognised inventory: expected a top-level 'clusters' mapping (Squall format) "
        "or Ansible groups such as 'all' with hosts, vars or children",
        source=source,
        line=_yaml.line(root),
    )


def _starts_like_yaml(text: str) -> bool:
    # "clusters:" or "all:" cannot start an INI inventory, so a YAML file with a syntax
    # error gets the YAML error rather than a puzzling INI one.
    first = next((line for line in text.splitlines() if line.strip() and line[0] not in "#;"), "")
    return _YAML_KEY_LINE.match(first) is not None


def _looks_like_ansible_group(node: yaml.Node) -> bool:
    return isinstance(node, yaml.MappingNode) and any(
        isinstance(key, yaml.ScalarNode) and key.value in _ANSIBLE_GROUP_KEYS
        for key, _ in node.value
    )
