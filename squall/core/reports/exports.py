"""CSV and JSON exports of a report's tables and data."""

from __future__ import annotations

import csv
import io
import json

from squall.core.errors import ValidationError
from squall.core.reports.fingerprint import (
    CSV_MARK,
    FORMAT,
    digest,
    generation_of,
    kind_of,
    report_data,
    request_of,
)
from squall.core.reports.model import Report
from squall.core.reports.tables import MAIN_TABLE, Cell, tables

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A cell a spreadsheet would run as a formula (node output can say anything)."""


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


def _safe(cell: Cell) -> Cell:
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell
