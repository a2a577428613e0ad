"""Squall's core. Plugins import what they need from here and from nowhere else:

    from core import DeploymentType, Plan, StagePlan, NodePlan, PlanRequest, hookimpl, run, sh

Names are loaded on first use, so importing a light submodule (such as the pytest plugin
in core.testing) does not pull in the database layer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Actor": "core.auth",
    "AuthTarget": "core.auth",
    "EventInfo": "core.events",
    "PlanError": "core.errors",
    "ValidationError": "core.errors",
    "CommandResult": "core.execution",
    "LogSink": "core.execution",
    "NodeConnection": "core.execution",
    "StepOutcome": "core.execution",
    "hookimpl": "core.hookspecs",
    "DeploymentOptions": "core.plan",
    "NodeInfo": "core.plan",
    "NodePlan": "core.plan",
    "Plan": "core.plan",
    "PlanRequest": "core.plan",
    "StagePlan": "core.plan",
    "Step": "core.plan",
    "Threshold": "core.plan",
    "check": "core.plan",
    "health": "core.plan",
    "StageKind": "core.status",
    "run": "core.plan",
    "upload": "core.plan",
    "DeploymentSummary": "core.reporting",
    "ReportSection": "core.reporting",
    "StepSummary": "core.reporting",
    "TaskSummary": "core.reporting",
    "Shell": "core.shell",
    "argv": "core.shell",
    "quote": "core.shell",
    "sh": "core.shell",
    "Argv": "core.types",
    "DeploymentType": "core.types",
    "parse_nested": "core.types",
}

__all__ = [
    "Actor",
    "Argv",
    "AuthTarget",
    "CommandResult",
    "DeploymentOptions",
    "DeploymentSummary",
    "DeploymentType",
    "EventInfo",
    "LogSink",
    "NodeConnection",
    "NodeInfo",
    "NodePlan",
    "Plan",
    "PlanError",
    "PlanRequest",
    "ReportSection",
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
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from core.auth import Actor, AuthTarget
    from core.errors import PlanError, ValidationError
    from core.events import EventInfo
    from core.execution import CommandResult, LogSink, NodeConnection, StepOutcome
    from core.hookspecs import hookimpl
    from core.plan import (
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
    from core.reporting import DeploymentSummary, ReportSection, StepSummary, TaskSummary
    from core.shell import Shell, argv, quote, sh
    from core.status import StageKind
    from core.types import Argv, DeploymentType, parse_nested
