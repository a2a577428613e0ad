"""The REST API under /api/v1: thin routes over the core services, like the CLI and the
pages, so permissions, validation and audit apply unchanged. Authenticated by the login
guard (a session, or an API token: `Authorization: Bearer sq_…`)."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.responses import Response

from api.auth import request_actor
from core.auth import Actor
from core.errors import (
    InvalidTransition,
    InventoryError,
    NotFound,
    PermissionDenied,
    PlanError,
    SquallError,
    Unauthenticated,
    ValidationError,
)
from core.plan import DeploymentOptions, Threshold
from core.runtime import Runtime
from core.services import access, actions, board, deployments, inventory, views

T = TypeVar("T")
STATUS = {
    Unauthenticated: 401,
    PermissionDenied: 403,
    NotFound: 404,
    InvalidTransition: 409,
    ValidationError: 422,
    PlanError: 422,
    InventoryError: 422,
}
Action = Literal["pause", "resume", "cancel", "promote", "retry", "exclude", "rollback"]
ACTIONS: dict[str, Callable[..., Any]] = {
    "pause": actions.pause,
    "resume": actions.resume,
    "cancel": actions.cancel,
    "promote": actions.promote,
    "retry": actions.retry,
    "exclude": actions.exclude_failed,
    "rollback": actions.rollback,
}


class NewDeployment(BaseModel):
    type: str
    target: str = "all"
    params: dict[str, Any] = Field(default_factory=dict)
    parallelism: int = 50
    max_failures: str | None = None
    step_timeout: float | None = None
    ticket: str | None = None
    title: str | None = None


class ActionBody(BaseModel):
    comment: str | None = Field(None, description="For promote: why, for the record.")
    nodes: list[str] | None = Field(None, description="For retry: only these failed nodes.")


class NewToken(BaseModel):
    name: str
    days: int = 30
    scopes: list[str] | None = None


class NewBinding(BaseModel):
    subject: str
    grant: str


class InventoryFile(BaseModel):
    name: str = Field(description="File name; its ending tells INI from YAML.")
    content: str


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
            return response

        return answer


def register(app: FastAPI, runtime: Runtime) -> None:
    router = APIRouter(prefix="/api/v1", tags=["squall"], route_class=SquallRoute)

    def reading(request: Request, service: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with runtime.db.read() as session:
            return service(session, runtime, request_actor(request), *args, **kwargs)

    def writing(request: Request, service: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with runtime.db.write() as session:
            return service(session, runtime, request_actor(request), *args, **kwargs)

    @router.get("/deployments")
    def list_deployments(request: Request, status: str | None = None, limit: int = 200) -> Any:
        filters = board.BoardFilter(statuses=(status,) if status else (), limit=limit)
        return _json(reading(request, board.board, filters))

    @router.post("/deployments", status_code=201)
    def create_deployment(request: Request, body: NewDeployment) -> Any:
        deployment_request = deployments.DeploymentRequest(
            type=body.type,
            params=body.params,
            target=body.target,
            options=DeploymentOptions(
                parallelism=body.parallelism,
                max_failures=Threshold.parse(body.max_failures) if body.max_failures else None,
                step_timeout=body.step_timeout,
            ),
            ticket=body.ticket,
            title=body.title,
        )
        return {"id": writing(request, deployments.create, deployment_request)}

    @router.get("/deployments/{deployment_id}")
    def get_deployment(request: Request, deployment_id: int) -> Any:
        return _json(reading(request, views.deployment_view, deployment_id))

    @router.post("/deployments/{deployment_id}/{action}")
    def act(
        request: Request, deployment_id: int, action: Action, body: ActionBody | None = None
    ) -> Any:
        extra: list[Any] = []
        if action == "promote" and body and body.comment:
            extra.append(body.comment)
        if action == "retry" and body and body.nodes:
            extra.append(body.nodes)
        result = writing(request, ACTIONS[action], deployment_id, *extra)
        return {"id": deployment_id, "action": action, "result": _json(result)}

    @router.post("/inventory")
    def import_inventory(request: Request, body: InventoryFile) -> Any:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / Path(body.name).name
            path.write_text(body.content)
            return _json(writing(request, inventory.import_file, path))

    @router.get("/audit")
    def audit(
        request: Request, actor: str | None = None, action: str | None = None, limit: int = 200
    ) -> Any:
        filters = access.AuditFilter(actor=actor, action=action, limit=limit)
        return _json(reading(request, access.audit_entries, filters))

    @router.post("/tokens", status_code=201)
    def create_token(request: Request, body: NewToken) -> Any:
        info, secret = writing(
            request, access.create_token, name=body.name, days=body.days, scopes=body.scopes
        )
        return {"token": secret, **_json(info)}

    @router.delete("/tokens/{token_id}")
    def revoke_token(request: Request, token_id: int) -> Any:
        return _json(writing(request, access.revoke_token, token_id))

    @router.post("/roles", status_code=201)
    def grant_role(request: Request, body: NewBinding) -> Any:
        return _json(writing(request, access.grant_role, body.subject, body.grant))

    @router.delete("/roles/{binding_id}")
    def revoke_role(request: Request, binding_id: int) -> Any:
        return _json(writing(request, access.revoke_role, binding_id))

    @router.get("/me")
    def me(request: Request) -> Any:
        actor: Actor = request_actor(request)
        return {
            "name": actor.name,
            "source": actor.source,
            "grants": [str(grant) for grant in actor.all_grants()],
            "scopes": sorted(actor.scopes) if actor.scopes is not None else None,
        }

    app.include_router(router)


def refusal(error: SquallError) -> JSONResponse:
    """A refusal says why: which permission was missing, which field was wrong."""
    status = next((code for kind, code in STATUS.items() if isinstance(error, kind)), 400)
    body: dict[str, Any] = {"detail": str(error)}
    if isinstance(error, PermissionDenied):
        body["permission"] = error.permission
    if isinstance(error, ValidationError) and error.fields:
        body["fields"] = error.fields
    return JSONResponse(body, status_code=status)


def _json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif isinstance(value, list):
        value = [_json(item) for item in value]
    return jsonable_encoder(value)
