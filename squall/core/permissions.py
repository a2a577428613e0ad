"""Permissions and the built-in roles that grant them: the matrix is defined here only.

`docs/roles.md` is rendered from it (`squall roles --markdown`); a test keeps the two equal.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    VIEW = "deployment.view"
    CREATE = "deployment.create"
    APPROVE = "deployment.approve"
    CONTROL = "deployment.control"
    RETRY = "deployment.retry"
    ROLLBACK = "deployment.rollback"
    INVENTORY_EDIT = "inventory.edit"
    AUDIT_VIEW = "audit.view"
    ROLES_MANAGE = "roles.manage"
    LOCAL_NODES = "node.local"


DESCRIPTIONS: dict[Permission, str] = {
    Permission.VIEW: "see deployments, their logs and reports, the inventory and the catalogue",
    Permission.CREATE: "start a deployment (of the types, clusters, environments a grant covers)",
    Permission.APPROVE: "promote a gate (never of one's own deployment)",
    Permission.CONTROL: "pause, resume and cancel (abort) a deployment",
    Permission.RETRY: "retry failed nodes; set them aside and continue",
    Permission.ROLLBACK: "roll a deployment back",
    Permission.INVENTORY_EDIT: "import inventories",
    Permission.AUDIT_VIEW: "read and export the audit log",
    Permission.ROLES_MANAGE: "grant and revoke roles; revoke anyone's API tokens",
    Permission.LOCAL_NODES: "run deployments on `local` nodes: commands on the Squall host itself",
}

_VIEWER = frozenset({Permission.VIEW})
_OPERATOR = _VIEWER | {Permission.CONTROL, Permission.RETRY}
_DEPLOYER = _OPERATOR | {Permission.CREATE, Permission.ROLLBACK}

ROLES: dict[str, frozenset[Permission]] = {
    "viewer": _VIEWER,
    "operator": _OPERATOR,
    "deployer": _DEPLOYER,
    "approver": _VIEWER | {Permission.APPROVE},
    "auditor": _VIEWER | {Permission.AUDIT_VIEW},
    "admin": frozenset(Permission),
}

ROLE_DESCRIPTIONS: dict[str, str] = {
    "viewer": "watches",
    "operator": "keeps running deployments on track",
    "deployer": "ships changes",
    "approver": "approves gates",
    "auditor": "reads the record",
    "admin": "everything, including who may do what",
}


def granted(roles: frozenset[str]) -> frozenset[Permission]:
    return frozenset().union(*(ROLES.get(role, frozenset()) for role in roles))


def matrix_markdown() -> str:
    """The matrix of roles and permissions as the Markdown of docs/roles.md."""
    roles = list(ROLES)
    lines = [
        "# Who can do what",
        "",
        "Generated from `squall/core/permissions.py` by `squall roles --markdown`; a test fails",
        "when this page and the code differ.",
        "",
        "| permission | what it allows | " + " | ".join(roles) + " |",
        "|---|---|" + "---|" * len(roles),
    ]
    for permission in Permission:
        marks = " | ".join("✓" if permission in ROLES[role] else "" for role in roles)
        lines.append(f"| `{permission.value}` | {DESCRIPTIONS[permission]} | {marks} |")
    lines += ["", "| role | for whom |", "|---|---|"]
    lines += [f"| `{role}` | {ROLE_DESCRIPTIONS[role]} |" for role in roles]
    lines += [
        "",
        "A grant gives a role everywhere, or only where its scope says: `deployer@env:staging`,",
        "`deployer@cluster:web-*`, `deployer@type:config_change`, or several joined by `+`",
        "(`deployer@env:staging+type:noop`). A scoped grant covers an action when every",
        "cluster (or environment) it touches is in scope, and the deployment's type, if the",
        "grant names types. Any plugin may deny through the `squall_authorize` hook; a denied",
        "action says which permission was missing.",
        "",
    ]
    return "\n".join(lines)
