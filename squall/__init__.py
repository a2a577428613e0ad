"""Squall's public API. Plugins import what they need from here and from nowhere else:

    from squall import DeploymentType, Plan, StagePlan, NodePlan, PlanRequest, hookimpl, run, sh

Names are loaded on first use, so importing a light submodule (such as the pytest plugin
in squall.testing) does not pull in the database layer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Actor": "squall.core.auth",
    "CommandContext": "squall.core.commands",
    "ConfigError": "squall.core.errors",
    "Action": "squall.core.integration",
    "DeliveryContext": "squall.core.integration",
    "DeliveryFailed": "squall.core.integration",
    "DeploymentInfo": "squall.core.integration",
    "Destination": "squall.core.integration",
    "NotYet": "squall.core.integration",
    "RetryLater": "squall.core.integration",
    "DeploymentDetail": "squall.core.services.views",
    "Settings": "squall.core.settings",
    "with_overrides": "squall.core.settings",
    "AuthTarget": "squall.core.auth",
    "EventInfo": "squall.core.events",
    "PlanError": "squall.core.errors",
    "ValidationError": "squall.core.errors",
    "CommandResult": "squall.core.execution",
    "LogSink": "squall.core.execution",
    "NodeConnection": "squall.core.execution",
    "StepOutcome": "squall.core.execution",
    "hookimpl": "squall.core.markers",
    "DeploymentOptions": "squall.core.plan",
    "NodeInfo": "squall.core.plan",
    "NodePlan": "squall.core.plan",
    "Plan": "squall.core.plan",
    "PlanRequest": "squall.core.plan",
    "StagePlan": "squall.core.plan",
    "Step": "squall.core.plan",
    "Threshold": "squall.core.plan",
    "check": "squall.core.plan",
    "health": "squall.core.plan",
    "StageKind": "squall.core.status",
    "run": "squall.core.plan",
    "upload": "squall.core.plan",
    "DeploymentSummary": "squall.core.reporting",
    "ReportSection": "squall.core.reporting",
    "StepSummary": "squall.core.reporting",
    "TaskSummary": "squall.core.reporting",
    "Shell": "squall.core.shell",
    "argv": "squall.core.shell",
    "quote": "squall.core.shell",
    "sh": "squall.core.shell",
    "Argv": "squall.core.types",
    "DeploymentType": "squall.core.types",
    "parse_nested": "squall.core.types",
}

__all__ = [
    "Action",
    "Actor",
    "Argv",
    "AuthTarget",
    "CommandContext",
    "CommandResult",
    "ConfigError",
    "DeliveryContext",
    "DeliveryFailed",
    "DeploymentDetail",
    "DeploymentInfo",
    "DeploymentOptions",
    "DeploymentSummary",
    "DeploymentType",
    "Destination",
    "EventInfo",
    "LogSink",
    "NodeConnection",
    "NodeInfo",
    "NodePlan",
    "NotYet",
    "Plan",
    "PlanError",
    "PlanRequest",
    "ReportSection",
    "RetryLater",
    "Settings",
    "Shell",
    "StageKind",
    "StagePlan",
    "Step",
    "StepOutcome",
    "StepSummary",
    "TaskSummary",
    "Threshold",
    "ValidationError",
    "argv",
    "check",
    "health",
    "hookimpl",
    "parse_nested",
    "quote",
    "run",
    "sh",
    "upload",
    "with_overrides",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'squall' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from squall.core.auth import Actor, AuthTarget
    from squall.core.commands import CommandContext
    from squall.core.errors import ConfigError, PlanError, ValidationError
    from squall.core.events import EventInfo
    from squall.core.execution import CommandResult, LogSink, NodeConnection, StepOutcome
    from squall.core.integration import (
        Action,
        DeliveryContext,
        DeliveryFailed,
        DeploymentInfo,
        Destination,
        NotYet,
        RetryLater,
    )
    from squall.core.markers import hookimpl
    from squall.core.plan import (
        DeploymentOptions,
        NodeInfo,
        NodePlan,
        Plan,
        PlanRequest,
        StagePlan,
        Step,
        Threshold,
        check,
        health,
        run,
        upload,
    )
    from squall.core.reporting import DeploymentSummary, ReportSection, StepSummary, TaskSummary
    from squall.core.services.views import DeploymentDetail
    from squall.core.settings import Settings, with_overrides
    from squall.core.shell import Shell, argv, quote, sh
    from squall.core.status import StageKind
    from squall.core.types import Argv, DeploymentType, parse_nested
