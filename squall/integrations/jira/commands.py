"""`squall jira …`: the integration's commands."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Annotated

import typer
from pydantic import TypeAdapter
from rich.console import Console

from squall import CommandContext, ConfigError
from squall.integrations.jira.drift import Drift, find_drift
from squall.integrations.jira.settings import JiraSettings


def jira_commands(open_squall: Callable[[], AbstractContextManager[CommandContext]]) -> typer.Typer:
    jira = typer.Typer(help="JIRA, the tickets' system of record.", no_args_is_help=True)

    @jira.command("drift")
    def drift(
        limit: Annotated[int, typer.Option(help="How many recent deployments to check.")] = 1000,
    ) -> None:
        """Deployments without a ticket, and tickets whose deployment failed or never ran."""
        with open_squall() as squall:
            if squall.remote:  # the server knows JIRA: ask its API
                # Built here, not at import: every command loads this module.
                drifts = TypeAdapter(list[Drift])
                found = drifts.validate_python(squall.get("/jira/drift", limit=limit))
            else:
                settings = squall.settings.section("jira", JiraSettings)
                if not settings.configured:
                    raise ConfigError("JIRA is not configured: set jira.url and jira.token")
                found = find_drift(settings, squall.deployments(limit))
        from squall.ui.console import status_text
        from squall.ui.tables import FOLD, WHOLE, WORDS, fitted_table

        columns = (
            ("problem", WORDS),
            ("deployment", WHOLE),
            ("ticket", WHOLE),
            ("status", WORDS),
            ("environment", FOLD),
            ("by", FOLD),
            ("title", FOLD),
        )
        rows = [
            (
                item.problem,
                str(item.deployment.id),
                item.deployment.ticket or "",
                status_text(item.deployment.status),
                ", ".join(item.deployment.environments),
                item.deployment.requester,
                item.deployment.title,
            )
            for item in found
        ]
        # Markup off: titles and names are printed as they are, never parsed.
        console = Console(highlight=False, markup=False, soft_wrap=True)
        console.print(fitted_table(columns, rows, console.width))
        console.print(f"{len(found)} drifted deployment(s)")

    return jira
