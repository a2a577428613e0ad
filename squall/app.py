"""The `squall` command: serve the web console, run workers, deploy, watch, inspect."""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from squall.core.auth import local_operator
from squall.core.commands import CommandContext
from squall.core.errors import SquallError
from squall.core.params import parse_assignments
from squall.core.plan import DeploymentOptions, Threshold
from squall.core.status import DeploymentStatus
from squall.startup import ending, started, starting

# The database, the engine, the API and the reports load in the commands that use them, so
# `squall --help` and light commands start fast (tests/test_cli_startup.py keeps it so).
if TYPE_CHECKING:
    from rich.table import Table

    from squall.api.backends import Backend, ReportRequest
    from squall.core.plugins import PluginHost
    from squall.core.runtime import Runtime

DEFAULT_PLUGINS = (
    "squall.plugins.noop",
    "squall.plugins.config_change",
    "squall.plugins.cache_rebuild",
    "squall.plugins.single_instance",
    "squall.plugins.group_phases",
    "squall.integrations.jira",
    "squall.integrations.slack",
)
"""Squall's own deployment types and integrations, registered like any third-party plugin."""

PIPED_REFRESH = 1.0
"""Seconds between looks at a deployment run here when the output is not a terminal."""

cli = typer.Typer(
    name="squall",
    help="Squall: deployments to your clusters' nodes, tracked, authorized and reported.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Help reflows docstrings to the terminal (their line breaks are the source's, not the
    # reader's); `code` shows as code.
    rich_markup_mode="markdown",
)


def _show_what_a_parameter_takes() -> None:
    """Typer's help prints a type beside every parameter as Python spells it: `<bool>`
    beside a flag, where `--dry-run <bool>` reads as if the flag wanted a value, and
    `<list[str]>` beside a parameter given once per value, as if it took a list in one go.
    A flag shows nothing (as in click's own help) and a repeatable parameter one value's
    type, for every command, a plugin's included; their help says that they repeat."""
    for kind in (typer.core.TyperOption, typer.core.TyperArgument):
        type_of = getattr(kind, "display_type_rich", None)
        if type_of is not None:  # a typer that shows a type column
            kind.display_type_rich = _one_value(type_of)  # type: ignore[method-assign]


def _one_value(type_of: Any) -> Any:
    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False):
            return None
        shown: str | None = type_of(self, ctx)
        repeated = getattr(self, "multiple", False) or self.nargs != 1
        if repeated and shown and shown.startswith("<list[") and shown.endswith("]>"):
            return f"<{shown[len('<list[') : -len(']>')]}>"
        return shown

    return display_type_rich


_show_what_a_parameter_takes()

inventory_cli = typer.Typer(help="Clusters and nodes Squall deploys to.", no_args_is_help=True)
plugin_cli = typer.Typer(help="Write your own deployment types.", no_args_is_help=True)
role_cli = typer.Typer(help="Who may do what: roles and their grants.", no_args_is_help=True)
token_cli = typer.Typer(help="API tokens for scripts and the CLI.", no_args_is_help=True)
audit_cli = typer.Typer(help="The audit log of every human action.", no_args_is_help=True)
deliveries_cli = typer.Typer(
    help="What Squall tells JIRA and Slack, and when.", no_args_is_help=True
)
report_cli = typer.Typer(
    help="Reports of a deployment, a cluster over a period, or a node: PDF, CSV, JSON.",
    no_args_is_help=True,
)
cli.add_typer(inventory_cli, name="inventory")
cli.add_typer(plugin_cli, name="plugin")
cli.add_typer(role_cli, name="role")
cli.add_typer(token_cli, name="token")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(deliveries_cli, name="deliveries")
cli.add_typer(report_cli, name="report")

# Markup is off: node output, names and messages are printed as they are, never parsed.
# Lines are not wrapped either: paths and commands stay whole for copying.
console = Console(highlight=False, markup=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


class Remote:
    """The server named by `--server` (or SQUALL_SERVER), if any."""

    server: str | None = None
    command: str | None = None


@cli.callback()
def options(
    context: typer.Context,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            envvar="SQUALL_SERVER",
            help="Talk to this Squall over its API (token from SQUALL_TOKEN) instead of "
            "the database here. Every command but serve and worker (this machine only) works "
            "so.",
        ),
    ] = None,
) -> None:
    Remote.server = server or None
    Remote.command = context.invoked_subcommand


@functools.cache
def plugin_host() -> PluginHost:
    """Squall's own plugins and every installed one, loaded once per run of the command."""
    from squall.core.plugins import build_host

    return build_host(DEFAULT_PLUGINS, entry_points=True)


def open_runtime() -> Runtime:
    """Squall as configured, with its plugins; creates the demo inventory on first run."""
    from squall.core.runtime import Runtime
    from squall.core.services import inventory
    from squall.core.settings import load_settings

    runtime = Runtime.open(load_settings(), plugin_host())
    with runtime.db.write() as session:
        created = inventory.ensure_demo_inventory(session, runtime, local_operator())
        leftover = runtime.settings.sso.enabled and inventory.demo_clusters(session, runtime)
    if created:
        errors.print(Text(f"created a demo inventory of local nodes: {created}", style="dim"))
    if leftover:
        errors.print(
            Text(
                "single sign-on is on, yet the demo inventory's local nodes are still here: "
                "remove them with `squall inventory remove --demo`",
                style="yellow",
            )
        )
    return runtime


@contextmanager
def squall() -> Iterator[tuple[Runtime, Any]]:
    """The runtime and the acting person, with Squall's errors printed, not raised. For
    the commands that work on this machine's Squall only (serve, worker): given a server,
    they refuse rather than quietly use the database here."""
    if Remote.server:
        fail(
            SquallError(
                f"`squall {Remote.command}` works on this machine's Squall only; drop --server"
            )
        )
    try:
        with open_runtime() as runtime:
            started()
            yield runtime, local_operator()
    except SquallError as exc:
        fail(exc)


@contextmanager
def backend() -> Iterator[Backend]:
    """The Squall to work with: the one named by --server, or this machine's; errors
    printed, not raised. The token is read from SQUALL_TOKEN and never shown."""
    try:
        if Remote.server:
            from squall.api.remote import RemoteBackend  # no database layer for a remote one

            remote = RemoteBackend(Remote.server, os.environ.get("SQUALL_TOKEN"))
            try:
                yield remote
            finally:
                remote.close()
            return
        from squall.api.local import LocalBackend

        with open_runtime() as runtime:
            local = LocalBackend(runtime, local_operator())
            local.reap()
            yield local
    except SquallError as exc:
        fail(exc)


@contextmanager
def open_squall() -> Iterator[CommandContext]:
    """What a plugin's command works with (`squall_register_commands`): this machine's
    Squall, or with --server, that server's API."""
    if Remote.server:
        from squall.api.client import SquallClient

        client = SquallClient(Remote.server, os.environ.get("SQUALL_TOKEN"))
        try:
            yield CommandContext(None, None, server_get=client.get_json)
        except SquallError as exc:
            fail(exc)
        finally:
            client.close()
        return
    with squall() as (runtime, actor):
        yield CommandContext(runtime, actor)


def fail(exc: SquallError) -> NoReturn:
    errors.print(Text.assemble(("error: ", "red"), str(exc)))
    raise typer.Exit(2)


def print_rows(table: Table, rows: int, none: str) -> None:
    """A listing's table, or, when it has no row, a line that says so (an empty table's
    bare headers read like a failure)."""
    console.print(table if rows else Text(none, style="dim"))


# --- deploying -------------------------------------------------------------------------

DeploymentId = Annotated[
    int, typer.Argument(metavar="ID", help="The deployment's number, as `squall status` lists it.")
]
FollowOption = Annotated[
    bool,
    typer.Option(
        "--follow",
        "-f",
        help="Also stream every node's output, and wait out outside conditions "
        "(a JIRA ticket's status) instead of exiting 3.",
    ),
]


@cli.command()
def deploy(
    type_name: Annotated[
        str, typer.Argument(metavar="TYPE", help="Deployment type (see `squall types`).")
    ],
    target: Annotated[
        str,
        typer.Option(
            "--target",
            "-t",
            help="Selector: all, cluster:web*, tag:db, host:web-1, combined with , & !",
        ),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="key=value (repeat; key=@file reads a file)."),
    ] = None,
    parallel: Annotated[int, typer.Option(help="Nodes worked on at once per stage.")] = 50,
    max_fail: Annotated[
        str | None, typer.Option(help="Failures tolerated per stage before it halts: 3 or 10%.")
    ] = None,
    step_timeout: Annotated[
        float | None,
        typer.Option(
            help="The most any step may take, in seconds: it caps every step's own "
            "timeout (whatever the type) and is the timeout of steps that set none."
        ),
    ] = None,
    ticket: Annotated[str | None, typer.Option(help="Ticket key, e.g. OPS-123.")] = None,
    title: Annotated[str | None, typer.Option(help="A title for the deployment.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; run nothing.")] = False,
    follow: FollowOption = False,
) -> None:
    """Plan a deployment, then run it here with live progress (Ctrl-C cancels it). With
    --server, the server's workers run it and this follows it."""
    from squall.core.values.deployments import DeploymentRequest

    with backend() as squall_:
        request = DeploymentRequest(
            type=type_name,
            params=parse_assignments(param or []),
            target=target,
            options=DeploymentOptions(
                parallelism=parallel,
                max_failures=Threshold.parse(max_fail) if max_fail else None,
                step_timeout=step_timeout,
            ),
            ticket=ticket,
            title=title,
        )
        planned = squall_.plan(request)
        from squall.ui.console import plan_table

        console.print(plan_table(planned, with_nodes=dry_run, width=console.width))
        if dry_run:
            console.print(
                Text(f"dry run: {planned.node_count} nodes, nothing was executed", style="dim")
            )
            return
        deployment_id = squall_.create(request)
        console.print(f"deployment {deployment_id} created")
        status = _run_here(squall_, deployment_id, follow=follow)
    raise typer.Exit(exit_status(status))


@cli.command()
def retry(
    deployment_id: DeploymentId,
    follow: FollowOption = False,
) -> None:
    """Run the failed nodes of a deployment again (after a cancel, the nodes it stopped or
    never started; once it succeeded with exclusions, the nodes set aside), as a new
    attempt, here."""
    _act_and_run(
        "retry", deployment_id, follow, "attempt {}: what failed or did not finish runs again"
    )


@cli.command()
def exclude(
    deployment_id: DeploymentId,
    follow: FollowOption = False,
) -> None:
    """Set the failed nodes aside and go on with the others, here."""
    _act_and_run("exclude", deployment_id, follow, "set aside: {}")


@cli.command()
def promote(
    deployment_id: DeploymentId,
    comment: Annotated[str | None, typer.Option(help="Why, for the record.")] = None,
    follow: FollowOption = False,
) -> None:
    """Approve the gate a deployment waits at (not your own deployment's), and run on here."""
    extra = {"comment": comment} if comment else {}
    _act_and_run("promote", deployment_id, follow, "approved the gate before {}", **extra)


@cli.command()
def resume(
    deployment_id: DeploymentId,
    follow: FollowOption = False,
) -> None:
    """Resume a paused deployment (accepting an inconclusive health check), or one whose
    process died (orphaned), and run it here."""
    _act_and_run("resume", deployment_id, follow, "resumed")


@cli.command()
def rollback(
    deployment_id: DeploymentId,
    follow: FollowOption = False,
) -> None:
    """Undo every node that completed, last stage first, and run the undoing here."""
    _act_and_run("rollback", deployment_id, follow, "rolling back {} node(s)")


@cli.command()
def pause(deployment_id: DeploymentId) -> None:
    """Pause a deployment: running nodes finish, no new node or stage starts."""
    _act("pause", deployment_id, "paused")


@cli.command()
def abort(deployment_id: DeploymentId) -> None:
    """Abort a deployment: nothing new starts, running steps are interrupted."""
    _act("cancel", deployment_id, "aborted")


@cli.command()
def cancel(deployment_id: DeploymentId) -> None:
    """Cancel a deployment (the same as abort)."""
    _act("cancel", deployment_id, "cancelled")


def _act(action: str, deployment_id: int, done: str) -> None:
    with backend() as squall_:
        squall_.act(action, deployment_id)
        console.print(f"deployment {deployment_id} {done}")


def _act_and_run(
    action: str, deployment_id: int, follow: bool, done: str, **extra: Any
) -> NoReturn:
    """An action that sets the deployment going again, then running it in this process
    (or, with --server, following the server's workers running it)."""
    with backend() as squall_:
        result = squall_.act(action, deployment_id, **extra)
        shown = ", ".join(result) if isinstance(result, list) else result
        console.print(f"deployment {deployment_id}: {done.format(shown)}")
        status = _run_here(squall_, deployment_id, follow=follow)
    raise typer.Exit(exit_status(status))


def exit_status(status: DeploymentStatus) -> int:
    """0 done, 1 failed or cancelled, 3 waiting for a person or an outside condition (2 is
    a refused request)."""
    if status in (DeploymentStatus.SUCCEEDED, DeploymentStatus.ROLLED_BACK):
        return 0
    return 1 if status.is_final else 3


def _run_here(squall_: Backend, deployment_id: int, *, follow: bool) -> DeploymentStatus:
    """Run the deployment (here, or watch the server run it), showing progress; Ctrl-C
    cancels it."""
    from squall.ui.console import StageBars, failure_line, log_line, print_view

    started()
    bars = StageBars()
    shown_failures: set[tuple[str, int]] = set()
    last_line = 0
    live = console.is_terminal

    def tick() -> None:
        nonlocal last_line
        view = squall_.view(deployment_id, live=True)
        while follow:
            chunk = squall_.logs(deployment_id, node=None, after=last_line)
            for entry in chunk.entries:
                console.print(log_line(entry, show_node=True))
            last_line = chunk.cursor
            if not chunk.more:
                break
        for failure in view.failures:
            if (failure.node, failure.attempt) not in shown_failures:
                shown_failures.add((failure.node, failure.attempt))
                console.print(failure_line(failure))
        bars.update(view)

    previous = signal.getsignal(signal.SIGINT)
    cancelled = threading.Event()

    def on_interrupt(_signum: int, _frame: Any) -> None:
        if cancelled.is_set():
            raise KeyboardInterrupt
        cancelled.set()
        errors.print(
            Text(
                f"cancelling deployment {deployment_id}… (Ctrl-C again to leave at once)",
                style="yellow",
            )
        )
        squall_.act("cancel", deployment_id)

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        if live:
            with Live(bars.progress, console=console, refresh_per_second=8, transient=False):
                status = squall_.settle(deployment_id, tick, wait_for_holds=follow)
        else:
            # Nobody watches bars: failures and logs reach the pipe once a second.
            status = squall_.settle(
                deployment_id, tick, wait_for_holds=follow, interval=PIPED_REFRESH
            )
    finally:
        signal.signal(signal.SIGINT, previous)
    view = squall_.view(deployment_id)
    console.print()
    print_view(console, view)
    if not status.is_final and view.waiting_for and not status.waits_for_a_person:
        console.print(
            f"next: it goes on by itself once that is so, while `squall serve` or `squall "
            f"worker` runs (`--follow` waits here); `squall abort {deployment_id}` ends it"
        )
    elif status == DeploymentStatus.AWAITING_APPROVAL:
        console.print(
            f"next: someone other than {view.requester} runs `squall promote {deployment_id}`"
        )
    elif status == DeploymentStatus.PAUSED:
        console.print(
            f"next: `squall resume {deployment_id}` to go on, `squall rollback {deployment_id}` "
            f"to undo, or `squall abort {deployment_id}`"
        )
    return status


# --- watching --------------------------------------------------------------------------


@cli.command()
def status(
    deployment_id: Annotated[
        int | None,
        typer.Argument(
            metavar="ID", help="A deployment's number; without it, the most recent ones."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="How many recent deployments to list.")] = 20,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print it as the REST API answers it (JSON).")
    ] = False,
) -> None:
    """One deployment in detail, or the most recent ones."""
    from squall.ui.console import deliveries_table, deployments_table, held_text, print_view

    with backend() as squall_:
        if as_json:
            from squall.api.schemas import Deployment

            shown = [squall_.view(deployment_id)] if deployment_id else squall_.recent(limit)
            found = [Deployment.model_validate(view).model_dump(mode="json") for view in shown]
            console.out(json.dumps(found[0] if deployment_id else found, indent=1))
            return
        if deployment_id is None:
            recent = squall_.recent(limit)
            none = "no deployments yet: `squall deploy TYPE --target SELECTOR` starts one"
            print_rows(deployments_table(recent, console.width), len(recent), none)
            return
        print_view(console, squall_.view(deployment_id))
        for section in squall_.sections(deployment_id):
            _print_section(section)
        sent = squall_.deliveries(deployment_id)
        if sent.deliveries:
            console.print(deliveries_table(sent, console.width))
        for destination, held in sorted(sent.held().items()):
            console.print(held_text(destination, held, deployment_id))


def _print_section(section: Any) -> None:
    console.print(Text(section.title, style="bold"))
    if section.text:
        console.print(section.text)
    if section.rows and not section.rows_for_exports:
        from squall.ui.tables import WORDS, fitted_table

        columns = [(header, WORDS) for header in section.headers]
        console.print(
            fitted_table(columns, [tuple(map(str, row)) for row in section.rows], console.width)
        )


@cli.command()
def logs(
    deployment_id: DeploymentId,
    node: Annotated[str | None, typer.Option(help="Only this node's lines.")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Wait for new lines until it ends.")
    ] = False,
) -> None:
    """Print a deployment's log, oldest first (all nodes, or one)."""
    from squall.ui.console import log_line

    with backend() as squall_:
        lines = (
            squall_.tail(deployment_id, node=node)
            if follow
            else squall_.read_all(deployment_id, node=node)
        )
        for entry in lines:
            console.print(log_line(entry, show_node=node is None), soft_wrap=True)


# --- inventory -------------------------------------------------------------------------


@inventory_cli.command("import")
def inventory_import(
    file: Annotated[
        Path,
        typer.Argument(metavar="FILE", help="Squall YAML, or an Ansible inventory (INI or YAML)."),
    ],
) -> None:
    """Import clusters and nodes; each cluster in the file replaces the one of that name."""
    with backend() as squall_:
        summary = squall_.import_inventory(file)
    console.print(
        f"imported {len(summary.clusters)} cluster(s) from {summary.source}: "
        f"{summary.added} node(s) added, {summary.updated} updated, {summary.removed} removed"
    )


@inventory_cli.command("remove")
def inventory_remove(
    clusters: Annotated[
        list[str] | None,
        typer.Argument(metavar="CLUSTER", help="The clusters to remove, one or more."),
    ] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Remove the demo inventory's clusters.")
    ] = False,
) -> None:
    """Remove clusters and their nodes (deployments keep their record)."""
    with backend() as squall_:
        removed = squall_.remove_clusters(list(clusters or []), demo=demo)
    console.print(f"removed {len(removed)} cluster(s): {', '.join(removed)}")


@inventory_cli.command("list")
def inventory_list(
    target: Annotated[
        str, typer.Option("--target", "-t", help="Only nodes this selector picks.")
    ] = "all",
) -> None:
    """List nodes with their cluster, address, transport and tags."""
    with backend() as squall_:
        nodes = squall_.nodes(target)
    from squall.ui.tables import FOLD, WHOLE, WORDS, fitted_table

    columns = (
        ("cluster", FOLD),
        ("node", FOLD),
        ("address", FOLD),
        ("user", FOLD),
        ("transport", WHOLE),
        ("tags", WORDS),
    )
    rows = [
        (
            node.cluster,
            node.name,
            node.address,
            node.user or "",
            node.transport,
            ", ".join(node.tags),
        )
        for node in nodes
    ]
    none = "no nodes yet: `squall inventory import FILE` adds clusters and their nodes"
    print_rows(fitted_table(columns, rows, console.width), len(rows), none)
    if rows:
        console.print(f"{len(nodes)} node(s)")


@cli.command()
def types() -> None:
    """The deployment types installed plugins provide, with their parameters."""
    with backend() as squall_:
        for deployment_type in squall_.types():
            console.print(
                Text.assemble((deployment_type.name, "bold"), f" — {deployment_type.title}")
            )
            console.print(_indented(deployment_type.description, "  "))
            for parameter in deployment_type.parameters:
                required = "required" if parameter.required else f"default {parameter.default}"
                line = f"{parameter.name} ({parameter.kind}; {required}): {parameter.description}"
                shown = _indented(line, "      ")
                shown.stylize("cyan", 2, 2 + len(parameter.name))
                console.print(shown)
            console.print()


def _indented(line: str, under: str) -> Text:
    """Two spaces in; in a terminal, wrapped to its width with the lines after the first
    `under` in (a pipe gets one line each, for grep)."""
    if not console.is_terminal:
        return Text(f"  {line}")
    return Text(
        textwrap.fill(
            line, console.width - 1, initial_indent="  ", subsequent_indent=under,
            break_long_words=False, break_on_hyphens=False,
        )
    )  # fmt: skip


# --- access ----------------------------------------------------------------------------


@cli.command()
def roles(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print docs/roles.md.")] = False,
) -> None:
    """The built-in roles and the permissions each grants (built in: needs no Squall)."""
    from squall.core.permissions import ROLES, Permission, matrix_markdown

    if markdown:
        console.print(matrix_markdown(), end="")
        return
    from squall.ui.tables import FOLD, WHOLE, fitted_table

    columns = [("permission", WHOLE), *((role, FOLD) for role in ROLES)]
    rows = [
        (permission.value, *("✓" if permission in ROLES[role] else "" for role in ROLES))
        for permission in Permission
    ]
    console.print(fitted_table(columns, rows, console.width))


@role_cli.command("grant")
def role_grant(
    subject: Annotated[str, typer.Argument(metavar="SUBJECT", help="user:NAME or group:NAME")],
    grant: Annotated[
        str, typer.Argument(metavar="GRANT", help="a role, maybe scoped: deployer@env:staging")
    ],
) -> None:
    """Give a person or a group a role (in addition to what their provider groups give)."""
    with backend() as squall_:
        binding = squall_.grant_role(subject, grant)
    console.print(f"role binding {binding.id}: {binding.subject} has {binding.grant}")


@role_cli.command("revoke")
def role_revoke(
    binding_id: Annotated[
        int,
        typer.Argument(metavar="ID", help="The grant's number, as `squall role list` shows it."),
    ],
) -> None:
    """Take a role binding away (see `squall role list`)."""
    with backend() as squall_:
        binding = squall_.revoke_role(binding_id)
    console.print(f"revoked: {binding.subject} no longer has {binding.grant}")


@role_cli.command("list")
def role_list() -> None:
    """Role bindings given in Squall (provider groups map to roles through `sso.roles`)."""
    with backend() as squall_:
        overview = squall_.roles()
    from squall.ui.tables import FOLD, WHOLE, WORDS, fitted_table

    columns = (("id", WHOLE), ("subject", FOLD), ("grant", WHOLE), ("by", FOLD), ("since", WORDS))
    rows = [
        (
            str(binding.id),
            binding.subject,
            binding.grant,
            binding.created_by,
            binding.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
        )
        for binding in overview.bindings
    ]
    none = "no role given in Squall (`squall role grant SUBJECT GRANT` gives one)"
    print_rows(fitted_table(columns, rows, console.width), len(rows), none)
    for group, grants in sorted(overview.provider_groups.items()):
        console.print(f"provider group {group}: {grants}")


@token_cli.command("create")
def token_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="What it is for, e.g. ci-deploys.")],
    days: Annotated[int, typer.Option(help="Days until it expires.")] = 30,
    scope: Annotated[
        list[str] | None, typer.Option(help="A permission it may use (repeat); default: all yours.")
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(help="Make it for this person (admins only): it acts with their grants."),
    ] = None,
) -> None:
    """Make an API token acting as you (or, for an admin, as the named user); it is shown
    this once. (With --server it is refused: a token cannot make tokens; sign in to the
    console to make one.)"""
    with backend() as squall_:
        info, secret = squall_.create_token(name, days, scope, user=user)
    console.print(
        f"token {info.id} ({info.name}) for {info.owner}, "
        f"expires {info.expires_at.astimezone():%Y-%m-%d %H:%M}:"
    )
    console.print(secret)
    errors.print("it is shown this once: keep it in your secret store")


@token_cli.command("list")
def token_list(
    everyone: Annotated[bool, typer.Option("--all", help="Everyone's tokens.")] = False,
) -> None:
    """Your API tokens (or everyone's), never their secrets."""
    with backend() as squall_:
        found = squall_.tokens(everyone=everyone)
    from squall.ui.tables import FOLD, WHOLE, WORDS, fitted_table

    columns = (
        ("id", WHOLE),
        ("owner", FOLD),
        ("name", FOLD),
        ("scopes", WORDS),
        ("expires", WORDS),
        ("state", WHOLE),
    )
    rows = [
        (
            str(info.id),
            info.owner,
            info.name,
            ", ".join(info.scopes or ["all"]),
            info.expires_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            "revoked" if info.revoked_at else ("active" if info.active else "expired"),
        )
        for info in found
    ]
    print_rows(fitted_table(columns, rows, console.width), len(rows), "no tokens")


@token_cli.command("revoke")
def token_revoke(
    token_id: Annotated[
        int,
        typer.Argument(metavar="ID", help="The token's number, as `squall token list` shows it."),
    ],
) -> None:
    """Revoke an API token at once."""
    with backend() as squall_:
        info = squall_.revoke_token(token_id)
    console.print(f"token {info.id} ({info.name}) revoked")


@audit_cli.command("list")
def audit_list(
    actor_name: Annotated[
        str | None, typer.Option("--actor", help="Only this person's actions.")
    ] = None,
    action: Annotated[
        str | None, typer.Option(help="Only actions starting so, e.g. deployment.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Write them to a CSV file instead.")
    ] = None,
) -> None:
    """Recent audit records, newest first."""
    from squall.core.values.access import AuditFilter, audit_csv

    with backend() as squall_:
        entries = squall_.audit(AuditFilter(actor=actor_name, action=action, limit=limit))
    if csv_file:
        csv_file.write_text(audit_csv(entries))
        console.print(f"{len(entries)} record(s) written to {csv_file}")
        return
    from squall.ui.tables import FOLD, WHOLE, WORDS, fitted_table

    columns = (
        ("id", WHOLE),
        ("at", WORDS),
        ("actor", FOLD),
        ("action", WHOLE),
        ("target", FOLD),
        ("details", FOLD),
    )
    rows = [
        (
            str(entry.id),
            entry.at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            entry.actor,
            entry.action,
            entry.target,
            entry.details_text,
        )
        for entry in entries
    ]
    print_rows(fitted_table(columns, rows, console.width), len(rows), "no audit record matches")


@audit_cli.command("verify")
def audit_verify(
    head: Annotated[
        str | None,
        typer.Option(help="A head hash printed by an earlier verify: is that record still there?"),
    ] = None,
) -> None:
    """Check the audit log's hash chain: any edited, deleted or reordered record shows."""
    with backend() as squall_:
        check = squall_.verify_audit(head)
    if not check.breaks:
        console.print(f"the audit log holds: {check.records} record(s), chain intact")
        console.print(f"head {check.head}")
        return
    for found in check.breaks:
        where = f"record {found.record_id}: " if found.record_id else ""
        errors.print(Text(f"{where}{found.reason}", style="red"))
    errors.print(
        f"the audit log was tampered with: {len(check.breaks)} break(s) "
        f"in {check.records} record(s)"
    )
    raise typer.Exit(1)


# --- reports ---------------------------------------------------------------------------

PdfOption = Annotated[Path | None, typer.Option("--pdf", help="Write the PDF report here.")]
CsvOption = Annotated[Path | None, typer.Option("--csv", help="Write the main table as CSV here.")]
JsonOption = Annotated[
    Path | None, typer.Option("--json", help="Write every table and the data as JSON here.")
]
TableOption = Annotated[
    str | None, typer.Option(help="The table --csv writes (default: the main one).")
]


@report_cli.command("deployment")
def report_deployment(
    deployment_id: DeploymentId,
    pdf: PdfOption = None,
    csv_file: CsvOption = None,
    json_file: JsonOption = None,
    table: TableOption = None,
) -> None:
    """A deployment's report: stages, clusters, nodes, failures, approvals, timeline."""
    from squall.api.backends import ReportRequest

    with backend() as squall_:
        request = ReportRequest("deployment", str(deployment_id))
        _write_report(squall_, request, pdf, csv_file, json_file, table)


@report_cli.command("cluster")
def report_cluster(
    name: Annotated[str, typer.Argument(metavar="CLUSTER", help="The cluster's name.")],
    since: Annotated[
        str, typer.Option(help="Start of the period: 7d, 24h, 2w, or a date like 2026-01-31.")
    ],
    until: Annotated[
        str | None, typer.Option(help="End of the period (default: now), same forms.")
    ] = None,
    pdf: PdfOption = None,
    csv_file: CsvOption = None,
    json_file: JsonOption = None,
    table: TableOption = None,
) -> None:
    """A cluster over a period: deployments, success rate, failures by node and by step."""
    from squall.api.backends import ReportRequest
    from squall.core.models import utcnow
    from squall.core.reports.period import parse_moment

    with backend() as squall_:
        now = utcnow()
        period = parse_moment(since, now), parse_moment(until, now) if until else now
        request = ReportRequest("cluster", name, *period)
        _write_report(squall_, request, pdf, csv_file, json_file, table)


@report_cli.command("node")
def report_node(
    name: Annotated[str, typer.Argument(metavar="NODE", help="The node's name.")],
    pdf: PdfOption = None,
    csv_file: CsvOption = None,
    json_file: JsonOption = None,
    table: TableOption = None,
) -> None:
    """A node's deployment history, last deployed version, failure rate, last failures."""
    from squall.api.backends import ReportRequest

    with backend() as squall_:
        request = ReportRequest("node", name)
        _write_report(squall_, request, pdf, csv_file, json_file, table)


@report_cli.command("verify")
def report_verify(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A PDF report or JSON export.")],
) -> None:
    """Check a copy of a report against Squall: exit 0 when it is what Squall holds."""
    try:
        content = file.read_bytes()
    except OSError as exc:
        fail(SquallError(f"cannot read {file}: {exc.strerror}"))
    with backend() as squall_:
        result = squall_.verify_report(content)
    generated = result.generated
    subject = result.subject or result.request.get("kind")
    console.print(f"{file}: {result.form.upper()} of the report on {subject}")
    console.print(f"fingerprint {result.sha256}")
    as_of = f", as of {result.as_of:%Y-%m-%d %H:%M:%S} UTC" if result.as_of else ""
    console.print(f"generated {generated.get('at')} by {generated.get('by')}{as_of}")
    for check in result.checks:
        console.print(Text(f"ok: {check}", style="green"))
    for problem in result.problems:
        errors.print(Text(f"problem: {problem}", style="red"))
    if not result.verified:
        errors.print("NOT VERIFIED: this copy does not match Squall's data")
        raise typer.Exit(1)
    for change in result.newer:
        console.print(Text(f"since then: {change}", style="yellow"))
    if result.newer:
        console.print("verified as of when it was made; newer attempts exist (listed above)")
    else:
        console.print("verified: this copy matches Squall's data")


def _write_report(
    squall_: Backend,
    request: ReportRequest,
    pdf: Path | None,
    csv_file: Path | None,
    json_file: Path | None,
    table: str | None,
) -> None:
    """Without an output, an overview; otherwise every file, rendered (and kept on record)
    by the Squall that computes the report, before any is written: a refused request, a
    bad table or a path that cannot be written leaves no file (`Staged`)."""
    from squall.core.reports.output import Staged
    from squall.ui.console import report_overview

    if table and not csv_file:
        fail(SquallError("--table chooses the table --csv writes: give --csv FILE too"))
    wanted = {
        form: path for form, path in (("csv", csv_file), ("json", json_file), ("pdf", pdf)) if path
    }
    if not wanted:
        console.print(report_overview(squall_.report(request), console.width))
        return
    staged = Staged(list(wanted.values()))
    try:
        files = squall_.report_files(request, tuple(wanted), table)
    except BaseException:
        staged.discard()
        raise
    staged.commit({path: files[form] for form, path in wanted.items()})
    for form, path in wanted.items():
        console.print(f"wrote {path} ({len(files[form]):,} bytes)")


# --- integrations ----------------------------------------------------------------------


@deliveries_cli.command("retry")
def deliveries_retry(deployment_id: DeploymentId) -> None:
    """Hand a deployment's failed deliveries back to the outbox (after fixing a token)."""
    with backend() as squall_:
        count = squall_.retry_deliveries(deployment_id)
    console.print(f"deployment {deployment_id}: {count} delivery(ies) will be tried again")


@deliveries_cli.command("give-up")
def deliveries_give_up(deployment_id: DeploymentId) -> None:
    """Give up a deployment's failed deliveries, so the later ones they hold go out."""
    with backend() as squall_:
        count = squall_.give_up_deliveries(deployment_id)
    console.print(f"deployment {deployment_id}: {count} failed delivery(ies) given up")


# --- running Squall --------------------------------------------------------------------


@cli.command()
def worker(
    workers: Annotated[
        int | None, typer.Option(help="Node tasks run at once (default: settings).")
    ] = None,
) -> None:
    """Run node tasks of every deployment until stopped (SIGTERM or Ctrl-C). On this
    machine only (not with --server): it works on the database configured here."""
    from squall.core.engine.worker import Engine

    with squall() as (runtime, _actor):
        engine = Engine(runtime, workers=workers)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        engine.start()
        errors.print(f"worker {engine.name} running {engine.capacity} slots; Ctrl-C stops it")
        stop.wait()
        engine.stop()


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Serve the UI only; run no tasks.")
    ] = False,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Don't open a browser window.")
    ] = False,
    native: Annotated[
        bool, typer.Option("--native", help="A desktop window instead (needs pywebview).")
    ] = False,
) -> None:
    """Serve the web console and open it in a browser (and run tasks, unless --no-worker).
    On this machine only (not with --server): it serves the database configured here."""
    from squall.core.engine.worker import Engine
    from squall.ui.server import run_server

    with squall() as (runtime, _actor):
        engine = None if no_worker else Engine(runtime).start()
        try:
            run_server(runtime, host=host, port=port, show=not no_browser, native=native)
        finally:
            if engine is not None:
                engine.stop()


@plugin_cli.command("new")
def plugin_new(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The deployment type's name, e.g. nginx_reload.")
    ],
    directory: Annotated[
        Path | None, typer.Option(help="Where to create the package (default: ./squall-NAME).")
    ] = None,
) -> None:
    """Create a plugin package: pyproject with its entry point, the type, a test on real nodes.
    It writes files here and needs no Squall (--server makes no difference)."""
    from squall.testing.scaffold import scaffold

    try:
        created = scaffold(name, directory)
    except SquallError as exc:
        fail(exc)
    console.print(f"created {created}")
    console.print(f"next: cd {created} && pip install -e . && pytest")


@functools.cache
def add_plugin_commands() -> None:
    """Every plugin's commands (`squall_register_commands`), added once."""
    try:
        plugin_host().hook.squall_register_commands(app=cli, open_squall=open_squall)
    except SquallError as exc:
        fail(exc)


def main() -> None:
    starting()
    try:
        add_plugin_commands()
        sys.exit(cli())
    finally:
        ending()
