"""Last-resort planning: the registered type plans its own requests."""

from __future__ import annotations

from typing import Any

from core.hookspecs import hookimpl
from core.plan import Plan, PlanRequest
from core.types import DeploymentType


@hookimpl(trylast=True)
def squall_plan(request: PlanRequest[Any], deployment_type: DeploymentType[Any]) -> Plan:
    return deployment_type.plan(request)
