"""Commands for a node's shell, built so that no value reaches the shell unquoted.

A plugin never concatenates strings into a command. It writes a template and passes
values, and every value is quoted:

    sh("systemctl reload {unit}", unit=params.unit)
    sh("cp -p {src} {dst}", src=path, dst=backup)
    argv(["app-cache", "rebuild", "--region", params.region])

Templates use `str.format` fields, so a literal brace is doubled: `awk '{{print $1}}'`.
A Shell value is inserted as it is (it is already quoted), so commands compose:
`sh("cd {dir} && {build}", dir=path, build=argv(words))`.
"""

from __future__ import annotations

import shlex
import string
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Union

from squall.core.errors import ValidationError

Value = Union["Shell", str, int, float, "PathLike[str]", Sequence[str]]


@dataclass(frozen=True)
class Shell:
    """A command line for a POSIX shell whose substituted values are all quoted."""

    text: str

    def __str__(self) -> str:
        return self.text


def quote(value: Value) -> str:
    """Quote one value for the shell; a sequence becomes several quoted words."""
    if isinstance(value, Shell):
        return value.text
    if isinstance(value, (str, int, float, PathLike)):
        return shlex.quote(str(value))
    return " ".join(shlex.quote(str(item)) for item in value)


def sh(template: str, /, **values: Value) -> Shell:
    """Fill `{name}` fields of a trusted template with quoted values."""
    fields = [parsed for parsed in string.Formatter().parse(template) if parsed[1] is not None]
    for _literal, field, spec, conversion in fields:
        if spec or conversion:
            # `{x!r}` or `{x:>9}` would change the value after quoting it.
            raise ValidationError(f"command template field {{{field}}} may not convert or format")
    wanted = {field for _, field, _, _ in fields if field}
    missing = wanted - values.keys()
    if missing:
        raise ValidationError(f"command template needs values for: {', '.join(sorted(missing))}")
    if any(not name.isidentifier() for name in wanted):
        raise ValidationError(f"command template fields must be plain names: {template!r}")
    return Shell(template.format(**{name: quote(value) for name, value in values.items()}))


def argv(words: Sequence[str]) -> Shell:
    """A command given as its words: each word is quoted, nothing is interpreted."""
    if not words:
        raise ValidationError("a command needs at least one word")
    return Shell(quote(list(words)))
