"""Deployment types: what a plugin registers to teach Squall a new kind of deployment."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ValidationInfo

from squall.core.errors import PluginError
from squall.core.plan import Plan, PlanRequest

P = TypeVar("P", bound=BaseModel)


SHELL_OPERATORS = frozenset("|&;<>()\n")
EXPANDS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789{(@*#?$!-")
"""What a `$` before it makes a shell expand: a name, `${…}`, `$(…)`, a special parameter."""


def _split_command(value: Any) -> Any:
    if isinstance(value, str):
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split command {value!r}: {exc}") from exc
        acted_on = _shell_acts_on(value)
        if acted_on is not None:
            # Passed as a word, it would do something other than what a shell would (a
            # pipe given to the command, `*` not expanded) and could still succeed.
            raise ValueError(
                f"command {value!r}: a shell would act on {acted_on}, but commands are not "
                "interpreted (no pipes, ;, &&, redirections, $ or * expansion, ~, # comments): "
                "quote it to pass it as it is, or put what needs a shell in a script on the node"
            )
        return words
    return value


def _shell_acts_on(text: str) -> str | None:
    """The first thing in `text` a POSIX shell would act on instead of passing it as it is:
    an operator (a newline too: it ends a command), a parameter or command substitution
    (in double quotes as well), a `*` pattern, or a `~` or `#` (a comment) starting a word."""
    quote = ""
    index = 0
    while index < len(text):
        char = text[index]
        if quote == "'":
            quote = "" if char == "'" else quote
        elif char == "\\":
            index += 1  # the next character is escaped
        elif char == "`" or (char == "$" and text[index + 1 : index + 2] in EXPANDS):
            return repr(_word_at(text, index))  # in double quotes too
        elif quote == '"':
            quote = "" if char == '"' else quote
        elif char in "'\"":
            quote = char
        elif char in SHELL_OPERATORS:
            end = index
            while end < len(text) and text[end] in SHELL_OPERATORS:
                end += 1
            return repr(text[index:end])
        elif char == "*" or (char in "~#" and text[index - 1 : index].strip() == ""):
            return repr(_word_at(text, index))  # a pattern, a home folder, a comment
        index += 1
    return None


def _word_at(text: str, index: int) -> str:
    """The word around `index`, for the message: `$HOME/cache`, `/var/cache/*`."""
    start, end = index, index + 1
    while start > 0 and not text[start - 1].isspace() and text[start - 1] not in "'\"":
        start -= 1
    while end < len(text) and not text[end].isspace() and text[end] not in "'\"":
        end += 1
    return text[start:end]


Argv = Annotated[list[str], BeforeValidator(_split_command)]
"""A command as its words. Given as text (`--param cmd='app rebuild --all'`) it is split
like a shell would split it, but nothing in it is ever interpreted: what a shell would act
on (a pipe, `;`, `&&`, a redirection, `$HOME` or `$(…)`, `*`, a leading `~` or `#`) outside
quotes is refused rather than passed on as a word. Each word reaches the node quoted. Put
pipelines in a script on the node."""


@dataclass(frozen=True)
class DeploymentType(Generic[P]):
    """A kind of deployment, registered by a plugin through `squall_register_types`.

    `plan` is pure: parameters and targets in, a Plan out, no I/O, so a plan can be
    previewed exactly as it will run. `rollback`, when given, plans the undoing of a
    finished deployment of this type.
    """

    name: str
    title: str
    description: str
    parameters: type[P]
    plan: Callable[[PlanRequest[P]], Plan]
    rollback: Callable[[PlanRequest[P]], Plan] | None = None
    retry_interrupted: bool = False
    """True when running a node task again after its worker died is harmless; otherwise
    an interrupted task fails and waits for an operator's retry."""

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise PluginError(f"deployment type name {self.name!r} must be letters, digits, _ or -")
        if not (isinstance(self.parameters, type) and issubclass(self.parameters, BaseModel)):
            raise PluginError(f"deployment type {self.name!r}: parameters must be a pydantic model")


def with_defaults(model: type[BaseModel], raw: Mapping[str, Any]) -> dict[str, Any]:
    """`raw` with each partial mapping given for a field whose default is a model completed
    from that default, at every depth: `{"thunder": {"bake_seconds": 5}}` keeps the rest of
    thunder's default (its manual gate) instead of starting from the sub-model's own
    defaults. What `raw` gives always wins."""
    merged = dict(raw)
    for name, field in model.model_fields.items():
        key = name if name in merged or field.alias is None else field.alias
        given = merged.get(key)
        if not isinstance(given, Mapping) or field.default_factory_takes_validated_data:
            continue
        default = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            base = default.model_dump(exclude_unset=True)
            merged[key] = with_defaults(type(default), _deep_merge(base, given))
    return merged


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        below = merged.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            merged[key] = _deep_merge(below, value)
        else:
            merged[key] = value
    return merged


PARSE_CONTEXT = "squall_parse"
"""Key of the validation context under which Squall hands its parameter parser to models."""


def parse_nested(info: ValidationInfo, type_name: str, raw: Any) -> BaseModel:
    """Validate another type's parameters from inside a parameter model's validator.

    For types that wrap others (group deployments): the inner parameters get the inner
    type's own model, so its error messages and its secret fields work as if it ran alone.
    """
    parse = (info.context or {}).get(PARSE_CONTEXT)
    if parse is None:
        raise ValueError("inner parameters are checked when Squall validates the request")
    if isinstance(raw, BaseModel):
        raw = raw.model_dump()
    if not isinstance(raw, dict):
        raise ValueError(f"parameters of {type_name} must be a mapping")
    parsed: BaseModel = parse(type_name, raw)
    return parsed
