"""Who may do what, and what was done: `/roles` (the matrix, provider groups, role
bindings), `/audit` (filters, CSV export, chain check) and `/tokens` (API tokens).

Every change goes through `squall.core.services.access`, which checks and records it; the page
only hides buttons the person could not use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from nicegui import app, ui

from squall.api.v1 import refusal
from squall.core.errors import SquallError, ValidationError
from squall.core.permissions import DESCRIPTIONS, ROLE_DESCRIPTIONS, ROLES, Permission
from squall.core.services import access
from squall.core.values.access import AuditEntry, AuditFilter, audit_csv
from squall.ui.components import code_spans
from squall.ui.context import Console
from squall.ui.theme import frame

T = TypeVar("T")
AUDIT_ACTIONS = ("", "login", "logout", "deployment.", "inventory.", "role.", "token.")


def register(console: Console) -> None:
    @ui.page("/roles")
    async def roles_page() -> None:
        with frame(console, "Who can do what"):
            await RolesPage(console).build()

    @ui.page("/audit")
    async def audit_page(
        actor: str = "", action: str = "", target: str = "", since: str = "", until: str = ""
    ) -> None:
        with frame(console, "Audit log"):
            filters = {"actor": actor, "action": action, "target": target}
            await AuditPage(console, filters | {"since": since, "until": until}).build()

    @ui.page("/tokens")
    async def tokens_page() -> None:
        with frame(console, "API tokens"):
            await TokensPage(console).build()

    @app.get("/audit.csv")
    def audit_csv_download(
        request: Request,
        actor: str = "",
        action: str = "",
        target: str = "",
        since: str = "",
        until: str = "",
    ) -> Response:
        try:
            filters = audit_filter(actor, action, target, since, until, limit=100_000)
            with console.runtime.db.read() as session:
                entries = access.audit_entries(
                    session, console.runtime, console.actor(request), filters
                )
        except SquallError as error:
            return refusal(error)
        return Response(
            audit_csv(entries),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": "attachment; filename=squall-audit.csv"},
        )


async def refused_or(work: Awaitable[T]) -> T | None:
    """The result of a service call, or None once its refusal is shown to the person."""
    try:
        return await work
    except SquallError as error:
        ui.notify(str(error), type="negative", multi_line=True)
        return None


def audit_filter(
    actor: str, action: str, target: str, since: str, until: str, *, limit: int = 500
) -> AuditFilter:
    """Filters as typed in the page or the CSV link; dates are whole days (UTC)."""
    return AuditFilter(
        actor=actor.strip() or None,
        action=action.strip() or None,
        target=target.strip() or None,
        since=_day(since, "since"),
        until=_day(until, "until", next_day=True),
        limit=limit,
    )


def _day(text: str, name: str, *, next_day: bool = False) -> dt.datetime | None:
    if not text.strip():
        return None
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValidationError(f"{name}: write a date as YYYY-MM-DD, not {text!r}") from exc
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return start + dt.timedelta(days=1) if next_day else start


class RolesPage:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.actor = console.actor()
        self.may_manage = Permission.ROLES_MANAGE in access.abilities(console.runtime, self.actor)

    async def build(self) -> None:
        with ui.card().classes("w-full").mark("you"):
            ui.label("You").classes("text-lg font-semibold")
            with ui.row().classes("items-center gap-2"):
                ui.label(f"{self.actor.name} ({self.actor.source})")
                for grant in self.actor.all_grants() or ():
                    ui.badge(str(grant), color="teal")
                if not self.actor.all_grants():
                    ui.label("no role: ask an administrator").classes("text-orange-700")
            if self.actor.groups:
                ui.label("provider groups: " + ", ".join(self.actor.groups)).classes(
                    "text-sm text-gray-600"
                )
        self.matrix()
        self.group_mapping()
        with ui.card().classes("w-full"):
            ui.label("Role bindings given in Squall").classes("text-lg font-semibold")
            ui.label("In addition to what provider groups give; they take effect at once.").classes(
                "text-sm text-gray-600"
            )
            self.bindings = ui.column().classes("w-full gap-1").mark("bindings")
            if self.may_manage:
                with ui.row().classes("items-end gap-2"):
                    self.subject = ui.input("who", placeholder="user:alice or group:ops").mark(
                        "grant-subject"
                    )
                    self.grant = ui.input("grant", placeholder="deployer@env:staging").mark(
                        "grant-role"
                    )
                    ui.button("Grant", icon="add", on_click=self.add).mark("grant")
        await self.refresh()

    def matrix(self) -> None:
        columns = [
            {"name": "permission", "label": "permission", "field": "permission", "align": "left"},
            {"name": "allows", "label": "what it allows", "field": "allows", "align": "left"},
        ] + [{"name": role, "label": role, "field": role, "align": "center"} for role in ROLES]
        rows = [
            {
                "permission": permission.value,
                "allows": DESCRIPTIONS[permission],
                **{role: "✓" if permission in ROLES[role] else "" for role in ROLES},
            }
            for permission in Permission
        ]
        code_spans(
            ui.table(columns=columns, rows=rows, row_key="permission").props("dense flat"), "allows"
        ).classes("w-full").mark("matrix")
        ui.label(" · ".join(f"{role}: {text}" for role, text in ROLE_DESCRIPTIONS.items())).classes(
            "text-sm text-gray-600"
        )

    def group_mapping(self) -> None:
        sso = self.console.runtime.settings.sso
        if not sso.enabled:
            return
        with ui.card().classes("w-full").mark("group-mapping"):
            ui.label("Provider groups (sso.roles)").classes("text-lg font-semibold")
            if not sso.roles:
                ui.label("No group maps to a role yet.")
            for group, grants in sorted(sso.roles.items()):
                ui.label(f"{group} → {grants}")

    async def refresh(self) -> None:
        found = await self.console.read(access.bindings)
        self.bindings.clear()
        with self.bindings:
            if not found:
                ui.label("None.").classes("text-gray-600")
            for binding in found:
                with ui.row().classes("items-center gap-3"):
                    ui.label(f"{binding.subject} has {binding.grant}")
                    ui.label(
                        f"by {binding.created_by}, {binding.created_at:%Y-%m-%d %H:%M} UTC"
                    ).classes("text-sm text-gray-600")
                    if self.may_manage:
                        ui.button(
                            icon="delete", on_click=lambda b=binding: self.remove(b.id)
                        ).props("flat dense").mark(f"revoke-binding-{binding.id}")

    async def add(self) -> None:
        binding = await refused_or(
            self.console.write(access.grant_role, self.subject.value or "", self.grant.value or "")
        )
        if binding is None:
            return
        ui.notify(f"{binding.subject} has {binding.grant}", type="positive")
        self.subject.value = self.grant.value = ""
        await self.refresh()

    async def remove(self, binding_id: int) -> None:
        binding = await refused_or(self.console.write(access.revoke_role, binding_id))
        if binding is None:
            return
        ui.notify(f"{binding.subject} no longer has {binding.grant}", type="positive")
        await self.refresh()


class AuditPage:
    def __init__(self, console: Console, filters: dict[str, str]) -> None:
        self.console = console
        self.filters = filters

    async def build(self) -> None:
        with ui.row().classes("items-end gap-2"):
            self.inputs = {
                "actor": ui.input("actor", value=self.filters["actor"]).mark("audit-actor"),
                "action": ui.select(
                    {value: value or "any action" for value in AUDIT_ACTIONS},
                    label="action",
                    value=self.filters["action"] if self.filters["action"] in AUDIT_ACTIONS else "",
                )
                .classes("w-40")
                .mark("audit-action"),
                "target": ui.input("target contains", value=self.filters["target"]).mark(
                    "audit-target"
                ),
                "since": ui.input("since (YYYY-MM-DD)", value=self.filters["since"]).mark(
                    "audit-since"
                ),
                "until": ui.input("until (YYYY-MM-DD)", value=self.filters["until"]).mark(
                    "audit-until"
                ),
            }
            ui.button("Filter", icon="filter_alt", on_click=self.apply).mark("audit-filter")
            self.download = ui.link("Download CSV", self.csv_link()).mark("audit-csv")
            ui.button("Verify the chain", icon="verified", on_click=self.verify).props(
                "outline"
            ).mark("audit-verify")
        self.table = (
            ui.table(
                columns=[
                    {"name": key, "label": key, "field": key, "align": "left"}
                    # A time and an action are read whole: only the rest wraps.
                    | ({"style": "white-space: nowrap"} if key in ("at", "action") else {})
                    for key in ("id", "at", "actor", "action", "target", "details")
                ],
                rows=[],
                row_key="id",
                pagination=50,
            )
            .props("dense flat wrap-cells")
            .classes("w-full")
            .mark("audit-table")
        )
        await self.refresh()

    def values(self) -> dict[str, str]:
        return {name: str(field.value or "") for name, field in self.inputs.items()}

    def csv_link(self) -> str:
        chosen = {name: value for name, value in self.values().items() if value}
        return "/audit.csv" + (f"?{urlencode(chosen)}" if chosen else "")

    async def apply(self) -> None:
        self.download.props(f'href="{self.csv_link()}"')
        await self.refresh()

    async def refresh(self) -> None:
        try:
            chosen = self.values()
            filters = audit_filter(
                chosen["actor"],
                chosen["action"],
                chosen["target"],
                chosen["since"],
                chosen["until"],
            )
            entries = await self.console.read(access.audit_entries, filters)
        except SquallError as error:
            self.table.rows = []
            ui.notify(str(error), type="negative", multi_line=True)
            return
        self.table.rows = [row(entry) for entry in entries]
        self.table.update()

    async def verify(self) -> None:
        check = await refused_or(self.console.read(access.verify_audit))
        if check is None:
            return
        if check.breaks:
            first = check.breaks[0]
            ui.notify(
                f"the audit log was tampered with: {len(check.breaks)} break(s); first at "
                f"record {first.record_id}: {first.reason}",
                type="negative",
                multi_line=True,
                timeout=0,
                close_button=True,
            )
        else:
            ui.notify(
                f"chain intact: {check.records} record(s), head {check.head[:16]}…",
                type="positive",
            )


def row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": f"{entry.at:%Y-%m-%d %H:%M:%S}",
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "details": entry.details_text,
    }


class TokensPage:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.actor = console.actor()
        self.may_manage = Permission.ROLES_MANAGE in access.abilities(console.runtime, self.actor)

    async def build(self) -> None:
        if not self.console.runtime.settings.sso.enabled:
            ui.label(
                "Without single sign-on the console and its API serve only this machine and "
                "need no token; tokens are used once sign-on is configured."
            ).classes("text-gray-600")
        with ui.card().classes("w-full"):
            ui.label("New token").classes("text-lg font-semibold")
            ui.label(
                "A token acts as you, with your roles (or only the permissions you pick), "
                "until it expires or is revoked. It is shown once."
            ).classes("text-sm text-gray-600")
            with ui.row().classes("items-end gap-2"):
                self.name = ui.input("what it is for", placeholder="ci-deploys").mark("token-name")
                self.days = ui.number("days", value=30, min=1, max=access.MAX_TOKEN_DAYS).mark(
                    "token-days"
                )
                self.scopes = (
                    ui.select(
                        [permission.value for permission in Permission],
                        multiple=True,
                        label="only these permissions (default: all of yours)",
                        value=[],
                    )
                    .classes("w-96")
                    .mark("token-scopes")
                )
                ui.button("Create", icon="key", on_click=self.create).mark("token-create")
        self.everyone = None
        if self.may_manage:
            self.everyone = ui.switch("everyone's tokens", on_change=self.refresh).mark(
                "token-everyone"
            )
        self.list = ui.column().classes("w-full gap-1").mark("tokens")
        await self.refresh()

    async def create(self) -> None:
        made = await refused_or(
            self.console.write(
                access.create_token,
                name=self.name.value or "",
                days=int(self.days.value or 0),
                scopes=list(self.scopes.value or []) or None,
            )
        )
        if made is None:
            return
        info, secret = made
        with ui.dialog() as dialog, ui.card().classes("w-[40rem]"):
            ui.label(f"Token {info.id}: {info.name}").classes("text-lg font-semibold")
            ui.label("Copy it now: it is shown this once and stored only hashed.")
            ui.input(value=secret).props("readonly outlined").classes("w-full font-mono").mark(
                "token-secret"
            )
            ui.label(f"Use it as: Authorization: Bearer {secret[:10]}…").classes("text-sm")
            ui.button("Done", on_click=dialog.close).mark("token-done")
        dialog.open()
        self.name.value = ""
        await self.refresh()

    async def refresh(self) -> None:
        everyone = bool(self.everyone and self.everyone.value)
        found = await refused_or(self.console.read(access.tokens, everyone=everyone))
        if found is None:
            return
        self.list.clear()
        with self.list:
            if not found:
                ui.label("No tokens.").classes("text-gray-600")
            for info in found:
                state = "revoked" if info.revoked_at else ("active" if info.active else "expired")
                with ui.row().classes("items-center gap-3").mark(f"token-{info.id}"):
                    ui.label(f"#{info.id} {info.name}").classes("font-semibold")
                    ui.badge(state, color="green" if state == "active" else "grey")
                    ui.label(
                        f"{info.owner} · {', '.join(info.scopes or ['all permissions'])} · "
                        f"expires {info.expires_at:%Y-%m-%d} · last used "
                        + (f"{info.last_used_at:%Y-%m-%d %H:%M}" if info.last_used_at else "never")
                    ).classes("text-sm text-gray-600")
                    if state == "active":
                        ui.button("Revoke", on_click=lambda i=info: self.revoke(i.id)).props(
                            "flat dense color=negative"
                        ).mark(f"revoke-token-{info.id}")

    async def revoke(self, token_id: int) -> None:
        info = await refused_or(self.console.write(access.revoke_token, token_id))
        if info is None:
            return
        ui.notify(f"token {info.id} ({info.name}) revoked", type="positive")
        await self.refresh()
