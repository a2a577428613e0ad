"""`key=value` parameter assignments, as the CLI takes them, turned into a mapping, and a
mapping shown back the same way (`dotted`).

- `key=value` sets a value (validated and converted later by the type's model);
- `outer.inner=value` sets a nested value (`values.port=8080`);
- a key given twice becomes a list (`--param files=a --param files=b`);
- `key=@path` reads the value from a file (keeps secrets out of the process list).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from squall.core.errors import ValidationError


def parse_assignments(items: Iterable[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for item in items:
        key, separator, value = item.partition("=")
        key = key.strip()
        if not separator or not key:
            raise ValidationError(f"parameter {item!r} is not of the form key=value")
        if value.startswith("@"):
            value = _read(value[1:], key)
        *parents, leaf = key.split(".")
        target = result
        for part in parents:
            nested = target.setdefault(part, {})
            if not isinstance(nested, dict):
                raise ValidationError(f"parameter {key!r}: {part!r} already has a plain value")
            target = nested
        if leaf in target:
            existing = target[leaf]
            target[leaf] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            target[leaf] = value
    return result


def _read(path: str, key: str) -> str:
    try:
        return Path(path).expanduser().read_text()
    except OSError as exc:
        raise ValidationError(f"parameter {key!r}: cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise ValidationError(f"parameter {key!r}: {path} is not UTF-8 text") from None


def dotted(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Parameters the way `--param` takes them, for a person to read: nested ones by their
    dotted names (`thunder.gate`), commands as shell words, what is unset (None, empty)
    left out. Every surface (terminal, console, PDF) shows parameters so."""
    found: list[tuple[str, str]] = []

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for key, item in value.items():
                add(f"{prefix}.{key}" if prefix else str(key), item)
        elif value not in (None, [], {}, ""):
            found.append((prefix, _shown(value)))

    add("", params)
    return found


def _shown(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(word, str) for word in value):
        return shlex.join(value)
    return str(value)
