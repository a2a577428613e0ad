"""How each attempt of a deployment went, node by node (made by `squall.core.history`)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from squall.core.status import FAILURES, TaskStatus


@dataclass(frozen=True)
class Run:
    """One node's run in one attempt, as it ended."""

    node: str
    cluster: str
    stage: str
    status: str
    attempt: int
    step: str | None
    """The step it failed at (or was running when it was interrupted)."""
    exit_code: int | None
    error: str | None
    last_lines: tuple[str, ...]
    started_at: dt.datetime | None
    finished_at: dt.datetime

    @property
    def failed(self) -> bool:
        return self.status in FAILURES

    @property
    def failure_point(self) -> str:
        """Where and how it went wrong, in a few words."""
        if self.status == TaskStatus.INTERRUPTED:
            where = f"during step {self.step}" if self.step else "before any step had started"
            partly = " (may have partly run)" if self.step else ""
            return f"interrupted {where}{partly}"
        where = f"at step {self.step}" if self.step else "before any step"
        code = f", exit code {self.exit_code}" if self.exit_code is not None else ""
        return f"{self.status} {where}{code}"


@dataclass(frozen=True)
class Attempt:
    number: int
    started_by: str
    started_at: dt.datetime | None
    nodes: tuple[str, ...]
    """The nodes it ran (all for attempt 1, those retried for later ones)."""
    runs: tuple[Run, ...]

    @property
    def counts(self) -> Mapping[str, int]:
        """Runs by how they ended, each node counted once (its last run in this attempt)."""
        last: dict[tuple[str, str], Run] = {}
        for run in self.runs:
            last[(run.node, run.stage)] = run
        return dict(Counter(run.status for run in last.values()))

    @property
    def failures(self) -> tuple[Run, ...]:
        return tuple(run for run in self.runs if run.failed)
