"""Who may sign in as whom with what rights: sign-in actors, role bindings, API tokens, and
the audit log's reading and verification.

Every change is authorized, audited and done in the caller's transaction, like every other
service.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from squall.core import audit
from squall.core.auth import Actor, AuthTarget, Grant, authorize, is_allowed
from squall.core.errors import NotFound, PermissionDenied, Unauthenticated, ValidationError
from squall.core.events import emit
from squall.core.models import ApiToken, AuditRecord, RoleBinding, SignIn, utcnow
from squall.core.permissions import ROLES, Permission
from squall.core.runtime import Runtime
from squall.core.values.access import (
    AuditCheck,
    AuditEntry,
    AuditFilter,
    Binding,
    ChainBreak,
    RoleOverview,
    TokenInfo,
)

TOKEN_PREFIX = "sq"
MAX_TOKEN_DAYS = 366
LAST_USED_GRAIN = dt.timedelta(minutes=1)


# --- signing in ----------------------------------------------------------------------


def grants_for_groups(mapping: Mapping[str, str], groups: Iterable[str]) -> list[Grant]:
    """The grants the configured group mapping gives someone in `groups`."""
    found: list[Grant] = []
    for group in groups:
        for text in mapping.get(group, "").split(","):
            if text.strip():
                found.append(Grant.parse(text))
    return found


def bound_grants(session: Session, user: str, groups: Iterable[str]) -> list[Grant]:
    """Grants given in Squall to the user or to one of their groups."""
    subjects = [f"user:{user}", *(f"group:{group}" for group in groups)]
    return [
        Grant.parse(text)
        for text in session.scalars(
            select(RoleBinding.grant).where(RoleBinding.subject.in_(subjects))
        )
    ]


def person(session: Session, rt: Runtime, user: str, groups: Sequence[str]) -> Actor:
    """A signed-in person with the grants their groups (through `sso.roles`) and role
    bindings give now: worked out at every request, so revoking a binding takes effect at
    once. The groups are those the provider named at their sign-in."""
    grants = grants_for_groups(rt.settings.sso.roles, groups) + bound_grants(session, user, groups)
    return Actor(name=user, source="sso", grants=tuple(dict.fromkeys(grants)), groups=tuple(groups))


def sign_in(
    session: Session, rt: Runtime, *, user: str, groups: Sequence[str], email: str | None = None
) -> Actor:
    """The actor a person signing in through the identity provider becomes, recorded. Their
    groups come from the provider at every sign-in: a change there shows at the next one."""
    if not user:
        raise ValidationError("the identity provider named no user")
    actor = person(session, rt, user, groups)
    details = {
        "groups": list(groups),
        "grants": [str(grant) for grant in actor.grants],
        "email": email,
    }
    audit.record(session, actor, "login", f"user {user}", details)
    emit(session, "user.login", actor=user, groups=list(groups))
    # Their tokens act with what the provider gives them now, no longer what it gave before.
    session.execute(
        update(ApiToken)
        .where(ApiToken.owner == user, ApiToken.revoked_at.is_(None))
        .values(
            grants=[str(g) for g in grants_for_groups(rt.settings.sso.roles, groups)],
            groups=list(groups),
        )
    )
    return actor


def start_session(session: Session, user: str, hours: float) -> str:
    """A browser session kept server-side; the key goes in the (signed) session cookie."""
    now = utcnow()
    session.execute(delete(SignIn).where(SignIn.expires_at < now))
    key = secrets.token_urlsafe(32)
    session.add(
        SignIn(id=_hash(key), user=user, created_at=now, expires_at=now + dt.timedelta(hours=hours))
    )
    return key


def session_is_live(session: Session, user: str, key: str) -> bool:
    """Whether the browser session `key` of `user` is still on: not signed out, not expired."""
    found = session.get(SignIn, _hash(key))
    return (
        found is not None
        and found.user == user
        and found.ended_at is None
        and found.expires_at > utcnow()
    )


def sign_out(session: Session, actor: Actor, key: str | None = None) -> None:
    """Record the sign-out and end the browser session server-side: a copy of its cookie
    is refused from now on."""
    if key:
        session.execute(
            update(SignIn)
            .where(SignIn.id == _hash(key), SignIn.ended_at.is_(None))
            .values(ended_at=utcnow())
        )
    audit.record(session, actor, "logout", f"user {actor.name}")


def abilities(rt: Runtime, actor: Actor) -> frozenset[Permission]:
    """The permissions `actor` holds somewhere: what the console offers them (to show,
    never to enforce)."""
    anywhere = AuthTarget("any", partial=True)
    return frozenset(p for p in Permission if is_allowed(rt.plugins.hook, actor, p, anywhere))


# --- role bindings ---------------------------------------------------------------------


def grant_role(session: Session, rt: Runtime, actor: Actor, subject: str, grant: str) -> Binding:
    """Give `subject` (`user:NAME` or `group:NAME`) a role, maybe scoped."""
    authorize(rt.plugins.hook, actor, Permission.ROLES_MANAGE, AuthTarget("roles"))
    kind, _, name = subject.partition(":")
    if kind not in ("user", "group") or not name:
        raise ValidationError(f"subject {subject!r}: write user:NAME or group:NAME")
    parsed = Grant.parse(grant)
    if parsed.role not in ROLES:
        raise ValidationError(f"no role {parsed.role!r}; roles: {', '.join(ROLES)}")
    text = str(parsed)
    existing = session.scalar(
        select(RoleBinding).where(RoleBinding.subject == subject, RoleBinding.grant == text)
    )
    if existing is not None:
        raise ValidationError(f"{subject} already has {text}")
    binding = RoleBinding(subject=subject, grant=text, created_by=actor.name, created_at=utcnow())
    session.add(binding)
    session.flush()
    audit.record(session, actor, "role.grant", subject, {"grant": text})
    emit(session, "role.granted", actor=actor.name, subject=subject, grant=text)
    return _binding(binding)


def revoke_role(session: Session, rt: Runtime, actor: Actor, binding_id: int) -> Binding:
    authorize(rt.plugins.hook, actor, Permission.ROLES_MANAGE, AuthTarget("roles"))
    binding = session.get(RoleBinding, binding_id)
    if binding is None:
        raise NotFound(f"no role binding {binding_id}")
    shown = _binding(binding)
    session.delete(binding)
    audit.record(session, actor, "role.revoke", binding.subject, {"grant": binding.grant})
    emit(session, "role.revoked", actor=actor.name, subject=binding.subject, grant=binding.grant)
    return shown


def bindings(session: Session, rt: Runtime, actor: Actor) -> list[Binding]:
    authorize(rt.plugins.hook, actor, Permission.VIEW, AuthTarget("roles", partial=True))
    return [_binding(b) for b in session.scalars(select(RoleBinding).order_by(RoleBinding.subject))]


def role_overview(session: Session, rt: Runtime, actor: Actor) -> RoleOverview:
    """Role bindings given in Squall, and the roles provider groups map to."""
    return RoleOverview(tuple(bindings(session, rt, actor)), dict(rt.settings.sso.roles))


def _binding(binding: RoleBinding) -> Binding:
    return Binding(
        binding.id, binding.subject, binding.grant, binding.created_by, binding.created_at
    )


# --- API tokens ------------------------------------------------------------------------


def create_token(
    session: Session,
    rt: Runtime,
    actor: Actor,
    *,
    name: str,
    days: int = 30,
    scopes: Sequence[str] | None = None,
    user: str | None = None,
) -> tuple[TokenInfo, str]:
    """A token acting as `actor` (or, made by someone who manages roles, as the named
    `user`), limited to `scopes` (permissions) if given, for `days` days. Returns it with
    its secret, which is shown this once and stored only hashed.

    It acts with its owner's grants at each use: the role bindings they have then, and
    what their provider groups gave them at their latest sign-in."""
    if actor.source == "token":
        raise PermissionDenied(actor.name, "sign-in", "tokens (a token cannot make tokens)")
    owner = actor.name if user is None else user.strip()
    if owner != actor.name:
        authorize(rt.plugins.hook, actor, Permission.ROLES_MANAGE, AuthTarget("token", owner))
        if not owner or len(owner) > 200 or any(c.isspace() for c in owner):
            raise ValidationError(
                "a token's user is a user name: no spaces, at most 200 characters"
            )
    if not name.strip():
        raise ValidationError("a token needs a name (what it is for)")
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise ValidationError(f"a token lasts 1 to {MAX_TOKEN_DAYS} days")
    known = {permission.value for permission in Permission}
    unknown = sorted(set(scopes or ()) - known)
    if unknown:
        raise ValidationError(
            f"unknown permission(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    standing: list[str] = []
    if owner == actor.name:
        # What they hold besides Squall's bindings (read at each use): the grants of their
        # sign-in, or the local operator's.
        bound = set(bound_grants(session, owner, actor.groups))
        standing = [str(grant) for grant in actor.all_grants() if grant not in bound]
    secret = secrets.token_urlsafe(32)
    token = ApiToken(
        owner=owner,
        name=name.strip(),
        secret_hash=_hash(secret),
        scopes=sorted(set(scopes)) if scopes else None,
        grants=list(dict.fromkeys(standing)),
        groups=list(actor.groups) if owner == actor.name else [],
        created_at=utcnow(),
        expires_at=utcnow() + dt.timedelta(days=days),
    )
    session.add(token)
    session.flush()
    details = {"token": token.id, "name": token.name, "scopes": token.scopes, "days": days}
    if owner != actor.name:
        details["user"] = owner
    audit.record(session, actor, "token.create", f"token {token.id}", details)
    return _info(token), f"{TOKEN_PREFIX}_{token.id}_{secret}"


def revoke_token(session: Session, rt: Runtime, actor: Actor, token_id: int) -> TokenInfo:
    """Its owner, or someone who manages roles, can revoke a token."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"no API token {token_id}")
    if token.owner != actor.name:
        authorize(
            rt.plugins.hook, actor, Permission.ROLES_MANAGE, AuthTarget("token", str(token_id))
        )
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(session, actor, "token.revoke", f"token {token.id}", {"owner": token.owner})
    return _info(token)


def tokens(
    session: Session, rt: Runtime, actor: Actor, *, everyone: bool = False
) -> list[TokenInfo]:
    query = select(ApiToken).order_by(ApiToken.id)
    if everyone:
        authorize(rt.plugins.hook, actor, Permission.ROLES_MANAGE, AuthTarget("token"))
    else:
        query = query.where(ApiToken.owner == actor.name)
    return [_info(token) for token in session.scalars(query)]


def authenticate_token(session: Session, text: str) -> Actor:
    """The actor a presented token stands for; Unauthenticated for anything not valid now.

    Its powers are its owner's grants now: the role bindings they have at this moment
    (revoking one takes effect at once) and what their provider groups gave them at their
    latest sign-in; a scoped token may use its listed permissions only."""
    parts = text.strip().split("_", 2)
    if (
        len(parts) != 3
        or parts[0] != TOKEN_PREFIX
        or not parts[1].isdigit()
        or len(parts[1]) > 9  # beyond any id the database holds
    ):
        raise Unauthenticated("not a Squall API token")
    token = session.get(ApiToken, int(parts[1]))
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(parts[2])):
        raise Unauthenticated("unknown API token")
    now = utcnow()
    if token.revoked_at is not None:
        raise Unauthenticated(f"API token {token.id} was revoked")
    if token.expires_at <= now:
        raise Unauthenticated(f"API token {token.id} has expired")
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_GRAIN:
        token.last_used_at = now  # to the minute: a script's every call need not write
    groups = [str(group) for group in token.groups or ()]
    grants = [Grant.parse(text) for text in token.grants] + bound_grants(
        session, token.owner, groups
    )
    return Actor(
        name=token.owner,
        source="token",
        grants=tuple(dict.fromkeys(grants)),
        groups=tuple(groups),
        scopes=frozenset(token.scopes) if token.scopes is not None else None,
    )


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(token: ApiToken) -> TokenInfo:
    return TokenInfo(
        token.id,
        token.owner,
        token.name,
        tuple(token.scopes) if token.scopes is not None else None,
        token.created_at,
        token.expires_at,
        token.revoked_at,
        token.last_used_at,
    )


# --- the audit log ---------------------------------------------------------------------


def audit_entries(
    session: Session, rt: Runtime, actor: Actor, filters: AuditFilter | None = None
) -> list[AuditEntry]:
    """Newest first."""
    authorize(rt.plugins.hook, actor, Permission.AUDIT_VIEW, AuthTarget("audit"))
    filters = filters or AuditFilter()
    query = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(filters.limit)
    if filters.actor:
        query = query.where(AuditRecord.actor == filters.actor)
    if filters.action:
        query = query.where(AuditRecord.action.startswith(filters.action, autoescape=True))
    if filters.target:
        query = query.where(AuditRecord.target.icontains(filters.target, autoescape=True))
    if filters.since:
        query = query.where(AuditRecord.created_at >= filters.since)
    if filters.until:
        query = query.where(AuditRecord.created_at < filters.until)
    return [
        AuditEntry(r.id, r.created_at, r.actor, r.action, r.target, dict(r.details), r.hash)
        for r in session.scalars(query)
    ]


def verify_audit(
    session: Session, rt: Runtime, actor: Actor, *, head: str | None = None
) -> AuditCheck:
    """Every place where the chain does not hold; and, given a head noted earlier, whether
    that record is still in the chain (deleting the newest records shows only so)."""
    authorize(rt.plugins.hook, actor, Permission.AUDIT_VIEW, AuthTarget("audit"))
    records = list(session.scalars(select(AuditRecord).order_by(AuditRecord.id)))
    breaks = audit.verify(records, session.info["audit_key"])
    if head and not any(record.hash == head for record in records):
        breaks.append(ChainBreak(0, f"the head noted earlier ({head[:12]}…) is gone"))
    return AuditCheck(len(records), records[-1].hash if records else audit.GENESIS, breaks)
