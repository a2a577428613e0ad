"""Checking a copy of a report (PDF, JSON or CSV export) against Squall.

A copy claims a fingerprint: the SHA-256 of its data, printed in every PDF page's footer
and kept in the PDF's keywords (the JSON's `sha256`, the CSV's first line). SHA-256 is no
signature: anyone can compute one. What makes a copy trustworthy is that Squall issued
it: every copy Squall hands out is kept in `report_copies` (and the audit chain) with
the SHA-256 of the file and the last event it covered. A copy verifies when it is, byte
for byte, a file Squall issued; a retry or rollback made later does not change that, and
the verification says what happened since. `check` does this; `compare` checks copies
from before Squall kept them against the data Squall computes now.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import logging
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from squall.core.errors import ValidationError
from squall.core.reports.fingerprint import CSV_MARK, FORMAT, digest, fingerprint, report_data
from squall.core.reports.model import Report
from squall.core.reports.pdf import FOOTER_HASH, render

_FOOTER = re.compile(re.escape(FOOTER_HASH) + r"([0-9a-f]{64})")


@dataclass(frozen=True)
class Claims:
    """What a copy says about itself."""

    form: str
    """`pdf`, `json` or `csv`."""
    request: dict[str, Any]
    sha256: str
    generated: dict[str, Any]
    problems: tuple[str, ...]
    """Inconsistencies found in the copy alone (a footer that disagrees, edited data)."""
    data: dict[str, Any] | None = None
    pdf: PdfReader | None = None


@dataclass(frozen=True)
class IssuedCopy:
    """A copy Squall issued (from its `report_copies`), as verification needs it."""

    form: str
    file_sha256: str
    as_of_event: int
    generated_by: str
    generated_at: dt.datetime


@dataclass(frozen=True)
class Record:
    """What the record says about the copy's subject now."""

    subject: str
    """`deployment 7 "Rotate the DB password"`, `cluster web`, `node web-1`."""
    as_of: dt.datetime | None
    """When the event the copy covers up to happened."""
    since: tuple[str, ...]
    """What happened to the subject after that event (new attempts, a rollback)."""


@dataclass
class Verification:
    sha256: str
    """The fingerprint the copy claims."""
    request: dict[str, Any]
    generated: dict[str, Any]
    form: str = "pdf"
    subject: str = ""
    as_of: dt.datetime | None = None
    newer: tuple[str, ...] = ()
    """What happened since the copy was made: it verifies as of then, and these came after."""
    checks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return not self.problems


def read_claims(content: bytes) -> Claims:
    """The claims of a Squall report, PDF, JSON or CSV; ValidationError for anything else."""
    if content.startswith(b"%PDF"):
        return _pdf_claims(content)
    if content.startswith(CSV_MARK.encode()):
        return _csv_claims(content)
    try:
        document = json.loads(content)
    except UnicodeDecodeError:
        raise ValidationError("not a Squall report: neither a PDF nor a JSON export") from None
    except json.JSONDecodeError as exc:
        if content.lstrip().startswith(b"{"):
            raise ValidationError(
                f"not a Squall report: the JSON is damaged or cut short ({exc.msg} at line "
                f"{exc.lineno})"
            ) from None
        raise ValidationError("not a Squall report: neither a PDF nor a JSON export") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValidationError(f"not a Squall report: a JSON export has format {FORMAT!r}")
    claimed, data = document.get("sha256"), document.get("data")
    if not isinstance(claimed, str) or not isinstance(data, dict):
        raise ValidationError("not a Squall report: no sha256 or no data")
    problems = []
    if digest(data) != claimed:
        problems.append("the file's data does not hash to the fingerprint it claims: it was edited")
    return Claims(
        "json",
        _request(document),
        claimed,
        _generated(document),
        tuple(problems),
        data=data,
    )


def _csv_claims(content: bytes) -> Claims:
    first = content.split(b"\n", 1)[0].decode("utf-8", "replace")
    try:
        claims = json.loads(first.removeprefix(CSV_MARK))
    except ValueError:
        raise ValidationError("not a Squall report: the CSV's first line is no claim") from None
    if not isinstance(claims, dict) or claims.get("format") != FORMAT:
        raise ValidationError("not a Squall report: the CSV names no Squall report data")
    return Claims("csv", _request(claims), str(claims.get("sha256")), _generated(claims), ())


def _generated(document: dict[str, Any]) -> dict[str, Any]:
    generated = document.get("generated")
    return dict(generated) if isinstance(generated, dict) else {}


_DAMAGED = (PyPdfError, zlib.error, ValueError, KeyError, TypeError, AttributeError, IndexError)
"""What pypdf raises, at any point of reading, for a PDF whose bytes were damaged."""


@contextlib.contextmanager
def _readable_pdf() -> Iterator[None]:
    """A damaged PDF is one clear refusal, never a decompression error, a traceback or
    pypdf's own warnings on stderr ("EOF marker not found")."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.ERROR + 10)
    try:
        yield
    except _DAMAGED:
        raise ValidationError(
            "not a Squall report: the PDF is damaged and cannot be read"
        ) from None
    finally:
        logger.setLevel(level)


def _pdf_claims(content: bytes) -> Claims:
    with _readable_pdf():
        reader = PdfReader(io.BytesIO(content))
        keywords = reader.metadata.get("/Keywords") if reader.metadata else None
        claims = json.loads(str(keywords)) if keywords else None
    if not isinstance(claims, dict) or claims.get("format") != FORMAT:
        raise ValidationError("not a Squall report: the PDF names no Squall report data")
    claimed = str(claims.get("sha256"))
    problems = []
    for number, page in enumerate(reader.pages, start=1):
        with _readable_pdf():
            text = page.extract_text() or ""
        found = _FOOTER.findall(text)
        if found != [claimed]:
            shown = found[0] if found else "none"
            problems.append(
                f"page {number}: its footer shows fingerprint {shown}, "
                f"the document claims {claimed}"
            )
    return Claims(
        "pdf",
        _request(claims),
        claimed,
        _generated(claims),
        tuple(problems),
        pdf=reader,
    )


def _request(document: dict[str, Any]) -> dict[str, Any]:
    request = document.get("request")
    if not isinstance(request, dict) or request.get("kind") not in (
        "deployment",
        "cluster",
        "node",
    ):
        raise ValidationError("not a Squall report: it does not say which report it is")
    return request


def check(
    claims: Claims,
    content: bytes,
    recomputed: Report,
    issued: Sequence[IssuedCopy],
    record: Record,
) -> Verification:
    """Check a copy against what Squall issued with its fingerprint, as of the moment it
    was made; a copy from before Squall kept its copies is checked against the data now.

    `issued` are the copies Squall issued with the fingerprint the copy claims."""
    digest_of_file = hashlib.sha256(content).hexdigest()
    same_file = [copy for copy in issued if copy.file_sha256 == digest_of_file]
    if not issued and not claims.generated.get("as_of_event") and claims.form != "csv":
        return compare(claims, recomputed, record)
    result = Verification(
        claims.sha256,
        claims.request,
        claims.generated,
        form=claims.form,
        subject=record.subject,
        as_of=record.as_of,
        newer=record.since,
    )
    result.problems += claims.problems
    if same_file:
        copy = same_file[0]
        result.checks.append(
            f"this file is, byte for byte, the {copy.form.upper()} Squall issued to "
            f"{copy.generated_by} at {copy.generated_at:%Y-%m-%d %H:%M:%S} UTC"
        )
        result.checks.append(f"its data is the record as of event {copy.as_of_event}")
    elif issued:
        # Only the file Squall issued, byte for byte: a PDF's embedded fonts decide what its
        # pages show, so equal drawing instructions alone prove nothing.
        result.problems.append(
            f"this {claims.form.upper()} differs from every copy Squall issued with its "
            "fingerprint: something in it was edited or damaged (for a PDF: its pages or "
            "fonts; for a JSON export: its tables, data or generation details)"
        )
        if claims.pdf is not None and fingerprint(recomputed) == claims.sha256:
            result.problems += _visible_differences(claims.pdf, recomputed)  # which page
    else:
        result.problems.append(
            f"Squall never issued a report with fingerprint {claims.sha256}: the copy was "
            "altered, or it comes from another Squall"
        )
        if claims.data is not None:
            result.problems += _differences(claims.data, report_data(recomputed))
    if not result.problems and fingerprint(recomputed) == claims.sha256:
        result.checks.append("Squall computes the same data from its database now")
    return result


def compare(claims: Claims, recomputed: Report, record: Record | None = None) -> Verification:
    """Check a copy's claims against the report Squall computes now."""
    result = Verification(claims.sha256, claims.request, claims.generated, form=claims.form)
    if record is not None:
        result.subject, result.as_of = record.subject, record.as_of
    result.problems += claims.problems
    if not claims.problems:
        result.checks.append("the copy is consistent: every fingerprint in it is the same")
    now = fingerprint(recomputed)
    if now == claims.sha256:
        result.checks.append("Squall computes the same data from its database now")
    else:
        result.problems.append(
            f"Squall's data for this report hashes to {now}, not to the copy's fingerprint: "
            "the copy was altered, or the data changed after it was generated (a retry, "
            "a deployment still running then)"
        )
        if claims.data is not None:
            result.problems += _differences(claims.data, report_data(recomputed))
    if claims.pdf is not None and now == claims.sha256:
        with _readable_pdf():
            result.problems += _visible_differences(claims.pdf, recomputed)
        if not result.problems:
            result.checks.append("every page shows what Squall renders from that data")
    return result


def _differences(copy: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    return [
        f"{key}: differs from Squall's data"
        for key in sorted(set(copy) | set(actual))
        if copy.get(key) != actual.get(key)
    ][:10]


def _visible_differences(copy: PdfReader, recomputed: Report) -> list[str]:
    """Compare each page with a fresh rendering of the same data and generation details:
    identical drawing instructions, or failing that, identical text (a newer Squall may
    lay the same text out differently)."""
    fresh = PdfReader(io.BytesIO(render(recomputed)))
    if len(fresh.pages) != len(copy.pages):
        return [f"the copy has {len(copy.pages)} page(s); Squall renders {len(fresh.pages)}"]
    problems = []
    for number, (mine, theirs) in enumerate(zip(copy.pages, fresh.pages, strict=True), start=1):
        if _drawing(mine) == _drawing(theirs):
            continue
        seen, expected = _lines(mine), _lines(theirs)
        if seen != expected:
            first = next(
                (pair for pair in zip(seen, expected, strict=False) if pair[0] != pair[1]),
                (f"{len(seen)} line(s)", f"{len(expected)} line(s)"),
            )
            problems.append(
                f"page {number} shows other content than Squall renders: {first[0]!r} "
                f"where Squall has {first[1]!r}"
            )
    return problems


def _drawing(page: Any) -> bytes:
    contents = page.get_contents()
    return bytes(contents.get_data()) if contents is not None else b""


def _lines(page: Any) -> list[str]:
    return [
        " ".join(line.split()) for line in (page.extract_text() or "").splitlines() if line.strip()
    ]
