"""The report's charts, drawn with reportlab's vector shapes (no raster images, so the
PDF stays small and sharp, and its text stays extractable)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence

from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.pdfbase.pdfmetrics import stringWidth

from squall.core.reports.fonts import fonts
from squall.core.reports.model import ClusterLine, DeploymentLine, StageLine

STATUS_COLORS = {
    "succeeded": colors.HexColor("#43a047"),
    "failed": colors.HexColor("#e53935"),
    "skipped": colors.HexColor("#bdbdbd"),
    "other": colors.HexColor("#fb8c00"),
}
UNDONE = colors.HexColor("#8e24aa")
"""Rolled back: the same colour as in the status-over-time chart."""
CLUSTER_COLORS = {"undone": UNDONE, **STATUS_COLORS}
INK = colors.HexColor("#333333")
MUTED = colors.HexColor("#777777")
FONT = fonts().sans
MAX_CLUSTER_BARS = 12


def _drawing(width: float, height: float) -> Drawing:
    # Its starting font: reportlab's default, Helvetica, would be named (not embedded).
    drawing = Drawing(width, height)
    drawing.initialFontName = FONT  # type: ignore[attr-defined]
    return drawing


def status_per_cluster(
    clusters: Sequence[ClusterLine], width: float, undone: Mapping[str, int] | None = None
) -> Drawing:
    """A stacked bar per cluster: succeeded, failed, skipped, other (the largest first).
    `undone`: per cluster, the nodes a rollback has restored since they succeeded, drawn
    and named as undone, not as a success that still stands."""
    undone = undone or {}
    shown = sorted(clusters, key=lambda line: (-line.nodes, line.cluster))[:MAX_CLUSTER_BARS]
    bar, gap, label_width = 11.0, 5.0, 110.0
    note = 14.0 if len(clusters) > len(shown) else 0.0
    height = 28 + len(shown) * (bar + gap) + note
    drawing = _drawing(width, height)
    _title(drawing, "Status per cluster", height)
    scale = (width - label_width - 60) / max((line.nodes for line in shown), default=1)
    y = height - 26
    for line in shown:
        y -= bar + gap
        drawing.add(
            String(
                0,
                y + 2,
                _clip(line.cluster, 22),
                fontName=fonts().for_text(line.cluster, FONT),
                fontSize=7,
            )
        )
        x = label_width
        restored = min(undone.get(line.cluster, 0), line.succeeded)
        parts = (
            ("undone", restored),
            ("succeeded", line.succeeded - restored),
            ("failed", line.failed),
            ("skipped", line.skipped),
            ("other", line.other),
        )
        for status, count in parts:
            if count:
                drawing.add(_box(x, y, count * scale, bar, CLUSTER_COLORS[status]))
                x += count * scale
        figures = f"{line.succeeded}/{line.nodes} " + (
            f"deployed, {restored} undone" if restored else "ok"
        )
        figures += f", {line.failed} failed" if line.failed else ""
        drawing.add(String(x + 4, y + 2, figures, fontName=FONT, fontSize=7, fillColor=MUTED))
    if len(clusters) > len(shown):
        drawing.add(
            String(
                0,
                0,
                f"{len(clusters) - len(shown)} more cluster(s) in the cluster table",
                fontName=FONT,
                fontSize=7,
                fillColor=MUTED,
            )
        )
    shown_undone = any(undone.get(line.cluster) for line in clusters)
    _legend(drawing, width, height, CLUSTER_COLORS if shown_undone else STATUS_COLORS)
    return drawing


def duration_histogram(
    values: Sequence[float],
    width: float,
    bins: int = 20,
    title: str = "Node task durations (seconds)",
) -> Drawing:
    """How long things took (node tasks by default): a histogram over the finished ones."""
    height = 120.0
    drawing = _drawing(width, height)
    _title(drawing, title, height)
    if not values:
        drawing.add(String(0, height / 2, "nothing finished", fontName=FONT, fontSize=8))
        return drawing
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, int((value - low) / span * bins))] += 1
    top = max(counts)
    plot_height, base = height - 45, 18.0
    column = width / bins
    for index, count in enumerate(counts):
        if count:
            bar_height = plot_height * count / top
            drawing.add(
                _box(index * column + 1, base, column - 2, bar_height, colors.HexColor("#1e88e5"))
            )
            drawing.add(
                String(
                    index * column + column / 2,
                    base + bar_height + 2,
                    str(count),
                    fontName=FONT,
                    fontSize=6,
                    textAnchor="middle",
                    fillColor=MUTED,
                )
            )
    drawing.add(Line(0, base, width, base, strokeColor=MUTED, strokeWidth=0.5))
    drawing.add(String(0, 6, f"{low:.2f}", fontName=FONT, fontSize=7))
    drawing.add(String(width, 6, f"{high:.2f}", fontName=FONT, fontSize=7, textAnchor="end"))
    return drawing


def stage_timeline(stages: Sequence[StageLine], start: dt.datetime | None, width: float) -> Drawing:
    """When each stage (phase, wave) ran, on one time axis from the deployment's start."""
    ran = [stage for stage in stages if stage.started_at is not None]
    bar, gap, label_width = 10.0, 4.0, 110.0
    height = 40 + max(len(ran), 1) * (bar + gap)
    drawing = _drawing(width, height)
    _title(drawing, "Stage timeline", height)
    if not ran or start is None:
        drawing.add(String(0, height - 40, "no stage started", fontName=FONT, fontSize=8))
        return drawing
    end = max((stage.finished_at or stage.started_at) for stage in ran if stage.started_at)
    total = max((end - start).total_seconds(), 0.001)
    scale = (width - label_width - 10) / total
    y = height - 24
    previous_end: dt.datetime | None = None
    for stage in ran:
        assert stage.started_at is not None
        y -= bar + gap
        begin = (stage.started_at - start).total_seconds()
        length = ((stage.finished_at or end) - stage.started_at).total_seconds()
        color = STATUS_COLORS.get(stage.status, STATUS_COLORS["other"])
        if previous_end is not None:
            # Time between stages is time spent waiting (a gate's approval, a pause): drawn,
            # so that a long wait does not read as a deployment that was slow.
            waited = (stage.started_at - previous_end).total_seconds()
            if waited > total / 50:
                label = f"{'waited for the gate' if stage.gate else 'waited'} {_span(waited)}"
                since = label_width + (previous_end - start).total_seconds() * scale
                _wait(drawing, since, label_width + begin * scale, y, label, label_width)
        previous_end = max(previous_end or stage.started_at, stage.finished_at or end)
        drawing.add(
            String(
                0,
                y + 2,
                _clip(stage.name, 22),
                fontName=fonts().for_text(stage.name, FONT),
                fontSize=7,
            )
        )
        drawing.add(_box(label_width + begin * scale, y, max(length * scale, 1.5), bar, color))
    drawing.add(Line(label_width, 14, width - 10, 14, strokeColor=MUTED, strokeWidth=0.5))
    drawing.add(String(label_width, 4, "0 s", fontName=FONT, fontSize=7))
    drawing.add(
        String(width - 10, 4, f"{total:.1f} s", fontName=FONT, fontSize=7, textAnchor="end")
    )
    return drawing


OUTCOME_COLORS = {
    "succeeded": STATUS_COLORS["succeeded"],
    "with exclusions": colors.HexColor("#fb8c00"),
    "failed": STATUS_COLORS["failed"],
    "cancelled": colors.HexColor("#9e9e9e"),
    "rolled back": UNDONE,
    "unfinished": colors.HexColor("#90caf9"),
}
"""A deployment's outcome as the status-over-time chart colours and names it: a cancel or
a rollback is not a failure."""
DEPLOYMENT_OUTCOME = {
    "succeeded": "succeeded",
    "succeeded_with_exclusions": "with exclusions",
    "failed": "failed",
    "cancelled": "cancelled",
    "rolled_back": "rolled back",
}
"""A deployment's status by its outcome in that chart; the rest is `unfinished`."""
MAX_PERIOD_BARS = 62


def _buckets(since: dt.date, until: dt.date) -> tuple[str, Callable[[dt.date], int]]:
    """The unit of the bars (at most MAX_PERIOD_BARS of them) and each day's bar."""
    days = (until - since).days + 1
    if days <= MAX_PERIOD_BARS:
        return "day", lambda day: (day - since).days
    if days <= MAX_PERIOD_BARS * 7:
        return "week", lambda day: (day - since).days // 7
    months = (until.year - since.year) * 12 + until.month - since.month + 1
    if months <= MAX_PERIOD_BARS:
        return "month", lambda day: (day.year - since.year) * 12 + day.month - since.month
    years = until.year - since.year + 1
    step = -(-years // MAX_PERIOD_BARS)
    return ("year" if step == 1 else f"{step} years"), lambda day: (day.year - since.year) // step


def status_over_time(
    deployments: Sequence[DeploymentLine], since: dt.datetime, until: dt.datetime, width: float
) -> Drawing:
    """Deployments of the period by day, stacked by outcome; by week, month or year over
    a longer period, so the bars stay wide enough to read."""
    height = 120.0
    drawing = _drawing(width, height)
    _title(drawing, "Deployments over the period", height)
    _legend(drawing, width, height - 13, OUTCOME_COLORS)  # below the title, not over it
    unit, place = _buckets(since.date(), until.date())
    bars = place(until.date()) + 1
    tallies = [dict.fromkeys(OUTCOME_COLORS, 0) for _ in range(bars)]
    for deployment in deployments:
        index = place(deployment.created_at.date())
        if 0 <= index < bars:
            tallies[index][DEPLOYMENT_OUTCOME.get(deployment.status, "unfinished")] += 1
    top = max((sum(tally.values()) for tally in tallies), default=0)
    base, plot_height = 18.0, height - 45
    column = width / bars
    if top:
        for index, tally in enumerate(tallies):
            y = base
            for status, count in tally.items():
                if count:
                    bar_height = plot_height * count / top
                    drawing.add(
                        _box(
                            index * column + 0.5,
                            y,
                            max(column - 1, 0.5),
                            bar_height,
                            OUTCOME_COLORS[status],
                        )
                    )
                    y += bar_height
    else:
        drawing.add(
            String(0, height / 2, "no deployment in this period", fontName=FONT, fontSize=8)
        )
    drawing.add(Line(0, base, width, base, strokeColor=MUTED, strokeWidth=0.5))
    drawing.add(String(0, 6, f"{since:%Y-%m-%d}", fontName=FONT, fontSize=7))
    drawing.add(
        String(
            width / 2,
            6,
            f"one bar per {unit}; at most {top} a bar",
            fontName=FONT,
            fontSize=7,
            textAnchor="middle",
            fillColor=MUTED,
        )
    )
    drawing.add(String(width, 6, f"{until:%Y-%m-%d}", fontName=FONT, fontSize=7, textAnchor="end"))
    return drawing


def _title(drawing: Drawing, text: str, height: float) -> None:
    drawing.add(String(0, height - 10, text, fontName=fonts().bold, fontSize=9, fillColor=INK))


def _legend(
    drawing: Drawing, width: float, height: float, names: Mapping[str, colors.Color] = STATUS_COLORS
) -> None:
    """A box and a name per colour, right-aligned, each as wide as its name."""
    entries = [(name, color, stringWidth(name, FONT, 7) + 22) for name, color in names.items()]
    x = width - sum(room for _, _, room in entries)
    for name, color, room in entries:
        drawing.add(_box(x, height - 11, 7, 7, color))
        drawing.add(String(x + 10, height - 10, name, fontName=FONT, fontSize=7))
        x += room


def _wait(drawing: Drawing, since: float, until: float, y: float, label: str, left: float) -> None:
    """A dashed line over a wait in a stage's row, named just before the stage's bar, where
    the row is empty (never over the stage names left of `left`)."""
    drawing.add(
        Line(since, y + 1.5, until, y + 1.5, strokeColor=MUTED, strokeWidth=0.6,
             strokeDashArray=[2, 2])
    )  # fmt: skip
    right = max(until - 2, left + stringWidth(label, FONT, 6))
    drawing.add(
        String(right, y + 4, label, fontName=FONT, fontSize=6, fillColor=MUTED, textAnchor="end")
    )


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def _box(x: float, y: float, width: float, height: float, color: colors.Color) -> Rect:
    box = Rect(x, y, width, height)
    box.fillColor, box.strokeColor = color, None
    return box
