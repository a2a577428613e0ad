"""What every web process of Squall serves besides its pages: the login guard, the
sign-in routes, the session cookie's settings and the REST API."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from squall.api import v1
from squall.api.auth import SESSION_COOKIE, Authenticator, LoginGuard
from squall.core.runtime import Runtime


def install(app: FastAPI, runtime: Runtime) -> Authenticator:
    """Put the guard in front of `app` and add the sign-in routes and /api/v1. The session
    middleware (`session_options`) must wrap the guard: add it afterwards."""
    # Pages and the API's follow stream show what workers in other processes write.
    runtime.db.listen()
    authenticator = Authenticator(runtime)
    app.add_middleware(LoginGuard, authenticator=authenticator)
    authenticator.register_routes(app)
    v1.register(app, runtime)
    return authenticator


def session_options(runtime: Runtime) -> dict[str, Any]:
    """The session cookie: HttpOnly (always, with Starlette), SameSite=Lax, Secure when the
    console is served over https, and lasting as long as a sign-in. Signed with a key
    derived from the installation's secret key, so sessions survive a restart and hold in
    every console process of one installation."""
    sso = runtime.settings.sso
    return {
        "secret_key": runtime.secrets.derive("session cookies").hex(),
        "session_cookie": SESSION_COOKIE,
        "same_site": "lax",
        "https_only": bool(sso.public_url and sso.public_url.startswith("https://")),
        "max_age": int(sso.session_hours * 3600),
    }
