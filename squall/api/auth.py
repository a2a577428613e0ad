"""Who is asking, for every web request: single sign-on (OpenID Connect, code + PKCE), API
tokens, or the local operator when no sign-on is configured; and the guard that turns
everyone else away.

The guard protects every page and route except an explicit allow-list. It only decides
whether someone is signed in; what they may do is decided by the core services they call.
"""

from __future__ import annotations

import html
import ipaddress
import time
import warnings
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import quote, urlsplit

from authlib.deprecate import AuthlibDeprecationWarning  # type: ignore[import-untyped]
from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from squall.core.auth import Actor, local_operator
from squall.core.errors import ConfigError, PermissionDenied, Unauthenticated, ValidationError
from squall.core.permissions import ROLES
from squall.core.runtime import Runtime
from squall.core.services import access

# Authlib announces at every start a move from httpx (which Squall uses) to a successor
# package, under a filter of its own that shows it always; this one, added after, wins.
warnings.filterwarnings("ignore", "The httpx module is deprecated", AuthlibDeprecationWarning)
from authlib.integrations.starlette_client import (  # type: ignore[import-untyped]  # noqa: E402
    OAuth,
    OAuthError,
)

SESSION_KEY = "squall_user"
SESSION_COOKIE = "squall_session"
PUBLIC_PATHS = ("/login", "/auth/callback", "/signed-out", "/favicon.ico")
PUBLIC_PREFIXES = ("/_nicegui/", "/_nicegui_ws/")
"""NiceGUI's static assets and websocket: a page is needed before either is of any use."""


class Authenticator:
    """Turns requests into actors, and serves the sign-in and sign-out routes."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings.sso
        self.oauth = OAuth()
        if self.settings.issuer:
            check_role_mapping(self.settings.roles)
            self.oauth.register(
                name="sso",
                client_id=self.settings.client_id,
                client_secret=self.settings.client_secret,
                server_metadata_url=discovery_url(self.settings.issuer),
                client_kwargs={"scope": self.settings.scopes, "code_challenge_method": "S256"},
            )

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def actor(self, request: Request) -> Actor | None:
        """The token's owner, the signed-in person, or the local operator; or None.

        A token counts in local mode too: it is how someone other than the person at the
        machine (a second approver, say) acts there."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            with self.runtime.db.write() as session:  # records when the token was last used
                return access.authenticate_token(session, header[7:])
        if not self.enabled:
            return local_operator()
        signed_in = signed_in_as(request.session)
        if signed_in is None:
            return None
        with self.runtime.db.read() as session:
            if not access.session_is_live(session, signed_in[0], signed_in[2]):
                return None  # signed out (or expired) server-side: a copied cookie is dead
            return access.person(session, self.runtime, signed_in[0], signed_in[1])

    def register_routes(self, app: FastAPI) -> None:
        app.add_api_route("/login", self.login, methods=["GET"], include_in_schema=False)
        app.add_api_route("/auth/callback", self.callback, methods=["GET"], include_in_schema=False)
        app.add_api_route("/logout", self.logout, methods=["GET", "POST"], include_in_schema=False)
        app.add_api_route("/signed-out", self.signed_out, methods=["GET"], include_in_schema=False)

    async def login(self, request: Request) -> Response:
        if not self.enabled:
            return RedirectResponse("/", status_code=303)
        request.session["squall_next"] = local_path(request.query_params.get("next", "/"))
        extra = {}
        if hint := request.query_params.get("login_hint"):
            extra["login_hint"] = hint
        response: Response = await self.oauth.sso.authorize_redirect(
            request, self._url(request, "/auth/callback"), **extra
        )
        return response

    async def callback(self, request: Request) -> Response:
        """The provider sends the browser back here with a code: exchange it (checking the
        state, the PKCE verifier and the ID token's signature, issuer, audience and nonce)."""
        if not self.enabled:
            return RedirectResponse("/", status_code=303)
        try:
            token = await self.oauth.sso.authorize_access_token(request)
        except OAuthError as exc:
            return _failed(f"{exc.error}: {exc.description or ''}".strip(": "))
        claims = token.get("userinfo") or {}
        if not claims:
            return _failed("the provider returned no ID token")
        user = str(claims.get(self.settings.username_claim) or claims.get("sub") or "")
        groups = claims.get(self.settings.groups_claim) or []
        if isinstance(groups, str):
            groups = [groups]
        with self.runtime.db.write() as session:
            actor = access.sign_in(
                session,
                self.runtime,
                user=user,
                groups=[str(g) for g in groups],
                email=claims.get("email"),
            )
            key = access.start_session(session, actor.name, self.settings.session_hours)
        after = local_path(request.session.get("squall_next", "/"))
        request.session.clear()  # nothing of the session before the sign-in carries over
        request.session[SESSION_KEY] = {
            "name": actor.name,
            "groups": list(actor.groups),
            "expires": time.time() + self.settings.session_hours * 3600,
            "key": key,
        }
        request.session["squall_id_token"] = token.get("id_token")
        return RedirectResponse(after, status_code=303)

    async def logout(self, request: Request) -> Response:
        if request.method == "GET" and request.headers.get("sec-fetch-site") == "cross-site":
            # A link on another site must not sign people out: ask them instead.
            return HTMLResponse(
                "<!doctype html><title>Sign out · Squall</title>"
                "<form method='post' action='/logout'><p>Sign out of Squall?</p>"
                "<button type='submit'>Sign out</button></form>"
            )
        state = request.scope.get("state", {})
        signed_in = signed_in_as(request.session)
        actor = state.get("squall_actor") if signed_in else None
        id_token = request.session.get("squall_id_token")
        request.session.clear()
        if actor is not None and signed_in is not None:
            with self.runtime.db.write() as session:
                access.sign_out(session, actor, signed_in[2])
        if not self.enabled:
            return RedirectResponse("/", status_code=303)
        metadata = await self.oauth.sso.load_server_metadata()
        end_session = metadata.get("end_session_endpoint")
        back = self._url(request, "/signed-out")
        if not end_session or not id_token:
            return RedirectResponse(back, status_code=303)
        target = (
            f"{end_session}?id_token_hint={quote(id_token)}"
            f"&post_logout_redirect_uri={quote(back, safe='')}"
        )
        return RedirectResponse(target, status_code=303)

    async def signed_out(self, request: Request) -> Response:
        return HTMLResponse(
            "<!doctype html><title>Signed out · Squall</title>"
            "<p>You are signed out of Squall.</p><p><a href='/login'>Sign in again</a></p>"
        )

    def _url(self, request: Request, path: str) -> str:
        base = self.settings.public_url or str(request.base_url)
        return base.rstrip("/") + path


def check_role_mapping(mapping: dict[str, str]) -> None:
    """A typo in `sso.roles` stops the start, rather than every sign-in of that group."""
    for group, texts in mapping.items():
        try:
            grants = access.grants_for_groups(mapping, [group])
        except ValidationError as exc:
            raise ConfigError(f"sso.roles, group {group!r}: {exc}") from exc
        for grant in grants:
            if grant.role not in ROLES:
                raise ConfigError(
                    f"sso.roles, group {group!r}: no role {grant.role!r} in {texts!r}; "
                    f"roles: {', '.join(ROLES)}"
                )


def discovery_url(issuer: str) -> str:
    return f"{issuer.rstrip('/')}/.well-known/openid-configuration"


def signed_in_as(session: MutableMapping[str, Any]) -> tuple[str, list[str], str] | None:
    """Who this browser session signed in as, their groups then, and the key of its
    server-side record; None once expired (or from before sessions had keys)."""
    data = session.get(SESSION_KEY)
    if not isinstance(data, dict) or data.get("expires", 0) < time.time() or not data.get("key"):
        return None
    return str(data["name"]), [str(group) for group in data.get("groups", [])], str(data["key"])


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cross_site_refusal(scope: Scope, sso_enabled: bool, public_url: str | None) -> str | None:
    """Why a request must be refused as possibly cross-site, or None.

    Every state-changing request (any method but GET, HEAD, OPTIONS; and every websocket,
    which the console's buttons travel over) that a browser could send on its own, with
    the session cookie or to the local console, must come from a page of this console:
    its `Origin` is the console's own (or `Sec-Fetch-Site` says same-origin), and its
    `Host` one the console answers to. A request with an API token is not checked: a page
    of another site cannot make a browser send one."""
    headers = Headers(scope=scope)
    if scope["type"] == "http" and scope["method"] in SAFE_METHODS:
        return None
    if headers.get("authorization", "").lower().startswith("bearer "):
        return None
    host = headers.get("host", "").lower()
    public = urlsplit(public_url) if public_url else None
    if not sso_enabled and not is_loopback_name(host):
        return f"refused: Host {host!r} is not this machine (the local console is loopback only)"
    if public is not None and host != public.netloc.lower():
        return f"refused: Host {host!r} is not {public.netloc} (sso.public_url)"
    if headers.get("sec-fetch-site") == "same-origin":
        return None
    secure = scope.get("scheme") in ("https", "wss")
    allowed = {f"{'https' if secure else 'http'}://{host}"}
    if public is not None:
        allowed.add(f"{public.scheme}://{public.netloc}".lower())
    origin = headers.get("origin", "").lower()
    if origin in allowed:
        return None
    return (
        f"refused: a change from {origin or 'a page of unknown origin'} "
        "(only the console's own pages, or an API token, may change anything)"
    )


def is_loopback_name(host: str) -> bool:
    """`localhost`, `127.x.y.z` or `[::1]`, with or without a port."""
    name = host.rpartition("]")[0].lstrip("[") if host.startswith("[") else host.split(":")[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class LoginGuard:
    """Pure ASGI middleware: a request reaches Squall only from someone signed in (a
    session or a valid API token), or for a path on the allow-list. Pages send the
    browser to sign in; API routes answer 401."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        settings = self.authenticator.settings
        refusal = cross_site_refusal(scope, settings.enabled, settings.public_url)
        if refusal is not None:
            await _deny(scope, receive, send, refusal, status=403)
            return
        if not self.authenticator.enabled and not _has_token(scope):
            # No sign-on: the console serves the person at this machine (on loopback only).
            scope.setdefault("state", {})["squall_actor"] = local_operator()
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            # A token is looked up in the database: not on the event loop.
            actor = await run_in_threadpool(self.authenticator.actor, request)
        except Unauthenticated as exc:
            await _deny(scope, receive, send, str(exc))
            return
        if actor is not None:
            scope.setdefault("state", {})["squall_actor"] = actor
            await self.app(scope, receive, send)
            return
        if path.startswith("/api/") or scope["type"] == "websocket":
            await _deny(
                scope, receive, send, "sign in, or send an API token (Authorization: Bearer …)"
            )
            return
        target = f"/login?next={quote(local_path(path), safe='')}"
        await RedirectResponse(target, status_code=303)(scope, receive, send)


def request_actor(request: Request) -> Actor:
    """The actor the guard let through; refuses a request it did not (fail closed)."""
    actor = request.scope.get("state", {}).get("squall_actor")
    if not isinstance(actor, Actor):
        raise PermissionDenied("anonymous", "sign-in", request.url.path)
    return actor


def _has_token(scope: Scope) -> bool:
    return Headers(scope=scope).get("authorization", "").lower().startswith("bearer ")


async def _deny(
    scope: Scope, receive: Receive, send: Send, message: str, *, status: int = 401
) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    response = JSONResponse({"detail": message}, status_code=status, headers=headers)
    await response(scope, receive, send)


def _failed(reason: str) -> Response:
    return HTMLResponse(
        "<!doctype html><title>Sign-in failed · Squall</title>"
        f"<p>Sign-in failed: {html.escape(reason)}</p><p><a href='/login'>Try again</a></p>",
        status_code=400,
    )


def local_path(path: str) -> str:
    """Only paths of this site: a `next` of `//evil.example`, `/\\evil.example` (browsers
    read the backslash as a slash) or `https://…` becomes `/`."""
    local = path.startswith("/") and not path.startswith(("//", "/\\"))
    return path if local and not any(char in path for char in "\r\n") else "/"
