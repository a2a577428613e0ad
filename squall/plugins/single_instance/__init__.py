"""Single-instance deployment: put one version of a service on exactly one node.

Releases live side by side under `<app_dir>/releases/<version>`; `<app_dir>/current` is a
symbolic link switched atomically, so the previous release stays ready to switch back to.
The switch keeps the link it replaced as `current.squall-previous`: a failed health check
puts it back (stop, switch back, start), so a release that is not healthy is not left live.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from squall import (
    Argv,
    DeploymentSummary,
    DeploymentType,
    LogSink,
    NodeConnection,
    NodeInfo,
    NodePlan,
    Plan,
    PlanError,
    PlanRequest,
    ReportSection,
    Shell,
    StagePlan,
    Step,
    StepOutcome,
    argv,
    check,
    hookimpl,
    run,
    sh,
)

HEALTH = "single_instance.health"

_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")


class SingleInstanceParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(
        description="The release to deploy, e.g. 2.4.1 (letters, digits, . _ + -)."
    )
    app_dir: str = Field(
        "app", description="Folder holding releases/ and the current link (relative to home)."
    )
    install_command: Argv | None = Field(
        None,
        description="Run inside the new release folder to fill it, "
        "e.g. tar -xzf /srv/artifacts/app-2.4.1.tgz.",
    )
    drain_command: Argv | None = Field(None, description="Takes the node out of rotation first.")
    stop_command: Argv | None = Field(None, description="Stops the service before the switch.")
    start_command: Argv | None = Field(None, description="Starts the service after the switch.")
    health_command: Argv | None = Field(
        None, description="Succeeds once the new release is healthy."
    )
    health_attempts: int = Field(
        10, ge=1, le=1000, description="How often the health command is tried before failing."
    )
    health_interval: float = Field(3.0, ge=0, description="Seconds between health attempts.")
    timeout: float = Field(300, gt=0, description="Seconds each command may take.")

    @field_validator("version")
    @classmethod
    def _safe_version(cls, value: str) -> str:
        # fullmatch: `$` in match() would let a trailing newline through.
        if not _VERSION.fullmatch(value) or value in {".", ".."}:
            raise ValueError("use letters, digits and . _ + - only (it names a folder)")
        return value

    @field_validator("app_dir")
    @classmethod
    def _usable_dir(cls, value: str) -> str:
        if not value.strip() or any(character in value for character in "\0\n"):
            raise ValueError("must name a folder")
        return value.rstrip("/") or "/"


def plan(request: PlanRequest[SingleInstanceParams]) -> Plan:
    if len(request.targets) != 1:
        names = ", ".join(node.name for node in request.targets[:5])
        more = "…" if len(request.targets) > 5 else ""
        raise PlanError(
            f"single_instance deploys to exactly one node; the target selects "
            f"{len(request.targets)}: {names}{more}"
        )
    params = request.params
    release = f"{params.app_dir}/releases/{params.version}"
    steps: list[Step] = []
    if params.drain_command:
        steps.append(run("drain", argv(params.drain_command), timeout=params.timeout))
    if params.stop_command:
        steps.append(run("stop", argv(params.stop_command), timeout=params.timeout))
    # `--` everywhere a path is an operand: an app_dir such as "-x" must not become an option.
    if params.install_command:
        # A list value becomes its words, each quoted: the command runs, nothing in it is parsed.
        prepare = sh(
            "mkdir -p -- {release} && cd -- {release} && {install}",
            release=release,
            install=params.install_command,
        )
    else:
        prepare = sh("mkdir -p -- {release}", release=release)
    steps.append(run("prepare", prepare, timeout=params.timeout))
    steps.append(_switch(params, params.version))
    steps.extend(_start_and_check(params, switch_back=True))
    return Plan((StagePlan("deploy", (NodePlan(request.targets[0], tuple(steps)),)),))


def rollback(request: PlanRequest[SingleInstanceParams]) -> Plan:
    """Switch the node back to the release it ran before, then start and check it. A node
    that failed before its switch has nothing to undo; one whose health check failed was
    switched back already, and is switched back again (harmless) and checked."""
    params = request.params
    plans = []
    for node in request.targets:
        switched = request.results.get(node.name, {}).get("switch") or {}
        if "current" not in switched:
            continue  # failed before its switch: `current` never moved
        previous = switched["previous"]
        if not previous:
            raise PlanError(
                f"{node.name} ran no release before {params.version}: nothing to switch back to"
            )
        steps: list[Step] = []
        if params.stop_command:
            steps.append(run("stop", argv(params.stop_command), timeout=params.timeout))
        steps.append(_switch(params, str(previous)))
        steps.extend(_start_and_check(params, switch_back=False))
        plans.append(NodePlan(node, tuple(steps)))
    if not plans:
        raise PlanError(f"no node switched to {params.version}: nothing to switch back")
    return Plan((StagePlan("switch back", tuple(plans)),))


def _switch(params: SingleInstanceParams, version: str) -> Step:
    """Point `current` at a release atomically; its facts say what it pointed at before,
    and `current.squall-previous` keeps that link for the health check to put back."""
    current = f"{params.app_dir}/current"
    return run(
        "switch",
        sh(
            "previous=$(readlink -- {current} 2>/dev/null || true); "
            "rm -f -- {current}.squall-previous && "
            '{{ [ -z "$previous" ] || ln -s -- "$previous" {current}.squall-previous; }} && '
            "ln -sfn -- {target} {current}.squall-new && "
            "mv -Tf -- {current}.squall-new {current} && "
            'printf "previous=%s\\n" "${{previous##*/}}" && printf "current=%s\\n" {version}',
            current=current,
            target=f"releases/{version}",
            version=version,
        ),
        facts=True,
        timeout=params.timeout,
    )


def _start_and_check(params: SingleInstanceParams, *, switch_back: bool) -> list[Step]:
    steps = []
    if params.start_command:
        steps.append(run("start", argv(params.start_command), timeout=params.timeout))
    if params.health_command and switch_back:
        steps.append(_health_or_switch_back(params, argv(params.health_command)))
    elif params.health_command:
        steps.append(
            check(
                "health",
                argv(params.health_command),
                attempts=params.health_attempts,
                interval=params.health_interval,
                timeout=params.timeout,
            )
        )
    return steps


def _health_or_switch_back(params: SingleInstanceParams, command: Shell) -> Step:
    return Step(
        "health",
        HEALTH,
        MappingProxyType(
            {
                "command": command.text,
                "attempts": params.health_attempts,
                "interval": params.health_interval,
                "current": f"{params.app_dir}/current",
                "stop": argv(params.stop_command).text if params.stop_command else None,
                "start": argv(params.start_command).text if params.start_command else None,
            }
        ),
        params.timeout,
        f"$ {command.text}  [up to {params.health_attempts} attempts; "
        "switches back to the previous release on failure]",
    )


def health_or_switch_back(step: Step, connection: NodeConnection, log: LogSink) -> StepOutcome:
    """The health check, tried until it passes; when it never does, the release it checked
    is taken out: stop, `current` back to the previous release (removed if there was
    none), start. The step fails either way, saying what became of `current`."""
    assert step.timeout is not None
    args, timeout = step.args, step.timeout
    attempts, interval = int(args["attempts"]), float(args["interval"])
    for attempt in range(1, attempts + 1):
        result = connection.run(Shell(args["command"]), timeout=timeout, log=log)
        outcome = StepOutcome.from_command(result, timeout)
        if outcome.succeeded or result.interrupted:
            return outcome
        if attempt < attempts:
            log.write(f"attempt {attempt}/{attempts} {outcome.error}; next in {interval:g}s")
            if not connection.sleep(interval):
                return StepOutcome.failure("interrupted")
    restored = _switch_back(args, connection, log, timeout)
    log.write(f"health check failed; {restored}")
    return StepOutcome.failure(
        f"health check failed ({outcome.error}); {restored}", exit_code=outcome.exit_code
    )


def _switch_back(args: Any, connection: NodeConnection, log: LogSink, timeout: float) -> str:
    current = args["current"]
    if args["stop"] and connection.run(Shell(args["stop"]), timeout=timeout, log=log).failed:
        return f"the stop command failed: {current} still points at the failed release"
    moved = connection.run(
        sh(
            "if [ -L {previous} ]; then readlink -- {previous} && mv -Tf -- {previous} {current}; "
            "else rm -f -- {current}; fi",
            previous=f"{current}.squall-previous",
            current=current,
        ),
        timeout=timeout,
        log=None,
    )
    if moved.failed:
        return f"could not switch {current} back: put it back by hand"
    previous = moved.stdout.decode(errors="replace").strip()
    if not previous:
        return f"no release ran before: removed {current}"
    if args["start"] and connection.run(Shell(args["start"]), timeout=timeout, log=log).failed:
        return f"restored {current} to {previous}, but the start command failed"
    return f"restored {current} to {previous}"


@hookimpl
def squall_register_types(register: Callable[[DeploymentType[Any]], None]) -> None:
    register(
        DeploymentType(
            name="single_instance",
            title="Single-instance deployment",
            description="Deploys a version of a service to exactly one node: drain, stop, "
            "prepare the release, switch the current link, start, check health.",
            parameters=SingleInstanceParams,
            plan=plan,
            rollback=rollback,
        )
    )


@hookimpl
def squall_execute_step(
    step: Step, node: NodeInfo, connection: NodeConnection, log: LogSink
) -> StepOutcome | None:
    return health_or_switch_back(step, connection, log) if step.kind == HEALTH else None


@hookimpl
def squall_report_sections(deployment: DeploymentSummary) -> list[ReportSection] | None:
    if deployment.type != "single_instance":
        return None
    rows = []
    for task in deployment.tasks:
        switch = next((step for step in task.steps if step.name == "switch"), None)
        if switch is not None and switch.data:
            rows.append(
                (task.node, switch.data.get("previous") or "(none)", switch.data.get("current", ""))
            )
    if not rows:
        return None
    return [ReportSection(title="Versions", headers=("node", "before", "after"), rows=tuple(rows))]
