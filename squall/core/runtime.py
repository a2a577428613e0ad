"""Everything a running Squall process shares: settings, database, plugins, keys, transports."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from squall.core.db import Database
from squall.core.plugins import PluginHost, build_host
from squall.core.secrets import SecretBox
from squall.core.settings import Settings, bind_sections
from squall.core.transports.local import LocalConnector

if TYPE_CHECKING:
    from squall.core.transports.ssh import SSHConnector


@dataclass
class Runtime:
    settings: Settings
    db: Database
    plugins: PluginHost
    secrets: SecretBox
    _ssh: SSHConnector | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def open(
        cls,
        settings: Settings,
        plugins: PluginHost | None = None,
        *,
        plugin_modules: tuple[str, ...] = (),
        entry_points: bool = True,
        migrate: bool = True,
    ) -> Runtime:
        host = plugins or build_host(plugin_modules, entry_points=entry_points)
        settings = bind_sections(settings, host.settings_models)  # refused before any change
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        secrets = SecretBox.from_settings(settings.secret_key, settings.data_dir)
        db = Database(
            settings.effective_database_url,
            pool_size=max(10, settings.engine.workers // 2),
            audit_key=secrets.derive("audit chain"),
        )
        if migrate:
            db.migrate()
        runtime = cls(settings, db, host, secrets)
        if migrate:
            from squall.core.outbox.runner import start_cursors  # it needs a Runtime: import late

            start_cursors(runtime)
        return runtime

    @property
    def ssh(self) -> SSHConnector:
        """Created on first use: loading paramiko, keys and known_hosts is not free."""
        from squall.core.transports.ssh import SSHConnector

        with self._lock:
            if self._ssh is None:
                self._ssh = SSHConnector(self.settings.ssh, self.settings.known_hosts_file)
            return self._ssh

    @property
    def local(self) -> LocalConnector:
        return LocalConnector(self.settings.data_dir / "local-nodes")

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
