"""One deployment at `/deployments/{id}`: its actions, stages, nodes, failures and log."""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from nicegui import ui
from sqlalchemy.orm import Session

from squall.core.auth import Actor
from squall.core.errors import NotFound, SquallError
from squall.core.params import dotted
from squall.core.reporting import ReportSection
from squall.core.runtime import Runtime
from squall.core.services import actions
from squall.core.services.deliveries import deliveries
from squall.core.services.logs import nodes_of
from squall.core.services.views import (
    DeploymentDetail,
    StepRow,
    TaskCell,
    deployment_detail,
    report_sections,
)
from squall.core.status import DeploymentStatus
from squall.core.values.deliveries import DeliveriesView
from squall.core.values.views import DeploymentView, FailurePoint, Rerun, StageProgress
from squall.ui import components
from squall.ui.console import failure_place, held_text
from squall.ui.context import Console
from squall.ui.grids import STEP_GRID_EAGER, NodeGrid, StepGrid
from squall.ui.log_pane import log_view
from squall.ui.theme import frame

REFRESH_SECONDS = 1.0
TASKS_READ_A_SECOND = 5_000
"""A page refreshes at most every (node tasks / this) seconds, and at least every second."""
PAGE_TIMEOUT_SECONDS = 30.0

ACTIONS: dict[str, tuple[str, str, Callable[..., Any], str | None]] = {
    # name: (label, icon, core action, confirmation question or None)
    "promote": ("Promote", "check_circle", actions.promote, None),
    "pause": ("Pause", "pause", actions.pause, None),
    "resume": ("Resume", "play_arrow", actions.resume, None),
    "retry": ("Retry failed", "replay", actions.retry, None),
    "exclude": (
        "Exclude failed and continue",
        "block",
        actions.exclude_failed,
        "Set every failed node aside and go on?",
    ),
    "rollback": (
        "Roll back",
        "undo",
        actions.rollback,
        "Undo every node that completed, last stage first?",
    ),
    "cancel": (
        "Cancel",
        "stop",
        actions.cancel,
        "Cancel: nothing new starts and running steps are interrupted?",
    ),
}


def register(console: Console) -> None:
    # A 10,000-node deployment's page takes about a second to build; on a busy server many
    # more than NiceGUI's default 3 s, and a late page is better than an error.
    @ui.page("/deployments/{deployment_id}", response_timeout=PAGE_TIMEOUT_SECONDS)
    async def deployment_page(deployment_id: str) -> None:
        # Taken as text: a malformed id gets the same page as an unknown one, not JSON.
        number = int(deployment_id) if deployment_id.isdigit() else None
        if number is None:
            with frame(console, "Not found"):
                not_found(f"{deployment_id!r} is not a deployment number.")
            return
        with frame(console, f"Deployment {number}"):
            await DeploymentPage(console, number).build()


def not_found(reason: str) -> None:
    """A friendly 404: what was not found, and the way back."""
    ui.status_code(404)
    ui.html(
        f'<div data-not-found class="text-lg">No such deployment. {html.escape(reason)}</div>',
        sanitize=False,
    ).mark("page-error")
    ui.link("Back to the board", "/").mark("back-to-board")


class DeploymentPage:
    def __init__(self, console: Console, deployment_id: int) -> None:
        self.console = console
        self.id = deployment_id
        self.detail: DeploymentDetail | None = None
        self.sent: DeliveriesView | None = None
        self.sections: list[ReportSection] = []
        self.rendered: dict[str, str] = {}
        self.shown_tasks: tuple[TaskCell, ...] = ()
        self.shown_steps: tuple[StepRow, ...] = ()
        self.every_signature = False
        self.step_cells: int | None = STEP_GRID_EAGER
        """Read each node's status at each step up to this many node tasks (None: always)."""

    async def build(self) -> None:
        try:
            detail, self.sent, self.sections = await self.console.read(
                _page_data, self.id, self.step_cells
            )
        except NotFound:
            not_found(f"There is no deployment {self.id}: it may be gone, or the link is wrong.")
            return
        except SquallError as exc:
            ui.label(str(exc)).classes("text-red-600").mark("page-error")
            return
        self.detail = detail
        self.header = ui.html("", sanitize=False).classes("w-full").mark("deployment-header")
        params = dotted(detail.view.params)
        if params:
            # A long list (a group's phases) starts folded, so the stages stay in view.
            title = f"Parameters ({len(params)})"
            opened = len(params) <= PARAMS_OPEN
            with ui.expansion(title, value=opened).classes("w-full").props("dense"):
                ui.html(_params(params), sanitize=False).mark("params")
        with ui.row().classes("w-full items-center gap-2"):
            self.toolbar = ui.row().classes("gap-2").mark("actions")
            ui.space()
            ui.link("PDF report", f"/reports/deployment/{self.id}.pdf").classes(
                "px-3 py-1 rounded border border-slate-400 no-underline text-slate-800 sq-link"
            ).mark("pdf-report")
        with ui.row().classes("w-full gap-6 items-start"):
            with ui.column().classes("grow gap-2 min-w-0 basis-80"):
                ui.label("Stages").classes("text-lg font-medium")
                self.timeline = (
                    ui.html("", sanitize=False).classes("w-full sq-scroll").mark("timeline")
                )
            with ui.column().classes("gap-2"):
                ui.label("Approvals").classes("text-lg font-medium")
                self.approvals = ui.html("", sanitize=False).mark("approvals")
                ui.label("Deliveries").classes("text-lg font-medium")
                self.deliveries = ui.html("", sanitize=False).mark("deliveries")
        self.attempts = ui.html("", sanitize=False).classes("w-full").mark("attempts")
        ui.label("Nodes").classes("text-lg font-medium")
        self.grid = NodeGrid(self.open_node).mark("node-grid")
        with ui.row().classes("w-full gap-6 items-start"):
            with ui.column().classes("grow min-w-0 basis-80"):
                ui.label("Where failures cluster").classes("text-lg font-medium")
                self.steps = (
                    ui.html("", sanitize=False).classes("w-full sq-scroll").mark("step-matrix")
                )
                self.step_nodes = (
                    StepGrid(self._every_step_cell).classes("w-full").mark("step-grid")
                )
            with ui.column().classes("grow min-w-0 basis-80"):
                ui.label("Error signatures").classes("text-lg font-medium")
                self.signatures = ui.column().classes("w-full gap-1").mark("signatures")
        self.type_sections = ui.html("", sanitize=False).classes("w-full").mark("type-sections")
        ui.label("Log").classes("text-lg font-medium")
        live = not DeploymentStatus(detail.view.status).is_final
        with ui.column().classes("w-full").mark("log-area"):
            # While it runs, the log follows new lines; afterwards it opens at the start.
            nodes = nodes_of((task.node, task.cluster, task.status) for task in detail.tasks)
            self.log = await log_view(self.console, self.id, follow=live, nodes=nodes)
        self.render()
        self.console.live(self.refresh, every=REFRESH_SECONDS, deployment_id=self.id)

    async def refresh(self, *, fresh: bool = False) -> None:
        assert self.detail is not None
        # Reading 20,000 node tasks costs the server a few tenths of a second: a big
        # deployment's viewers share one read every few seconds rather than every second.
        every = max(REFRESH_SECONDS, len(self.detail.tasks) / TASKS_READ_A_SECOND)
        try:
            if fresh:
                found = await self.console.read(_page_data, self.id, self.step_cells)
            else:
                found = await self.console.read_shared(
                    _page_data, self.id, self.step_cells, ttl=every
                )
        except SquallError:
            return
        self.detail, self.sent, self.sections = found
        self.render()

    def render(self) -> None:
        detail = self.detail
        assert detail is not None
        view = detail.view
        self._set("header", self.header, self._header_html(detail))
        self._set("timeline", self.timeline, _timeline(view.stages) + _reruns(view.reruns))
        self._set("approvals", self.approvals, _approvals(detail))
        self._set("deliveries", self.deliveries, _deliveries(self.sent))
        self._set("attempts", self.attempts, _attempts(view))
        if self.shown_tasks != detail.tasks:
            self.grid.show(detail.tasks)
        self._set("sections", self.type_sections, _sections(self.sections))
        self._set("steps", self.steps, _step_matrix(detail))
        if (self.shown_tasks, self.shown_steps) != (detail.tasks, detail.steps):
            self.step_nodes.show(detail.tasks, detail.steps)
        self.shown_tasks, self.shown_steps = detail.tasks, detail.steps
        self._rebuild("actions", repr(detail.actions), self._toolbar)
        self._rebuild(
            "signatures", repr(detail.signatures) + repr(detail.actions), self._signatures
        )

    def _set(self, key: str, element: ui.html, content: str) -> None:
        """Send a block again only when it changed."""
        if self.rendered.get(key) != content:
            self.rendered[key] = content
            element.set_content(content)

    def _rebuild(self, key: str, fingerprint: str, build: Callable[[], None]) -> None:
        if self.rendered.get(key) == fingerprint:
            return
        self.rendered[key] = fingerprint
        build()

    def _header_html(self, detail: DeploymentDetail) -> str:
        view = detail.view
        escape = html.escape
        status = (
            f'<span style="background:{components.color(view.status)};color:white;'
            f'border-radius:4px;padding:2px 8px">{escape(view.status.replace("_", " "))}</span>'
        )
        waiting = (
            f'<div style="margin-top:6px;padding:6px 10px;background:#f3e5f5;border-radius:4px">'
            f"Waiting for {escape(view.waiting_for)}</div>"
            if view.waiting_for
            else ""
        )
        ticket = f" · ticket {escape(view.ticket)}" if view.ticket else ""
        return (
            f'<div style="font-size:18px;font-weight:600">{escape(view.title)} {status}</div>'
            f'<div style="color:#555">{escape(view.type)} · target {escape(view.target)} · '
            f"requested by {escape(view.requester)}{ticket} · attempt {view.attempt} · "
            f"{components.elapsed(view.started_at, view.finished_at)} · "
            f"{view.nodes_done}/{view.node_count} nodes done"
            + (f" · {view.nodes_never_ran} never ran" if view.nodes_never_ran else "")
            + "</div>"
            f"{waiting}"
        )

    def _toolbar(self) -> None:
        assert self.detail is not None
        self.toolbar.clear()
        with self.toolbar:
            for name in self.detail.actions:
                label, icon, action, question = ACTIONS[name]
                # After a cancel, what a retry runs did not fail: it was stopped or never started.
                if name == "retry" and self.detail.view.status == "cancelled":
                    label = "Retry unfinished"
                # Once it succeeded with exclusions, a retry gives the nodes set aside the change.
                if name == "retry" and self.detail.view.status == "succeeded_with_exclusions":
                    label = "Retry excluded"
                color = "negative" if name in ("cancel", "rollback") else "primary"
                ui.button(
                    label, icon=icon, color=color, on_click=self._handler(name, action, question)
                ).mark(f"action-{name}")

    def _handler(
        self, name: str, action: Callable[..., Any], question: str | None, *args: Any
    ) -> Callable[[], Awaitable[None]]:
        async def act() -> None:
            if question and not await confirm(question):
                return
            extra = args
            if name == "promote":
                comment = await ask_comment()
                if comment is None:
                    return
                extra = (comment or None,)
            try:
                result = await self.console.write(action, self.id, *extra)
            except SquallError as exc:
                ui.notify(str(exc), type="negative", multi_line=True)
                return
            ui.notify(_done(name, result), type="positive")
            await self.refresh(fresh=True)
            if name in ("retry", "resume", "promote", "exclude", "rollback"):
                self.log.show(follow=True)  # the deployment runs again: watch it
            self.log.reload()

        return act

    def _signatures(self) -> None:
        assert self.detail is not None
        self.signatures.clear()
        failures = {failure.node: failure for failure in self.detail.view.failures}
        shown = self.detail.signatures
        if not self.every_signature:
            shown = shown[:SIGNATURES_SHOWN]
        with self.signatures:
            if not self.detail.signatures:
                ui.label("No failure.").classes("text-gray-500")
            for signature in shown:
                with ui.row().classes("w-full items-center gap-2").mark("signature"):
                    ui.label(
                        f"{len(signature.nodes)} node(s) failed at {signature.step}: {signature.error}"
                    ).classes("text-red-700")
                    if "retry" in self.detail.actions:
                        ui.button(
                            "Retry these nodes",
                            icon="replay",
                            on_click=self._handler(
                                "retry", actions.retry, None, list(signature.nodes)
                            ),
                        ).props("flat dense").mark("retry-signature")
                names = ", ".join(signature.nodes[:12]) + (
                    " …" if len(signature.nodes) > 12 else ""
                )
                with ui.expansion(names).classes("w-full text-xs text-gray-600").props("dense"):
                    ui.html(_failed_nodes(signature.nodes, failures), sanitize=False).mark(
                        "failed-nodes"
                    )
            hidden = self.detail.signatures[len(shown) :]
            if hidden:
                ui.button(
                    f"Show {len(hidden)} more signature(s), "
                    f"{sum(len(signature.nodes) for signature in hidden)} node(s)",
                    on_click=self._show_every_signature,
                ).props("flat dense no-caps").mark("more-signatures")

    async def _every_step_cell(self) -> None:
        self.step_cells = None
        await self.refresh(fresh=True)

    def _show_every_signature(self) -> None:
        self.every_signature = True
        self._signatures()

    def open_node(self, node: str) -> None:
        """A node was clicked in the grid: show its log."""
        self.log.show_node(node)


PARAMS_OPEN = 8
"""Parameters shown unfolded up to this many; more start folded."""


def _params(params: list[tuple[str, str]]) -> str:
    """The parameters as a table, nested ones by their dotted names (`secrets.db_password`)
    as the CLI takes them; secrets are masked before they reach the page."""
    body = "".join(
        f"<tr><td>{html.escape(key)}</td><td>{html.escape(value)}</td></tr>"
        for key, value in params
    )
    return f'<table class="sq-params">{body}</table>'


FAILED_NODES_SHOWN = 50
"""Failed nodes of one signature shown with their output; the rest by name."""
FAILED_NAMES_SHOWN = 500
"""Failed nodes of one signature named after those; the PDF report has every one."""
SIGNATURES_SHOWN = 20
"""Error signatures shown at first, the biggest; a button shows the others."""


def _failed_nodes(nodes: tuple[str, ...], failures: dict[str, FailurePoint]) -> str:
    """Each failed node with where it stopped and its last lines of output."""
    items = []
    for node in nodes[:FAILED_NODES_SHOWN]:
        failure = failures.get(node)
        if failure is None:
            items.append(f"<li><b>{html.escape(node)}</b></li>")
            continue
        where = failure_place(failure.status, failure.step)
        code = f", exit code {failure.exit_code}" if failure.exit_code is not None else ""
        error = f": {failure.error}" if failure.error else ""
        lines = "\n".join(failure.last_lines[-5:])
        items.append(
            f"<li><b>{html.escape(node)}</b> [{html.escape(failure.cluster)}] "
            f"{html.escape(where + code + error)}"
            + (f"<pre>{html.escape(lines)}</pre>" if lines else "")
            + "</li>"
        )
    more = len(nodes) - FAILED_NODES_SHOWN
    named = nodes[FAILED_NODES_SHOWN : FAILED_NODES_SHOWN + FAILED_NAMES_SHOWN]
    unnamed = len(nodes) - FAILED_NODES_SHOWN - len(named)
    rest = f"<li>… and {more} more: {html.escape(', '.join(named))}" + (
        f" and {unnamed} others (every one is in the PDF report)" if unnamed > 0 else ""
    )
    return f'<ul class="sq-failures">{"".join(items)}{rest + "</li>" if more > 0 else ""}</ul>'


def _done(name: str, result: Any) -> str:
    if name == "promote":
        return f"Approved the gate before {result}"
    if name == "retry":
        return f"Attempt {result} started"
    if name == "exclude":
        return f"Set aside: {', '.join(result)}"
    if name == "rollback":
        return f"Rolling back {result} node(s)"
    return f"{name.capitalize()}d" if name.endswith("e") else f"{name.capitalize()}ed"


async def confirm(question: str) -> bool:
    with ui.dialog() as dialog, ui.card():
        ui.label(question)
        with ui.row():
            ui.button("Yes", on_click=lambda: dialog.submit(True)).mark("confirm-yes")
            ui.button("No", on_click=lambda: dialog.submit(False)).props("flat").mark("confirm-no")
    answer = await dialog
    return bool(answer)


async def ask_comment() -> str | None:
    """Promote's question: an optional comment for the audit log and the report; None
    when the person changes their mind."""
    with ui.dialog() as dialog, ui.card().classes("w-96"):
        ui.label("Approve the gate and go on?")
        comment = (
            ui.textarea("Comment (optional)", placeholder="why it may go on")
            .classes("w-full")
            .mark("promote-comment")
        )
        with ui.row():
            ui.button("Promote", on_click=lambda: dialog.submit(comment.value or "")).mark(
                "promote-confirm"
            )
            ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat")
    answer = await dialog
    return None if answer is None else str(answer)


def _timeline(stages: tuple[StageProgress, ...]) -> str:
    rows = []
    for stage in stages:
        total = max(stage.total, 1)
        failed = stage.counts.get("failed", 0) + stage.counts.get("interrupted", 0)
        # Green as on the board: nodes that succeeded, and health checks a person accepted
        # after they could not decide; nodes set aside or cancelled stay grey.
        good = stage.counts.get("succeeded", 0) + stage.counts.get("inconclusive", 0)
        running = stage.counts.get("running", 0)
        extra = []
        if stage.gate:
            extra.append(f"gate {stage.approvals}/{stage.approvals_required}")
        if stage.bake_seconds:
            extra.append(f"bake {stage.bake_seconds:g}s")
            if stage.status == "baking" and stage.bake_until:  # a time to come, not one past
                extra.append(f"baking until {stage.bake_until.astimezone():%H:%M:%S}")
        if stage.kind != "deploy":
            extra.append(stage.kind)
        clusters = ", ".join(
            f"{cluster} {sum(counts.values()) - counts.get('queued', 0)}"
            for cluster, counts in stage.clusters.items()
        )
        rows.append(
            f"<tr><td style='padding:3px 8px;white-space:nowrap'><b>{html.escape(stage.name)}</b></td>"
            f"<td style='padding:3px 8px'><span style='color:{components.color(stage.outcome)}'>"
            f"{html.escape(stage.outcome.replace('_', ' '))}</span></td>"
            f"<td style='padding:3px 8px;width:40%'><div style='display:flex;height:12px;background:#eee'>"
            f"<div style='width:{100 * good / total:.1f}%;background:{components.color('succeeded')}'></div>"
            f"<div style='width:{100 * failed / total:.1f}%;background:{components.color('failed')}'></div>"
            f"<div style='width:{100 * running / total:.1f}%;background:{components.color('running')}'></div>"
            f"</div></td><td style='padding:3px 8px;white-space:nowrap'>{stage.done}/{stage.total}"
            f" · {failed} failed · {running} running · {stage.remaining} left"
            + _otherwise(stage.counts)
            + (f" · {stage.never_ran} never ran" if stage.never_ran else "")
            + "</td>"
            f"<td style='padding:3px 8px'>{components.elapsed(stage.started_at, stage.finished_at)}</td>"
            f"<td style='padding:3px 8px;color:#666'>{html.escape(' · '.join(extra))}</td>"
            f"<td style='padding:3px 8px;color:#666;font-size:12px'>{html.escape(clusters)}</td></tr>"
        )
    return f"<table style='width:100%;font-size:13px'>{''.join(rows)}</table>"


ENDED_OTHERWISE = ("excluded", "cancelled", "inconclusive")
"""Nodes that are done without having succeeded or failed (set aside, cancelled, or a
health check that could not decide)."""


def _otherwise(counts: Mapping[str, int]) -> str:
    """What the done nodes that neither succeeded nor failed became, so that a stage
    shown as succeeded says which of its nodes were set aside."""
    return "".join(f" · {counts[name]} {name}" for name in ENDED_OTHERWISE if counts.get(name))


def _reruns(reruns: tuple[Rerun, ...]) -> str:
    """Steps their worker stopped in the middle of, then ran again from the start."""
    return "".join(
        f"<div data-rerun style='margin-top:4px;padding:4px 8px;background:#fff7ed;"
        f"color:#9a3412;font-size:13px'>⟳ {html.escape(rerun.node)}: step "
        f"{html.escape(rerun.step)} (attempt {rerun.attempt}) was running when its worker "
        f"stopped at {rerun.at.astimezone():%H:%M:%S} and ran again: this step may have run "
        "twice</div>"
        for rerun in reruns
    )


def _approvals(detail: DeploymentDetail) -> str:
    if not detail.view.approvals:
        return "<span style='color:#888'>none</span>"
    return "<br>".join(
        f"{html.escape(approval.stage)}: {html.escape(approval.actor)} at "
        f"{approval.at.astimezone().strftime('%Y-%m-%d %H:%M:%S')}"
        + (f" — {html.escape(approval.comment)}" if approval.comment else "")
        for approval in detail.view.approvals
    )


def _page_data(
    session: Session, rt: Runtime, actor: Actor, deployment_id: int, step_cells: int | None
) -> tuple[DeploymentDetail, DeliveriesView, list[ReportSection]]:
    """What the page shows, in one read. What the type adds (facts, diffs) is read once
    the deployment is over: it reads every step's results."""
    detail = deployment_detail(session, rt, actor, deployment_id, step_cells=step_cells)
    final = DeploymentStatus(detail.view.status).is_final
    sections = report_sections(session, rt, actor, deployment_id) if final else []
    return detail, deliveries(session, rt, actor, deployment_id), sections


def _attempts(view: DeploymentView) -> str:
    """Every attempt and how its runs ended; earlier failures stay readable."""
    if len(view.attempts) < 2:
        return ""
    rows = []
    for attempt in view.attempts:
        when = (
            attempt.started_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
            if attempt.started_at
            else ""
        )
        ended = ", ".join(
            f"{count} {status.replace('_', ' ')}"
            for status, count in sorted(attempt.counts.items())
        )
        failures = "".join(
            f"<li><b>{html.escape(run.node)}</b> [{html.escape(run.stage)}] {html.escape(run.failure_point)}"
            f"{': ' + html.escape(run.error) if run.error else ''}"
            + (
                f"<pre class='sq-muted' style='margin:2px 0 4px 0'>{html.escape(chr(10).join(run.last_lines[-5:]))}</pre>"
                if run.last_lines
                else ""
            )
            + "</li>"
            for run in attempt.failures[:FAILED_NODES_SHOWN]
        )
        if len(attempt.failures) > FAILED_NODES_SHOWN:
            failures += (
                f"<li>… and {len(attempt.failures) - FAILED_NODES_SHOWN} more "
                "(every one is in the PDF report)</li>"
            )
        detail = (
            "<details style='margin:0 0 4px 16px'><summary style='cursor:pointer;color:#b91c1c'>"
            f"▸ {len(attempt.failures)} failed run(s)</summary>"
            f"<ul style='margin-left:16px'>{failures}</ul></details>"
            if failures
            else ""
        )
        rows.append(
            f"<div data-attempt='{attempt.number}'><b>Attempt {attempt.number}</b> by {html.escape(attempt.started_by)}"
            f" at {when} · {len(attempt.nodes)} node(s) · {html.escape(ended or 'nothing ran yet')}{detail}</div>"
        )
    heading = "<div style='font-size:1.125rem;font-weight:500;margin:8px 0 4px'>Attempts</div>"
    return heading + "".join(rows)


def _sections(sections: list[ReportSection]) -> str:
    """What the deployment's type adds: facts the nodes reported, files written…"""
    blocks = []
    for section in sections:
        if section.rows_for_exports:
            section = dataclasses.replace(section, rows=())
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in section.headers)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
            for row in section.rows[:SECTION_ROWS]
        )
        more = len(section.rows) - SECTION_ROWS
        blocks.append(
            f"<div style='font-weight:600;margin-top:8px'>{html.escape(section.title)}</div>"
            + (f"<pre>{html.escape(section.text)}</pre>" if section.text else "")
            + (f"<table class='sq-table'><tr>{head}</tr>{body}</table>" if section.rows else "")
            + (
                f"<div class='sq-muted'>… {more} more row(s) in the PDF report</div>"
                if more > 0
                else ""
            )
        )
    return "".join(blocks)


SECTION_ROWS = 200


DELIVERY_COLOURS = {"delivered": "#15803d", "pending": "#b45309", "failed": "#b91c1c"}


def _deliveries(sent: DeliveriesView | None) -> str:
    """Per integration: how many deliveries arrived, wait or failed; every error shown."""
    if sent is None or not sent.deliveries:
        return "<span style='color:#888'>none</span>"
    lines = []
    holds = sent.held()
    for destination in sorted({delivery.destination for delivery in sent.deliveries}):
        mine = [delivery for delivery in sent.deliveries if delivery.destination == destination]
        counts = ", ".join(
            f"<span style='color:{colour}'>{sum(1 for d in mine if d.status == status)} {status}</span>"
            for status, colour in DELIVERY_COLOURS.items()
            if any(d.status == status for d in mine)
        )
        ref = ", ".join(
            f"{key} {value}"
            for key, value in sent.links.get(destination, {}).items()
            if key in ("key", "channel") and value
        )
        lines.append(
            f"<b>{html.escape(destination)}</b>: {counts}"
            + (f" <span style='color:#777'>({html.escape(ref)})</span>" if ref else "")
        )
        held = holds.get(destination)
        if held is not None:
            lines.append(
                f"<div data-delivery='held' style='color:{DELIVERY_COLOURS['failed']};font-size:12px'>"
                f"{html.escape(held_text(destination, held, sent.deployment_id))}</div>"
            )
        for delivery in mine:
            if delivery.error and delivery.status != "delivered":
                lines.append(
                    f"<div data-delivery='{delivery.status}' style='color:{DELIVERY_COLOURS[delivery.status]};font-size:12px'>"
                    f"{html.escape(delivery.action)} ({html.escape(delivery.event)}), {delivery.status} after {delivery.attempts} attempt(s): {html.escape(delivery.error)}</div>"
                )
    return "<br>".join(lines)


def _step_matrix(detail: DeploymentDetail) -> str:
    clusters = sorted({task.cluster for task in detail.tasks})
    head = "".join(f"<th style='padding:3px 6px'>{html.escape(c)}</th>" for c in clusters)
    rows = []
    for step in detail.steps:
        ok = step.counts.get("succeeded", 0)
        failed = step.counts.get("failed", 0) + step.counts.get("interrupted", 0)
        cells = "".join(
            f"<td style='padding:3px 6px;text-align:center;"
            f"background:{'#ffcdd2' if step.failed_by_cluster.get(c) else 'transparent'}'>"
            f"{step.failed_by_cluster.get(c, 0) or ''}</td>"
            for c in clusters
        )
        rows.append(
            f"<tr><td style='padding:3px 6px'>{html.escape(step.name)}</td>"
            f"<td style='padding:3px 6px;text-align:right'>{ok}</td>"
            f"<td style='padding:3px 6px;text-align:right;color:{components.color('failed') if failed else 'inherit'}'>{failed}</td>{cells}</tr>"
        )
    return (
        "<table style='font-size:13px;border-collapse:collapse'><thead><tr>"
        f"<th style='text-align:left;padding:3px 6px'>step</th><th style='padding:3px 6px'>ok</th>"
        f"<th style='padding:3px 6px'>failed</th>{head}</tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )
