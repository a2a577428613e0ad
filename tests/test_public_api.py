"""The public API plugins import: `squall` exports every value a hook takes, returns or
raises, and importing the hook marker costs next to nothing."""

from __future__ import annotations

import inspect
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path

import pydantic
import typer

import squall
from squall.core import hookspecs
from squall.core.services import views  # what integration.py names for the type checker only

SOURCE = Path(squall.__file__).parent


def squall_classes(annotation: object) -> Iterator[type]:
    """Squall's own classes named anywhere in an annotation (generics, unions, callables)."""
    if isinstance(annotation, type) and annotation.__module__.startswith("squall"):
        yield annotation
    for argument in typing.get_args(annotation):
        if isinstance(argument, list):  # Callable[[A, B], R]
            for item in argument:
                yield from squall_classes(item)
        else:
            yield from squall_classes(argument)
    origin = typing.get_origin(annotation)
    if origin is not None:
        yield from squall_classes(origin)


def hints(function: object) -> dict[str, object]:
    # The contract names its argument types for type checkers only (a light import):
    # resolve them as a plugin would see them, from `squall`.
    exported = {name: getattr(squall, name) for name in squall._EXPORTS}
    namespace = {**vars(hookspecs), **exported}
    return typing.get_type_hints(
        function, globalns={**namespace, "typer": typer, "BaseModel": pydantic.BaseModel}
    )


def test_every_type_a_hook_takes_or_returns_is_exported_by_squall() -> None:
    named: set[type] = set()
    hooks = [getattr(hookspecs, name) for name in dir(hookspecs) if name.startswith("squall_")]
    for hook in hooks:
        for annotation in hints(hook).values():
            named.update(squall_classes(annotation))
    # The protocols and values handed to plugins bring their own members' types along.
    for protocol in (squall.Destination, squall.DeliveryContext, squall.CommandContext):
        for member_name, member in vars(protocol).items():
            if member_name.startswith("_"):  # constructors are Squall's to call
                continue
            target = member.fget if isinstance(member, property) else member
            if inspect.isfunction(target):
                namespace = {
                    **vars(views),
                    **vars(sys.modules[protocol.__module__]),
                    **{name: getattr(squall, name) for name in squall._EXPORTS},
                }
                for annotation in typing.get_type_hints(target, namespace).values():
                    named.update(squall_classes(annotation))
    assert {cls.__name__ for cls in named} >= {
        "Actor",
        "AuthTarget",
        "CommandContext",
        "DeploymentInfo",
        "DeploymentType",
        "Destination",
        "EventInfo",
        "Settings",
        "Action",
        "DeliveryContext",
        "DeploymentDetail",
    }
    for cls in named:
        assert cls.__name__ in squall.__all__, f"squall does not export {cls.__name__}"
        assert getattr(squall, cls.__name__) is cls


def test_what_hooks_and_destinations_raise_is_exported_by_squall() -> None:
    for name in (
        "PlanError",
        "ValidationError",
        "ConfigError",
        "RetryLater",
        "DeliveryFailed",
        "NotYet",
    ):
        assert name in squall.__all__
        assert issubclass(getattr(squall, name), Exception)


def test_every_exported_name_resolves_and_the_type_checker_sees_it() -> None:
    typed = (SOURCE / "__init__.py").read_text().split("if TYPE_CHECKING:")[1]
    for name in squall.__all__:
        assert getattr(squall, name) is not None
        assert name in typed, f"{name} is not imported in squall's TYPE_CHECKING block"


def test_importing_the_hook_marker_does_not_load_the_database_layer() -> None:
    probe = (
        "import sys\n"
        "from squall import hookimpl\n"
        "heavy = [m for m in ('sqlalchemy', 'squall.core.models', 'pydantic', 'nicegui') if m in sys.modules]\n"
        "print(','.join(heavy) or 'none', 'squall.core.markers' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "none True"
    imported = [line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if "|" in line]
    assert "pluggy" in imported
    assert not [name for name in imported if name.startswith(("sqlalchemy", "squall.core.models"))]


def test_the_integrations_import_only_the_public_api() -> None:
    for path in (SOURCE / "integrations").rglob("*.py"):
        source = path.read_text()
        assert "squall.core" not in source, f"{path.relative_to(SOURCE)} imports squall.core"
