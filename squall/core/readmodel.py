"""The one read model of a deployment: what every view of it starts from.

The board's rows, a deployment's view, what integrations and report plugins are handed,
and the REST API's schemas all extend `DeploymentRecord`, so each of these fields is read
from the database in one place (`record_fields`) and has one name everywhere.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from squall.core.models import Deployment


@dataclass(frozen=True, kw_only=True)
class DeploymentRecord:
    """A deployment: who asked for what, where, its status and its times."""

    id: int
    type: str
    """The deployment type's name (`noop`, `group`, …)."""
    title: str
    status: str
    """pending, awaiting_approval, running, paused, succeeded, failed, cancelled, rolled_back."""
    requester: str
    ticket: str | None
    target: str
    """The selector it was created with (`cluster:web*`, `tag:db`, …)."""
    attempt: int = 1
    """1, then one more for every retry of its failed nodes."""
    environments: tuple[str, ...] = ()
    """The environments of the nodes it targets, sorted."""
    clusters: tuple[str, ...] = ()
    """The clusters of the nodes it targets, sorted."""
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Deployment) -> Self:
        return cls(**record_fields(row))


def record_fields(row: Deployment) -> dict[str, Any]:
    """The record's fields read from a deployment's row, for the types that extend it:
    `BoardRow(**record_fields(row), segments=…)`."""
    return {
        "id": row.id,
        "type": row.type,
        "title": row.title,
        "status": row.status.value,
        "requester": row.requester,
        "ticket": row.ticket,
        "target": row.selector,
        "attempt": row.attempt,
        "environments": tuple(row.scope.get("environments", ())),
        "clusters": tuple(row.scope.get("clusters", ())),
        "created_at": row.created_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
    }
