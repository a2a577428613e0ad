"""YAML parsing that keeps line numbers, so every inventory error can point at its line."""

from __future__ import annotations

from collections.abc import Sequence

import yaml

from squall.core.errors import InventoryError

NULL_TAG = "tag:yaml.org,2002:null"
MERGE_TAG = "tag:yaml.org,2002:merge"


def compose(text: str, source: str) -> yaml.Node | None:
    """The node tree of a single-document YAML text, or None when the text is empty."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        raise _invalid_yaml(error, source) from error
    except yaml.YAMLError as error:
        raise InventoryError(f"not valid YAML: {error}", source=source) from error
    if root is not None:
        _reject_duplicate_keys(root, source)
    return root


def construct(root: yaml.Node, source: str) -> object:
    """The Python value of a composed tree, as `yaml.safe_load` would return it."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(root)
    except yaml.MarkedYAMLError as error:
        raise _invalid_yaml(error, source) from error
    finally:
        loader.dispose()


def _invalid_yaml(error: yaml.MarkedYAMLError, source: str) -> InventoryError:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark is not None else None
    message = f"not valid YAML: {error.problem or error.context or 'unreadable'}"
    if error.problem and error.context and error.context_mark is not None:
        message += f" ({error.context} started on line {error.context_mark.line + 1})"
    return InventoryError(message, source=source, line=line)


def line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def scalar_text(node: yaml.Node) -> str | None:
    """The text of a scalar node (None for a YAML null); the node must be a scalar."""
    assert isinstance(node, yaml.ScalarNode)
    if node.tag == NULL_TAG:
        return None
    return str(node.value)


def line_of(root: yaml.Node, path: Sequence[str | int]) -> int:
    """The line of the deepest node `path` reaches; a mapping key's own line for its last step.

    Validation errors name fields that may be missing or misspelled, so the walk stops at
    the last node that exists instead of failing.
    """
    node = root
    found = line(root)
    for step in path:
        if isinstance(node, yaml.MappingNode):
            item = next((kv for kv in node.value if _key_matches(kv[0], step)), None)
            if item is None:
                break
            key, node = item
            found = line(key)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            if not 0 <= step < len(node.value):
                break
            node = node.value[step]
            found = line(node)
        else:
            break
    return found


def _key_matches(key: yaml.Node, step: str | int) -> bool:
    return isinstance(key, yaml.ScalarNode) and key.value == str(step)


def _reject_duplicate_keys(root: yaml.Node, source: str) -> None:
    # PyYAML silently keeps the last of two equal keys, which would hide a cluster or a
    # host defined twice.
    duplicates: list[tuple[int, str, int]] = []
    seen: set[int] = set()
    pending: list[yaml.Node] = [root]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first_lines: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != MERGE_TAG:
                    if key.value in first_lines:
                        duplicates.append((line(key), key.value, first_lines[key.value]))
                    else:
                        first_lines[key.value] = line(key)
                pending.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
    if duplicates:
        at, key_text, first = min(duplicates)
        raise InventoryError(
            f"key {key_text!r} appears twice (first on line {first})", source=source, line=at
        )
