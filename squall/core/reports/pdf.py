"""A report as a PDF: a summary page with key figures and charts, then paginated tables
with repeated headers; on every page who generated it, when, and the fingerprint of its
data (see `squall.core.reports.fingerprint`), also kept in the document's keywords."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    KeepTogether,
    Paragraph,
    Preformatted,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from squall.core.params import dotted
from squall.core.reports import charts
from squall.core.reports.fingerprint import FORMAT, fingerprint, generation_of, kind_of, request_of
from squall.core.reports.fonts import CJK, fonts
from squall.core.reports.model import (
    ClusterReport,
    DeploymentReport,
    Durations,
    NodeLine,
    NodeReport,
    Report,
)
from squall.core.reports.stats import natural
from squall.core.reports.tables import moment, steps_text
from squall.core.status import DeploymentStatus

PAGE = landscape(A4)
MARGIN = 12 * mm
WIDTH = PAGE[0] - 2 * MARGIN
FOOTER_HASH = "SHA-256 of the report data: "
ROW_HEIGHT = 11.5
MAX_FAILURE_DETAILS = 100
"""Failed nodes shown with their last lines; every one is in the node table and the CSV."""

FONTS = fonts()
_styles = getSampleStyleSheet()
H1 = ParagraphStyle(
    "h1", parent=_styles["Heading1"], fontName=FONTS.bold, fontSize=16, spaceAfter=4
)
H2 = ParagraphStyle(
    "h2", parent=_styles["Heading2"], fontName=FONTS.bold, fontSize=12, spaceBefore=8, spaceAfter=4
)
BODY = ParagraphStyle(
    "body", parent=_styles["BodyText"], fontName=FONTS.sans, fontSize=8.5, leading=11
)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=7.5, leading=9.5)
CODE = ParagraphStyle("code", parent=BODY, fontName=FONTS.mono, fontSize=7, leading=8.5)
CODE_CJK = ParagraphStyle("code_cjk", parent=CODE, fontName=FONTS.cjk or FONTS.mono)
HEADER_BACKGROUND = colors.HexColor("#263238")
STATUS_INK = {
    "succeeded": colors.HexColor("#2e7d32"),
    "failed": colors.HexColor("#c62828"),
    "interrupted": colors.HexColor("#c62828"),
    "inconclusive": colors.HexColor("#f9a825"),
    "cancelled": colors.HexColor("#616161"),
    "skipped": colors.HexColor("#757575"),
    "not_started": colors.HexColor("#757575"),
    "succeeded_with_exclusions": colors.HexColor("#ef6c00"),
    "rolled_back": colors.HexColor("#6d4c41"),
}


def render(report: Report) -> bytes:
    sha = fingerprint(report)
    generation = generation_of(report)
    claims = {
        "format": FORMAT,
        "request": request_of(report),
        "sha256": sha,
        "generated": generation,
    }
    title, story = _story(report)
    footer = (
        f"Squall · {title} · generated {moment(report.generation.at)} UTC by "
        f"{report.generation.by} · Squall {report.generation.squall_version}",
        f"{FOOTER_HASH}{sha} · check a copy: squall report verify FILE",
    )
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 8 * mm,
        title=title,
        author="Squall",
        subject=f"Squall {kind_of(report)} report; data SHA-256 {sha}",
        keywords=[json.dumps(claims, sort_keys=True)],
        creator=f"Squall {report.generation.squall_version}",
    )

    def canvas_with_footer(*args: Any, **kwargs: Any) -> Canvas:
        return _FooterCanvas(footer, *args, **kwargs)

    document.build(story, canvasmaker=canvas_with_footer)
    return buffer.getvalue()


class _FooterCanvas(Canvas):
    """Draws the footer once the page count is known ("page 3 of 12")."""

    def __init__(self, footer: tuple[str, str], *args: Any, **kwargs: Any) -> None:
        # Not the default Helvetica, which would be named (not embedded) on every page.
        super().__init__(*args, **{**kwargs, "initialFontName": FONTS.sans})
        self._footer = footer
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        # What Canvas.showPage does after writing a page; the pages are written in save().
        self._startPage()  # type: ignore[attr-defined]

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self._draw_footer(total)
            super().showPage()
        super().save()

    def _draw_footer(self, total: int) -> None:
        first, second = self._footer
        self.saveState()
        self.setStrokeColor(colors.HexColor("#bbbbbb"))
        self.line(MARGIN, MARGIN + 6 * mm, PAGE[0] - MARGIN, MARGIN + 6 * mm)
        self.setFont(FONTS.sans, 7)
        self.setFillColor(colors.HexColor("#444444"))
        self.drawString(MARGIN, MARGIN + 3 * mm, first)
        self.drawRightString(
            PAGE[0] - MARGIN, MARGIN + 3 * mm, f"page {self.getPageNumber()} of {total}"
        )
        self.setFont(FONTS.mono, 7)
        self.drawString(MARGIN, MARGIN, second)
        self.restoreState()


# --- stories -----------------------------------------------------------------------------


def _story(report: Report) -> tuple[str, list[Flowable]]:
    if isinstance(report, DeploymentReport):
        return f"deployment report #{report.deployment_id}", _deployment(report)
    if isinstance(report, ClusterReport):
        return f"cluster report {report.cluster}", _cluster(report)
    return f"node report {report.node}", _node(report)


def _deployment(report: DeploymentReport) -> list[Flowable]:
    counts = report.counts
    deployed = sum(counts.values())
    failed = sum(counts.get(s, 0) for s in ("failed", "interrupted", "inconclusive"))
    never_ran = counts.get("skipped", 0) + counts.get("not_started", 0)
    excluded = counts.get("excluded", 0)
    story: list[Flowable] = [
        _para(f"Deployment #{report.deployment_id}: {escape(report.title)}", H1),
        _status_line(
            report.status,
            f"{report.type} · target {report.target} · requested by {report.requester}"
            + (f" · ticket {report.ticket}" if report.ticket else ""),
        ),
        Spacer(1, 6),
        *_outcome_lead(report),
        _approver_summary(report),
        Spacer(1, 6),
        _figures(
            [
                ("Status", report.status.replace("_", " ")),
                ("Nodes", str(deployed)),
                *(
                    [
                        ("Restored", f"{report.rollback.restored} of {report.rollback.nodes}"),
                        ("Deployed, undone", str(counts.get("succeeded", 0))),
                    ]
                    if report.rollback
                    else [("Succeeded", str(counts.get("succeeded", 0)))]
                ),
                ("Failed", str(failed)),
                ("Excluded", str(excluded)),
                ("Never ran", str(never_ran)),
                (
                    "Other",
                    str(deployed - counts.get("succeeded", 0) - failed - excluded - never_ran),
                ),
                ("Created", _when(report.created_at)),
                ("Started", _when(report.started_at)),
                ("Finished", _when(report.finished_at)),
                ("Duration", _span(report.started_at, report.finished_at)),
                ("Attempts", str(report.attempt)),
                ("Ticket", report.ticket or "none"),
                ("Node time median", _seconds(report.durations.median)),
                ("Node time p95", _seconds(report.durations.p95)),
                ("Node time max", _seconds(report.durations.max)),
                ("Approvals", str(len(report.approvals))),
                ("Stages", str(len(report.stages))),
                ("Clusters", str(len(report.clusters))),
                ("Rolled back", "yes" if report.rollback else "no"),
            ],
            columns=3,
        ),
        Spacer(1, 8),
        _side_by_side(
            charts.status_per_cluster(
                report.clusters,
                WIDTH / 2 - 10,
                Counter(
                    n.cluster
                    for n in report.nodes
                    if n.stage_kind == "rollback" and n.status == "succeeded"
                ),
            ),
            charts.duration_histogram(
                [
                    n.duration
                    for n in report.nodes
                    if n.duration is not None and n.stage_kind == "deploy"
                ],
                WIDTH / 2 - 10,
            ),
        ),
        Spacer(1, 6),
        charts.stage_timeline(report.stages[:30], report.started_at, WIDTH),
        *_heading("Parameters"),
        _table(("parameter", "value"), _flat(report.params) or [("(none)", "")], (0.25, 0.75)),
        *_heading("Options"),
        _table(("option", "value"), _flat(report.options) or [("(none)", "")], (0.25, 0.75)),
        *_heading("Approvals"),
        _table(
            ("stage", "approver", "at", "comment"),
            [(a.stage, a.approver, _when(a.at), a.comment or "") for a in report.approvals]
            or [("(none)", "", "", "")],
            (0.2, 0.2, 0.2, 0.4),
        ),
        *_heading("Plan and results per stage"),
        _table(
            (
                "#",
                "stage",
                "kind",
                "status",
                "nodes",
                "ok",
                "failed",
                "skipped",
                "other",
                "parallel",
                "max fail",
                "gate",
                "started",
                "took",
            ),
            [
                (
                    str(s.position + 1),
                    s.name,
                    s.kind,
                    s.status,
                    str(s.nodes),
                    str(s.succeeded),
                    str(s.failed),
                    str(s.skipped),
                    str(s.other),
                    str(s.parallelism),
                    s.max_failures or "",
                    f"{s.approvals_required} approval(s)" if s.gate else "",
                    _when(s.started_at),
                    _span(s.started_at, s.finished_at),
                )
                for s in report.stages
            ],
            (0.03, 0.14, 0.06, 0.08, 0.05, 0.05, 0.05, 0.05, 0.05, 0.06, 0.06, 0.09, 0.15, 0.08),
            status_column=3,
            wrap=(1,),
        ),
        *_heading("Per cluster"),
        _table(
            ("cluster", "nodes", "succeeded", "failed", "skipped", "other", "median", "p95", "max"),
            [
                (
                    c.cluster,
                    str(c.nodes),
                    str(c.succeeded),
                    str(c.failed),
                    str(c.skipped),
                    str(c.other),
                    *_median_p95_max(c.durations),
                )
                for c in report.clusters
            ],
            (0.28, 0.09, 0.09, 0.09, 0.09, 0.09, 0.09, 0.09, 0.09),
        ),
        *_heading("Error signatures"),
        _table(
            ("nodes", "step", "error", "which"),
            [
                (str(len(s.nodes)), s.step, _clip(s.error, 90), _clip(" ".join(s.nodes), 70))
                for s in report.signatures
            ]
            or [("0", "", "no failure", "")],
            (0.06, 0.12, 0.47, 0.35),
        ),
    ]
    story += _attempts(report)
    story += _failure_details(report)
    story += _reruns(report)
    for section in report.sections:
        story += _heading(section.title, 60 * mm)
        if section.text:
            story.append(_code(section.text))
        if section.rows and not section.rows_for_exports:
            story.append(
                _table(
                    section.headers,
                    [tuple(_clip(c, 120) for c in r) for r in section.rows],
                    _shares(section.headers, section.rows),
                )
            )
    story += [
        *_heading("Nodes", 60 * mm),
        _table(
            (
                "node",
                "cluster",
                "stage",
                "status",
                "try",
                "steps (exit codes)",
                "failed at",
                "exit",
                "error",
                "took",
            ),
            [
                (
                    n.node,
                    _clip(n.cluster, 24),
                    n.stage,
                    n.status,
                    str(n.attempt),
                    _clip(steps_text(n.steps), 60),
                    n.failed_step or "",
                    "" if n.exit_code is None else str(n.exit_code),
                    _clip(n.error or "", 60),
                    _seconds(n.duration),
                )
                for n in report.nodes
            ],
            (0.11, 0.1, 0.08, 0.07, 0.03, 0.22, 0.08, 0.04, 0.21, 0.06),
            status_column=3,
            wrap=(0, 2),
        ),
        *_heading("Timeline"),
        _table(
            ("at", "event", "by", "detail"),
            [(_when(e.at), e.kind, e.actor or "", _clip(e.detail, 110)) for e in report.timeline],
            (0.15, 0.15, 0.1, 0.6),
        ),
    ]
    return story


def _approver_summary(report: DeploymentReport) -> Table:
    """What an approver signs off on, in words: outcome, where, who asked and who
    approved, what changed, where it failed, how long it took."""
    counts = report.counts
    outcome = ", ".join(
        f"{count} {status.replace('_', ' ')}" for status, count in sorted(counts.items())
    )
    approvals = "; ".join(f"{a.approver} ({a.stage}, {_when(a.at)})" for a in report.approvals) or (
        "none given" if any(s.gate for s in report.stages) else "none needed (no gate)"
    )
    failures = "; ".join(
        f"{len(s.nodes)} node(s) at {s.step}: {_clip(s.error, 80)}" for s in report.signatures[:3]
    )
    if len(report.signatures) > 3:
        failures += f"; {len(report.signatures) - 3} more (see Error signatures)"
    rows = [
        ("Outcome", f"{report.status.replace('_', ' ')} ({outcome or 'no node'})"),
        ("Environment", ", ".join(report.environments) or "—"),
        (
            "Requested by",
            f"{report.requester} at {_when(report.created_at)}"
            + (f", ticket {report.ticket}" if report.ticket else ""),
        ),
        ("Approved by", approvals),
        ("What changed", _what_changed(report)),
        ("Failure points", failures or "none"),
        (
            "Duration",
            f"{_span(report.started_at, report.finished_at)} "
            f"({_when(report.started_at)} to {_when(report.finished_at)})",
        ),
    ]
    return Table(
        [[label, _para(escape(value), BODY)] for label, value in rows],
        colWidths=[30 * mm, WIDTH - 30 * mm],
        style=TableStyle(
            [
                ("FONTSIZE", (0, 0), (0, -1), 8.5),
                ("FONTNAME", (0, 0), (-1, -1), FONTS.sans),
                ("TEXTCOLOR", (0, 0), (0, -1), colors.HexColor("#666666")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ]
        ),
        hAlign="LEFT",
    )


def _what_changed(report: DeploymentReport) -> str:
    """The type (and the type a group rolled out), its version or file."""
    params: Mapping[str, Any] = report.params
    what = report.type
    inner = params.get("inner_params")
    if report.type == "group" and params.get("inner_type"):
        what = f"group of {params['inner_type']}"
        params = inner if isinstance(inner, Mapping) else {}
    details = [
        f"{label} {params[key]}"
        for key, label in (("version", "version"), ("path", "file"))
        if params.get(key) not in (None, "")
    ]
    return f"{what}: {', '.join(details)}" if details else what


def _reruns(report: DeploymentReport) -> list[Flowable]:
    """Steps their worker stopped in, then run again from the start: maybe twice."""
    reruns = [entry for entry in report.timeline if entry.kind == "task.requeued"]
    if not reruns:
        return []
    story: list[Flowable] = _heading("Steps that may have run twice")
    for entry in reruns[:MAX_FAILURE_DETAILS]:
        story.append(_para(f"{_when(entry.at)} {escape(entry.detail)}", BODY))
    if len(reruns) > MAX_FAILURE_DETAILS:
        story.append(_para(f"… and {len(reruns) - MAX_FAILURE_DETAILS} more", BODY))
    return story


def _failure_details(report: DeploymentReport) -> list[Flowable]:
    failed = [n for n in report.nodes if n.last_lines or n.status in ("failed", "interrupted")]
    if not failed:
        return []
    # Nodes that failed alike (their output the same but for their names and numbers)
    # are one block: 37 identical blocks say less than one that names the 37 nodes.
    groups: dict[tuple[Any, ...], list[NodeLine]] = {}
    for node in failed:
        groups.setdefault(_alike(node), []).append(node)
    story: list[Flowable] = _heading("Failed nodes", 50 * mm)
    blocks = list(groups.values())
    for nodes in blocks[:MAX_FAILURE_DETAILS]:
        node = nodes[0]
        where = f"at step {node.failed_step}" if node.failed_step else "to connect"
        if node.status == "interrupted":
            where = (
                f"during step {node.failed_step} (may have partly run)"
                if node.failed_step
                else "before its first step"
            )
        code = f", exit code {node.exit_code}" if node.exit_code is not None else ""
        clusters = ", ".join(sorted({n.cluster for n in nodes}))
        who = f"<b>{escape(node.node)}</b>"
        if len(nodes) > 1:
            names = ", ".join(n.node for n in nodes[:30])
            names += f" and {len(nodes) - 30} more" if len(nodes) > 30 else ""
            who = (
                f"<b>{len(nodes)} nodes, same output</b> (names and numbers aside; shown: "
                f"{escape(node.node)}'s): {escape(names)}"
            )
        block: list[Flowable] = [
            _para(
                f"{who} ({escape(clusters)}, stage {escape(node.stage)}, "
                f"attempt {node.attempt}): {node.status} {escape(where)}{code}",
                BODY,
            )
        ]
        if node.error:
            block.append(_para(escape(_clip(node.error, 400)), SMALL))
        if node.last_lines:
            block.append(_code("\n".join(_clip(line, 160) for line in node.last_lines)))
        block.append(Spacer(1, 4))
        story.append(KeepTogether(block))
    if len(blocks) > MAX_FAILURE_DETAILS:
        hidden = sum(len(nodes) for nodes in blocks[MAX_FAILURE_DETAILS:])
        story.append(
            _para(
                f"{hidden} more failed node(s): see the node table, "
                "or the CSV and JSON exports, for each one's error and last lines.",
                SMALL,
            )
        )
    return story


def _alike(node: NodeLine) -> tuple[Any, ...]:
    def plain(text: str) -> str:
        return re.sub(r"\d+", "#", text.replace(node.node, "{node}"))

    return (
        node.stage,
        node.status,
        node.attempt,
        node.failed_step,
        node.exit_code,
        plain(node.error or ""),
        tuple(plain(line) for line in node.last_lines),
    )


def _cluster(report: ClusterReport) -> list[Flowable]:
    rate = "n/a" if report.success_rate is None else f"{report.success_rate:.1%}"
    # Each outcome named for what happened: set-aside nodes, a cancel or a rollback is
    # not a failure.
    ended = Counter(DeploymentStatus(line.status).words for line in report.deployments)
    return [
        _para(f"Cluster {escape(report.cluster)}", H1),
        _para(
            f"Deployments created from {_when(report.since)} to {_when(report.until)}"
            + (f" · environment {escape(report.environment)}" if report.environment else ""),
            BODY,
        ),
        Spacer(1, 6),
        _figures(
            [
                ("Deployments", str(len(report.deployments))),
                ("Succeeded", str(ended["succeeded"])),
                ("Succeeded with exclusions", str(ended["succeeded with exclusions"])),
                ("Failed", str(ended["failed"])),
                ("Cancelled", str(ended["cancelled"])),
                ("Rolled back", str(ended["rolled back"])),
                ("Unfinished", str(report.unfinished)),
                ("Had failures", str(report.with_failures)),
                ("Success rate", rate),
                ("Node tasks", str(report.node_tasks)),
                ("Failed node runs", str(report.node_failures)),
                ("Nodes that failed", str(len(report.failures_by_node))),
                ("Deployment mean", _seconds(report.deployment_durations.mean)),
                ("Deployment p95", _seconds(report.deployment_durations.p95)),
                ("Node task mean", _seconds(report.task_durations.mean)),
                ("Node task p95", _seconds(report.task_durations.p95)),
            ]
        ),
        Spacer(1, 8),
        _side_by_side(
            charts.status_over_time(report.deployments, report.since, report.until, WIDTH / 2 - 10),
            charts.duration_histogram(
                [d.duration for d in report.deployments if d.duration is not None],
                WIDTH / 2 - 10,
                title="Deployment durations (seconds)",
            ),
        ),
        *_heading("Nodes that fail most"),
        _table(
            ("node", "failures", "runs", "failure rate"),
            [
                (f.name, str(f.failures), str(f.runs), f"{f.failures / f.runs:.0%}")
                for f in report.failures_by_node[:20]
            ]
            or [("no failure", "", "", "")],
            (0.4, 0.2, 0.2, 0.2),
        ),
        *_heading("Failures by step"),
        _table(
            ("step", "failures"),
            [(f.name, str(f.failures)) for f in report.failures_by_step] or [("no failure", "")],
            (0.6, 0.4),
        ),
        *_heading("Deployments"),
        _table(
            (
                "#",
                "type",
                "title",
                "status",
                "requested by",
                "created",
                "took",
                "nodes",
                "ok",
                "failed",
            ),
            [
                (
                    str(d.deployment_id),
                    d.type,
                    _clip(d.title, 60),
                    d.status,
                    d.requester,
                    _when(d.created_at),
                    _seconds(d.duration),
                    str(d.nodes),
                    str(d.succeeded),
                    str(d.failed),
                )
                for d in report.deployments
            ]
            or [("", "", "no deployment in this period", "", "", "", "", "", "", "")],
            (0.05, 0.1, 0.3, 0.08, 0.1, 0.14, 0.07, 0.05, 0.05, 0.06),
            status_column=3,
        ),
    ]


def _node(report: NodeReport) -> list[Flowable]:
    last = report.last_deployed
    rate = (
        "n/a" if report.failure_rate is None else f"{report.failure_rate:.1%} of {report.runs} runs"
    )
    version = f"{report.version} (#{report.version_deployment})" if report.version else "not known"
    story: list[Flowable] = [
        _para(f"Node {escape(report.node)}", H1),
        _para(
            f"cluster {escape(report.cluster)} · deployments created before {_when(report.until)}",
            BODY,
        ),
        Spacer(1, 6),
        _figures(
            [
                ("Node tasks", str(len(report.history))),
                ("Failure rate", rate),
                ("Last deployed", f"#{last.deployment_id} {last.type}" if last else "never"),
                ("Version", version),
                ("Deployed at", _when(last.created_at) if last else "n/a"),
                ("Mean task time", _seconds(report.durations.mean)),
                ("p95 task time", _seconds(report.durations.p95)),
                ("Last failures", str(len(report.last_failures))),
            ]
        ),
        # The history first: what an on-call engineer opens the report for.
        *_heading("Deployment history"),
        _table(
            (
                "#",
                "type",
                "title",
                "version",
                "created",
                "stage",
                "status",
                "try",
                "failed at",
                "exit",
                "error",
                "took",
            ),
            [
                (
                    str(h.deployment_id),
                    h.type,
                    h.title,
                    h.version or "",
                    _when(h.created_at),
                    h.stage,
                    h.status,
                    str(h.attempt),
                    h.failed_step or "",
                    "" if h.exit_code is None else str(h.exit_code),
                    _clip(h.error or "", 200),
                    _seconds(h.duration),
                )
                for h in report.history
            ]
            or [("", "", "never deployed", "", "", "", "", "", "", "", "", "")],
            (0.04, 0.09, 0.2, 0.06, 0.12, 0.08, 0.07, 0.03, 0.07, 0.04, 0.14, 0.06),
            status_column=6,
            wrap=(1, 2, 3, 5, 8, 10),
        ),
        *_heading("Last failures"),
    ]
    if not report.last_failures:
        story.append(_para("No failure.", BODY))
    for failure in report.last_failures:
        where = f"at step {failure.step}" if failure.step else "to connect"
        code = f", exit code {failure.exit_code}" if failure.exit_code is not None else ""
        block: list[Flowable] = [
            _para(
                f"<b>deployment #{failure.deployment_id}</b> ({_when(failure.at)}): failed "
                f"{escape(where)}{code}: {escape(_clip(failure.error or '', 300))}",
                BODY,
            )
        ]
        if failure.last_lines:
            block.append(_code("\n".join(_clip(t, 160) for t in failure.last_lines)))
        story.append(KeepTogether(block))
    story += [
        *_heading("Task durations", 60 * mm),
        charts.duration_histogram(
            [h.duration for h in report.history if h.duration is not None], WIDTH
        ),
    ]
    return story


# --- pieces ------------------------------------------------------------------------------


def _heading(title: str, room: float = 40 * mm) -> list[Flowable]:
    """A section heading that starts a new page rather than stand alone at the bottom
    of one (with `room` for its first lines)."""
    return [CondPageBreak(room), _para(escape(title), H2)]


def _side_by_side(left: Flowable, right: Flowable) -> Table:
    return Table(
        [[left, right]],
        colWidths=[WIDTH / 2, WIDTH / 2],
        style=[("VALIGN", (0, 0), (-1, -1), "TOP"), ("FONTNAME", (0, 0), (-1, -1), FONTS.sans)],
    )


def _outcome_lead(report: DeploymentReport) -> list[Flowable]:
    """What an approver must read first: a rollback, nodes set aside, earlier failures."""
    lines = []
    rollback = report.rollback
    if rollback is not None:
        failed = f", {rollback.failed} could not be restored" if rollback.failed else ""
        lines.append(
            f"<b>Rolled back</b> by {escape(rollback.by)} at {_when(rollback.at)}: "
            f"{rollback.restored} of {rollback.nodes} node(s) restored to what they ran "
            f"before{failed} ({escape(', '.join(rollback.stages))})."
        )
    excluded = [line for line in report.nodes if line.status == "excluded"]
    if excluded:
        shown = ", ".join(sorted({line.node for line in excluded}, key=natural)[:12])
        lines.append(
            f"<b>{len({line.node for line in excluded})} node(s) set aside</b> after failing "
            f"and did not get the change: {escape(shown)}."
        )
    never = [line for line in report.nodes if line.status == "not_started"]
    if never:
        lines.append(
            f"<b>{len({line.node for line in never})} node(s) never started</b>: the "
            "deployment was cancelled before their turn."
        )
    earlier = [attempt for attempt in report.attempts[:-1] if attempt.failures]
    if earlier:
        failed_runs = sum(len(attempt.failures) for attempt in earlier)
        lines.append(
            f"<b>{len(report.attempts)} attempts</b>: {failed_runs} node run(s) failed "
            "before the last attempt (see Attempts)."
        )
    return [_para(line, BODY) for line in lines] + ([Spacer(1, 6)] if lines else [])


def _attempts(report: DeploymentReport) -> list[Flowable]:
    if len(report.attempts) < 2 and not any(a.failures for a in report.attempts):
        return []
    story: list[Flowable] = [
        *_heading("Attempts"),
        _table(
            ("attempt", "started by", "at", "nodes", "how their runs ended"),
            [
                (
                    str(a.number),
                    a.started_by,
                    _when(a.started_at),
                    str(a.nodes),
                    ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in a.counts.items()),
                )
                for a in report.attempts
            ],
            (0.08, 0.18, 0.18, 0.08, 0.48),
        ),
    ]
    rows = [
        (str(a.number), r.node, r.stage, r.failure_point, _clip(r.error or "", 70))
        for a in report.attempts
        for r in a.failures
    ]
    if rows:
        story += [
            *_heading("Failure points of every attempt"),
            _table(
                ("attempt", "node", "stage", "failure point", "error"),
                rows,
                (0.07, 0.15, 0.12, 0.3, 0.36),
                wrap=(1, 2),
            ),
        ]
    return story


def _status_line(status: str, rest: str) -> Table:
    color = STATUS_INK.get(status, colors.HexColor("#1e88e5"))
    label = status.replace("_", " ").upper()
    width = max(30 * mm, stringWidth(label, FONTS.bold, 9) + 6 * mm)
    return Table(
        [[label, rest]],
        colWidths=[width, WIDTH - width],
        style=TableStyle(
            [
                ("BACKGROUND", (0, 0), (0, 0), color),
                ("TEXTCOLOR", (0, 0), (0, 0), colors.white),
                ("FONTNAME", (0, 0), (0, 0), FONTS.bold),
                ("FONTNAME", (1, 0), (1, 0), FONTS.for_text(rest, FONTS.sans)),
                ("ALIGN", (0, 0), (0, 0), "CENTER"),
                ("FONTSIZE", (0, 0), (-1, -1), 9),
            ]
        ),
    )


def _figures(pairs: Sequence[tuple[str, str]], columns: int = 4) -> Table:
    """Key figures as label/value pairs, `columns` pairs a row."""
    rows: list[list[str]] = []
    label_width, value_width = WIDTH / columns * 0.42, WIDTH / columns * 0.58
    for start in range(0, len(pairs), columns):
        row: list[str] = []
        for label, value in pairs[start : start + columns]:
            # Wrapped, not cut: "Deployment …" could be any of four figures.
            row += [
                "\n".join(_wrap(label, label_width, 8.5)),
                "\n".join(_wrap(value, value_width, 8.5, bold=True)),
            ]
        rows.append(row + [""] * (2 * columns - len(row)))
    style: list[tuple[Any, ...]] = [
        ("FONTSIZE", (0, 0), (-1, -1), 8.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#dddddd")),
    ]
    for column in range(0, 2 * columns, 2):
        style += [
            ("TEXTCOLOR", (column, 0), (column, -1), colors.HexColor("#666666")),
            ("FONTNAME", (column, 0), (column, -1), FONTS.sans),
            ("FONTNAME", (column + 1, 0), (column + 1, -1), FONTS.bold),
        ]
    style += _cjk_cells(rows)
    return Table(
        rows, colWidths=[label_width, value_width] * columns, style=TableStyle(style), hAlign="LEFT"
    )


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    shares: Sequence[float],
    *,
    status_column: int | None = None,
    wrap: Sequence[int] = (),
) -> Table:
    """A table whose header repeats on every page it spans. Cells are cut to one line,
    but those of the `wrap` columns (names that must be read whole) run on."""
    style: list[tuple[Any, ...]] = [
        ("FONTSIZE", (0, 0), (-1, -1), 7),
        ("LEADING", (0, 0), (-1, -1), 8.5),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_BACKGROUND),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
        ("FONTNAME", (0, 1), (-1, -1), FONTS.sans),
        ("FONTNAME", (0, 0), (-1, 0), FONTS.bold),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#e0e0e0")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    if status_column is not None:
        for index, row in enumerate(rows, start=1):
            ink = STATUS_INK.get(row[status_column])
            if ink is not None and row[status_column] != "succeeded":
                style.append(("TEXTCOLOR", (status_column, index), (status_column, index), ink))
        # A status is read whole, as people say it: `succeeded with exclusions` wraps, and
        # is never cut to `succeeded_…`, which could be either outcome.
        rows = [
            (*row[:status_column], row[status_column].replace("_", " "), *row[status_column + 1 :])
            for row in rows
        ]
        wrap = (*wrap, status_column)
    widths = [WIDTH * share for share in shares]
    # Row heights are known in advance (the cells are fitted or wrapped here): fixed
    # heights spare reportlab measuring each cell again at every page break, which
    # dominated long tables.
    cells = [list(headers)]
    heights = [ROW_HEIGHT]
    for row in rows:
        line = [_fit(cell, width) for cell, width in zip(row, widths, strict=True)]
        lines = 1
        for column in wrap:
            if line[column] != row[column].replace("\n", " "):
                wrapped = _wrap(row[column], widths[column])
                line[column] = "\n".join(wrapped)
                lines = max(lines, len(wrapped))
        cells.append(line)
        heights.append(ROW_HEIGHT + (lines - 1) * 8.5)
    style += _cjk_cells(cells)
    return Table(
        cells,
        colWidths=widths,
        rowHeights=heights,
        repeatRows=1,
        style=TableStyle(style),
        hAlign="LEFT",
    )


def _shares(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> tuple[float, ...]:
    """Column widths after what the columns hold (the longest cell, within bounds)."""
    longest = [
        min(max([len(header), 4, *(len(str(row[i])) for row in rows[:500])]), 90)
        for i, header in enumerate(headers)
    ]
    return tuple(length / sum(longest) for length in longest)


def _flat(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Nested parameters as dotted keys, the way `--param` takes them."""
    return [(key, _clip(value.replace("\n", " ⏎ "), 150)) for key, value in dotted(values)]


def _when(value: dt.datetime | None) -> str:
    return f"{moment(value)} UTC" if value else "—"


def _span(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None or end is None:
        return "—"
    return _seconds((end - start).total_seconds())


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 120:
        return f"{value:.2f} s"
    minutes, rest = divmod(int(value), 60)
    return f"{minutes} min {rest} s" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def _median_p95_max(figures: Durations) -> Iterable[str]:
    return (_seconds(figures.median), _seconds(figures.p95), _seconds(figures.max))


def _wrap(text: str, width: float, size: float = 7, *, bold: bool = False) -> list[str]:
    """The text in lines that fit the column, broken at spaces, or within a word too
    long for one line."""
    room = width - 12
    lines: list[str] = []
    font = FONTS.for_text(text, FONTS.bold if bold else FONTS.sans)
    for line in simpleSplit(text.replace("\n", " "), font, size, room):
        while stringWidth(line, font, size) > room and len(line) > 1:
            cut = len(line) - 1
            while cut > 1 and stringWidth(line[:cut], font, size) > room:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
        lines.append(line)
    return lines or [""]


def _fit(text: str, width: float, size: float = 7) -> str:
    """The text on one line, cut short with an ellipsis where it would spill into the
    next column."""
    text = text.replace("\n", " ")
    room = width - 12  # the cell's padding
    if text.isascii() and len(text) * size * FONTS.widest <= room:  # fits even if every
        return text  # glyph were the widest
    font = FONTS.for_text(text, FONTS.sans)
    if stringWidth(text, font, size) <= room:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if stringWidth(text[:middle] + "…", font, size) <= room:
            low = middle
        else:
            high = middle - 1
    return text[:low] + "…"


def _para(markup: str, style: ParagraphStyle) -> Paragraph:
    """A paragraph whose CJK runs are set in the CJK font (DejaVu has no such glyphs)."""
    if FONTS.cjk and CJK.search(markup):
        markup = re.sub(f"({CJK.pattern}+)", rf'<font name="{FONTS.cjk}">\1</font>', markup)
    return Paragraph(markup, style)


def _code(text: str) -> Preformatted:
    return Preformatted(text, CODE_CJK if FONTS.cjk and CJK.search(text) else CODE)


def _cjk_cells(rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Table style commands setting the CJK font in the cells that need it."""
    if not FONTS.cjk:
        return []
    return [
        ("FONTNAME", (column, index), (column, index), FONTS.cjk)
        for index, row in enumerate(rows)
        for column, cell in enumerate(row)
        if isinstance(cell, str) and not cell.isascii() and CJK.search(cell)
    ]


def _clip(text: str, length: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= length else text[: length - 1] + "…"
