"""Role-based permissions: an actor may do what one of their grants allows on the target.

A token limited to some permissions is denied everything else, whatever its holder's
roles (a deny, so no other plugin can grant it back).
"""

from __future__ import annotations

from squall.core.auth import Actor, AuthTarget
from squall.core.hookspecs import hookimpl
from squall.core.permissions import ROLES


@hookimpl(trylast=True)
def squall_authorize(actor: Actor, permission: str, target: AuthTarget) -> bool | None:
    if actor.scopes is not None and permission not in actor.scopes:
        return False
    for grant in actor.all_grants():
        if permission in ROLES.get(grant.role, frozenset()) and grant.covers(target):
            return True
    # No opinion rather than a deny: another plugin may grant what roles do not.
    return None
