"""A deployment type's parameters as a person reads them: `string`, `command`, `integer ≥ 1`,
`one of auto, manual`, `secret`, with nested sections flattened (`thunder.bake_seconds`).
The catalogue page, `squall types` and the API's type listing all show this."""

from __future__ import annotations

import enum
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretBytes, SecretStr

from squall.core.types import Argv

_SPLITS_COMMAND = get_args(Argv)[1].func
"""What marks an `Argv`: the validator that splits a command given as text into words."""


@dataclass(frozen=True)
class ParameterInfo:
    name: str
    """Dotted for a field of a nested section: `thunder.bake_seconds`."""
    kind: str
    """What the value is, for people: `string`, `list of commands`, `integer > 0`."""
    required: bool
    default: str | None
    """The default for people (`auto`, `60`, `none`, `empty`); None when required."""
    description: str
    secret: bool


def describe_parameters(model: type[BaseModel]) -> tuple[ParameterInfo, ...]:
    """Every parameter of `model`, nested sections flattened, in declaration order."""
    return tuple(_walk(model, "", None))


def _walk(model: type[BaseModel], prefix: str, given: BaseModel | None) -> Iterator[ParameterInfo]:
    """`given`: the section's own default, whose values win over the fields' (a `thunder`
    section that defaults to a manual gate although a phase's gate defaults to auto)."""
    for name, field in model.model_fields.items():
        required = field.is_required() and given is None
        if given is not None:
            default = getattr(given, name)
        else:
            default = None if required else field.get_default(call_default_factory=True)
        nested = _section(field.annotation)
        if nested is not None:
            yield from _walk(nested, f"{prefix}{name}.", default)
            continue
        kind = kind_of(field.annotation, field.metadata)
        yield ParameterInfo(
            name=f"{prefix}{name}",
            kind=kind,
            required=required,
            default=None if required else value_text(default, secret="secret" in kind),
            description=field.description or "",
            secret="secret" in kind,
        )


def _section(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def kind_of(annotation: Any, metadata: list[Any] | tuple[Any, ...] = ()) -> str:
    """`Optional[Annotated[list[str], BeforeValidator(split)]]` → `command`."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return kind_of(args[0], (*args[1:], *metadata))
    if any(getattr(item, "func", None) is _SPLITS_COMMAND for item in metadata):
        return "command"
    if origin in (Union, types.UnionType):
        options = [arg for arg in args if arg is not type(None)]
        return " or ".join(kind_of(option, metadata) for option in options)
    if origin is Literal:
        return "one of " + ", ".join(str(arg) for arg in args)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(str(member.value) for member in annotation)
    if origin in (list, tuple, set, frozenset):
        return f"list of {_plural(kind_of(args[0]) if args else 'values')}"
    if origin in (dict, Mapping):
        return f"mapping of names to {_plural(kind_of(args[1]) if len(args) > 1 else 'values')}"
    return _constrained(_PLAIN.get(annotation, "value"), metadata)


_PLAIN: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "true or false",
    SecretStr: "secret",
    SecretBytes: "secret",
    PurePath: "path",
    Any: "any value",
    dict: "mapping",
    list: "list",
}


def _plural(kind: str) -> str:
    if kind in ("true or false", "any value") or kind.startswith(("one of", "list", "mapping")):
        return f"values ({kind})"
    word, _, rest = kind.partition(" ")
    return f"{word}s {rest}".strip()


def _constrained(kind: str, metadata: list[Any] | tuple[Any, ...]) -> str:
    limits = {
        sign: _number(value)
        for item in metadata
        if isinstance(item, annotated_types.BaseMetadata)
        for attribute, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤"))
        if (value := getattr(item, attribute, None)) is not None
    }
    if set(limits) == {"≥", "≤"}:
        return f"{kind} from {limits['≥']} to {limits['≤']}"
    bounds = [f"{sign} {value}" for sign, value in limits.items()]
    for item in metadata:
        if isinstance(item, annotated_types.MinLen) and item.min_length:
            bounds.append(f"at least {item.min_length} characters")
        if isinstance(item, annotated_types.MaxLen):
            bounds.append(f"at most {item.max_length} characters")
    if not bounds:
        return kind
    if bounds[0][0] in "><≥≤":
        return f"{kind} {', '.join(bounds)}"
    return f"{kind} of {' and '.join(bounds)}"


def value_text(value: Any, *, secret: bool = False) -> str:
    """A default as a person reads it: `none`, `empty`, `auto`, `60`, `a, b`."""
    if secret and value:
        return "***"
    return _value_text(value)


def _value_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, str | PurePath):
        return str(value) or "empty"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_value_text(item) for item in value) or "empty"
    if isinstance(value, Mapping):
        return ", ".join(f"{key}={_value_text(item)}" for key, item in value.items()) or "empty"
    if isinstance(value, BaseModel):
        return _value_text(value.model_dump())
    return str(value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
