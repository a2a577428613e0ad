"""Configuration change: write a file on every node, keep a backup, validate, reload.

The file's new content is given whole, or as a template filled from parameters (and the
node's own name, cluster and host). On each node Squall backs up the current file,
writes the new one atomically, logs the diff, runs the validate command (and puts the
old file back if it fails), then runs the reload command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from squall import (
    DeploymentSummary,
    DeploymentType,
    LogSink,
    NodeConnection,
    NodeInfo,
    ReportSection,
    Step,
    StepOutcome,
    hookimpl,
)
from squall.plugins.config_change.plan import ConfigChangeParams, plan, rollback
from squall.plugins.config_change.report import report_sections
from squall.plugins.config_change.steps import (
    RESTORE,
    VALIDATE,
    WRITE,
    restore_previous,
    validate,
    write,
)


@hookimpl
def squall_register_types(register: Callable[[DeploymentType[Any]], None]) -> None:
    register(
        DeploymentType(
            name="config_change",
            title="Configuration change",
            description="Writes a configuration file on each node (whole content or a template), "
            "keeps a backup, shows the diff, validates it (restoring the backup on failure) "
            "and reloads the service. Rolls back by restoring the backup.",
            parameters=ConfigChangeParams,
            plan=plan,
            rollback=rollback,
            retry_interrupted=True,
        )
    )


@hookimpl
def squall_execute_step(
    step: Step, node: NodeInfo, connection: NodeConnection, log: LogSink
) -> StepOutcome | None:
    if step.kind == WRITE:
        return write(step, connection, log)
    if step.kind == VALIDATE:
        return validate(step, connection, log)
    if step.kind == RESTORE:
        return restore_previous(step, connection, log)
    return None


@hookimpl
def squall_report_sections(deployment: DeploymentSummary) -> list[ReportSection] | None:
    return report_sections(deployment)
