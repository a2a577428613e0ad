"""What reports are made of: a summary of a deployment and the sections plugins add."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from squall.core.readmodel import DeploymentRecord


@dataclass(frozen=True)
class StepSummary:
    position: int
    name: str
    status: str
    exit_code: int | None
    error: str | None
    data: Mapping[str, Any] | None


@dataclass(frozen=True)
class TaskSummary:
    node: str
    cluster: str
    stage: str
    status: str
    attempt: int
    exit_code: int | None
    error: str | None
    failed_step: str | None
    last_lines: tuple[str, ...]
    steps: tuple[StepSummary, ...]
    """Step results of the task's latest attempt."""
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


@dataclass(frozen=True, kw_only=True)
class DeploymentSummary(DeploymentRecord):
    """A deployment for report plugins: its record, parameters and every node task."""

    params: Mapping[str, Any]
    """Secrets appear as `***`."""
    tasks: tuple[TaskSummary, ...]

    @property
    def selector(self) -> str:
        """The target selector (the record's `target`), by its earlier name."""
        return self.target


@dataclass(frozen=True)
class ReportSection:
    """A titled block of a report: free text, a table, or both."""

    title: str
    text: str = ""
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    rows_for_exports: bool = False
    """The rows are the whole record, for the CSV and JSON exports only: the PDF, the
    console and `squall status` show the text, which summarises them (diffs, say)."""
