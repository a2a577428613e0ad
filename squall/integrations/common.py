"""What both integrations need: their settings for one deployment, and Retry-After."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import TypeVar

from pydantic import BaseModel

from squall import ConfigError, DeploymentInfo, with_overrides

SettingsT = TypeVar("SettingsT", bound=BaseModel)

FINAL_EVENTS = {
    "deployment.succeeded": "succeeded",
    "deployment.succeeded_with_exclusions": "succeeded_with_exclusions",
    "deployment.failed": "failed",
    "deployment.cancelled": "cancelled",
    "deployment.rolled_back": "rolled_back",
}
"""Events that end a deployment, and the lifecycle moment each is."""
STAGE_DONE_EVENTS = ("stage.succeeded", "stage.failed")


def settings_for(
    base: SettingsT, section: str, deployment: DeploymentInfo, *, by_type: bool = False
) -> SettingsT:
    """An integration's settings for one deployment: the section's defaults, overridden
    by those of the deployment's environment, then (JIRA) those of its type."""
    result = base
    environments: dict[str, dict[str, object]] = getattr(base, "environments", {})
    environment = deployment.environment
    if environment is not None and environment in environments:
        overrides = dict(environments[environment])
        result = with_overrides(result, overrides, f"{section}.environments.{environment}")
    if by_type:
        types: dict[str, dict[str, object]] = getattr(base, "types", {})
        if deployment.type in types:
            result = with_overrides(
                result, dict(types[deployment.type]), f"{section}.types.{deployment.type}"
            )
    return result


def check_overrides(base: BaseModel, section: str, protected: tuple[str, ...]) -> None:
    """Refuse at start-up an override of a key that is not per environment (a token)."""
    for group in ("environments", "types"):
        for name, overrides in (getattr(base, group, None) or {}).items():
            for key in overrides:
                if key in protected:
                    raise ConfigError(f"{section}.{group}.{name}.{key} cannot be set per {group}")
            with_overrides(base, dict(overrides), f"{section}.{group}.{name}")


def split_names(text: str) -> tuple[str, ...]:
    """ "Approved, Implementing" → ("Approved", "Implementing")."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def counts_text(data: Mapping[str, object]) -> str:
    """Task counts from a stage event's data: "2 succeeded, 1 failed"."""
    known = ("succeeded", "failed", "inconclusive", "interrupted", "cancelled", "excluded")
    parts = [f"{data[name]} {name}" for name in known if data.get(name)]
    parts += [f"{data['skipped']} skipped"] if data.get("skipped") else []
    parts += [f"{data['not_started']} not started"] if data.get("not_started") else []
    return ", ".join(parts) or "no nodes"
