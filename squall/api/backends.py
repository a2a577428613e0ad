"""What the `squall` command talks to: this machine's Squall (its database, with an engine
run in the command's own process), or a remote one over the REST API (`--server`). Both
answer with the same core values, so every command prints the same either way."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import TypeAdapter

from squall.core.auth import Actor
from squall.core.engine.progress import reap_expired
from squall.core.engine.worker import run_until_settled
from squall.core.reporting import ReportSection
from squall.core.runtime import Runtime
from squall.core.services import (
    access,
    actions,
    catalogue,
    deliveries,
    deployments,
    inventory,
    views,
)
from squall.core.services.access import (
    AuditCheck,
    AuditEntry,
    AuditFilter,
    Binding,
    RoleOverview,
    TokenInfo,
)
from squall.core.services.deliveries import DeliveriesView
from squall.core.services.deployments import DeploymentRequest, PlanPreview
from squall.core.services.inventory import ImportSummary, NodeListing
from squall.core.services.views import DeploymentView, LogChunk, LogEntry
from squall.core.status import DeploymentStatus

if TYPE_CHECKING:  # reports (reportlab, pypdf) are loaded by the commands that make them
    from squall.core.reports.model import Report
    from squall.core.reports.verify import Verification

ACTIONS: dict[str, Callable[..., Any]] = {
    "pause": actions.pause,
    "resume": actions.resume,
    "cancel": actions.cancel,
    "promote": actions.promote,
    "retry": actions.retry,
    "exclude": actions.exclude_failed,
    "rollback": actions.rollback,
}


@dataclass(frozen=True)
class ReportRequest:
    """Which report: a deployment's (`subject` its id), a cluster's over a period, a node's."""

    kind: Literal["deployment", "cluster", "node"]
    subject: str
    since: dt.datetime | None = None
    until: dt.datetime | None = None


class Backend(Protocol):
    def plan(self, request: DeploymentRequest) -> PlanPreview: ...
    def create(self, request: DeploymentRequest) -> int: ...
    def view(self, deployment_id: int, *, live: bool = False) -> DeploymentView:
        """`live`: for a progress display, which needs no history (views.deployment_view)."""
        ...

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

    def settle(
        self,
        deployment_id: int,
        on_tick: Callable[[], None],
        *,
        wait_for_holds: bool = True,
        interval: float | None = None,
    ) -> DeploymentStatus:
        """Until the deployment is final or waits for a person, with nothing running; or,
        unless `wait_for_holds`, is held on an outside condition checked and not met.
        `on_tick` runs every `interval` seconds (None: the backend's own pace)."""
        ...

    def import_inventory(self, path: Path) -> ImportSummary: ...
    def remove_clusters(self, names: list[str], *, demo: bool) -> tuple[str, ...]: ...
    def roles(self) -> RoleOverview: ...
    def grant_role(self, subject: str, grant: str) -> Binding: ...
    def revoke_role(self, binding_id: int) -> Binding: ...
    def create_token(
        self, name: str, days: int, scopes: list[str] | None, *, user: str | None = None
    ) -> tuple[TokenInfo, str]: ...
    def tokens(self, *, everyone: bool) -> list[TokenInfo]: ...
    def revoke_token(self, token_id: int) -> TokenInfo: ...
    def audit(self, filters: AuditFilter) -> list[AuditEntry]: ...
    def verify_audit(self, head: str | None) -> AuditCheck: ...
    def report(self, request: ReportRequest) -> Report: ...
    def report_files(
        self, request: ReportRequest, forms: Sequence[str], table: str | None
    ) -> dict[str, bytes]:
        """The report as files (`pdf`, `csv`, `json`), each rendered and kept on record by
        the Squall that computes it, so `report verify` finds every copy."""
        ...

    def verify_report(self, content: bytes) -> Verification: ...
    def retry_deliveries(self, deployment_id: int) -> int: ...
    def give_up_deliveries(self, deployment_id: int) -> int: ...


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
        deployments.check_outside(self.runtime, self.actor, request)
        return int(self._write(deployments.create, request))

    def view(self, deployment_id: int, *, live: bool = False) -> DeploymentView:
        found: DeploymentView = self._read(views.deployment_view, deployment_id, live=live)
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

    def settle(
        self,
        deployment_id: int,
        on_tick: Callable[[], None],
        *,
        wait_for_holds: bool = True,
        interval: float | None = None,
    ) -> DeploymentStatus:
        """Runs an engine in this process: no server needed."""
        return run_until_settled(
            self.runtime,
            deployment_id,
            on_tick=on_tick,
            wait_for_holds=wait_for_holds,
            interval=interval,
        )

    def import_inventory(self, path: Path) -> ImportSummary:
        summary: ImportSummary = self._write(inventory.import_file, path)
        return summary

    def remove_clusters(self, names: list[str], *, demo: bool) -> tuple[str, ...]:
        return tuple(self._write(inventory.remove, names, demo=demo))

    def roles(self) -> RoleOverview:
        overview: RoleOverview = self._read(access.role_overview)
        return overview

    def grant_role(self, subject: str, grant: str) -> Binding:
        binding: Binding = self._write(access.grant_role, subject, grant)
        return binding

    def revoke_role(self, binding_id: int) -> Binding:
        binding: Binding = self._write(access.revoke_role, binding_id)
        return binding

    def create_token(
        self, name: str, days: int, scopes: list[str] | None, *, user: str | None = None
    ) -> tuple[TokenInfo, str]:
        created: tuple[TokenInfo, str] = self._write(
            access.create_token, name=name, days=days, scopes=scopes, user=user
        )
        return created

    def tokens(self, *, everyone: bool) -> list[TokenInfo]:
        return list(self._read(access.tokens, everyone=everyone))

    def revoke_token(self, token_id: int) -> TokenInfo:
        info: TokenInfo = self._write(access.revoke_token, token_id)
        return info

    def audit(self, filters: AuditFilter) -> list[AuditEntry]:
        return list(self._read(access.audit_entries, filters))

    def verify_audit(self, head: str | None) -> AuditCheck:
        check: AuditCheck = self._read(access.verify_audit, head=head)
        return check

    def report(self, request: ReportRequest) -> Report:
        from squall.core.services import reports

        if request.kind == "deployment":
            found: Report = self._read(reports.deployment_report, int(request.subject))
        elif request.kind == "cluster":
            assert request.since is not None
            found = self._read(
                reports.cluster_report, request.subject, request.since, request.until
            )
        else:
            found = self._read(reports.node_report, request.subject)
        return found

    def report_files(
        self, request: ReportRequest, forms: Sequence[str], table: str | None
    ) -> dict[str, bytes]:
        from squall.core.services import reports

        found = self.report(request)
        rt, actor = self.runtime, self.actor
        render = {
            "pdf": lambda: reports.render_pdf(rt, actor, found),
            "csv": lambda: reports.render_csv(rt, actor, found, table).encode(),
            "json": lambda: reports.render_json(rt, actor, found).encode(),
        }
        return {form: render[form]() for form in forms}

    def verify_report(self, content: bytes) -> Verification:
        from squall.core.services import reports

        result: Verification = self._read(reports.verify_copy, content)
        return result

    def retry_deliveries(self, deployment_id: int) -> int:
        return int(self._write(deliveries.retry_failed, deployment_id))

    def give_up_deliveries(self, deployment_id: int) -> int:
        return int(self._write(deliveries.give_up_failed, deployment_id))


class RemoteBackend(_Pages):
    def __init__(self, server: str, token: str | None) -> None:
        from squall.api.client import SquallClient

        self.client = SquallClient(server, token)

    def plan(self, request: DeploymentRequest) -> PlanPreview:
        return self.client.plan(request_body(request))

    def create(self, request: DeploymentRequest) -> int:
        return self.client.create(request_body(request))

    def view(self, deployment_id: int, *, live: bool = False) -> DeploymentView:
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
        self,
        deployment_id: int,
        on_tick: Callable[[], None],
        *,
        wait_for_holds: bool = True,
        interval: float | None = None,
    ) -> DeploymentStatus:
        """The server's workers run it; this watches: every half second (unless asked to
        look less often), and at once when the server's follow stream says the status
        changed, so the end is seen as it happens."""
        interval = 0.5 if interval is None else max(interval, 0.5)
        moved = threading.Event()
        threading.Thread(
            target=self._watch, args=(deployment_id, moved), name="squall-watch", daemon=True
        ).start()
        while True:
            moved.clear()
            view = self.client.view(deployment_id)
            on_tick()
            status = DeploymentStatus(view.status)
            # A hold not yet checked says "checking …" (core.outbox.holds): wait for that.
            reason = view.waiting_for or ""
            held = bool(reason) and not reason.startswith("checking ")
            waiting = status.waits_for_a_person or (held and not wait_for_holds)
            if (status.is_final or waiting) and not view.counts.get("running"):
                return status
            moved.wait(interval)

    def _watch(self, deployment_id: int, moved: threading.Event) -> None:
        """Set `moved` on each status change the server streams, until the end (or the
        client is closed). Only a hint: a stream that breaks, however it breaks, leaves
        the half-second look, which sees everything."""
        with contextlib.suppress(Exception):
            for item in self.client.follow(deployment_id, logs=False):
                if item["kind"] != "log":
                    moved.set()

    def import_inventory(self, path: Path) -> ImportSummary:
        """The file is read here and sent; the server parses it, naming it by this path."""
        from squall.core.inventory.loader import read_inventory_text

        return self.client.import_inventory(str(path), read_inventory_text(path))

    def remove_clusters(self, names: list[str], *, demo: bool) -> tuple[str, ...]:
        return self.client.remove_clusters(names, demo=demo)

    def roles(self) -> RoleOverview:
        return self.client.roles()

    def grant_role(self, subject: str, grant: str) -> Binding:
        return self.client.grant_role(subject, grant)

    def revoke_role(self, binding_id: int) -> Binding:
        return self.client.revoke_role(binding_id)

    def create_token(
        self, name: str, days: int, scopes: list[str] | None, *, user: str | None = None
    ) -> tuple[TokenInfo, str]:
        return self.client.create_token(name, days, scopes, user=user)

    def tokens(self, *, everyone: bool) -> list[TokenInfo]:
        return self.client.tokens(everyone=everyone)

    def revoke_token(self, token_id: int) -> TokenInfo:
        return self.client.revoke_token(token_id)

    def audit(self, filters: AuditFilter) -> list[AuditEntry]:
        return self.client.audit(filters)

    def verify_audit(self, head: str | None) -> AuditCheck:
        return self.client.verify_audit(head)

    def report(self, request: ReportRequest) -> Report:
        """The server computes it and sends its JSON export; it is rendered here."""
        params: dict[str, str] = {}
        if request.kind == "cluster":
            path = f"/reports/clusters/{request.subject}"
            params = {"since": _iso(request.since), "until": _iso(request.until)}
        else:
            path = f"/reports/{request.kind}s/{request.subject}"
        return self.client.report(path, params)

    def report_files(
        self, request: ReportRequest, forms: Sequence[str], table: str | None
    ) -> dict[str, bytes]:
        """Each file as the server renders it (and keeps on record)."""
        params: dict[str, str] = {}
        if request.kind == "cluster":
            path = f"/reports/clusters/{request.subject}"
            params = {"since": _iso(request.since), "until": _iso(request.until)}
        else:
            path = f"/reports/{request.kind}s/{request.subject}"
        found = {}
        for form in forms:
            extra = {"table": table} if form == "csv" and table else {}
            found[form] = self.client.report_file(path, {**params, **extra, "format": form})
        return found

    def verify_report(self, content: bytes) -> Verification:
        return self.client.verify_report(content)

    def retry_deliveries(self, deployment_id: int) -> int:
        return self.client.retry_deliveries(deployment_id)

    def give_up_deliveries(self, deployment_id: int) -> int:
        return self.client.give_up_deliveries(deployment_id)

    def close(self) -> None:
        self.client.close()


def _iso(moment: dt.datetime | None) -> str:
    assert moment is not None, "a cluster report's period is set by the caller"
    return moment.astimezone(dt.UTC).isoformat()


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
