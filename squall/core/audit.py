"""The audit log: every human action, append-only, each record hashing the previous one.

Editing, deleting or reordering a record breaks the chain at that record, which
`verify` reports. The hashes are HMACs keyed with the installation's secret key: someone
who can write to the database but lacks the key cannot rewrite the chain to cover an edit.
Deleting the newest records leaves a shorter chain that holds; the head hash `verify`
reports, noted elsewhere, shows that (`squall audit verify --head HASH`).

Writers serialise on the chain's head (SQLite has one writer; on PostgreSQL a
transaction-scoped advisory lock), so two actions never share a parent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from squall.core.auth import Actor
from squall.core.models import AuditRecord, utcnow
from squall.core.values.access import ChainBreak

GENESIS = "0" * 64
_CHAIN_LOCK = 727002


def record(
    session: Session, actor: Actor, action: str, target: str, details: dict[str, Any] | None = None
) -> AuditRecord:
    """Append one record in the caller's transaction (so it lands with the change)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})
    previous = session.scalar(select(AuditRecord.hash).order_by(AuditRecord.id.desc()).limit(1))
    entry = AuditRecord(
        created_at=utcnow(),
        actor=actor.name,
        action=action,
        target=target,
        details={"via": actor.source, **(details or {})},
        prev_hash=previous or GENESIS,
        hash="",
    )
    entry.hash = chain_hash(entry, session.info.get("audit_key", b""))
    session.add(entry)
    session.flush()
    return entry


def chain_hash(entry: AuditRecord, key: bytes) -> str:
    body = json.dumps(
        {
            "prev": entry.prev_hash,
            "at": entry.created_at.isoformat(),
            "actor": entry.actor,
            "action": entry.action,
            "target": entry.target,
            "details": entry.details,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def verify(records: Iterable[AuditRecord], key: bytes) -> list[ChainBreak]:
    """Every place where the chain, read in id order, does not hold."""
    breaks: list[ChainBreak] = []
    expected_previous = GENESIS
    for entry in records:
        if entry.prev_hash != expected_previous:
            breaks.append(
                ChainBreak(entry.id, "does not follow the record before it (deleted or reordered)")
            )
        if not hmac.compare_digest(chain_hash(entry, key), entry.hash):
            breaks.append(ChainBreak(entry.id, "content does not match its hash (edited)"))
        expected_previous = entry.hash
    return breaks
