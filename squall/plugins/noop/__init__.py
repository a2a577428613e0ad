"""No-op deployment: connect to every node, run a harmless probe, record what it finds.

This is the smallest complete deployment type, and the one to copy when you start your
own (see docs/plugins.md). A type is three things:

1. a pydantic model of its parameters (the CLI, the web form and validation come from it);
2. a pure planner: parameters and target nodes in, a Plan out;
3. a hook implementation that registers both under a name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from squall import (
    DeploymentSummary,
    DeploymentType,
    NodePlan,
    Plan,
    PlanRequest,
    ReportSection,
    StagePlan,
    hookimpl,
    run,
    sh,
)


class NoopParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(
        "", max_length=500, description="Printed on every node first, e.g. why this run happens."
    )


FACTS = ("hostname", "kernel", "user", "load", "disk_free_kib")
# Each `key=value` line of the probe's output becomes a recorded fact of the node. The probe
# starts three programs (uname, id, df) and reads the load itself: every program started
# costs the node a few milliseconds of CPU, and a no-op deployment should cost its nodes as
# little as it can.
PROBE = sh(
    # `set -f`: the words of uname's and df's output are split, never expanded as patterns.
    "set -f; set -- $(uname -snr); "  # kernel name, host name, kernel release
    "printf 'hostname=%s\\nkernel=%s %s\\n' \"$2\" \"$1\" \"$3\"; "
    "printf 'user=%s\\n' \"$(id -un)\"; "
    "if read one five fifteen rest 2>/dev/null </proc/loadavg; "
    "then printf 'load=%s %s %s\\n' \"$one\" \"$five\" \"$fifteen\"; "
    "else printf 'load=%s\\n' \"$(uptime)\"; fi; "
    # df -P's header is seven words (POSIX), so the free space is the eleventh word.
    "set -- $(df -Pk .); printf 'disk_free_kib=%s\\n' \"${{11}}\""
)  # fmt: skip


def plan(request: PlanRequest[NoopParams]) -> Plan:
    steps = [run("probe", PROBE, facts=True, timeout=30)]
    if request.params.message:
        # sh() quotes every value it inserts: a parameter never reaches the shell as code.
        # printf, not echo: echo would expand backslashes and swallow a message like "-n".
        message = sh("printf '%s\\n' {message}", message=request.params.message)
        steps.insert(0, run("message", message))
    nodes = tuple(NodePlan(node, tuple(steps)) for node in request.targets)
    return Plan((StagePlan("probe", nodes),))


@hookimpl
def squall_register_types(register: Callable[[DeploymentType[Any]], None]) -> None:
    register(
        DeploymentType(
            name="noop",
            title="No-op",
            description="Checks that every target node is reachable and records basic facts "
            "(hostname, kernel, user, load, free disk). Changes nothing.",
            parameters=NoopParams,
            plan=plan,
            retry_interrupted=True,
        )
    )


@hookimpl
def squall_report_sections(deployment: DeploymentSummary) -> list[ReportSection] | None:
    """What the probe found on each node: shown by `squall status`, the deployment page,
    the API and the reports."""
    if deployment.type != "noop":
        return None
    rows = []
    for task in deployment.tasks:
        probe = next((step for step in task.steps if step.name == "probe"), None)
        if probe is not None and probe.data:
            rows.append((task.node, *(str(probe.data.get(key, "")) for key in FACTS)))
    if not rows:
        return None
    return [ReportSection("Facts", headers=("node", *FACTS), rows=tuple(rows))]
