"""Duration figures, rounded so that a report computed again hashes the same."""

from __future__ import annotations

import datetime as dt
import math
import re
import statistics
from collections.abc import Iterable

from squall.core.reports.model import Durations


def natural(name: str) -> tuple[tuple[int, str], ...]:
    """Sorts names the way people count: web-2 before web-10."""
    return tuple(
        (1, part) if not part.isdigit() else (0, f"{int(part):020d}")
        for part in re.split(r"(\d+)", name)
        if part
    )


def seconds(started: dt.datetime | None, finished: dt.datetime | None) -> float | None:
    if started is None or finished is None:
        return None
    return round((finished - started).total_seconds(), 3)


def durations(values: Iterable[float | None]) -> Durations:
    known = sorted(value for value in values if value is not None)
    if not known:
        return Durations(0, None, None, None, None)
    return Durations(
        count=len(known),
        mean=round(statistics.fmean(known), 3),
        median=round(statistics.median(known), 3),
        p95=percentile(known, 95),
        max=known[-1],
    )


def percentile(ordered: list[float], rank: float) -> float:
    """Nearest-rank percentile of sorted values: always one of the values measured."""
    index = max(0, math.ceil(rank / 100 * len(ordered)) - 1)
    return ordered[index]


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
