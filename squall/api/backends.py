"""What the `squall` command talks to: this machine's Squall (its database, with an engine
run in the command's own process), or a remote one over the REST API (`--server`). Both
answer with the same core values, so every command prints the same either way."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from pydantic import TypeAdapter

from squall.core.auth import Actor
from squall.core.engine.progress import reap_expired
from squall.core.engine.worker import run_until_settled
from squall.core.reporting import ReportSection
from squall.core.runtime import Runtime
from squall.core.services import actions, catalogue, deliveries, deployments, inventory, views
from squall.core.services.deliveries import DeliveriesView
from squall.core.services.deployments import DeploymentRequest, PlanPreview
from squall.core.services.inventory import NodeListing
from squall.core.services.views import DeploymentView, LogChunk, LogEntry
from squall.core.status import DeploymentStatus

ACTIONS: dict[str, Callable[..., Any]] = {
    "pause": actions.pause,
    "resume": actions.resume,
    "cancel": actions.cancel,
    "promote": actions.promote,
    "retry": actions.retry,
    "exclude": actions.exclude_failed,
    "rollback": actions.rollback,
}


class Backend(Protocol):
    def plan(self, request: DeploymentRequest) -> PlanPreview: ...
    def create(self, request: DeploymentRequest) -> int: ...
    def view(self, deployment_id: int) -> DeploymentView: ...
    def recent(self, limit: int) -> list[DeploymentView]: ...
    def sections(self, deployment_id: int) -> list[ReportSection]: ...
    def deliveries(self, deployment_id: int) -> DeliveriesView: ...
    def logs(self, deployment_id: int, *, node: str | None, after: int) -> LogChunk: ...
    def act(self, action: str, deployment_id: int, **extra: Any) -> Any: ...
    def read_all(self, deployment_id: int, *, node: str | None) -> Iterator[LogEntry]: ...

    def tail(self, deployment_id: int, *, node: str | None) -> Iterator[LogEntry]:
        """Every line, then new ones as they are written, until the deployment is final."""
        ...

    def types(self) -> list[catalogue.TypeInfo]: ...
    def nodes(self, target: str) -> list[NodeListing]: ...

    def settle(self, deployment_id: int, on_tick: Callable[[], None]) -> DeploymentStatus:
        """Until the deployment is final or waits for a person, with nothing running."""
        ...


class _Pages(ABC):
    """Reading a log page by page, the same way whichever Squall answers."""

    @abstractmethod
    def logs(self, deployment_id: int, *, node: str | None, after: int) -> LogChunk:
        """The lines after id `after`, one page."""

    def read_all(self, deployment_id: int, *, node: str | None) -> Iterator[LogEntry]:
        after = 0
        while True:
            chunk = self.logs(deployment_id, node=node, after=after)
            yield from chunk.entries
            after = chunk.cursor
            if not chunk.more:
                return

    def _poll(self, deployment_id: int, node: str | None, interval: float) -> Iterator[LogEntry]:
        after = 0
        while True:
            chunk = self.logs(deployment_id, node=node, after=after)
            yield from chunk.entries
            after = chunk.cursor
            if chunk.more:
                continue
            if chunk.finished:
                return
            time.sleep(interval)


class LocalBackend(_Pages):
    def __init__(self, runtime: Runtime, actor: Actor) -> None:
        self.runtime = runtime
        self.actor = actor

    def reap(self) -> None:
        """Take back the tasks of workers that died (a killed `squall deploy`): with no
        server or worker running, nobody else would, and the deployment would look busy."""
        with self.runtime.db.write() as session:
            reap_expired(session)

    def _read(self, service: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self.runtime.db.read() as session:
            return service(session, self.runtime, self.actor, *args, **kwargs)

    def _write(self, service: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self.runtime.db.write() as session:
            return service(session, self.runtime, self.actor, *args, **kwargs)

    def plan(self, request: DeploymentRequest) -> PlanPreview:
        preview: PlanPreview = self._read(deployments.plan_preview, request)
        return preview

    def create(self, request: DeploymentRequest) -> int:
        return int(self._write(deployments.create, request))

    def view(self, deployment_id: int) -> DeploymentView:
        found: DeploymentView = self._read(views.deployment_view, deployment_id)
        return found

    def recent(self, limit: int) -> list[DeploymentView]:
        return list(self._read(views.recent_deployments, limit=limit))

    def sections(self, deployment_id: int) -> list[ReportSection]:
        return list(self._read(views.report_sections, deployment_id))

    def deliveries(self, deployment_id: int) -> DeliveriesView:
        found: DeliveriesView = self._read(deliveries.deliveries, deployment_id)
        return found

    def logs(self, deployment_id: int, *, node: str | None, after: int) -> LogChunk:
        chunk: LogChunk = self._read(views.log_chunk, deployment_id, node=node, after=after)
        return chunk

    def act(self, action: str, deployment_id: int, **extra: Any) -> Any:
        return self._write(ACTIONS[action], deployment_id, **extra)

    def tail(self, deployment_id: int, *, node: str | None) -> Iterator[LogEntry]:
        return self._poll(deployment_id, node, interval=0.5)

    def types(self) -> list[catalogue.TypeInfo]:
        return catalogue.types(self.runtime, self.actor)

    def nodes(self, target: str) -> list[NodeListing]:
        return list(self._read(inventory.list_nodes, target))

    def settle(self, deployment_id: int, on_tick: Callable[[], None]) -> DeploymentStatus:
        """Runs an engine in this process: no server needed."""
        return run_until_settled(self.runtime, deployment_id, on_tick=on_tick)


class RemoteBackend(_Pages):
    def __init__(self, server: str, token: str | None) -> None:
        from squall.api.client import SquallClient

        self.client = SquallClient(server, token)

    def plan(self, request: DeploymentRequest) -> PlanPreview:
        return self.client.plan(request_body(request))

    def create(self, request: DeploymentRequest) -> int:
        return self.client.create(request_body(request))

    def view(self, deployment_id: int) -> DeploymentView:
        return self.client.view(deployment_id)

    def recent(self, limit: int) -> list[DeploymentView]:
        return self.client.recent(limit)

    def sections(self, deployment_id: int) -> list[ReportSection]:
        return self.client.sections(deployment_id)

    def deliveries(self, deployment_id: int) -> DeliveriesView:
        return self.client.deliveries(deployment_id)

    def logs(self, deployment_id: int, *, node: str | None, after: int) -> LogChunk:
        return self.client.logs(deployment_id, node=node, after=after)

    def act(self, action: str, deployment_id: int, **extra: Any) -> Any:
        return self.client.act(action, deployment_id, **extra)

    def tail(self, deployment_id: int, *, node: str | None) -> Iterator[LogEntry]:
        """The server pushes lines as any of its workers writes them."""
        for item in self.client.follow(deployment_id, node=node):
            if item.pop("kind") == "log":
                yield TypeAdapter(LogEntry).validate_python(item)

    def types(self) -> list[catalogue.TypeInfo]:
        return self.client.types()

    def nodes(self, target: str) -> list[NodeListing]:
        return self.client.nodes(target)

    def settle(
        self, deployment_id: int, on_tick: Callable[[], None], interval: float = 0.5
    ) -> DeploymentStatus:
        """The server's workers run it; this only watches."""
        while True:
            view = self.client.view(deployment_id)
            on_tick()
            status = DeploymentStatus(view.status)
            if (status.is_final or status.waits_for_a_person) and not view.counts.get("running"):
                return status
            time.sleep(interval)

    def close(self) -> None:
        self.client.close()


def request_body(request: DeploymentRequest) -> dict[str, Any]:
    options = request.options
    return {
        "type": request.type,
        "target": request.target,
        "params": dict(request.params),
        "parallelism": options.parallelism,
        "max_failures": str(options.max_failures) if options.max_failures else None,
        "step_timeout": options.step_timeout,
        "ticket": request.ticket,
        "title": request.title,
    }
