"""`key=value` parameter assignments, as the CLI takes them, turned into a mapping.

- `key=value` sets a value (validated and converted later by the type's model);
- `outer.inner=value` sets a nested value (`values.port=8080`);
- a key given twice becomes a list (`--param files=a --param files=b`);
- `key=@path` reads the value from a file (keeps secrets out of the process list).
"""

from __future__ import annotations

from collections.abc import Iterable
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
