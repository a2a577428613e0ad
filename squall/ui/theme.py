"""The frame every page shares: header, navigation, who is signed in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nicegui import ui

from squall.core.permissions import Permission
from squall.core.services import access
from squall.ui.context import Console

NAVIGATION: tuple[tuple[str, str, Permission | None], ...] = (
    ("Board", "/", None),
    ("New deployment", "/new", Permission.CREATE),
    ("Inventory", "/inventory", None),
    ("Catalogue", "/catalogue", None),
    ("Reports", "/reports", Permission.VIEW),
    ("Audit", "/audit", Permission.AUDIT_VIEW),
    ("Who can do what", "/roles", None),
    ("Tokens", "/tokens", None),
)
"""Label, path, and the permission without which the link is not shown (the page and
the services refuse anyway)."""

STATUS_COLORS = {
    "pending": "#9e9e9e",
    "queued": "#ab47bc",
    "waiting": "#ab47bc",
    "awaiting_approval": "#ab47bc",
    "running": "#1e88e5",
    "baking": "#3949ab",
    "halting": "#fb8c00",
    "paused": "#fb8c00",
    "succeeded": "#43a047",
    "failed": "#e53935",
    "interrupted": "#c62828",
    "inconclusive": "#fdd835",
    "skipped": "#bdbdbd",
    "excluded": "#78909c",
    "cancelled": "#757575",
    "not_started": "#bdbdbd",
    "succeeded_with_exclusions": "#ef6c00",
    "rolled_back": "#8d6e63",
}


BOARD_WIDE_COLUMNS = (3, 4, 5, 6, 8, 9, 10)
"""The board's columns (from 0) a phone leaves out: the row still says which deployment,
its state and progress. Hidden by their place: a class on every cell of 200 rows weighs."""


def stylesheet() -> str:
    """Classes for the big HTML blocks (board rows, phase bars, node grids): inline styles
    repeated on every cell made those blocks several times larger."""
    narrow = ",".join(f".sq-board tr>:nth-child({index + 1})" for index in BOARD_WIDE_COLUMNS)
    narrow += "{display:none}"
    statuses = "".join(
        f".sq-{name}{{background:{color}}}.sq-fg-{name}{{color:{color}}}"
        for name, color in STATUS_COLORS.items()
    )
    return (
        ".sq-table{width:100%;border-collapse:collapse;font-size:13px}"
        ".sq-table th{text-align:left;padding:4px 8px;border-bottom:2px solid #ddd}"
        ".sq-table td{padding:4px 8px;vertical-align:top;border-bottom:1px solid #eee}"
        ".sq-muted{color:#777}.sq-chip{color:white;border-radius:4px;padding:1px 6px;"
        "white-space:nowrap}.sq-bar{display:flex;gap:2px;width:100%;min-width:160px}"
        ".sq-seg{flex-basis:0;min-width:14px;height:12px;background:#e0e0e0;display:flex;"
        "border:1px solid #bbb}.sq-grid{display:flex;flex-wrap:wrap;gap:2px}"
        ".squall-node{width:14px;height:14px;cursor:pointer}"
        ".sq-small .sq-grid{gap:1px}.sq-small .squall-node{width:8px;height:8px}"
        ".sq-show-steps{padding:2px 10px;border:1px solid #999;border-radius:4px;font-size:13px}"
        ".sq-show-steps:disabled{opacity:.4}.sq-step-pages{display:flex;gap:8px;align-items:center}"
        ".sq-stage{font-size:12px;color:#555}"
        ".sq-step{display:flex;align-items:center;gap:8px;font-size:12px;"
        "content-visibility:auto;contain-intrinsic-size:auto 100px auto 14px}"
        ".sq-step span{width:90px;overflow:hidden;text-overflow:ellipsis}"
        ".sq-cells{display:flex;flex-wrap:nowrap;gap:1px;overflow-x:auto;min-width:0;flex:1 1 0}"
        ".sq-cells i{width:6px;height:12px;flex:none}.sq-none{background:#eee}"
        ".sq-board td{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:11rem;"
        "padding:2px 8px}.sq-board th{white-space:nowrap}.sq-board .sq-bar{min-width:100px}"
        ".sq-summary{display:flex;flex-wrap:wrap;gap:4px 14px;align-items:center}"
        ".sq-strip{color:inherit;text-decoration:none;white-space:nowrap}"
        "a.sq-strip:hover{text-decoration:underline}"
        ".sq-dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:4px}"
        ".sq-scroll{overflow-x:auto;max-width:100%}"
        ".sq-clusters{display:flex;flex-wrap:wrap;gap:6px 16px}.sq-cluster{max-width:100%;"
        "content-visibility:auto;contain-intrinsic-size:auto 300px auto 60px}"
        ".sq-failures{margin:0;padding-left:16px;font-size:12px}.sq-failures pre{margin:2px 0 6px;"
        "white-space:pre-wrap;word-break:break-all;color:#555}"
        ".sq-params td{padding:1px 8px 1px 0;vertical-align:top;word-break:break-all}"
        ".sq-params td:first-child{color:#777;white-space:nowrap;word-break:normal}"
        # The navigation needs about 1,000 px on one line; narrower, it folds into a menu.
        ".sq-menu{display:none!important}"
        "@media (max-width:1000px){.sq-nav{display:none!important}"
        ".sq-menu{display:inline-flex!important}}"
        "@media (max-width:700px){.sq-desktop{display:none!important}"
        f"{narrow}}}"
        # Dark: Quasar darkens the page; these lighten what the blocks above made grey.
        ".body--dark .sq-muted,.body--dark .sq-stage,.body--dark .sq-failures pre{color:#aaa}"
        ".body--dark .sq-table th{border-color:#555}.body--dark .sq-table td{border-color:#333}"
        ".body--dark .sq-seg{background:#333;border-color:#555}"
        ".body--dark .sq-none{background:#333}.body--dark .sq-link{color:#ddd!important}" + statuses
    )


@contextmanager
def frame(console: Console, title: str) -> Iterator[None]:
    """A page: header with navigation and the signed-in person, then the content."""
    ui.page_title(f"{title} · Squall")
    ui.add_css(stylesheet())
    actor = console.actor()
    abilities = access.abilities(console.runtime, actor)
    ui.dark_mode(None)  # follows the system's light or dark setting
    links = [
        (label, target)
        for label, target, needed in NAVIGATION
        if needed is None or needed in abilities
    ]
    with ui.header().classes("items-center justify-between bg-slate-800 px-4 py-2 no-wrap"):
        with ui.row().classes("items-center gap-6 no-wrap whitespace-nowrap"):
            # In a narrow window the links fold into this menu.
            with (
                ui.button(icon="menu")
                .props("flat round dense color=white data-menu")
                .classes("sq-menu"),
                ui.menu(),
                ui.column().classes("p-3 gap-3"),
            ):
                for label, target in links:
                    ui.link(label, target).classes("no-underline")
            ui.link("Squall", "/").classes("text-xl font-bold text-white no-underline")
            for label, target in links:
                ui.link(label, target).classes("text-slate-200 no-underline sq-nav").mark(
                    f"nav-{target}"
                )
        with ui.row().classes("items-center gap-2 text-slate-200 no-wrap"):
            ui.icon("person")
            ui.label(actor.name).mark("actor")
            if actor.source == "local":
                ui.badge("local operator · full rights", color="orange").classes("sq-desktop").mark(
                    "local-mode"
                )
            else:
                grants = ", ".join(str(grant) for grant in actor.all_grants()) or "no role"
                ui.link(grants, "/roles").classes("text-slate-300 text-sm sq-desktop").mark(
                    "grants"
                )
                ui.link("Sign out", "/logout").classes("text-white").mark("sign-out")
    with ui.column().classes("w-full max-w-screen-2xl mx-auto p-4 gap-4"):
        if not abilities:
            groups = ", ".join(actor.groups) or "none"
            ui.label(
                f"You are signed in as {actor.name}, but no role is given to you (your groups "
                f"at the identity provider: {groups}). Ask an administrator for one."
            ).classes("bg-orange-100 text-orange-900 p-3 rounded w-full").mark("no-role")
        ui.label(title).classes("text-2xl font-semibold")
        yield
