"""What a plugin's command (`squall_register_commands`) works with: this machine's Squall,
opened for one run of the command, as the person running it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from squall.core.auth import Actor
from squall.core.integration import DeploymentInfo
from squall.core.settings import Settings

if TYPE_CHECKING:
    from squall.core.runtime import Runtime


class CommandContext:
    """What `open_squall()` yields to a plugin's command."""

    def __init__(self, runtime: Runtime, actor: Actor) -> None:
        self._runtime = runtime
        self.actor = actor
        """Who runs the command (on the Squall host: its OS user, with full rights)."""

    @property
    def settings(self) -> Settings:
        """Squall's settings, with every plugin's section checked."""
        return self._runtime.settings

    def deployments(self, limit: int = 100) -> list[DeploymentInfo]:
        """The most recent `limit` deployments the actor may see, newest first."""
        from sqlalchemy import select

        from squall.core.models import Deployment
        from squall.core.services.deployments import visible

        with self._runtime.db.read() as session:
            rows = session.scalars(
                select(Deployment).order_by(Deployment.id.desc()).limit(limit)
            ).all()
            return [
                DeploymentInfo.from_row(row) for row in visible(self._runtime, self.actor, rows)
            ]
