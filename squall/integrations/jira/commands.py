"""`squall jira …`: the integration's commands."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Annotated

import typer
from pydantic import TypeAdapter
from rich import box
from rich.console import Console
from rich.table import Table

from squall import CommandContext, ConfigError
from squall.integrations.jira.drift import Drift, find_drift
from squall.integrations.jira.settings import JiraSettings

DRIFTS = TypeAdapter(list[Drift])


def jira_commands(open_squall: Callable[[], AbstractContextManager[CommandContext]]) -> typer.Typer:
    jira = typer.Typer(help="JIRA, the tickets' system of record.", no_args_is_help=True)

    @jira.command("drift")
    def drift(
        limit: Annotated[int, typer.Option(help="How many recent deployments to check.")] = 1000,
    ) -> None:
        """Deployments without a ticket, and tickets whose deployment failed or never ran."""
        with open_squall() as squall:
            if squall.remote:  # the server knows JIRA: ask its API
                found = DRIFTS.validate_python(squall.get("/jira/drift", limit=limit))
            else:
                settings = squall.settings.section("jira", JiraSettings)
                if not settings.configured:
                    raise ConfigError("JIRA is not configured: set jira.url and jira.token")
                found = find_drift(settings, squall.deployments(limit))
        table = Table("problem", "deployment", "ticket", "status", "environment", "by", "title")
        table.box = box.SIMPLE_HEAD
        for item in found:
            deployment = item.deployment
            table.add_row(
                item.problem,
                str(deployment.id),
                deployment.ticket or "",
                deployment.status,
                ", ".join(deployment.environments),
                deployment.requester,
                deployment.title,
            )
        # Markup off: titles and names are printed as they are, never parsed.
        console = Console(highlight=False, markup=False, soft_wrap=True)
        console.print(table)
        console.print(f"{len(found)} drifted deployment(s)")

    return jira
