"""Single sign-on against a real OpenID Provider (npm `oidc-provider`) on loopback, with
`squall serve` running as a user runs it: sign-in through plain HTTP redirects and through
headless Chromium, groups mapped to roles, forged and replayed callbacks, cookies, the
login guard, and signing out."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml
from oidc_provider import OidcProvider
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from squall.core.auth import local_operator
from squall.core.models import Cluster
from squall.core.runtime import Runtime
from squall.core.services import access
from squall.core.services.inventory import import_file
from squall.core.settings import load_settings
from squall.core.values.access import AuditEntry

ACCOUNTS = {
    "alice": ["ops-admins"],
    "bob": ["deployers-staging"],
    "carol": ["auditors", "deployers-staging"],
    "dave": ["contractors"],
}
SHOTS = Path("/tmp/squall-e2e")
ROLES = {
    "ops-admins": "admin",
    "deployers-staging": "deployer@env:staging",
    "auditors": "auditor",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """`squall serve` with single sign-on, in its own process."""

    base: str
    data: Path
    process: subprocess.Popen[str]
    log: Path

    def client(self) -> httpx.Client:
        """Like a browser on the console's own pages: its requests carry their Origin."""
        return httpx.Client(
            base_url=self.base, follow_redirects=True, timeout=20, headers={"Origin": self.base}
        )

    def sign_in(self, client: httpx.Client, user: str, next_path: str = "/") -> httpx.Response:
        return client.get("/login", params={"login_hint": user, "next": next_path})

    def audit(self) -> list[AuditEntry]:
        settings = load_settings({"SQUALL_DATA_DIR": str(self.data)})
        with Runtime.open(settings, entry_points=False) as runtime, runtime.db.read() as session:
            return access.audit_entries(session, runtime, local_operator())


def start_server(
    data: Path,
    port: int,
    provider: OidcProvider,
    *,
    roles: dict[str, str],
    host: str = "127.0.0.1",
    public_url: str | None = None,
) -> Server:
    config = data.parent / f"squall-{port}.yaml"
    sso: dict[str, Any] = {
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "roles": roles,
    }
    if public_url:
        sso["public_url"] = public_url
    config.write_text(yaml.safe_dump({"sso": sso, "demo_inventory": True}))
    # With sign-on there is no demo inventory: give the server a cluster of its own.
    inventory = data.parent / "lab.yaml"
    lab = {"defaults": {"transport": "local"}, "nodes": [{"name": "lab-1", "root": str(data)}]}
    inventory.write_text(yaml.safe_dump({"clusters": {"lab": lab}}))
    settings = load_settings({"SQUALL_DATA_DIR": str(data), "SQUALL_CONFIG": str(config)})
    with Runtime.open(settings, entry_points=False) as runtime, runtime.db.write() as session:
        if not session.scalar(select(Cluster.id).limit(1)):
            import_file(session, runtime, local_operator(), inventory)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQUALL_", "PYTEST_"))}
    env.update(SQUALL_DATA_DIR=str(data), SQUALL_CONFIG=str(config))
    log = data.parent / f"serve-{port}.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "squall",
                "serve",
                "--host",
                host,
                "--port",
                str(port),
                "--no-browser",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = Server(f"http://127.0.0.1:{port}", data, process, log)
    deadline = time.monotonic() + 40
    while True:
        try:
            if httpx.get(f"{server.base}/signed-out", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(server)
            raise AssertionError(f"squall serve did not start:\n{log.read_text()}")
        time.sleep(0.2)


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def ports() -> tuple[int, int]:
    return free_port(), free_port()


@pytest.fixture(scope="module")
def provider(
    tmp_path_factory: pytest.TempPathFactory, ports: tuple[int, int]
) -> Iterator[OidcProvider]:
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    with OidcProvider(
        tmp_path_factory.mktemp("op"),
        redirect_uris=[f"{base}/auth/callback" for base in bases],
        post_logout_redirect_uris=[f"{base}/signed-out" for base in bases],
        accounts=ACCOUNTS,
    ) as op:
        yield op


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, ports: tuple[int, int], provider: OidcProvider
) -> Iterator[Server]:
    """Listening on every address: allowed, because sign-on is configured."""
    data = tmp_path_factory.mktemp("sso") / "data"
    running = start_server(data, ports[0], provider, roles=ROLES, host="0.0.0.0")
    yield running
    stop(running)


def callback_of(response: httpx.Response) -> httpx.Response:
    (found,) = [r for r in response.history if r.url.path == "/auth/callback"]
    return found


def test_signing_in_through_plain_http_redirects(server: Server, provider: OidcProvider) -> None:
    with server.client() as client:
        first = client.get("/deployments/1", follow_redirects=False)
        assert (first.status_code, first.headers["location"]) == (
            303,
            "/login?next=%2Fdeployments%2F1",
        )
        response = server.sign_in(client, "alice", "/inventory")
        assert response.status_code == 200
        assert response.url.path == "/inventory"  # back where they were going
        hops = [str(r.url).split("?")[0] for r in response.history]
        assert hops[0] == f"{server.base}/login"
        assert hops[1] == f"{provider.issuer}/auth"  # the provider's authorization endpoint
        query = parse_qs(urlsplit(str(response.history[1].url)).query)
        assert query["code_challenge_method"] == ["S256"]
        assert query["state"][0] and query["nonce"][0]
        me = client.get("/api/v1/me").json()
        assert me == {"name": "alice", "source": "sso", "grants": ["admin"], "scopes": None}
        assert "alice" in client.get("/").text
    login = next(entry for entry in server.audit() if entry.action == "login")
    assert (login.actor, login.target) == ("alice", "user alice")
    assert login.details["groups"] == ["ops-admins"]
    assert login.details["email"] == "alice@example.com"


def test_signing_in_and_out_in_headless_chromium(
    server: Server, provider: OidcProvider, browser: WebDriver
) -> None:
    browser.get(f"{server.base}/login?login_hint=carol&next=/roles")
    WebDriverWait(browser, 20).until(lambda d: urlsplit(d.current_url).path == "/roles")
    WebDriverWait(browser, 20).until(
        lambda d: "auditor, deployer@env:staging" in d.find_element(By.TAG_NAME, "header").text
    )
    header = browser.find_element(By.TAG_NAME, "header").text
    assert "carol" in header and "Sign out" in header
    assert "Audit" in header and "New deployment" in header  # what her roles allow
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "sso-roles-page.png"))
    cookies = {cookie["name"]: cookie for cookie in browser.get_cookies()}
    assert cookies["squall_session"]["httpOnly"] is True
    assert cookies["squall_session"]["sameSite"] == "Lax"
    browser.find_element(By.LINK_TEXT, "Sign out").click()
    WebDriverWait(browser, 20).until(lambda d: urlsplit(d.current_url).path == "/signed-out")
    assert "You are signed out of Squall." in browser.page_source
    assert (
        "squall_session" not in {cookie["name"] for cookie in browser.get_cookies()}
        or (browser.get_cookie("squall_session") or {}).get("value", "")
        != cookies["squall_session"]["value"]
    )
    browser.get(f"{server.base}/roles")  # signed out: off to the provider to sign in again
    WebDriverWait(browser, 20).until(lambda d: d.current_url.startswith(provider.issuer))


def test_the_session_cookie_is_httponly_and_samesite(server: Server) -> None:
    with server.client() as client:
        cookie = callback_of(server.sign_in(client, "bob")).headers["set-cookie"].lower()
    assert cookie.startswith("squall_session=")
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # plain http here; see the https test below


def test_groups_map_to_scoped_roles(server: Server) -> None:
    with server.client() as client:
        server.sign_in(client, "carol")
        me = client.get("/api/v1/me").json()
        assert me["grants"] == ["auditor", "deployer@env:staging"]
        demo = client.post("/api/v1/deployments", json={"type": "noop", "target": "all"})
        # The lab cluster has no environment: a staging-only deployer may not touch it.
        assert (demo.status_code, demo.json()["permission"]) == (403, "deployment.create")
        assert client.get("/api/v1/audit").status_code == 200  # auditor
    with server.client() as client:
        server.sign_in(client, "dave")  # signed in, but no group maps to a role
        assert client.get("/api/v1/me").json()["grants"] == []
        refused = client.get("/api/v1/deployments")
        assert (refused.status_code, refused.json()["permission"]) == (403, "deployment.view")


def test_a_forged_callback_is_rejected_and_signs_nobody_in(server: Server) -> None:
    with server.client() as client:
        client.get("/login", params={"login_hint": "alice"}, follow_redirects=False)
        forged = client.get("/auth/callback", params={"code": "stolen", "state": "forged"})
        assert forged.status_code == 400
        assert "Sign-in failed" in forged.text and "state" in forged.text
        assert client.get("/api/v1/me").status_code == 401


def test_a_replayed_callback_is_rejected(server: Server) -> None:
    with server.client() as client:
        signed_in = server.sign_in(client, "alice")
        callback = str(callback_of(signed_in).url)
        again = client.get(callback)  # same browser: its state was used up
        assert again.status_code == 400
    with server.client() as other:  # another browser: no state at all
        stolen = other.get(callback)
        assert stolen.status_code == 400
        assert other.get("/api/v1/me").status_code == 401


def test_the_guard_lets_only_the_allow_list_through(server: Server) -> None:
    with server.client() as client:
        assert client.get("/api/v1/deployments").status_code == 401
        assert client.get("/api/ui/deployments/1/log").status_code == 401
        for page in ("/", "/audit", "/roles", "/tokens", "/deployments/1", "/docs"):
            response = client.get(page, follow_redirects=False)
            assert response.status_code == 303, page
            assert response.headers["location"].startswith("/login?next="), page
        assert client.get("/signed-out").status_code == 200


def test_signing_out_ends_both_sessions_and_is_audited(
    server: Server, provider: OidcProvider
) -> None:
    with server.client() as client:
        server.sign_in(client, "bob")
        assert client.get("/api/v1/me").status_code == 200
        out = client.get("/logout")
        assert out.url.path == "/signed-out"
        assert any(str(r.url).startswith(provider.end_session_url) for r in out.history)
        assert client.get("/api/v1/me").status_code == 401
        # The provider's session ended too: signing in again goes through its login.
        again = server.sign_in(client, "bob")
        assert any("/interaction/" in str(r.url) for r in again.history)
    actions = [(entry.actor, entry.action) for entry in server.audit()[:3]]
    assert ("bob", "logout") in actions


def test_a_copied_session_cookie_is_refused_after_signing_out(server: Server) -> None:
    with server.client() as client:
        server.sign_in(client, "alice")
        cookie = client.cookies["squall_session"]
        with server.client() as thief:
            thief.cookies.set("squall_session", cookie)
            assert thief.get("/api/v1/me").json()["name"] == "alice"
            client.post("/logout")
            assert client.get("/api/v1/me").status_code == 401
            assert thief.get("/api/v1/me").status_code == 401  # the copy died with it
            page = thief.get("/deployments", follow_redirects=False)
            assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_a_cookie_authenticated_change_from_another_origin_is_refused(server: Server) -> None:
    with server.client() as client:
        server.sign_in(client, "alice")
        body = {"subject": "user:mallory", "grant": "admin"}
        for headers in (
            {"Origin": "http://evil.example"},
            {"Origin": "null"},
            {"Origin": server.base, "Host": "evil.example"},
        ):
            refused = client.post("/api/v1/roles", json=body, headers=headers)
            assert refused.status_code == 403 and "refused" in refused.json()["detail"], headers
        assert client.get("/api/v1/me").json()["name"] == "alice"  # still signed in
        granted = client.post("/api/v1/roles", json=body)  # from the console's own origin
        assert granted.status_code == 201
        assert client.delete(f"/api/v1/roles/{granted.json()['id']}").status_code == 200
    grants = [e for e in server.audit() if e.action == "role.grant"]
    assert len(grants) == 1  # only the one from the console's own origin


def test_a_sign_out_link_on_another_site_asks_first(server: Server) -> None:
    with server.client() as client:
        server.sign_in(client, "bob")
        asked = client.get("/logout", headers={"Sec-Fetch-Site": "cross-site"})
        assert asked.status_code == 200 and "<form method='post' action='/logout'>" in asked.text
        assert client.get("/api/v1/me").status_code == 200  # still signed in
        out = client.post("/logout")
        assert out.url.path == "/signed-out"
        assert client.get("/api/v1/me").status_code == 401


def test_the_role_mapping_is_read_again_at_every_sign_in(
    tmp_path: Path, ports: tuple[int, int], provider: OidcProvider
) -> None:
    data = tmp_path / "data"
    first = start_server(data, ports[1], provider, roles={"ops-admins": "admin"})
    try:
        with first.client() as client:
            first.sign_in(client, "alice")
            assert client.get("/api/v1/me").json()["grants"] == ["admin"]
    finally:
        stop(first)
    second = start_server(data, ports[1], provider, roles={"ops-admins": "viewer"})
    try:
        with second.client() as client:
            second.sign_in(client, "alice")
            assert client.get("/api/v1/me").json()["grants"] == ["viewer"]
            refused = client.post("/api/v1/deployments", json={"type": "noop", "target": "all"})
            assert refused.status_code == 403
    finally:
        stop(second)


def test_session_cookies_are_secure_behind_https(
    tmp_path: Path, ports: tuple[int, int], provider: OidcProvider
) -> None:
    """With an https public address (TLS ends at a proxy in front), the cookie is Secure;
    the browser would not send it back over plain http, so only the first hop is checked."""
    data = tmp_path / "data"
    server = start_server(
        data, ports[1], provider, roles=ROLES, public_url="https://squall.example.com"
    )
    try:
        with server.client() as client:
            start = client.get("/login", params={"login_hint": "alice"}, follow_redirects=False)
        assert start.status_code == 302
        cookie = start.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        query = parse_qs(urlsplit(start.headers["location"]).query)
        assert query["redirect_uri"] == ["https://squall.example.com/auth/callback"]
    finally:
        stop(server)


def test_a_misspelt_role_in_the_mapping_stops_the_start(
    tmp_path: Path, ports: tuple[int, int], provider: OidcProvider
) -> None:
    with pytest.raises(AssertionError, match=r"sso\.roles, group 'ops': no role 'deployr'"):
        start_server(tmp_path / "data", ports[1], provider, roles={"ops": "deployr"})
