"""Role bindings, API tokens and the audit log as listed and checked (made by
`squall.core.services.access` and `squall.core.audit`)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from squall.core.params import dotted


@dataclass(frozen=True)
class Binding:
    id: int
    subject: str
    grant: str
    created_by: str
    created_at: dt.datetime


@dataclass(frozen=True)
class RoleOverview:
    bindings: tuple[Binding, ...]
    provider_groups: Mapping[str, str]
    """`sso.roles`: the grants each group of the identity provider maps to."""


@dataclass(frozen=True)
class TokenInfo:
    id: int
    owner: str
    name: str
    scopes: tuple[str, ...] | None
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.expires_at > dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = 500


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    details: Mapping[str, Any]
    hash: str

    @property
    def details_text(self) -> str:
        """The details for a person to read, as parameters read everywhere (nested ones by
        dotted names, nothing unset); the CSV export keeps them whole, as JSON."""
        return ", ".join(f"{key}={value}" for key, value in dotted(self.details))


def audit_csv(entries: Sequence[AuditEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "at", "actor", "action", "target", "details", "hash"])
    for entry in entries:
        writer.writerow(
            [
                entry.id,
                entry.at.isoformat(),
                entry.actor,
                entry.action,
                entry.target,
                json.dumps(entry.details, ensure_ascii=False, default=str),
                entry.hash,
            ]
        )
    return out.getvalue()


@dataclass(frozen=True)
class ChainBreak:
    """Where the audit chain does not hold (`record_id` 0: its head is gone)."""

    record_id: int
    reason: str


@dataclass(frozen=True)
class AuditCheck:
    records: int
    head: str
    """The newest record's hash: note it somewhere else to detect a cut-off tail later."""
    breaks: list[ChainBreak]
