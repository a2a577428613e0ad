"""Inventories: the clusters and nodes Squall deploys to, read from Squall or Ansible files,
and the selectors that pick deployment targets among them."""

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
