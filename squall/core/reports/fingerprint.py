"""A report's fingerprint: the SHA-256 of its data as canonical JSON.

The data is everything the report says about deployments, clusters and nodes, and
nothing about the copy itself: when and for whom it was generated is left out, so the
same report computed again from the database, by anyone, later, has the same fingerprint.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from squall.core.reports.model import ClusterReport, DeploymentReport, NodeReport, Report

FORMAT = "squall-report/1"
"""Names the data layout; a Squall that changes it must still recompute old layouts."""
UNHASHED = frozenset({"generation"})
CSV_MARK = "#squall "
"""A CSV export's first line: this mark, then its claims as JSON (request, fingerprint,
generation); the table's header row follows."""


def kind_of(report: Report) -> str:
    if isinstance(report, DeploymentReport):
        return "deployment"
    if isinstance(report, ClusterReport):
        return "cluster"
    return "node"


def request_of(report: Report) -> dict[str, Any]:
    """What to ask Squall for to compute this report again."""
    if isinstance(report, DeploymentReport):
        return {"kind": "deployment", "deployment_id": report.deployment_id}
    if isinstance(report, ClusterReport):
        return {
            "kind": "cluster",
            "cluster": report.cluster,
            "since": _iso(report.since),
            "until": _iso(report.until),
        }
    assert isinstance(report, NodeReport)
    return {"kind": "node", "node": report.node, "until": _iso(report.until)}


def report_data(report: Report) -> dict[str, Any]:
    """The report's data as JSON values (generation metadata left out)."""
    data: dict[str, Any] = {
        field.name: jsonable(getattr(report, field.name))
        for field in dataclasses.fields(report)
        if field.name not in UNHASHED
    }
    return {"format": FORMAT, "kind": kind_of(report), **data}


def canonical(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(data)).hexdigest()


def fingerprint(report: Report) -> str:
    return digest(report_data(report))


def generation_of(report: Report) -> dict[str, Any]:
    generation = report.generation
    found: dict[str, Any] = {
        "at": _iso(generation.at),
        "by": generation.by,
        "squall_version": generation.squall_version,
    }
    if generation.as_of_event:
        found["as_of_event"] = generation.as_of_event
    return found


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: jsonable(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    if isinstance(value, dt.datetime):
        return _iso(value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    return value


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def parse_moment(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
