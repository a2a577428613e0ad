"""A client of the REST API that answers with the core's own values (views, plans, log
pages), so the `squall` command renders a remote Squall exactly like a local one: each
answer (one of `squall.api.schemas`, which keep the field names of the values they are
built from) is read back into the value the local service returns.

The token comes from the caller (the CLI reads `SQUALL_TOKEN`); it is sent in a header and
never appears in a message, an error or a repr.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import TypeAdapter

from squall.core.errors import SquallError
from squall.core.reporting import ReportSection
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
from squall.core.values.deployments import PlanPreview
from squall.core.values.inventory import ImportSummary, NodeListing
from squall.core.values.views import DeploymentView, LogChunk

if TYPE_CHECKING:  # reports load PDF and chart libraries: only for the commands on reports
    from squall.core.reports.model import Report
    from squall.core.reports.verify import Verification

T = TypeVar("T")


class Refused(SquallError):
    """The server refused a request (or could not be reached); the message is its reason."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SquallClient:
    def __init__(self, server: str, token: str | None = None, *, timeout: float = 30.0) -> None:
        if not server.startswith(("http://", "https://")):
            raise Refused(f"--server must be an http:// or https:// URL, not {server!r}")
        if token and server.startswith("http://") and not _loopback(server):
            raise Refused(
                f"refusing to send an API token to {server} in clear: use https:// "
                "(plain http only to this machine)"
            )
        self.server = server.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=f"{self.server}/api/v1", headers=headers, timeout=timeout
        )

    def __repr__(self) -> str:
        return f"SquallClient({self.server!r})"

    def close(self) -> None:
        self._http.close()

    # --- deployments -----------------------------------------------------------------

    def plan(self, body: dict[str, Any]) -> PlanPreview:
        return self._get_as(PlanPreview, "POST", "/deployments/plan", json=body)

    def create(self, body: dict[str, Any]) -> int:
        return int(self._call("POST", "/deployments", json=body).json()["id"])

    def view(self, deployment_id: int, *, live: bool = False) -> DeploymentView:
        params = {"live": "true"} if live else {}
        return self._get_as(DeploymentView, "GET", f"/deployments/{deployment_id}", params=params)

    def recent(self, limit: int) -> list[DeploymentView]:
        return self._get_as(
            list[DeploymentView], "GET", "/deployments/recent", params={"limit": limit}
        )

    def sections(self, deployment_id: int) -> list[ReportSection]:
        return self._get_as(list[ReportSection], "GET", f"/deployments/{deployment_id}/sections")

    def deliveries(self, deployment_id: int) -> DeliveriesView:
        return self._get_as(DeliveriesView, "GET", f"/deployments/{deployment_id}/deliveries")

    def act(self, action: str, deployment_id: int, **body: Any) -> Any:
        answer = self._call("POST", f"/deployments/{deployment_id}/{action}", json=body or None)
        return answer.json()["result"]

    # --- logs ------------------------------------------------------------------------

    def logs(
        self, deployment_id: int, *, after: int = 0, node: str | None = None, limit: int = 1000
    ) -> LogChunk:
        params: dict[str, Any] = {"after": after, "limit": limit}
        if node is not None:
            params["node"] = node
        return self._get_as(LogChunk, "GET", f"/deployments/{deployment_id}/logs", params=params)

    def follow(
        self, deployment_id: int, *, after: int = 0, node: str | None = None, logs: bool = True
    ) -> Iterator[dict[str, Any]]:
        """Each item of the follow stream as it arrives: logs (unless not asked for), status
        changes, the end."""
        params: dict[str, Any] = {"after": after}
        if node is not None:
            params["node"] = node
        if not logs:
            params["logs"] = "false"
        try:
            with self._http.stream(
                "GET",
                f"/deployments/{deployment_id}/follow",
                params=params,
                timeout=httpx.Timeout(30.0, read=None),
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _refusal(response)
                for line in response.iter_lines():
                    if line:
                        yield json.loads(line)
        except httpx.HTTPError as exc:
            raise Refused(f"lost {self.server}: {exc}") from None

    # --- inventory, types ------------------------------------------------------------

    def nodes(self, target: str) -> list[NodeListing]:
        return self._get_as(list[NodeListing], "GET", "/inventory", params={"target": target})

    def types(self) -> list[TypeInfo]:
        return self._get_as(list[TypeInfo], "GET", "/types")

    def import_inventory(self, name: str, content: str) -> ImportSummary:
        body = {"name": name, "content": content}
        return self._get_as(ImportSummary, "POST", "/inventory", json=body)

    def remove_clusters(self, names: list[str], *, demo: bool) -> tuple[str, ...]:
        body = {"clusters": names, "demo": demo}
        return self._get_as(tuple[str, ...], "POST", "/inventory/remove", json=body)

    # --- access ----------------------------------------------------------------------

    def roles(self) -> RoleOverview:
        return self._get_as(RoleOverview, "GET", "/roles")

    def grant_role(self, subject: str, grant: str) -> Binding:
        return self._get_as(Binding, "POST", "/roles", json={"subject": subject, "grant": grant})

    def revoke_role(self, binding_id: int) -> Binding:
        return self._get_as(Binding, "DELETE", f"/roles/{binding_id}")

    def create_token(
        self, name: str, days: int, scopes: list[str] | None, *, user: str | None = None
    ) -> tuple[TokenInfo, str]:
        body = {"name": name, "days": days, "scopes": scopes, **({"user": user} if user else {})}
        answer = self._call("POST", "/tokens", json=body).json()
        return TypeAdapter(TokenInfo).validate_python(answer["info"]), str(answer["token"])

    def tokens(self, *, everyone: bool) -> list[TokenInfo]:
        return self._get_as(list[TokenInfo], "GET", "/tokens", params={"all": everyone})

    def revoke_token(self, token_id: int) -> TokenInfo:
        return self._get_as(TokenInfo, "DELETE", f"/tokens/{token_id}")

    def audit(self, filters: AuditFilter) -> list[AuditEntry]:
        params = {"actor": filters.actor, "action": filters.action, "limit": filters.limit}
        given = {name: value for name, value in params.items() if value is not None}
        return self._get_as(list[AuditEntry], "GET", "/audit", params=given)

    def verify_audit(self, head: str | None) -> AuditCheck:
        params = {"head": head} if head else {}
        return self._get_as(AuditCheck, "GET", "/audit/verify", params=params)

    # --- reports, deliveries, drift --------------------------------------------------

    def report(self, path: str, params: dict[str, str]) -> Report:
        """A report as the server computes it, read back from its JSON export."""
        from squall.core.reports.exports import from_json

        answer = self._call("GET", path, params={**params, "format": "json", "preview": "true"})
        return from_json(answer.content)

    def get_json(self, path: str, params: dict[str, Any]) -> Any:
        """Any GET route's JSON answer (for plugin commands given --server)."""
        return self._call("GET", path, params=params).json()

    def report_file(self, path: str, params: dict[str, str]) -> bytes:
        """A report file as the server renders it (`format` in `params`)."""
        return self._call("GET", path, params=params).content

    def verify_report(self, content: bytes) -> Verification:
        from squall.core.reports.verify import Verification

        headers = {"Content-Type": "application/octet-stream"}
        return self._get_as(
            Verification, "POST", "/reports/verify", content=content, headers=headers
        )

    def retry_deliveries(self, deployment_id: int) -> int:
        answer = self._call("POST", f"/deployments/{deployment_id}/deliveries/retry")
        return int(answer.json()["retried"])

    def give_up_deliveries(self, deployment_id: int) -> int:
        answer = self._call("POST", f"/deployments/{deployment_id}/deliveries/give-up")
        return int(answer.json()["given_up"])

    def _get_as(self, kind: type[T] | Any, method: str, path: str, **options: Any) -> T:
        answer = self._call(method, path, **options)
        value: T = TypeAdapter(kind).validate_json(answer.content)
        return value

    def _call(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **options)
        except httpx.HTTPError as exc:
            raise Refused(f"cannot reach {self.server}: {exc}") from None
        if response.status_code >= 400:
            raise _refusal(response)
        return response


def _loopback(server: str) -> bool:
    host = httpx.URL(server).host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refusal(response: httpx.Response) -> Refused:
    """The server's own reason, as the local command would have printed it."""
    try:
        body = response.json()
    except ValueError:
        return Refused(f"{response.status_code} {response.reason_phrase}", response.status_code)
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):  # the request's shape was wrong: name each field
        detail = "; ".join(
            f"{'.'.join(str(part) for part in item.get('loc', ())[1:])}: {item.get('msg')}"
            for item in detail
            if isinstance(item, dict)
        )
    return Refused(str(detail or response.reason_phrase), response.status_code)
