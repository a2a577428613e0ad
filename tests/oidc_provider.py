"""A real OpenID Provider (npm ``oidc-provider``, see ``tests/oidc/provider.js``) on loopback.

    with OidcProvider(tmp_path, redirect_uris=[f"{app}/auth/callback"],
                      accounts={"alice": ["ops-admins"]}) as op:
        op.discovery_url  # http://127.0.0.1:<port>/.well-known/openid-configuration

The client is confidential (``client_secret_basic`` by default), code flow with PKCE S256
only, scopes ``openid email profile groups``. There is no login form: the authorization
request's ``login_hint`` names the account (unknown or missing: HTML 400; another account
than the provider session's: a fresh login as that one), consent is automatic.
``end_session_url`` (``?id_token_hint=…`` or ``?client_id=…``, ``&post_logout_redirect_uri=…``
registered, optional ``&state=…``) logs out with 303 redirects only, no confirmation page.
The provider's cookies are ``op_session``/``op_interaction*`` (cookies ignore ports).
node's output goes to ``<workdir>/oidc-provider.log`` (see ``log()``).
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import json
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
START_TIMEOUT = 20.0


@dataclass(frozen=True)
class OidcAccount:
    name: str
    groups: tuple[str, ...]
    email: str


def _ensure_node_modules() -> None:
    """``npm ci --prefix tests/oidc`` unless already installed (serialised across processes)."""
    marker = OIDC_DIR / "node_modules" / "oidc-provider" / "package.json"
    if marker.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            "npm is not installed: the OpenID Provider tests need Node.js 20 and npm"
        )
    key = hashlib.sha256(str(OIDC_DIR).encode()).hexdigest()[:12]
    with open(Path(tempfile.gettempdir()) / f"squall-oidc-npm-ci-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return
        done = subprocess.run(
            [npm, "ci", "--prefix", str(OIDC_DIR), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0 or not marker.exists():
            raise RuntimeError(f"npm ci --prefix {OIDC_DIR} failed:\n{done.stdout}\n{done.stderr}")


class OidcProvider:
    def __init__(
        self,
        workdir: Path,
        *,
        redirect_uris: Sequence[str],
        post_logout_redirect_uris: Sequence[str] = (),
        accounts: Mapping[str, Sequence[str]],
        client_id: str = "squall",
        client_secret: str | None = None,
        token_endpoint_auth_method: str = "client_secret_basic",
    ) -> None:
        self.workdir = Path(workdir)
        self.redirect_uris = list(redirect_uris)
        self.post_logout_redirect_uris = list(post_logout_redirect_uris)
        self.accounts = {
            name: OidcAccount(name=name, groups=tuple(groups), email=f"{name}@example.com")
            for name, groups in accounts.items()
        }
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(32)
        self.token_endpoint_auth_method = token_endpoint_auth_method
        self.issuer = ""
        self.port = 0
        self.log_path = self.workdir / "oidc-provider.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def end_session_url(self) -> str:
        return f"{self.issuer}/session/end"

    def _config(self) -> str:
        return json.dumps(
            {
                "port": 0,
                "watch_stdin": True,
                "client": {
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "redirect_uris": self.redirect_uris,
                    "post_logout_redirect_uris": self.post_logout_redirect_uris,
                    "token_endpoint_auth_method": self.token_endpoint_auth_method,
                },
                "accounts": {
                    a.name: {
                        "groups": list(a.groups),
                        "email": a.email,
                        "name": a.name.capitalize(),
                    }
                    for a in self.accounts.values()
                },
            }
        )

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self) -> OidcProvider:
        if self._proc is not None:
            raise RuntimeError("OidcProvider already started")
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed: the OpenID Provider tests need Node.js 20")
        _ensure_node_modules()
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            # stdin stays an open pipe that we never write: when this process dies, however
            # it dies, node sees EOF and exits ("watch_stdin").
            self._proc = subprocess.Popen(
                [node, str(OIDC_DIR / "provider.js"), self._config()],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=OIDC_DIR,
            )
        atexit.register(self.stop)
        try:
            self.issuer = self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.port = int(self.issuer.rsplit(":", 1)[1])
        return self

    def _wait_ready(self) -> str:
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            ready = re.search(r"^ready (http://127\.0\.0\.1:\d+)\n", self.log(), re.MULTILINE)
            if ready:
                return ready.group(1)
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"OpenID Provider exited with status {self._proc.returncode}:\n{self.log()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"OpenID Provider not ready after {START_TIMEOUT}s:\n{self.log()}"
                )
            time.sleep(0.02)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        atexit.unregister(self.stop)
        try:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        finally:
            if proc.stdin is not None:
                proc.stdin.close()

    def __enter__(self) -> OidcProvider:
        return self if self._proc is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
