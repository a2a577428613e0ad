"""An in-process Squall for tests: a fresh database, chosen plugins, real execution.

    with SquallHarness(tmp_path, plugins=["my_plugin"], fleet=fleet) as squall:
        result = squall.deploy("my_type", params={"version": "1.2"})
        assert result.status == "succeeded"

Plugin authors get it as the `squall` fixture (see squall.testing.pytest_plugin).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from squall.core.auth import Actor, local_operator
from squall.core.engine.dispatch import deliver_events
from squall.core.engine.worker import run_until_settled
from squall.core.inventory import load_inventory
from squall.core.plan import DeploymentOptions, Threshold
from squall.core.plugins import PluginHost, build_host
from squall.core.runtime import Runtime
from squall.core.services import deployments, inventory, views
from squall.core.services.calls import read_as, write_as
from squall.core.settings import EngineSettings, Settings, SSHSettings, core_setting_names
from squall.core.values.deployments import DeploymentRequest
from squall.core.values.inventory import ImportSummary
from squall.core.values.views import DeploymentView
from squall.testing.fleet import Fleet

CORE = core_setting_names()


class SquallHarness:
    def __init__(
        self,
        data_dir: Path,
        plugins: Iterable[str | object] = (),
        *,
        fleet: Fleet | None = None,
        database_url: str | None = None,
        host: PluginHost | None = None,
        engine: EngineSettings | None = None,
        ssh: SSHSettings | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        """`settings`: further sections of Squall's settings, core ones (`{"engine":
        EngineSettings(…)}`) or plugins' (`{"pagerduty": {"token": "…"}}`, or an instance
        of the plugin's model), checked like the settings file."""
        if ssh is None:
            ssh = SSHSettings()
            if fleet is not None:
                ssh = SSHSettings(key_file=fleet.client_key, known_hosts=fleet.known_hosts)
        base = Settings(
            data_dir=data_dir,
            database_url=database_url,
            demo_inventory=False,
            ssh=ssh,
            engine=engine or EngineSettings(lease_seconds=10, poll_seconds=0.1),
        )
        self._plugins = tuple(plugins)
        given = dict(settings or {})
        sections = {name: given.pop(name) for name in list(given) if name not in CORE}
        self.runtime = Runtime.open(
            replace(base, **given, sections=sections), host or build_host(self._plugins)
        )
        self.actor: Actor = local_operator()
        if fleet is not None:
            self.import_inventory(fleet.write_inventory(data_dir / "fleet-inventory.yaml"))

    def restart(self) -> SquallHarness:
        """Another Squall on the same database and data directory, as after a restart
        (close it when done; this one is left as it is, like a process that died)."""
        again = SquallHarness.__new__(SquallHarness)
        again._plugins = self._plugins
        again.runtime = Runtime.open(self.runtime.settings, build_host(self._plugins))
        again.actor = self.actor
        return again

    def import_inventory(self, path: Path) -> ImportSummary:
        return write_as(self.runtime, self.actor, inventory.import_inventory, load_inventory(path))

    def create(
        self,
        type_name: str,
        *,
        target: str = "all",
        params: Mapping[str, Any] | None = None,
        parallelism: int = 50,
        max_failures: str | None = None,
        step_timeout: float | None = None,
        actor: Actor | None = None,
    ) -> int:
        request = DeploymentRequest(
            type=type_name,
            params=dict(params or {}),
            target=target,
            options=DeploymentOptions(
                parallelism=parallelism,
                max_failures=Threshold.parse(max_failures) if max_failures else None,
                step_timeout=step_timeout,
            ),
        )
        deployments.check_outside(self.runtime, actor or self.actor, request)
        return write_as(self.runtime, actor or self.actor, deployments.create, request)

    def run(self, deployment_id: int, *, timeout: float = 120) -> DeploymentView:
        """Run the deployment in this process until it settles; its final view."""
        run_until_settled(self.runtime, deployment_id, interval=0.05, timeout=timeout)
        return self.view(deployment_id)

    def deploy(self, type_name: str, *, timeout: float = 120, **options: Any) -> DeploymentView:
        """Create and run a deployment; its final view (status, stages, failure points)."""
        return self.run(self.create(type_name, **options), timeout=timeout)

    def act(
        self,
        action: Callable[..., Any],
        deployment_id: int,
        *args: Any,
        actor: Actor | None = None,
    ) -> Any:
        """Do an operator action (from `squall.core.services.actions`) as `actor` (default: the
        local operator), e.g. `squall.act(actions.promote, id, actor=bob)`."""
        return write_as(self.runtime, actor or self.actor, action, deployment_id, *args)

    def deliver_events(self) -> int:
        """Hand every committed event to the `squall_on_event` hooks now; how many."""
        delivered = 0
        while count := deliver_events(self.runtime):
            delivered += count
        return delivered

    def deliver(self, *, timeout: float = 30.0) -> None:
        """Run the integrations' outbox here until nothing is due now (pending deliveries
        waiting for a later attempt stay pending)."""
        from squall.core.outbox.runner import Outbox

        Outbox(self.runtime, holder="harness").drain(timeout)

    def view(self, deployment_id: int) -> DeploymentView:
        return read_as(self.runtime, self.actor, views.deployment_view, deployment_id)

    def summary(self, deployment_id: int) -> Any:
        return read_as(self.runtime, self.actor, views.deployment_summary, deployment_id)

    def logs(self, deployment_id: int, node: str | None = None) -> list[str]:
        with self.runtime.db.read() as session:
            entries = views.read_logs(
                session, self.runtime, self.actor, deployment_id, node=node, limit=1_000_000
            )
        return [entry.text for entry in entries]

    def facts(self, deployment_id: int, step: str) -> dict[str, Mapping[str, Any]]:
        """Data each node's step recorded, by node name."""
        summary = self.summary(deployment_id)
        return {
            task.node: dict(found.data or {})
            for task in summary.tasks
            for found in task.steps
            if found.name == step
        }

    def close(self) -> None:
        self.runtime.close()

    def __enter__(self) -> SquallHarness:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
