"""The REST API under /api/v1: thin routes over the core services, like the CLI and the
pages, so permissions, validation and audit apply unchanged. Authenticated by the login
guard (a session, or an API token: `Authorization: Bearer sq_…`); its OpenAPI document
is /api/v1/openapi.json, behind the same guard.

Every answer is one of the API's own models (`squall.api.schemas`), built from the core's
values (deployments from its one read model of a deployment), so the public API does not
change when a page or a service does."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from squall.api import schemas
from squall.api.auth import request_actor
from squall.api.follow import follow_stream
from squall.api.reports import add_report_routes
from squall.core.errors import (
    InvalidTransition,
    InventoryError,
    NotFound,
    PermissionDenied,
    PlanError,
    SquallError,
    Unauthenticated,
    ValidationError,
)
from squall.core.plan import DeploymentOptions, Threshold
from squall.core.runtime import Runtime
from squall.core.services import (
    access,
    actions,
    board,
    catalogue,
    deliveries,
    deployments,
    inventory,
    views,
)
from squall.core.services.calls import read_as, write_as
from squall.core.values.access import AuditFilter
from squall.core.values.deployments import DeploymentRequest
from squall.core.values.views import LogChunk

T = TypeVar("T")
PREFIX = "/api/v1"
STATUS = {
    Unauthenticated: 401,
    PermissionDenied: 403,
    NotFound: 404,
    InvalidTransition: 409,
    ValidationError: 422,
    PlanError: 422,
    InventoryError: 422,
}
Action = Literal["pause", "resume", "cancel", "abort", "promote", "retry", "exclude", "rollback"]
ACTIONS: dict[str, Callable[..., Any]] = {**actions.BY_NAME, "abort": actions.cancel}
MAX_ID = 2**31 - 1
Id = Annotated[int, PathParam(ge=1, le=MAX_ID)]
Text = Annotated[str, Field(max_length=2000, pattern=r"^[^\x00]*$")]
"""Free text from a client: bounded, and never a NUL (no database stores one)."""


class NewDeployment(BaseModel):
    type: Text
    target: Text = "all"
    params: dict[str, Any] = Field(default_factory=dict)
    parallelism: int = Field(50, ge=1, le=100_000)
    max_failures: Text | None = Field(None, description="A count (3) or a percentage (10%).")
    step_timeout: float | None = Field(None, gt=0, le=86_400)
    ticket: Text | None = None
    title: Text | None = None

    def request(self) -> DeploymentRequest:
        return DeploymentRequest(
            type=self.type,
            params=self.params,
            target=self.target,
            options=DeploymentOptions(
                parallelism=self.parallelism,
                max_failures=Threshold.parse(self.max_failures) if self.max_failures else None,
                step_timeout=self.step_timeout,
            ),
            ticket=self.ticket,
            title=self.title,
        )


class ActionBody(BaseModel):
    comment: Text | None = Field(None, description="For promote: why, for the record.")
    nodes: list[Text] | None = Field(None, description="For retry: only these failed nodes.")


class NewToken(BaseModel):
    name: Text
    days: int = Field(30, ge=1, le=3650)
    scopes: list[Text] | None = None


class NewBinding(BaseModel):
    subject: Text
    grant: Text


class InventoryFile(BaseModel):
    name: Text = Field(
        description="File name (or path); its ending tells INI from YAML, and it names the "
        "source in errors and in the inventory."
    )
    content: Annotated[str, Field(max_length=10_000_000)]


class RemovedClusters(BaseModel):
    clusters: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=10_000, description="The clusters to remove."
    )
    demo: bool = Field(False, description="Also remove the demo inventory's clusters.")


class SquallRoute(APIRoute):
    """Turns the core's refusals into JSON answers for these routes only (the console's
    pages show their own)."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handle = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                response: Response = await handle(request)
            except SquallError as error:
                return refusal(error)
            except DataError:
                # A value the database cannot hold (out of range, malformed): the
                # client's mistake, and the transaction was rolled back.
                return JSONResponse({"detail": "a value is out of range or malformed"}, 422)
            return response

        return answer


REFUSALS: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.Problem, "description": description}
    for code, description in (
        (401, "Not signed in, or the token is unknown, expired or revoked."),
        (403, "Signed in, without the permission this needs."),
        (404, "No such thing (or not visible to you)."),
        (409, "Not possible in the current state."),
        (422, "Invalid input: which field, and why."),
    )
}


def register(app: FastAPI, runtime: Runtime) -> None:
    router = APIRouter(prefix=PREFIX, route_class=SquallRoute, responses=REFUSALS)

    def reading(request: Request, service: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return read_as(runtime, request_actor(request), service, *args, **kwargs)

    def writing(request: Request, service: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return write_as(runtime, request_actor(request), service, *args, **kwargs)

    # --- deployments -----------------------------------------------------------------

    @router.get("/deployments", tags=["deployments"], response_model=list[schemas.DeploymentRow])
    def list_deployments(
        request: Request,
        status: Annotated[list[str] | None, Query(description="Repeat for several.")] = None,
        type: Annotated[Text | None, Query()] = None,
        cluster: Annotated[Text | None, Query()] = None,
        requester: Annotated[Text | None, Query()] = None,
        since: dt.datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> Any:
        """Every active deployment, and the `limit` most recent finished ones, newest first."""
        filters = board.BoardFilter(
            statuses=tuple(_statuses(status or [])),
            type=type,
            cluster=cluster,
            requester=requester,
            since=since,
            limit=limit,
            sort="newest",
        )
        rows = reading(request, board.board, filters)
        return [schemas.DeploymentRow.model_validate(row) for row in rows]

    @router.post(
        "/deployments", status_code=201, tags=["deployments"], response_model=schemas.Created
    )
    def create_deployment(request: Request, body: NewDeployment) -> Any:
        """Validate, plan and create a deployment; a worker starts it at once."""
        wanted = body.request()
        deployments.check_outside(runtime, request_actor(request), wanted)
        return schemas.Created(id=writing(request, deployments.create, wanted))

    @router.post("/deployments/plan", tags=["deployments"], response_model=schemas.PlanPreview)
    def plan_deployment(request: Request, body: NewDeployment) -> Any:
        """What `POST /deployments` would run (a dry run): nothing is created."""
        preview = reading(request, deployments.plan_preview, body.request())
        return schemas.PlanPreview.model_validate(preview)

    @router.get(
        "/deployments/recent", tags=["deployments"], response_model=list[schemas.Deployment]
    )
    def recent_deployments(
        request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 20
    ) -> Any:
        """The most recent deployments in full (stages, failures), newest first."""
        found = reading(request, views.recent_deployments, limit=limit)
        return [schemas.Deployment.model_validate(view) for view in found]

    @router.get(
        "/deployments/{deployment_id}", tags=["deployments"], response_model=schemas.Deployment
    )
    def get_deployment(request: Request, deployment_id: Id, live: bool = False) -> Any:
        """A deployment in full: parameters (secrets masked), stages, failure points,
        approvals, what it waits for and every attempt. With `live=true`, for a progress
        display polling it: `waiting_for` is null and `attempts` and `reruns` are empty,
        each of which is read from the whole history."""
        view = reading(request, views.deployment_view, deployment_id, live=live)
        return schemas.Deployment.model_validate(view)

    @router.get(
        "/deployments/{deployment_id}/tasks",
        tags=["deployments"],
        response_model=schemas.DeploymentTasks,
    )
    def get_tasks(request: Request, deployment_id: Id) -> Any:
        """Every node task, how nodes fared step by step, failures grouped by error, and
        the actions you may take now."""
        detail = reading(request, views.deployment_detail, deployment_id)
        return schemas.DeploymentTasks.model_validate(detail)

    @router.get(
        "/deployments/{deployment_id}/sections",
        tags=["deployments"],
        response_model=list[schemas.ReportSection],
    )
    def get_sections(request: Request, deployment_id: Id) -> Any:
        """What the deployment's type adds to its status and report (facts, files, …)."""
        sections = reading(request, views.report_sections, deployment_id)
        return [schemas.ReportSection.model_validate(section) for section in sections]

    @router.get(
        "/deployments/{deployment_id}/deliveries",
        tags=["deployments"],
        response_model=schemas.Deliveries,
    )
    def get_deliveries(request: Request, deployment_id: Id) -> Any:
        """What the integrations (JIRA, Slack…) delivered about it: delivered, pending, or
        failed with the error, or held behind a failed one."""
        sent = reading(request, deliveries.deliveries, deployment_id)
        return schemas.Deliveries.model_validate(sent)

    @router.post(
        "/deployments/{deployment_id}/deliveries/retry",
        tags=["actions"],
        response_model=schemas.RetriedDeliveries,
    )
    def retry_deliveries(request: Request, deployment_id: Id) -> Any:
        """Hand its failed deliveries back to the outbox (once their cause is fixed)."""
        return schemas.RetriedDeliveries(
            retried=writing(request, deliveries.retry_failed, deployment_id)
        )

    @router.post(
        "/deployments/{deployment_id}/deliveries/give-up",
        tags=["actions"],
        response_model=schemas.GivenUpDeliveries,
    )
    def give_up_deliveries(request: Request, deployment_id: Id) -> Any:
        """Give up its failed deliveries, so the later ones they hold go out."""
        return schemas.GivenUpDeliveries(
            given_up=writing(request, deliveries.give_up_failed, deployment_id)
        )

    @router.post(
        "/deployments/{deployment_id}/{action}",
        tags=["actions"],
        response_model=schemas.ActionResult,
    )
    def act(
        request: Request, deployment_id: Id, action: Action, body: ActionBody | None = None
    ) -> Any:
        """An operator action; who may do which is checked (and recorded) in core."""
        extra: list[Any] = []
        if action == "promote" and body and body.comment:
            extra.append(body.comment)
        if action == "retry" and body and body.nodes:
            extra.append(body.nodes)
        result = writing(request, ACTIONS[action], deployment_id, *extra)
        return schemas.ActionResult(id=deployment_id, action=action, result=_json(result))

    # --- logs ------------------------------------------------------------------------

    @router.get("/deployments/{deployment_id}/logs", tags=["logs"], response_model=schemas.LogChunk)
    def get_logs(
        request: Request,
        deployment_id: Id,
        after: Annotated[int, Query(ge=0, le=2**62, description="A `cursor` from before.")] = 0,
        node: Annotated[Text | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    ) -> Any:
        """A page of log lines after `after`, oldest first, with the cursor for the next."""
        chunk = reading(
            request, views.log_chunk, deployment_id, node=node, after=after, limit=limit
        )
        return schemas.LogChunk.model_validate(chunk)

    @router.get(
        "/deployments/{deployment_id}/follow",
        tags=["logs"],
        response_class=Response,
        responses={
            200: {
                "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                "description": 'One JSON object a line: {"kind": "log", …a log entry}, '
                '{"kind": "status", "status": …} when it changes, and a last '
                '{"kind": "end", "status": …} once the deployment is final.',
            }
        },
    )
    async def follow(
        request: Request,
        deployment_id: Id,
        after: Annotated[int, Query(ge=0, le=2**62)] = 0,
        node: Annotated[Text | None, Query()] = None,
        logs: Annotated[bool, Query(description="false: the status lines alone")] = True,
    ) -> Response:
        """Follow a deployment as it runs: its log lines and status, as they are written
        (in whichever process runs it), until it is final."""
        actor = request_actor(request)
        limit = 1000 if logs else 0

        def read(cursor: int) -> LogChunk:
            with runtime.db.read() as session:
                return views.log_chunk(
                    session, runtime, actor, deployment_id, node=node, after=cursor, limit=limit
                )

        first = await run_in_threadpool(read, after)  # refusals answer before streaming starts
        return follow_stream(runtime, deployment_id, first, read)

    # --- inventory, types ------------------------------------------------------------

    @router.get("/inventory", tags=["inventory"], response_model=list[schemas.NodeListing])
    def list_nodes(
        request: Request,
        target: Annotated[Text, Query(description="A selector, e.g. cluster:web*")] = "all",
    ) -> Any:
        nodes = reading(request, inventory.list_nodes, target)
        return [schemas.NodeListing.model_validate(node) for node in nodes]

    @router.get("/inventory/clusters", tags=["inventory"], response_model=list[schemas.ClusterRow])
    def list_clusters(request: Request) -> Any:
        clusters, _ = reading(request, inventory.overview)
        return [schemas.ClusterRow.model_validate(cluster) for cluster in clusters]

    @router.post("/inventory", tags=["inventory"], response_model=schemas.ImportSummary)
    def import_inventory(request: Request, body: InventoryFile) -> Any:
        """Import clusters and nodes; each cluster in the file replaces the one of that name."""
        summary = writing(request, inventory.import_text, body.name, body.content)
        return schemas.ImportSummary.model_validate(summary)

    @router.post("/inventory/remove", tags=["inventory"], response_model=list[str])
    def remove_inventory(request: Request, body: RemovedClusters) -> Any:
        """Take clusters and their nodes out of the inventory (deployments keep their
        record); `demo` adds the demo inventory's clusters. Audited; all or nothing."""
        return writing(request, inventory.remove, body.clusters, demo=body.demo)

    @router.get("/types", tags=["types"], response_model=list[schemas.TypeInfo])
    def list_types(request: Request) -> Any:
        found = catalogue.types(runtime, request_actor(request))
        return [schemas.TypeInfo.model_validate(info) for info in found]

    # --- access ----------------------------------------------------------------------

    @router.get("/audit/verify", tags=["access"], response_model=schemas.AuditCheck)
    def verify_audit(
        request: Request,
        head: Annotated[
            str | None,
            Query(max_length=64, description="A head hash noted earlier: is it still there?"),
        ] = None,
    ) -> Any:
        """Check the audit log's hash chain: every edited, deleted or reordered record."""
        return schemas.AuditCheck.model_validate(reading(request, access.verify_audit, head=head))

    @router.get("/audit", tags=["access"], response_model=list[schemas.AuditEntry])
    def audit(
        request: Request,
        actor: Annotated[Text | None, Query()] = None,
        action: Annotated[Text | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
    ) -> Any:
        filters = AuditFilter(actor=actor, action=action, limit=limit)
        entries = reading(request, access.audit_entries, filters)
        return [schemas.AuditEntry.model_validate(entry) for entry in entries]

    @router.post("/tokens", status_code=201, tags=["access"], response_model=schemas.CreatedToken)
    def create_token(request: Request, body: NewToken) -> Any:
        info, secret = writing(
            request, access.create_token, name=body.name, days=body.days, scopes=body.scopes
        )
        return schemas.CreatedToken(token=secret, info=schemas.TokenInfo.model_validate(info))

    @router.get("/tokens", tags=["access"], response_model=list[schemas.TokenInfo])
    def list_tokens(
        request: Request,
        everyone: Annotated[bool, Query(alias="all", description="Everyone's tokens.")] = False,
    ) -> Any:
        """Your API tokens (or everyone's, for who manages roles), never their secrets."""
        found = reading(request, access.tokens, everyone=everyone)
        return [schemas.TokenInfo.model_validate(info) for info in found]

    @router.delete("/tokens/{token_id}", tags=["access"], response_model=schemas.TokenInfo)
    def revoke_token(request: Request, token_id: Id) -> Any:
        return schemas.TokenInfo.model_validate(writing(request, access.revoke_token, token_id))

    @router.get("/roles", tags=["access"], response_model=schemas.RoleOverview)
    def list_roles(request: Request) -> Any:
        """Role bindings given in Squall, and the grants provider groups map to."""
        return schemas.RoleOverview.model_validate(reading(request, access.role_overview))

    @router.post("/roles", status_code=201, tags=["access"], response_model=schemas.Binding)
    def grant_role(request: Request, body: NewBinding) -> Any:
        binding = writing(request, access.grant_role, body.subject, body.grant)
        return schemas.Binding.model_validate(binding)

    @router.delete("/roles/{binding_id}", tags=["access"], response_model=schemas.Binding)
    def revoke_role(request: Request, binding_id: Id) -> Any:
        return schemas.Binding.model_validate(writing(request, access.revoke_role, binding_id))

    @router.get("/me", tags=["access"], response_model=schemas.Me)
    def me(request: Request) -> Any:
        actor = request_actor(request)
        return schemas.Me(
            name=actor.name,
            source=actor.source,
            grants=[str(grant) for grant in actor.all_grants()],
            scopes=sorted(actor.scopes) if actor.scopes is not None else None,
        )

    @router.get("/jira/drift", tags=["integrations"], response_model=list[schemas.Drift])
    def jira_drift(request: Request, limit: Annotated[int, Query(ge=1, le=100_000)] = 1000) -> Any:
        """Deployments without a ticket, and tickets whose deployment failed or never ran."""
        from squall.core.commands import CommandContext
        from squall.core.errors import ConfigError
        from squall.integrations.jira.drift import find_drift
        from squall.integrations.jira.settings import JiraSettings

        settings = runtime.settings.section("jira", JiraSettings)
        if not settings.configured:
            raise ConfigError("JIRA is not configured: set jira.url and jira.token")
        recent = CommandContext(runtime, request_actor(request)).deployments(limit)
        return [schemas.Drift.model_validate(drift) for drift in find_drift(settings, recent)]

    add_report_routes(router, runtime)

    # --- the document ----------------------------------------------------------------

    document: dict[str, Any] = {}

    @router.get("/openapi.json", include_in_schema=False)
    def openapi() -> Any:
        if not document:
            document.update(openapi_document(router))
        return document

    app.include_router(router)


def openapi_document(router: APIRouter) -> dict[str, Any]:
    document = get_openapi(
        title="Squall API",
        version="1",
        description="Deployments, logs, inventory and types of a Squall installation. "
        "Send an API token (`squall token create`) as `Authorization: Bearer sq_…`.",
        routes=router.routes,
    )
    document.setdefault("components", {})["securitySchemes"] = {
        "token": {"type": "http", "scheme": "bearer"}
    }
    document["security"] = [{"token": []}]
    return document


def refusal(error: SquallError) -> JSONResponse:
    """A refusal says why: which permission was missing, which field was wrong."""
    status = next((code for kind, code in STATUS.items() if isinstance(error, kind)), 400)
    body: dict[str, Any] = {"detail": str(error)}
    if isinstance(error, PermissionDenied):
        body["permission"] = error.permission
    if isinstance(error, ValidationError) and error.fields:
        body["fields"] = error.fields
    return JSONResponse(body, status_code=status)


def _statuses(given: list[str]) -> list[str]:
    from squall.core.status import DeploymentStatus

    known = {status.value for status in DeploymentStatus}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValidationError(
            f"unknown status {', '.join(unknown)}; one of: {', '.join(sorted(known))}"
        )
    return given


def _json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif isinstance(value, list):
        value = [_json(item) for item in value]
    return jsonable_encoder(value)
