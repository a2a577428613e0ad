"""Who is acting, on what, and the rule that decides: any deny wins, one allow is needed."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field

import pluggy

from core.errors import PermissionDenied


@dataclass(frozen=True)
class Actor:
    """A person or script acting through Squall."""

    name: str
    roles: frozenset[str] = frozenset()
    source: str = "local"
    """How they proved who they are: `local` (the OS user at the machine), `sso`, `token`."""


@dataclass(frozen=True)
class AuthTarget:
    """What an action applies to; scoped grants look at clusters and environments."""

    kind: str
    """`deployment`, `deployment_type`, `inventory`, `audit`, …"""
    name: str | None = None
    clusters: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.kind} {self.name}" if self.name else self.kind


def local_operator() -> Actor:
    """The person at the machine when no single sign-on is configured: full rights."""
    return Actor(name=getpass.getuser(), roles=frozenset({"admin"}), source="local")


def authorize(hook: pluggy.HookRelay, actor: Actor, permission: str, target: AuthTarget) -> None:
    """Raise PermissionDenied unless some plugin allows and none denies."""
    votes = hook.squall_authorize(actor=actor, permission=permission, target=target)
    if False in votes or True not in votes:
        raise PermissionDenied(actor.name, permission, target.describe())


def is_allowed(hook: pluggy.HookRelay, actor: Actor, permission: str, target: AuthTarget) -> bool:
    votes = hook.squall_authorize(actor=actor, permission=permission, target=target)
    return True in votes and False not in votes
