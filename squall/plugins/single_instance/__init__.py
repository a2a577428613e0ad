"""Single-instance deployment: put one version of a service on exactly one node.

Releases live side by side under `<app_dir>/releases/<version>`; `<app_dir>/current` is a
symbolic link switched atomically, so the previous release stays ready to switch back to.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from squall import (
    Argv,
    DeploymentSummary,
    DeploymentType,
    NodePlan,
    Plan,
    PlanError,
    PlanRequest,
    ReportSection,
    StagePlan,
    Step,
    argv,
    check,
    hookimpl,
    run,
    sh,
)

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
    steps.extend(_start_and_check(params))
    return Plan((StagePlan("deploy", (NodePlan(request.targets[0], tuple(steps)),)),))


def rollback(request: PlanRequest[SingleInstanceParams]) -> Plan:
    """Switch the node back to the release it ran before, then start and check it."""
    params = request.params
    plans = []
    for node in request.targets:
        previous = request.results.get(node.name, {}).get("switch", {}).get("previous")
        if not previous:
            raise PlanError(
                f"{node.name} ran no release before {params.version}: nothing to switch back to"
            )
        steps: list[Step] = []
        if params.stop_command:
            steps.append(run("stop", argv(params.stop_command), timeout=params.timeout))
        steps.append(_switch(params, str(previous)))
        steps.extend(_start_and_check(params))
        plans.append(NodePlan(node, tuple(steps)))
    return Plan((StagePlan("switch back", tuple(plans)),))


def _switch(params: SingleInstanceParams, version: str) -> Step:
    """Point `current` at a release atomically; its facts say what it pointed at before."""
    current = f"{params.app_dir}/current"
    return run(
        "switch",
        sh(
            "previous=$(readlink -- {current} 2>/dev/null || true); "
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


def _start_and_check(params: SingleInstanceParams) -> list[Step]:
    steps = []
    if params.start_command:
        steps.append(run("start", argv(params.start_command), timeout=params.timeout))
    if params.health_command:
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
