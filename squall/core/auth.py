"""Who is acting, on what, and the rule that decides: any deny wins, one allow is needed."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

import pluggy

from squall.core.errors import PermissionDenied, ValidationError


@dataclass(frozen=True)
class Grant:
    """A role, everywhere or only on some clusters or environments (globs)."""

    role: str
    clusters: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    types: tuple[str, ...] = ()

    @property
    def scoped(self) -> bool:
        return bool(self.clusters or self.environments or self.types)

    def covers(self, target: AuthTarget) -> bool:
        """An unscoped grant covers everything. A scoped one covers a target all of whose
        clusters (or environments) fall in its scope, and nothing that names none; a grant
        naming types covers only deployments of those types. Any grant covers a partial
        target (a listing): what it lists is then checked item by item."""
        if target.partial:
            return True
        if self.types:
            kind = target.attributes.get("type") or (
                target.name if target.kind == "deployment_type" else None
            )
            if kind is None or not any(fnmatchcase(kind, glob) for glob in self.types):
                return False
        if self.clusters or self.environments:
            if self.clusters and target.clusters:
                return all(_matches(c, self.clusters) for c in target.clusters)
            if self.environments and target.environments:
                return all(_matches(e, self.environments) for e in target.environments)
            return False
        return True

    @classmethod
    def parse(cls, text: str) -> Grant:
        """`admin`, `deployer@env:staging`, `deployer@cluster:web-*` (several scopes joined
        by `+`: `deployer@env:staging+env:qa`)."""
        role, _, scope = text.strip().partition("@")
        scopes: dict[str, list[str]] = {"cluster": [], "env": [], "type": []}
        for part in filter(None, scope.split("+")):
            kind, _, value = part.partition(":")
            if kind not in scopes or not value:
                raise ValidationError(
                    f"grant {text!r}: a scope is cluster:GLOB, env:GLOB or type:GLOB"
                )
            scopes[kind].append(value)
        if not role:
            raise ValidationError(f"grant {text!r} names no role")
        return cls(role, tuple(scopes["cluster"]), tuple(scopes["env"]), tuple(scopes["type"]))

    def __str__(self) -> str:
        scopes = (
            [f"cluster:{c}" for c in self.clusters]
            + [f"env:{e}" for e in self.environments]
            + [f"type:{t}" for t in self.types]
        )
        return self.role + (f"@{'+'.join(scopes)}" if scopes else "")


@dataclass(frozen=True)
class Actor:
    """A person or script acting through Squall."""

    name: str
    roles: frozenset[str] = frozenset()
    """Roles held everywhere (shorthand for unscoped grants)."""
    source: str = "local"
    """How they proved who they are: `local` (the OS user at the machine), `sso`, `token`."""
    grants: tuple[Grant, ...] = ()
    """Roles held on some clusters or environments only (and unscoped ones, too)."""
    groups: tuple[str, ...] = ()
    """Their groups at the identity provider, as of their sign-in."""
    scopes: frozenset[str] | None = None
    """For an API token: the only permissions it may use (None: all the person has)."""

    def all_grants(self) -> tuple[Grant, ...]:
        return tuple(Grant(role) for role in sorted(self.roles)) + self.grants


@dataclass(frozen=True)
class AuthTarget:
    """What an action applies to; scoped grants look at clusters and environments."""

    kind: str
    """`deployment`, `deployment_type`, `inventory`, `audit`, …"""
    name: str | None = None
    clusters: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)
    partial: bool = False
    """Some of the kind, not all: may the actor do this anywhere (list deployments, see
    the New button)? Scoped grants cover it; the items themselves are checked one by one."""

    def describe(self) -> str:
        return f"{self.kind} {self.name}" if self.name else self.kind


def _matches(name: str, globs: tuple[str, ...]) -> bool:
    return any(fnmatchcase(name, glob) for glob in globs)


def local_operator() -> Actor:
    """The person at the machine when no single sign-on is configured: full rights. Named
    after the OS account this process runs as (its uid), never after $USER or $LOGNAME,
    which anyone can set: one machine, one local identity."""
    return Actor(name=os_user(), roles=frozenset({"admin"}), source="local")


def os_user() -> str:
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # an account without a passwd entry (some containers)
        return f"uid-{uid}"


def grants_of(texts: Iterable[str]) -> tuple[Grant, ...]:
    return tuple(Grant.parse(text) for text in texts)


def authorize(hook: pluggy.HookRelay, actor: Actor, permission: str, target: AuthTarget) -> None:
    """Raise PermissionDenied unless some plugin allows and none denies."""
    if not is_allowed(hook, actor, permission, target):
        raise PermissionDenied(actor.name, permission, target.describe())


def is_allowed(hook: pluggy.HookRelay, actor: Actor, permission: str, target: AuthTarget) -> bool:
    votes = hook.squall_authorize(actor=actor, permission=permission, target=target)
    return True in votes and False not in votes
