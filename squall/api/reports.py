"""Report downloads in the REST API: a deployment's, a cluster's over a period, a node's;
as PDF, CSV or JSON, rendered by the core's report services (which check who may see)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from squall.api import schemas
from squall.api.auth import request_actor
from squall.core.auth import Actor
from squall.core.errors import ValidationError
from squall.core.models import utcnow
from squall.core.reports.model import Report
from squall.core.reports.period import parse_moment
from squall.core.reports.verify import Verification
from squall.core.runtime import Runtime
from squall.core.services import reports

Format = Literal["pdf", "csv", "json"]
MEDIA = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8", "json": "application/json"}
Moment = Annotated[
    str,
    Query(
        max_length=40,
        pattern=r"^(\d{1,5}\s*[mhdw]|\d{4}-\d{2}-\d{2}([T ][0-9:.]+)?(Z|[+-]\d{2}:?\d{2})?)$",
        description="`7d`, `24h`, `30m`, `2w` before now, or an ISO date or time (UTC "
        "unless a zone is given).",
    ),
]
Name = Annotated[str, PathParam(max_length=200, pattern=r"^[^\x00/]+$")]
CONTENT: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {media: {"schema": {"type": "string"}} for media in MEDIA.values()},
        "description": "The report as a file: PDF, CSV (its main table, or `table`) or JSON.",
    }
}
Build = Callable[[Session, Runtime, Actor], Report]
Preview = Annotated[
    bool,
    Query(
        description="To show, not to keep: the copy is not recorded, so `report verify` "
        "will not accept it. Default: a copy Squall keeps on record."
    ),
]
MAX_COPY = 50_000_000


def add_report_routes(router: APIRouter, runtime: Runtime) -> None:
    async def download(
        request: Request, name: str, build: Build, form: str, table: str | None, preview: bool
    ) -> Response:
        actor = request_actor(request)
        keep = not preview

        def render() -> bytes | str:
            with runtime.db.read() as session:
                report = build(session, runtime, actor)
            if form == "pdf":
                return reports.render_pdf(runtime, actor, report, keep=keep)
            if form == "csv":
                return reports.render_csv(runtime, actor, report, table, keep=keep)
            return reports.render_json(runtime, actor, report, keep=keep)

        content = await run_in_threadpool(render)
        return Response(
            content,
            media_type=MEDIA[form],
            headers={"Content-Disposition": f'attachment; filename="{name}.{form}"'},
        )

    @router.post(
        "/reports/verify",
        tags=["reports"],
        response_model=schemas.Verification,
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "A PDF report or a JSON export, as it was downloaded.",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        },
    )
    async def verify_report(request: Request) -> Any:
        """Check a copy of a report against Squall: `problems` is empty when the copy is
        what Squall computes from its database now."""
        actor = request_actor(request)
        content = await request.body()
        if len(content) > MAX_COPY:
            raise ValidationError(f"a report copy is at most {MAX_COPY // 1_000_000} MB")

        def check() -> Verification:
            with runtime.db.read() as session:
                return reports.verify_copy(session, runtime, actor, content)

        return schemas.Verification.model_validate(await run_in_threadpool(check))

    @router.get(
        "/reports/deployments/{deployment_id}",
        tags=["reports"],
        response_class=Response,
        responses=CONTENT,
    )
    async def deployment_report(
        request: Request,
        deployment_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
        format: Format = "pdf",
        table: Annotated[str | None, Query(max_length=100)] = None,
        preview: Preview = False,
    ) -> Response:
        """Who, what, when, parameters (secrets masked), approvals, results per stage,
        cluster and node, error signatures and the timeline."""
        return await download(
            request,
            f"squall-deployment-{deployment_id}",
            lambda s, rt, actor: reports.deployment_report(s, rt, actor, deployment_id),
            format,
            table,
            preview,
        )

    @router.get(
        "/reports/clusters/{cluster}", tags=["reports"], response_class=Response, responses=CONTENT
    )
    async def cluster_report(
        request: Request,
        cluster: Name,
        since: Moment = "7d",
        until: Moment | None = None,
        format: Format = "pdf",
        table: Annotated[str | None, Query(max_length=100)] = None,
        preview: Preview = False,
    ) -> Response:
        """Deployments on a cluster over a period: success rate, failures by node and step,
        durations."""

        def build(session: Session, rt: Runtime, actor: Actor) -> Report:
            now = utcnow()
            start = parse_moment(since, now)
            end = parse_moment(until, now) if until else now
            return reports.cluster_report(session, rt, actor, cluster, start, end)

        return await download(request, f"squall-cluster-{cluster}", build, format, table, preview)

    @router.get(
        "/reports/nodes/{node}", tags=["reports"], response_class=Response, responses=CONTENT
    )
    async def node_report(
        request: Request,
        node: Name,
        format: Format = "pdf",
        table: Annotated[str | None, Query(max_length=100)] = None,
        preview: Preview = False,
    ) -> Response:
        """A node's deployment history, the last version deployed, its failure rate."""
        return await download(
            request,
            f"squall-node-{node}",
            lambda s, rt, actor: reports.node_report(s, rt, actor, node),
            format,
            table,
            preview,
        )
