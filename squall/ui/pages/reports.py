"""Reports at `/reports`: choose a deployment, a cluster and a period, or a node; see its
figures and main table; download it as PDF, CSV or JSON (routes under `/reports/`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import Response
from nicegui import app, ui
from sqlalchemy.orm import Session

from squall.api.v1 import refusal
from squall.core.auth import Actor
from squall.core.errors import SquallError
from squall.core.models import utcnow
from squall.core.reports.fingerprint import fingerprint, kind_of
from squall.core.reports.model import Report
from squall.core.reports.period import parse_moment
from squall.core.reports.tables import MAIN_TABLE, tables
from squall.core.runtime import Runtime
from squall.core.services import reports
from squall.ui.console import report_headline as headline
from squall.ui.context import Console
from squall.ui.theme import frame

FORMATS: dict[str, tuple[str, Callable[[Runtime, Actor, Report], bytes | str]]] = {
    "pdf": ("application/pdf", reports.render_pdf),
    "csv": ("text/csv; charset=utf-8", reports.render_csv),
    "json": ("application/json", reports.render_json),
}
PREVIEW_ROWS = 200
ReportCall = Callable[[Session, Runtime, Actor], Report]


def register(console: Console) -> None:
    @ui.page("/reports")
    async def reports_page(
        deployment: int | None = None,
        cluster: str = "",
        since: str = "7d",
        until: str = "",
        node: str = "",
    ) -> None:
        """The query chooses what to show first: `?deployment=7`, `?cluster=web&since=30d`,
        `?node=web-1`."""
        with frame(console, "Reports"):
            page = ReportsPage(console)
            await page.build()
            await page.choose(deployment, cluster, since, until, node)

    for extension in FORMATS:
        _routes(console, extension)


def deployment_link(deployment_id: int, extension: str = "pdf") -> str:
    return f"/reports/deployment/{deployment_id}.{extension}"


def cluster_link(cluster: str, since: str, until: str, extension: str = "pdf") -> str:
    period = urlencode({"since": since} | ({"until": until} if until else {}))
    return f"/reports/cluster/{quote(cluster, safe='')}.{extension}?{period}"


def node_link(node: str, extension: str = "pdf") -> str:
    return f"/reports/node/{quote(node, safe='')}.{extension}"


def cluster_call(cluster: str, since: str, until: str) -> ReportCall:
    def call(session: Session, runtime: Runtime, actor: Actor) -> Report:
        now = utcnow()
        start = parse_moment(since, now)
        end = parse_moment(until, now) if until else now
        return reports.cluster_report(session, runtime, actor, cluster, start, end)

    return call


def _routes(console: Console, extension: str) -> None:
    media_type, render = FORMATS[extension]

    def download(request: Request, name: str, call: ReportCall) -> Response:
        try:
            actor = console.actor(request)
            with console.runtime.db.read() as session:
                report = call(session, console.runtime, actor)
            content = render(console.runtime, actor, report)
        except SquallError as error:
            return refusal(error)
        return Response(
            content,
            media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="{name}.{extension}"'},
        )

    @app.get(f"/reports/deployment/{{deployment_id}}.{extension}", name=f"deployment_{extension}")
    def deployment_file(request: Request, deployment_id: int) -> Response:
        return download(
            request,
            f"squall-deployment-{deployment_id}",
            lambda s, rt, actor: reports.deployment_report(s, rt, actor, deployment_id),
        )

    @app.get(f"/reports/cluster/{{cluster}}.{extension}", name=f"cluster_{extension}")
    def cluster_file(
        request: Request, cluster: str, since: str = "7d", until: str = ""
    ) -> Response:
        return download(request, f"squall-cluster-{cluster}", cluster_call(cluster, since, until))

    @app.get(f"/reports/node/{{node}}.{extension}", name=f"node_{extension}")
    def node_file(request: Request, node: str) -> Response:
        return download(
            request,
            f"squall-node-{node}",
            lambda s, rt, actor: reports.node_report(s, rt, actor, node),
        )


class ReportsPage:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.links: dict[str, ui.link] = {}

    async def build(self) -> None:
        try:
            offered = await self.console.read(reports.choices)
        except SquallError as error:
            ui.label(str(error)).classes("text-red-600").mark("page-error")
            return
        with ui.row().classes("w-full gap-4 items-start"):
            with ui.card().classes("w-96"):
                ui.label("A deployment").classes("text-lg font-medium")
                self.deployment = (
                    ui.select(dict(offered.deployments), label="deployment", with_input=True)
                    .classes("w-full")
                    .mark("report-deployment")
                )
                self.deployment.on_value_change(self.show_deployment)
            with ui.card().classes("w-96"):
                ui.label("A cluster over a period").classes("text-lg font-medium")
                self.cluster = (
                    ui.select(list(offered.clusters), label="cluster")
                    .classes("w-full")
                    .mark("report-cluster")
                )
                with ui.row().classes("w-full no-wrap"):
                    self.since = ui.input("since", value="7d").mark("report-since")
                    self.until = ui.input("until (default: now)").mark("report-until")
                ui.label("7d, 24h, 2w, or a date like 2026-01-31").classes("text-xs text-gray-500")
                ui.button("Show", on_click=self.show_cluster).props("outline").mark(
                    "report-cluster-show"
                )
            with ui.card().classes("w-96"):
                ui.label("A node").classes("text-lg font-medium")
                self.node = (
                    ui.select(list(offered.nodes), label="node", with_input=True)
                    .classes("w-full")
                    .mark("report-node")
                )
                self.node.on_value_change(self.show_node)
        # Shown once a report is chosen.
        self.downloads = ui.row().classes("items-center gap-4 hidden")
        with self.downloads:
            ui.label("Download:").classes("text-gray-600")
            for extension in FORMATS:
                self.links[extension] = ui.link(extension.upper(), "#").mark(
                    f"download-{extension}"
                )
        self.preview = ui.column().classes("w-full gap-2").mark("report-preview")

    async def choose(
        self, deployment: int | None, cluster: str, since: str, until: str, node: str
    ) -> None:
        if not hasattr(self, "preview"):
            return  # the page was refused
        # A value the select does not offer (not among the recent ones, or refused) is
        # still asked for, so the page says why it cannot be shown.
        if deployment is not None:
            if deployment in self.deployment.options:
                self.deployment.value = deployment  # shown by the change handler
            else:
                await self.show(
                    lambda s, rt, actor: reports.deployment_report(s, rt, actor, deployment),
                    lambda extension: deployment_link(deployment, extension),
                )
        elif cluster:
            if cluster in self.cluster.options:
                self.cluster.value = cluster
            self.since.value, self.until.value = since, until
            await self.show(
                cluster_call(cluster, since, until),
                lambda extension: cluster_link(cluster, since, until, extension),
            )
        elif node:
            if node in self.node.options:
                self.node.value = node
            else:
                await self.show(
                    lambda s, rt, actor: reports.node_report(s, rt, actor, node),
                    lambda extension: node_link(node, extension),
                )

    async def show_deployment(self) -> None:
        chosen = self.deployment.value
        if chosen is None:
            return
        await self.show(
            lambda s, rt, actor: reports.deployment_report(s, rt, actor, int(chosen)),
            lambda extension: deployment_link(int(chosen), extension),
        )

    async def show_cluster(self) -> None:
        if not self.cluster.value:
            ui.notify("Choose a cluster first", type="warning")
            return
        cluster, since, until = str(self.cluster.value), self.since.value, self.until.value
        await self.show(
            cluster_call(cluster, since, until),
            lambda extension: cluster_link(cluster, since, until, extension),
        )

    async def show_node(self) -> None:
        chosen = self.node.value
        if not chosen:
            return
        await self.show(
            lambda s, rt, actor: reports.node_report(s, rt, actor, str(chosen)),
            lambda extension: node_link(str(chosen), extension),
        )

    async def show(self, call: ReportCall, link: Callable[[str], str]) -> None:
        try:
            report = await self.console.read(_computed, call)
        except SquallError as error:
            ui.notify(str(error), type="negative", multi_line=True)
            return
        for extension, element in self.links.items():
            element.props(f'href="{link(extension)}"')
        self.downloads.classes(remove="hidden")
        self.preview.clear()
        main = tables(report)[MAIN_TABLE[kind_of(report)]]
        with self.preview:
            ui.label(headline(report)).classes("text-lg").mark("report-headline")
            ui.label(f"SHA-256 of the report data: {fingerprint(report)}").classes(
                "text-xs text-gray-500 font-mono"
            )
            ui.table(
                columns=[
                    {"name": name, "label": name, "field": name, "align": "left"}
                    for name in main.headers
                ],
                rows=[
                    dict(zip(main.headers, _shown(row), strict=True))
                    for row in main.rows[:PREVIEW_ROWS]
                ],
                title=main.title,
                pagination=25,
            ).props("dense flat wrap-cells").classes("w-full").mark("report-table")
            if len(main.rows) > PREVIEW_ROWS:
                ui.label(f"The first {PREVIEW_ROWS} of {len(main.rows)} rows; download for all.")


def _computed(session: Session, runtime: Runtime, actor: Actor, call: ReportCall) -> Report:
    return call(session, runtime, actor)


def _shown(row: tuple[Any, ...]) -> list[str]:
    return ["" if cell is None else str(cell) for cell in row]
