"""motd: make sure a line is in a file on every node (a custom step kind)."""

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from squall import (
    DeploymentType,
    LogSink,
    NodeConnection,
    NodeInfo,
    NodePlan,
    Plan,
    PlanRequest,
    StagePlan,
    Step,
    StepOutcome,
    hookimpl,
)

LINE_IN_FILE = "motd.line_in_file"


class MotdParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field("motd", description="File to edit, relative to the home folder.")
    line: str = Field(min_length=1, description="The line the file must contain.")


def plan(request: PlanRequest[MotdParams]) -> Plan:
    params = request.params
    step = Step(
        "line",
        LINE_IN_FILE,
        {"path": params.path, "line": params.line},  # JSON values only: the plan is stored
        timeout=30,
        summary=f"make sure {params.path} contains the line",  # shown by --dry-run
    )
    return Plan((StagePlan("all", tuple(NodePlan(node, (step,)) for node in request.targets)),))


@hookimpl
def squall_execute_step(
    step: Step, node: NodeInfo, connection: NodeConnection, log: LogSink
) -> StepOutcome | None:
    if step.kind != LINE_IN_FILE:
        return None  # not ours: core runs `run` and `upload`, other plugins their kinds
    path, line = step.args["path"], step.args["line"]
    timeout = step.timeout or 60
    text = (connection.read_file(path, timeout=timeout) or b"").decode()
    if line in text.splitlines():
        log.write(f"{path} already contains the line")
        return StepOutcome.ok({"changed": False})
    if text and not text.endswith("\n"):
        text += "\n"
    connection.write_file(path, f"{text}{line}\n".encode(), mode=None, timeout=timeout)
    log.write(f"added the line to {path} on {node.name}")
    return StepOutcome.ok({"changed": True})


@hookimpl
def squall_register_types(register: Callable[[DeploymentType[Any]], None]) -> None:
    register(
        DeploymentType("motd", "Message of the day", "Adds a line to a file.", MotdParams, plan)
    )
