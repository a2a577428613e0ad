"""`squall freeze`: what the change freeze holds, and recent deployments it concerns."""

from collections.abc import Callable
from contextlib import AbstractContextManager

import typer

from squall import CommandContext, hookimpl
from squall_freeze import FreezeSettings


@hookimpl
def squall_register_commands(
    app: typer.Typer, open_squall: Callable[[], AbstractContextManager[CommandContext]]
) -> None:
    @app.command()
    def freeze(limit: int = typer.Option(20, help="Recent deployments to look at.")) -> None:
        """What the change freeze holds, and recent deployments into frozen environments."""
        with open_squall() as squall:
            settings = squall.settings.section("freeze", FreezeSettings)
            recent = squall.deployments(limit)
        if not settings.environments:
            typer.echo("nothing is frozen")
            return
        typer.echo(f"frozen: {', '.join(settings.environments)} ({settings.reason})")
        for deployment in recent:
            if set(deployment.environments) & set(settings.environments):
                typer.echo(f"#{deployment.id} {deployment.type}: {deployment.status}")
