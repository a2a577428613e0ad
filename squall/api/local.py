"""This machine's Squall: the services on its database, with an engine run in the command's
own process (no server needed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from squall.api.backends import LogPages, ReportRequest
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
from squall.core.services.calls import read_as, write_as
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


class LocalBackend(LogPages):
    def __init__(self, runtime: Runtime, actor: Actor) -> None:
        self.runtime = runtime
        self.actor = actor

    def reap(self) -> None:
        """Take back the tasks of workers that died (a killed `squall deploy`): with no
        server or worker running, nobody else would, and the deployment would look busy."""
        with self.runtime.db.write() as session:
            reap_expired(session)

    def _read(self, service: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return read_as(self.runtime, self.actor, service, *args, **kwargs)

    def _write(self, service: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return write_as(self.runtime, self.actor, service, *args, **kwargs)

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
        return self._write(actions.BY_NAME[action], deployment_id, **extra)

    def tail(self, deployment_id: int, *, node: str | None) -> Iterator[LogEntry]:
        return self._poll(deployment_id, node, interval=0.5)

    def types(self) -> list[TypeInfo]:
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
