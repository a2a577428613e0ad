"""Inventories: the clusters and nodes Squall deploys to, read from Squall or Ansible files,
and the selectors that pick deployment targets among them.

Names are loaded on first use: choosing targets needs the selectors, not the file parsers
(and their models), which only reading a file does."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "parse_ansible_ini": "squall.core.inventory.ansible",
    "parse_ansible_yaml": "squall.core.inventory.ansible",
    "InventoryFormat": "squall.core.inventory.loader",
    "detect_format": "squall.core.inventory.loader",
    "load_inventory": "squall.core.inventory.loader",
    "parse_inventory": "squall.core.inventory.loader",
    "read_inventory_text": "squall.core.inventory.loader",
    "ClusterSpec": "squall.core.inventory.model",
    "InventorySpec": "squall.core.inventory.model",
    "NodeSpec": "squall.core.inventory.model",
    "Transport": "squall.core.inventory.model",
    "Selectable": "squall.core.inventory.selectors",
    "Selector": "squall.core.inventory.selectors",
    "SelectorTerm": "squall.core.inventory.selectors",
    "TermKind": "squall.core.inventory.selectors",
    "TermOperator": "squall.core.inventory.selectors",
    "parse_selector": "squall.core.inventory.selectors",
    "parse_squall_yaml": "squall.core.inventory.squall_yaml",
}

__all__ = [
    "ClusterSpec",
    "InventoryFormat",
    "InventorySpec",
    "NodeSpec",
    "Selectable",
    "Selector",
    "SelectorTerm",
    "TermKind",
    "TermOperator",
    "Transport",
    "detect_format",
    "load_inventory",
    "parse_ansible_ini",
    "parse_ansible_yaml",
    "parse_inventory",
    "parse_selector",
    "parse_squall_yaml",
    "read_inventory_text",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'squall.core.inventory' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from squall.core.inventory.ansible import parse_ansible_ini, parse_ansible_yaml
    from squall.core.inventory.loader import (
        InventoryFormat,
        detect_format,
        load_inventory,
        parse_inventory,
        read_inventory_text,
    )
    from squall.core.inventory.model import ClusterSpec, InventorySpec, NodeSpec, Transport
    from squall.core.inventory.selectors import (
        Selectable,
        Selector,
        SelectorTerm,
        TermKind,
        TermOperator,
        parse_selector,
    )
    from squall.core.inventory.squall_yaml import parse_squall_yaml
