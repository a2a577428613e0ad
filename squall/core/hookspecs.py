"""The plugin contract: every hook Squall calls, grouped by lifecycle phase.

Plugins implement these with `squall.hookimpl` and are registered by module (built-ins) or
through the `squall` entry-point group (everyone else). Hooks are called with keyword
arguments only; an implementation may accept a subset of them, so adding an argument
later breaks no plugin. A misspelled implementation (a `squall_*` name that is not
below) makes Squall refuse to start.

Arguments are frozen values and small protocols, never database rows or sessions.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from squall.core.markers import PROJECT, hookimpl, hookspec

# For the signatures only: loading the hooks (as `squall --help` does) needs none of them.
if TYPE_CHECKING:
    import typer
    from pydantic import BaseModel

    from squall.core.auth import Actor, AuthTarget
    from squall.core.commands import CommandContext
    from squall.core.events import EventInfo
    from squall.core.execution import LogSink, NodeConnection, StepOutcome
    from squall.core.integration import DeploymentInfo, Destination
    from squall.core.plan import NodeInfo, Plan, PlanRequest, Step
    from squall.core.reporting import DeploymentSummary, ReportSection
    from squall.core.settings import Settings
    from squall.core.types import DeploymentType

__all__ = ["PROJECT", "hookimpl", "hookspec"]  # the markers, for those who import them here


# --- register ---------------------------------------------------------------------------


@hookspec
def squall_register_types(register: Callable[[DeploymentType], None]) -> None:  # type: ignore[type-arg]
    """Register the deployment types a plugin provides.

    :param register: call it once per type with a `DeploymentType`; a name already
        registered by another plugin makes Squall refuse to start.

    Every implementation is called once, when the plugin host is built.
    """


@hookspec
def squall_register_destinations(
    register: Callable[[Destination], None], settings: Settings
) -> None:
    """Register the integrations a plugin delivers events to (JIRA, Slack, …).

    :param register: call it once per `squall.core.integration.Destination`; two destinations
        with one name make Squall refuse to start.
    :param settings: Squall's settings, for the destination's own section.

    Called once by each process that delivers (the one running the engine). Squall then
    stores, for each committed event, one delivery per `Action` the destination's
    `actions(event, deployment)` names, and calls its `send` for each: in order per
    deployment, retried with backoff while it raises `RetryLater`, given up on
    `DeliveryFailed`, from a background thread and never inside a transaction.
    """


@hookspec
def squall_settings_model() -> tuple[str, type[BaseModel]] | None:
    """Declare the plugin's own section of Squall's settings.

    :return: the section's name and its pydantic model, or None for no settings. The
        name `pagerduty` makes `SQUALL_PAGERDUTY__TOKEN` and the settings file's
        `pagerduty:` section reach the model.

    Called once, when the plugin host is built; a name a core setting or another plugin
    already has makes Squall refuse to start. When Squall starts, the section is checked
    by the model with the errors core settings give (an unknown key, a value of the wrong
    type: Squall refuses to start and names the setting). Hooks that receive `settings`
    read it with `settings.section(name, Model)`. Fields declared `SecretStr` never appear
    in clear in errors or in what Squall shows or stores.
    """


@hookspec
def squall_register_commands(
    app: typer.Typer, open_squall: Callable[[], AbstractContextManager[CommandContext]]
) -> None:
    """Add commands to the `squall` command line.

    :param app: the `squall` Typer application: `app.command()` adds a command,
        `app.add_typer(group, name="pagerduty")` a group of them.
    :param open_squall: call it inside a command, as `with open_squall() as squall:`, for
        this machine's Squall (its settings, the deployments the person may see);
        Squall's errors raised in the block are printed and end the command with status 2.

    Called once per run of the `squall` command, before it parses its arguments. A
    command name another plugin or Squall uses already is an error of the plugin's.
    """


# --- authorize --------------------------------------------------------------------------


@hookspec
def squall_authorize(actor: Actor, permission: str, target: AuthTarget) -> bool | None:
    """Vote on whether `actor` may use `permission` on `target`.

    :param actor: who is acting (name, roles, how they signed in).
    :param permission: one of `squall.core.permissions.Permission`, e.g. `deployment.create`,
        `deployment.control` (pause, resume, cancel), `inventory.edit`.
    :param target: what the action applies to (kind, name, clusters, environments).
    :return: True to allow, False to deny, None for no opinion.

    All results are collected: the action proceeds only if at least one implementation
    returns True and none returns False. Core services call this before every change.
    """


@hookspec
def squall_deployment_gates(deployment: DeploymentInfo, settings: Settings) -> list[str] | None:
    """Name the outside conditions a new deployment must wait for (e.g. `["jira"]`).

    :param deployment: the deployment being created (its type, environments, ticket).
    :param settings: Squall's settings, for the plugin's own section.
    :return: gate names this plugin will judge in `squall_gate_check`, or None.

    All results are collected. Called inside the creating transaction: no I/O here.
    Raise `squall.core.errors.ValidationError` to refuse the deployment (a ticket its
    environment requires is missing); nothing is created then. The deployment does not
    start, and a gated stage does not start once approved, until every named condition
    is released.
    """


@hookspec
def squall_check_deployment(deployment: DeploymentInfo, settings: Settings) -> None:
    """Check a deployment about to be created against the outside world (its ticket exists).

    :param deployment: the deployment as it will be created (its type, environments,
        ticket, requester); its `id` is 0, it exists nowhere yet.
    :param settings: Squall's settings, for the plugin's own section.

    All implementations are called, before the creating transaction opens: I/O is fine
    here (and only here: `squall_deployment_gates` runs inside the transaction). Raise
    `squall.core.errors.ValidationError` to refuse the deployment; nothing is created.
    """


@hookspec
def squall_gate_check(
    deployment: DeploymentInfo, gate: str, stage: str | None, settings: Settings
) -> str | None:
    """Judge an outside condition a deployment is held on.

    :param deployment: the held deployment (its ticket, status, environments).
    :param gate: the condition's name, as `squall_deployment_gates` gave it.
    :param stage: None when the deployment waits to start; else the gated stage that
        waits to start after its approval.
    :param settings: Squall's settings, for the plugin's own section.
    :return: what it waits for, for people (e.g. "JIRA OPS-12 to be in Approved (now:
        In Review)"); None when the condition is met or not this plugin's.

    All results are collected: the hold is released when none gives a reason. Called
    from a background loop every `outbox.gate_poll_seconds`, outside any transaction;
    I/O is fine. An exception keeps the hold and shows its message.
    """


# --- plan -------------------------------------------------------------------------------


@hookspec(firstresult=True)
def squall_plan(request: PlanRequest, deployment_type: DeploymentType) -> Plan | None:  # type: ignore[type-arg]
    """Turn a validated request into a Plan.

    :param request: the type name, its validated parameters (a pydantic model), the
        selected targets, the deployment options, once created the deployment id, and
        its `purpose`: `deploy`, or `rollback` to plan the undoing of the nodes in
        `targets` (with what their steps recorded in `results`).
    :param deployment_type: the registered type named by `request.type`.
    :return: the Plan, or None if this implementation does not plan this request.

    First non-None result wins. Squall's own last-resort implementation calls
    `deployment_type.plan(request)`, or `deployment_type.rollback(request)` for a
    rollback; implement this hook (or wrap it
    with `wrapper=True`) to plan another plugin's type differently. Raise
    `squall.core.errors.PlanError` to refuse the request with a message for the user.
    """


# --- execute ----------------------------------------------------------------------------


@hookspec(firstresult=True)
def squall_execute_step(
    step: Step, node: NodeInfo, connection: NodeConnection, log: LogSink
) -> StepOutcome | None:
    """Execute one step of a node task.

    :param step: the step (its `kind` says what it is; `args` holds its details).
    :param node: the node it runs on.
    :param connection: the node task's open connection, shared by all its steps; run
        commands and read or write files through it.
    :param log: where to write what the step does, line by line (secrets are redacted).
    :return: a StepOutcome, or None if this implementation does not execute this kind.

    First non-None result wins. Squall's own last-resort implementation runs the kinds
    `run` and `upload`; a plugin adds a kind by returning an outcome for it. Called in a
    worker thread; an exception fails the step with its message.
    """


# --- report -----------------------------------------------------------------------------


@hookspec
def squall_report_sections(deployment: DeploymentSummary) -> list[ReportSection] | None:
    """Add sections to a deployment's report (for example the files a change touched).

    :param deployment: what happened: type, parameters (secrets redacted), status, and
        every node task with its step results and their data.
    :return: sections to add, or None when the plugin has nothing to say.

    All results are collected in plugin order, whenever a report of the deployment is
    computed (console, PDF, CSV, JSON, `squall status`). Return the same sections for the
    same deployment every time: a report's fingerprint covers them, and checking a copy
    computes them again.
    """


# --- events -----------------------------------------------------------------------------


@hookspec
def squall_on_event(event: EventInfo) -> None:
    """React to an event after it was committed (deployment created, stage started,
    task failed, …).

    :param event: the event's id, kind, deployment, task, actor and data.

    Called for every event, in order, at least once, from a background thread; an
    exception is logged and does not stop delivery to other plugins. Long work belongs
    in the plugin's own queue.
    """
