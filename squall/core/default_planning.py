"""Last-resort planning: the registered type plans its own requests, and its rollbacks."""

from __future__ import annotations

from typing import Any

from squall.core.errors import PlanError
from squall.core.hookspecs import hookimpl
from squall.core.plan import Plan, PlanRequest
from squall.core.types import DeploymentType


@hookimpl(trylast=True)
def squall_plan(request: PlanRequest[Any], deployment_type: DeploymentType[Any]) -> Plan:
    if request.purpose == "rollback":
        if deployment_type.rollback is None:
            raise PlanError(f"deployments of type {deployment_type.name} cannot be rolled back")
        return deployment_type.rollback(request)
    return deployment_type.plan(request)
