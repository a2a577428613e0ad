"""Parameters as people read them: one renderer for the catalogue page, `squall types` and
the API's type listing."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, Field, SecretStr

from squall import Argv
from squall.app import DEFAULT_PLUGINS
from squall.core.describe import ParameterInfo, describe_parameters
from squall.core.plugins import build_host

INTERNALS = (
    "Annotated",
    "BeforeValidator",
    "<function",
    "Optional[",
    "PydanticUndefined",
    "typing.",
    "<class",
)


def built_in_parameters() -> list[tuple[str, ParameterInfo]]:
    host = build_host(DEFAULT_PLUGINS)
    return [
        (name, parameter)
        for name, deployment_type in host.types.items()
        for parameter in describe_parameters(deployment_type.parameters)
    ]


@pytest.mark.parametrize(
    ("type_name", "parameter"), built_in_parameters(), ids=lambda x: getattr(x, "name", x)
)
def test_every_built_in_parameter_reads_as_words_and_has_a_description(
    type_name: str, parameter: ParameterInfo
) -> None:
    assert parameter.description, f"{type_name}.{parameter.name} has no description"
    shown = f"{parameter.kind} {parameter.default}"
    for internal in INTERNALS:
        assert internal not in shown, f"{type_name}.{parameter.name}: {shown}"
    assert (parameter.default is None) == parameter.required


class Window(BaseModel):
    start: str = Field("22:00", description="When it opens.")
    hours: float = Field(2, gt=0, description="How long it lasts.")


class Example(BaseModel):
    name: str = Field(description="A name.")
    command: Argv = Field(description="A command.")
    commands: list[Argv] = Field(default_factory=list, description="Several commands.")
    retries: int = Field(3, gt=0, description="Tries.")
    share: float = Field(0.5, ge=0, le=1, description="A fraction.")
    mode: Literal["fast", "safe"] = Field("safe", description="How.")
    token: SecretStr = Field(SecretStr("s3cr3t-default"), description="A secret.")
    note: str | None = Field(None, max_length=80, description="Optional.")
    tags: dict[str, str] = Field(default_factory=dict, description="Labels.")
    window: Window = Field(default_factory=lambda: Window(hours=4), description="A section.")
    verbose: bool = Field(False, description="Say more.")


def test_each_kind_of_field_is_named_as_a_person_says_it() -> None:
    shown = {p.name: (p.kind, p.default) for p in describe_parameters(Example)}
    assert shown == {
        "name": ("string", None),
        "command": ("command", None),
        "commands": ("list of commands", "empty"),
        "retries": ("integer > 0", "3"),
        "share": ("number from 0 to 1", "0.5"),
        "mode": ("one of fast, safe", "safe"),
        "token": ("secret", "***"),
        "note": ("string of at most 80 characters", "none"),
        "tags": ("mapping of names to strings", "empty"),
        "window.start": ("string", "22:00"),
        "window.hours": ("number > 0", "4"),
        "verbose": ("true or false", "false"),
    }
    secrets = [p.name for p in describe_parameters(Example) if p.secret]
    assert secrets == ["token"]
