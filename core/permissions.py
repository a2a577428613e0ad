"""Permissions and the built-in roles that grant them: the matrix is defined here only."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    VIEW = "deployment.view"
    CREATE = "deployment.create"
    APPROVE = "deployment.approve"
    CONTROL = "deployment.control"
    """Pause, resume and cancel."""
    RETRY = "deployment.retry"
    """Retry failed nodes, exclude them and continue."""
    ROLLBACK = "deployment.rollback"
    INVENTORY_EDIT = "inventory.edit"
    AUDIT_VIEW = "audit.view"
    ROLES_MANAGE = "roles.manage"


_VIEWER = frozenset({Permission.VIEW})
_OPERATOR = _VIEWER | {Permission.CONTROL, Permission.RETRY}
_DEPLOYER = _OPERATOR | {Permission.CREATE, Permission.ROLLBACK}

ROLES: dict[str, frozenset[Permission]] = {
    "viewer": _VIEWER,
    "operator": _OPERATOR,
    "deployer": _DEPLOYER,
    "approver": _VIEWER | {Permission.APPROVE},
    "admin": frozenset(Permission),
}


def granted(roles: frozenset[str]) -> frozenset[Permission]:
    return frozenset().union(*(ROLES.get(role, frozenset()) for role in roles))
