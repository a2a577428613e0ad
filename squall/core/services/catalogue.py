"""The catalogue of deployment types: what each does and the parameters it takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from squall.core.describe import ParameterInfo, describe_parameters

if TYPE_CHECKING:  # the type only: the API's client reads `TypeInfo` without the database
    from squall.core.auth import Actor
    from squall.core.runtime import Runtime

__all__ = ["ParameterInfo", "TypeInfo", "types"]


@dataclass(frozen=True)
class TypeInfo:
    name: str
    title: str
    description: str
    retry_interrupted: bool
    parameters: tuple[ParameterInfo, ...]
    schema: dict[str, Any]
    """The parameters' JSON schema, as forms and API clients validate against."""


def types(rt: Runtime, actor: Actor) -> list[TypeInfo]:
    """Every installed deployment type, in registration order. Anyone signed in may look:
    whether they may deploy a type is decided when they try."""
    found = []
    for deployment_type in rt.plugins.types.values():
        model = deployment_type.parameters
        found.append(
            TypeInfo(
                name=deployment_type.name,
                title=deployment_type.title,
                description=deployment_type.description,
                retry_interrupted=deployment_type.retry_interrupted,
                parameters=describe_parameters(model),
                schema=model.model_json_schema(),
            )
        )
    return found
