"""Calling a core service as someone: one transaction, and a refused action on record.

Every surface (the CLI, the REST API, the console) calls the services through `read_as`
and `write_as`. An action refused for a missing permission (a deployment to production
without the grant, a requester promoting their own gate) is appended to the audit log as
`permission.denied`, in a transaction of its own once the refused one is rolled back: a
compliance review sees the attempts, not only what was done. Refused reads (seeing a
deployment, the audit log) are not recorded: a page refreshing every second would fill
the log with them, and they change nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from squall.core import audit
from squall.core.auth import Actor
from squall.core.errors import PermissionDenied
from squall.core.permissions import Permission
from squall.core.runtime import Runtime

T = TypeVar("T")

log = logging.getLogger(__name__)

READS = frozenset({Permission.VIEW, Permission.AUDIT_VIEW})
"""Permissions that only let someone look: refusing them is not recorded."""


def read_as(rt: Runtime, actor: Actor, service: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`service(session, rt, actor, …)` in a read-only session."""
    with refusals_recorded(rt, actor, _name(service)), rt.db.read() as session:
        return service(session, rt, actor, *args, **kwargs)


def write_as(rt: Runtime, actor: Actor, service: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`service(session, rt, actor, …)` in one transaction: committed, or rolled back on error."""
    with refusals_recorded(rt, actor, _name(service)), rt.db.write() as session:
        return service(session, rt, actor, *args, **kwargs)


@contextlib.contextmanager
def refusals_recorded(rt: Runtime, actor: Actor, attempted: str) -> Iterator[None]:
    """Put an action refused inside this block on record, then let the refusal go on.

    Wrap it around the transaction, never inside one: the record needs a transaction of
    its own, and the refused one must be over (SQLite has a single writer)."""
    try:
        yield
    except PermissionDenied as refused:
        if refused.permission not in READS:
            _record(rt, actor, attempted, refused)
        raise


def _name(service: Callable[..., Any]) -> str:
    """The action's name for the record: the service's (`promote`, `create_token`)."""
    return getattr(service, "__name__", type(service).__name__)


def _record(rt: Runtime, actor: Actor, attempted: str, refused: PermissionDenied) -> None:
    details = {"permission": refused.permission, "attempted": attempted}
    try:
        with rt.db.write() as session:
            audit.record(session, actor, "permission.denied", refused.target or "", details)
    except Exception:  # the refusal stands even if the database cannot take its record now
        log.exception("could not put on record that %s was refused %s", actor.name, details)
