"""CSV and JSON exports of a report's tables and data."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from pydantic import TypeAdapter
from pydantic import ValidationError as Malformed

from squall.core.errors import ValidationError
from squall.core.reports.fingerprint import (
    CSV_MARK,
    FORMAT,
    digest,
    fingerprint,
    generation_of,
    kind_of,
    parse_moment,
    report_data,
    request_of,
)
from squall.core.reports.model import (
    ClusterReport,
    DeploymentReport,
    Generation,
    NodeReport,
    Report,
)
from squall.core.reports.tables import MAIN_TABLE, Cell, tables

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A cell a spreadsheet would run as a formula (node output can say anything): `+63 -43`
is a diff's line count to Squall and 20 to a spreadsheet."""
GUARD = "'"
FORMULA_GUARD = (
    "a text cell starting with = + - @ ' tab or CR has one ' put in front (a spreadsheet "
    "would run it as a formula); drop the first ' of any cell starting with ' to read it "
    "exactly; the JSON export is never guarded"
)
"""The rule, stated in every CSV's first line, so the guard alters nothing for a reader
who knows it: a cell's own leading apostrophe is guarded too, hence reversible."""


def to_csv(report: Report, table: str | None = None) -> str:
    """One table as CSV: by default the main one (nodes, deployments, or node history)."""
    found = tables(report)
    name = table or MAIN_TABLE[kind_of(report)]
    if name not in found:
        raise ValidationError(
            f"no table {name!r} in a {kind_of(report)} report (tables: {', '.join(found)})"
        )
    out = io.StringIO()
    claims = {
        "format": FORMAT,
        "request": request_of(report),
        "table": name,
        "sha256": digest(report_data(report)),
        "generated": generation_of(report),
        "formula_guard": FORMULA_GUARD,
    }
    # The first line names the report and its fingerprint, so the file can be verified.
    out.write(CSV_MARK + json.dumps(claims, sort_keys=True, ensure_ascii=False) + "\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(found[name].headers)
    writer.writerows([_safe(cell) for cell in row] for row in found[name].rows)
    return out.getvalue()


def csv_body(text: str) -> str:
    """A CSV export without its first line (the claims): the table alone, header first."""
    return text.split("\n", 1)[1] if text.startswith(CSV_MARK) else text


def to_json(report: Report) -> str:
    """Every table, plus the full data with its fingerprint, as JSON."""
    data = report_data(report)
    document = {
        "format": FORMAT,
        "kind": kind_of(report),
        "request": request_of(report),
        "sha256": digest(data),
        "generated": generation_of(report),
        "tables": {
            name: {
                "title": table.title,
                "headers": list(table.headers),
                "rows": [list(row) for row in table.rows],
            }
            for name, table in tables(report).items()
        },
        "data": data,
    }
    return json.dumps(document, indent=1, ensure_ascii=False)


KINDS: dict[str, type[Any]] = {
    "deployment": DeploymentReport,
    "cluster": ClusterReport,
    "node": NodeReport,
}


def from_json(text: str | bytes) -> Report:
    """The report a JSON export was made from (a remote Squall's answer, read back to be
    rendered here). ValidationError unless it is whole: its data must hash to its
    fingerprint once read back."""
    try:
        document = json.loads(text)
        data = dict(document["data"])
        kind = KINDS[data.pop("kind")]
        data.pop("format")
        generated = document["generated"]
        data["generation"] = Generation(
            parse_moment(generated["at"]), generated["by"], generated["squall_version"]
        )
        report: Report = TypeAdapter(kind).validate_python(data)
    except (KeyError, TypeError, ValueError, Malformed):
        raise ValidationError("not a whole Squall report export") from None
    if fingerprint(report) != document.get("sha256"):
        raise ValidationError("the report export does not read back to the data it holds")
    return report


def _safe(cell: Cell) -> Cell:
    if isinstance(cell, str) and cell.startswith((*FORMULA_STARTS, GUARD)):
        return GUARD + cell
    return cell


def unguarded(cell: str) -> str:
    """A CSV cell as the report holds it (`FORMULA_GUARD` undone)."""
    return cell.removeprefix(GUARD)
