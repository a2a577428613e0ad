"""The catalogue of deployment types: what each does and the parameters it takes."""

from __future__ import annotations

from squall.core.auth import Actor
from squall.core.describe import ParameterInfo, describe_parameters
from squall.core.runtime import Runtime
from squall.core.values.catalogue import TypeInfo

__all__ = ["ParameterInfo", "TypeInfo", "types"]


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
