"""A remote Squall, over its REST API (`squall --server URL`): its workers run what is
asked; this only asks and watches. It loads no database layer."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from squall.api.backends import LogPages, ReportRequest
from squall.api.client import SquallClient
from squall.core.reporting import ReportSection
from squall.core.status import DeploymentStatus
from squall.core.values.access import (
    AuditCheck,
    AuditEntry,
    AuditFilter,
    Binding,
    RoleOverview,
    TokenInfo,
)
from squall.core.values.catalogue import TypeInfo
from squall.core.values.deliveries import DeliveriesView
from squall.core.values.deployments import DeploymentRequest, PlanPreview
from squall.core.values.inventory import ImportSummary, NodeListing
from squall.core.values.views import DeploymentView, LogChunk, LogEntry

if TYPE_CHECKING:
    from squall.core.reports.model import Report
    from squall.core.reports.verify import Verification


class RemoteBackend(LogPages):
    def __init__(self, server: str, token: str | None) -> None:
        self.client = SquallClient(server, token)

    def plan(self, request: DeploymentRequest) -> PlanPreview:
        return self.client.plan(request_body(request))

    def create(self, request: DeploymentRequest) -> int:
        return self.client.create(request_body(request))

    def view(self, deployment_id: int, *, live: bool = False) -> DeploymentView:
        return self.client.view(deployment_id, live=live)

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

    def types(self) -> list[TypeInfo]:
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
            view = self.client.view(deployment_id, live=True)
            on_tick()
            status = DeploymentStatus(view.status)
            if not view.counts.get("running"):
                if status.is_final or status.waits_for_a_person:
                    return status
                if not wait_for_holds and self._held(deployment_id):
                    return status
            moved.wait(interval)

    def _held(self, deployment_id: int) -> bool:
        """Waits on an outside condition, checked and not met (the full view says what it
        waits for; a hold not yet checked says "checking …", core.outbox.holds)."""
        reason = self.client.view(deployment_id).waiting_for or ""
        return bool(reason) and not reason.startswith("checking ")

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
