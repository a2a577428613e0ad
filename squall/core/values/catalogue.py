"""A deployment type as listed: what it does and the parameters it takes (made by
`squall.core.services.catalogue`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from squall.core.describe import ParameterInfo


@dataclass(frozen=True)
class TypeInfo:
    name: str
    title: str
    description: str
    retry_interrupted: bool
    parameters: tuple[ParameterInfo, ...]
    schema: dict[str, Any]
    """The parameters' JSON schema, as forms and API clients validate against."""
