"""What a plugin's command (`squall_register_commands`) works with: this machine's Squall,
opened for one run of the command, as the person running it; or, given `--server`, that
server's REST API."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from squall.core.auth import Actor
from squall.core.errors import ConfigError
from squall.core.integration import DeploymentInfo
from squall.core.settings import Settings

if TYPE_CHECKING:
    from squall.core.runtime import Runtime


class CommandContext:
    """What `open_squall()` yields to a plugin's command."""

    def __init__(
        self,
        runtime: Runtime | None,
        actor: Actor | None,
        *,
        server_get: Callable[[str, dict[str, Any]], Any] | None = None,
    ) -> None:
        self._runtime = runtime
        self._server_get = server_get
        self.actor = actor
        """Who runs the command (on the Squall host: its OS user, with full rights); None
        with `--server`, where the server knows the caller by their token."""

    @property
    def remote(self) -> bool:
        """The command was given `--server`: only `get` works, on the server's API."""
        return self._server_get is not None

    def get(self, path: str, **params: Any) -> Any:
        """With `--server`: GET `path` under the server's `/api/v1`, with the caller's
        token; its JSON answer. A plugin command with a route there works remotely."""
        if self._server_get is None:
            raise ConfigError("get() asks a Squall server: give the command --server")
        return self._server_get(path, params)

    def _local(self) -> Runtime:
        if self._runtime is None:
            raise ConfigError("this command works on the Squall host; drop --server")
        return self._runtime

    @property
    def settings(self) -> Settings:
        """Squall's settings, with every plugin's section checked."""
        return self._local().settings

    def deployments(self, limit: int = 100) -> list[DeploymentInfo]:
        """The most recent `limit` deployments the actor may see, newest first."""
        from sqlalchemy import select

        from squall.core.models import Deployment
        from squall.core.services.deployments import visible

        runtime, actor = self._local(), self.actor
        assert actor is not None
        with runtime.db.read() as session:
            rows = session.scalars(
                select(Deployment).order_by(Deployment.id.desc()).limit(limit)
            ).all()
            return [DeploymentInfo.from_row(row) for row in visible(runtime, actor, rows)]
