"""What the `squall` command talks to: this machine's Squall (`squall.api.local`: its
database, with an engine run in the command's own process), or a remote one over the REST
API (`squall.api.remote`, for `--server`). Both answer with the same core values
(`squall.core.values`), so every command prints the same either way.

This module holds what both share and loads neither: a remote command never loads the
database layer."""

from __future__ import annotations

import datetime as dt
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

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

if TYPE_CHECKING:  # reports (reportlab, pypdf) are loaded by the commands that make them
    from squall.core.reports.model import Report
    from squall.core.reports.verify import Verification


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

    def types(self) -> list[TypeInfo]: ...
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


class LogPages(ABC):
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
