"""Role-based permissions: an actor may do what one of their roles grants."""

from __future__ import annotations

from core.auth import Actor, AuthTarget
from core.hookspecs import hookimpl
from core.permissions import granted


@hookimpl(trylast=True)
def squall_authorize(actor: Actor, permission: str, target: AuthTarget) -> bool | None:
    # No opinion rather than a deny: another plugin may grant what roles do not.
    return True if permission in granted(actor.roles) else None
