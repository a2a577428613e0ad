"""Attacks on Squall that must fail: secrets leaking through diffs, local nodes as a back
door to the Squall host, and the smaller holes found while trying it as an attacker would."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import func, select
from starlette.middleware.sessions import SessionMiddleware
from test_e2e import button, click

from squall.api.server import install, session_options
from squall.app import DEFAULT_PLUGINS
from squall.core.auth import Actor, AuthTarget, Grant, is_allowed, local_operator, os_user
from squall.core.errors import NotFound, PermissionDenied, PlanError
from squall.core.models import Cluster, Deployment
from squall.core.permissions import ROLES, Permission
from squall.core.plan import NodeInfo
from squall.core.plugins import build_host
from squall.core.runtime import Runtime
from squall.core.services import access, actions, inventory, reports, views
from squall.core.settings import Settings, SSOSettings
from squall.core.transports.base import TransportError
from squall.core.transports.local import LocalConnector
from squall.testing.fleet import Fleet
from squall.testing.harness import SquallHarness

ROOT = Path(__file__).resolve().parent.parent

# --- secrets never leak through diffs ---------------------------------------------------


def test_rotating_a_secret_masks_the_old_and_the_new_value_everywhere(
    squall: SquallHarness, fleet: Fleet, tmp_path: Path
) -> None:
    old, new = f"old-{secrets.token_hex(8)}", f"new-{secrets.token_hex(8)}"
    params = {
        "path": "app.conf",
        "template": "user=app\npassword=${db_password}\nport=5432\n",
        "secrets": {"db_password": old},
    }
    first = squall.deploy("config_change", target="host:node-01", params=params)
    assert first.status == "succeeded", first.failures
    rotated = {**params, "secrets": {"db_password": new}}
    second = squall.deploy("config_change", target="host:node-01", params=rotated)
    assert second.status == "succeeded", second.failures
    node = next(n for n in fleet.nodes if n.name == "node-01")
    assert f"password={new}" in (node.root / "app.conf").read_text()

    lines = squall.logs(second.id)
    assert "-password=***" in lines and "+password=***" in lines  # both sides masked
    diff = squall.facts(second.id, "write")["node-01"]["diff"]
    assert "-password=***" in diff and "+password=***" in diff
    with squall.runtime.db.read() as session:
        report = reports.deployment_report(session, squall.runtime, squall.actor, second.id)
    shown = [
        "\n".join(squall.logs(first.id) + lines),
        repr(squall.summary(second.id)),
        reports.render_json(squall.runtime, squall.actor, report),
    ]
    sections = squall.runtime.plugins.hook.squall_report_sections(
        deployment=squall.summary(second.id)
    )
    shown.append(repr(sections))
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(reports.render_pdf(squall.runtime, squall.actor, report))
    for text in shown:
        assert old not in text and new not in text
    database = squall.runtime.settings.data_dir / "squall.db"
    files = [database, Path(f"{database}-wal")]
    assert files[1].exists()  # the write-ahead log holds the recent writes
    for path in files:
        content = path.read_bytes()
        assert old.encode() not in content and new.encode() not in content, path


# --- local-transport nodes are not a back door --------------------------------------------


def local_inventory(root: Path, *clusters: str, nodes: int = 1) -> Path:
    path = root / "local-inventory.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "clusters": {
                    cluster: {
                        "environment": "demo",
                        "defaults": {"transport": "local"},
                        "nodes": [
                            {
                                "name": f"{cluster}-{index}",
                                "root": str(root / "nodes" / f"{cluster}-{index}"),
                            }
                            for index in range(1, nodes + 1)
                        ],
                    }
                    for cluster in clusters
                }
            }
        )
    )
    return path


@pytest.fixture
def local(tmp_path: Path) -> Iterator[SquallHarness]:
    """Squall with two clusters of local nodes, as the demo inventory has."""
    with SquallHarness(tmp_path / "data", DEFAULT_PLUGINS) as harness:
        harness.import_inventory(local_inventory(tmp_path, "demo-web", "demo-api"))
        yield harness


def web_deployer() -> Actor:
    return Actor("mallory", source="sso", grants=(Grant.parse("deployer@cluster:demo-web*"),))


def test_a_scoped_deployer_cannot_run_commands_on_a_local_node(
    local: SquallHarness, tmp_path: Path
) -> None:
    key = local.runtime.settings.data_dir / "secret.key"
    attack = {"rebuild_command": ["cat", str(key)], "verify_command": ["true"]}
    with pytest.raises(PermissionDenied, match=r"missing permission 'node\.local'.*demo-web-1"):
        local.create(
            "cache_rebuild", target="cluster:demo-web", params=attack, actor=web_deployer()
        )
    with local.runtime.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Deployment)) == 0
    # An admin may, and the command runs in the node's own folder.
    done = local.deploy(
        "cache_rebuild",
        target="cluster:demo-web",
        params={"rebuild_command": ["pwd"], "verify_command": ["true"]},
    )
    assert done.status == "succeeded", done.failures
    assert str(tmp_path / "nodes" / "demo-web-1") in local.logs(done.id)


def test_running_an_admins_local_deployment_again_needs_node_local_too(
    local: SquallHarness,
) -> None:
    failing = {"rebuild_command": ["false"], "verify_command": ["true"]}
    failed = local.deploy("cache_rebuild", target="cluster:demo-web", params=failing)
    assert failed.status == "failed"
    for action in (actions.retry, actions.rollback):
        with pytest.raises(PermissionDenied, match=r"node\.local"):
            local.act(action, failed.id, actor=web_deployer())
    assert local.view(failed.id).status == "failed"


def test_absolute_paths_are_refused_on_local_nodes_and_allowed_on_ssh_nodes(
    squall: SquallHarness, fleet: Fleet, tmp_path: Path
) -> None:
    squall.import_inventory(local_inventory(tmp_path, "lab"))
    for path in ("/etc/squall-owned.conf", "../../outside.conf", "a/../../b"):
        with pytest.raises(PlanError, match="leaves the folder of local node lab-1"):
            squall.create(
                "config_change", target="host:lab-1", params={"path": path, "content": "x"}
            )
    assert not Path("/etc/squall-owned.conf").exists()
    # Nor may its backups go outside it.
    for folder in ("/tmp/squall-backups", "../backups", "a/../../b"):
        with pytest.raises(
            PlanError, match=f"backup_dir '{folder}' leaves the folder of local node lab-1"
        ):
            squall.create(
                "config_change",
                target="host:lab-1",
                params={"path": "app.conf", "content": "x", "backup_dir": folder},
            )
    assert not Path("/tmp/squall-backups").exists()
    node = next(n for n in fleet.nodes if n.name == "node-01")
    target = node.root / "absolute.conf"
    target.write_text("before\n")
    backups = node.root / "absolute backups"
    done = squall.deploy(
        "config_change",
        target="host:node-01",
        params={"path": str(target), "content": "a\n", "backup_dir": str(backups)},
    )
    assert done.status == "succeeded", done.failures
    assert target.read_text() == "a\n"
    assert (backups / str(done.id) / "absolute.conf").read_text() == "before\n"


def test_a_local_connection_refuses_files_outside_the_node_folder(tmp_path: Path) -> None:
    node = NodeInfo(name="n1", cluster="c", host="localhost", transport="local")
    connection = LocalConnector(tmp_path).connect(node)
    connection.write_file("inside/ok.conf", b"ok", mode=None, timeout=10)
    assert (tmp_path / "n1" / "inside" / "ok.conf").read_bytes() == b"ok"
    for path in ("/etc/passwd", "../n2/x", "inside/../../x"):
        with pytest.raises(TransportError, match="outside the folder of local node n1"):
            connection.read_file(path, timeout=10)
        with pytest.raises(TransportError, match="outside the folder"):
            connection.write_file(path, b"x", mode=None, timeout=10)


def test_node_local_is_held_by_admins_only() -> None:
    assert [role for role, held in ROLES.items() if Permission.LOCAL_NODES in held] == ["admin"]
    assert "| `node.local` |" in (ROOT / "docs" / "roles.md").read_text()


def test_no_demo_inventory_once_single_sign_on_is_configured(tmp_path: Path) -> None:
    sso = SSOSettings(issuer="http://127.0.0.1:9/never-asked", client_id="squall")
    settings = Settings(data_dir=tmp_path / "data", sso=sso)
    with Runtime.open(settings, build_host(DEFAULT_PLUGINS)) as runtime:
        with runtime.db.write() as session:
            assert inventory.ensure_demo_inventory(session, runtime, local_operator()) is None
        with runtime.db.read() as session:
            assert session.scalar(select(func.count()).select_from(Cluster)) == 0


def run_squall(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SQUALL_", "PYTEST_"))}
    environment.update(SQUALL_DATA_DIR=str(data_dir), COLUMNS="200", NO_COLOR="1", **env)
    return subprocess.run(
        [sys.executable, "-m", "squall", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_inventory_remove_takes_the_demo_away_for_good_and_is_audited(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert "8 node(s)" in run_squall(data, "inventory", "list").stdout  # the demo, made once
    unknown = run_squall(data, "inventory", "remove", "no-such-cluster")
    assert unknown.returncode == 2 and "no cluster no-such-cluster" in unknown.stderr
    removed = run_squall(data, "inventory", "remove", "--demo")
    assert removed.returncode == 0, removed.stderr
    assert "removed 3 cluster(s): demo-api, demo-cache, demo-web" in removed.stdout
    again = run_squall(data, "inventory", "list")
    assert again.returncode == 0 and again.stdout.startswith("no nodes yet")
    assert "created a demo inventory" not in again.stderr
    nothing = run_squall(data, "inventory", "remove", "--demo")
    assert nothing.returncode == 2 and "no demo inventory" in nothing.stderr
    audit = run_squall(data, "audit", "list", "--action", "inventory.remove").stdout
    assert "demo-api, demo-cache, demo-web" in audit and os_user() in audit


def test_removing_clusters_needs_inventory_edit_on_them(local: SquallHarness) -> None:
    with local.runtime.db.write() as session, pytest.raises(PermissionDenied, match="inventory"):
        inventory.remove_clusters(session, local.runtime, web_deployer(), ["demo-web"])
    with local.runtime.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Cluster)) == 2


# --- revocation revokes; one local identity ------------------------------------------------


def test_revoking_a_role_binding_takes_effect_on_the_users_tokens_at_once(
    local: SquallHarness,
) -> None:
    rt = local.runtime
    with rt.db.write() as session:
        binding = access.grant_role(session, rt, local.actor, "user:zoe", "deployer")
        zoe = access.sign_in(session, rt, user="zoe", groups=[])
        _, secret = access.create_token(session, rt, zoe, name="ci")
    with rt.db.write() as session:
        token_actor = access.authenticate_token(session, secret)
        assert is_allowed(rt.plugins.hook, token_actor, Permission.CREATE, AuthTarget("x"))
        access.revoke_role(session, rt, local.actor, binding.id)
    with rt.db.write() as session:
        token_actor = access.authenticate_token(session, secret)
        assert token_actor.grants == ()
        assert not is_allowed(rt.plugins.hook, token_actor, Permission.CREATE, AuthTarget("x"))


def test_the_local_operator_is_the_processs_os_account_not_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("USER", "bob")
    monkeypatch.setenv("LOGNAME", "bob")
    assert local_operator().name == os_user() == pwd.getpwuid(os.getuid()).pw_name != "bob"


def test_user_bob_does_not_satisfy_four_eyes_nor_is_audited_as_bob(tmp_path: Path) -> None:
    data = tmp_path / "data"
    waiting = run_squall(data, "deploy", "group", "-t", "all", "-p", "inner_type=noop")
    assert waiting.returncode == 3, waiting.stderr
    posing = run_squall(data, "promote", "1", USER="bob", LOGNAME="bob")
    assert posing.returncode == 2 and "never approves their own gate" in posing.stderr
    assert "status awaiting approval" in run_squall(data, "status", "1").stdout
    assert "deployment.create" in run_squall(data, "audit", "list", "--actor", os_user()).stdout
    assert "deployment." not in run_squall(data, "audit", "list", "--actor", "bob").stdout


def test_an_admin_issues_a_named_user_a_token_that_approves_as_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run_squall(data, "deploy", "group", "-t", "all", "-p", "inner_type=noop").returncode == 3
    assert run_squall(data, "role", "grant", "user:bob", "approver").returncode == 0
    made = run_squall(data, "token", "create", "bobs-approvals", "--user", "bob")
    assert made.returncode == 0, made.stderr
    assert "for bob" in made.stdout and "shown this once" in made.stderr
    secret = re.search(r"^(sq_\d+_\S+)$", made.stdout, re.M)
    assert secret is not None
    listed = run_squall(data, "token", "list", "--all").stdout
    assert "bob" in listed and secret.group(1) not in listed  # never shown again
    audit = run_squall(data, "audit", "list", "--action", "token.create").stdout
    assert "user=bob" in audit and os_user() in audit
    # Bob approves through the API with his token, in local mode: four-eyes holds.
    settings = Settings(data_dir=data, demo_inventory=False)
    with Runtime.open(settings, build_host(DEFAULT_PLUGINS)) as runtime:
        app = FastAPI()
        install(app, runtime)
        app.add_middleware(SessionMiddleware, **session_options(runtime))
        with TestClient(app, base_url="http://127.0.0.1") as http:
            headers = {"Authorization": f"Bearer {secret.group(1)}"}
            assert http.get("/api/v1/me", headers=headers).json()["name"] == "bob"
            promoted = http.post("/api/v1/deployments/1/promote", json={}, headers=headers)
            assert promoted.status_code == 200, promoted.text
        with runtime.db.read() as session:
            approvals = views.deployment_view(session, runtime, local_operator(), 1).approvals
        assert [approval.actor for approval in approvals] == ["bob"]


def test_only_an_admin_makes_a_token_for_someone_else(local: SquallHarness) -> None:
    rt = local.runtime
    with rt.db.write() as session, pytest.raises(PermissionDenied, match=r"roles\.manage"):
        access.create_token(session, rt, web_deployer(), name="x", user="bob")


# --- smaller holes ----------------------------------------------------------------------------


def test_an_inventory_with_a_300_character_name_is_refused_with_422(
    local: SquallHarness, tmp_path: Path
) -> None:
    rt = local.runtime
    app = FastAPI()
    install(app, rt)
    app.add_middleware(SessionMiddleware, **session_options(rt))
    long = "x" * 300
    good = local_inventory(tmp_path, "lab").read_text()
    with TestClient(app, base_url="http://127.0.0.1") as http:
        origin = {"Origin": "http://127.0.0.1"}
        named = http.post(
            "/api/v1/inventory", json={"name": f"{long}.yaml", "content": good}, headers=origin
        )
        assert named.status_code == 422, named.text
        assert "file name must be 1 to 200 characters" in named.json()["detail"]
        inside = good.replace("lab-1", long)
        cluster = http.post(
            "/api/v1/inventory", json={"name": "lab.yaml", "content": inside}, headers=origin
        )
        assert cluster.status_code == 422, cluster.text
        assert "name is 300 characters long; at most 200" in cluster.json()["detail"]
    with rt.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Cluster)) == 2  # nothing added


def test_a_scoped_user_lists_only_the_clusters_in_scope(local: SquallHarness) -> None:
    rt = local.runtime
    viewer = Actor("val", source="sso", grants=(Grant.parse("viewer@cluster:demo-web"),))
    with rt.db.read() as session:
        assert [n.cluster for n in inventory.list_nodes(session, rt, viewer)] == ["demo-web"]
        clusters, nodes = inventory.overview(session, rt, viewer)
        assert [c.name for c in clusters] == ["demo-web"]
        assert [row.node.cluster for row in nodes] == ["demo-web"]
        everything = inventory.list_nodes(session, rt, local.actor)
        assert {n.cluster for n in everything} == {"demo-web", "demo-api"}


def test_an_out_of_scope_deployment_answers_like_a_missing_one(local: SquallHarness) -> None:
    api_only = local.deploy("noop", target="cluster:demo-api")
    viewer = Actor("val", source="sso", grants=(Grant.parse("viewer@cluster:demo-web"),))
    with local.runtime.db.read() as session:
        for deployment_id in (api_only.id, 999):
            with pytest.raises(NotFound, match=f"^no deployment {deployment_id}$"):
                views.deployment_view(session, local.runtime, viewer, deployment_id)


def test_the_database_and_its_wal_files_are_created_owner_only(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        with SquallHarness(tmp_path / "data", DEFAULT_PLUGINS) as harness:
            harness.import_inventory(local_inventory(tmp_path, "lab"))
            database = harness.runtime.settings.data_dir / "squall.db"
            files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
            modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in files}
    finally:
        os.umask(previous)
    assert modes == {path.name: 0o600 for path in files}


def test_verifying_a_damaged_pdf_prints_one_clear_line(
    local: SquallHarness, tmp_path: Path
) -> None:
    done = local.deploy("noop")
    with local.runtime.db.read() as session:
        report = reports.deployment_report(session, local.runtime, local.actor, done.id)
    pdf = reports.render_pdf(local.runtime, local.actor, report)
    start = re.search(rb"/FlateDecode.*?stream\r?\n", pdf, re.S)
    assert start is not None
    at = start.end() + 10
    damaged = tmp_path / "damaged.pdf"
    damaged.write_bytes(pdf[:at] + bytes(b ^ 0xFF for b in pdf[at : at + 50]) + pdf[at + 50 :])
    local.close()
    result = run_squall(local.runtime.settings.data_dir, "report", "verify", str(damaged))
    # The first compressed stream is an embedded font: the pages still read, but the file
    # is not the one Squall issued (a changed font changes what a page shows).
    assert result.returncode == 1
    assert [line.split(":")[0] for line in result.stderr.strip().splitlines()] == [
        "problem",
        "NOT VERIFIED",
    ]
    assert "differs from every copy Squall issued" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    # Damage where the document's own structure is: one clear line, exit 2.
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(pdf[: len(pdf) // 2])
    result = run_squall(local.runtime.settings.data_dir, "report", "verify", str(broken))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: not a Squall report:")
    assert "Traceback" not in result.stdout + result.stderr


# --- no cross-site requests ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, SquallHarness, int]]:
    """`squall serve` in local mode, with a group deployment waiting at its gate."""
    data = tmp_path / "data"
    with SquallHarness(data, DEFAULT_PLUGINS) as harness:
        harness.import_inventory(local_inventory(tmp_path, "lab", nodes=3))
        waiting = harness.deploy("group", params={"inner_type": "noop"})
        assert waiting.status == "awaiting_approval"
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SQUALL_", "PYTEST_"))}
        env.update(SQUALL_DATA_DIR=str(data), SQUALL_DEMO_INVENTORY="false")
        log = (tmp_path / "serve.log").open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "squall",
                "serve",
                "--no-browser",
                "--no-worker",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/api/v1/me", timeout=2).status_code == 200:
                        break
                assert process.poll() is None and time.monotonic() < deadline, (
                    tmp_path / "serve.log"
                ).read_text()
                time.sleep(0.2)
            yield base, harness, waiting.id
        finally:
            process.terminate()
            process.wait(timeout=15)
            log.close()


def status_of(harness: SquallHarness, deployment_id: int) -> str:
    return harness.view(deployment_id).status


def test_a_page_of_another_origin_cannot_cancel_a_deployment(
    served: tuple[str, SquallHarness, int], browser: WebDriver, tmp_path: Path
) -> None:
    base, harness, waiting = served
    site = tmp_path / "evil"
    site.mkdir()
    (site / "index.html").write_text(
        "<!doctype html><title>loading</title><script>"
        f"fetch('{base}/api/v1/deployments/{waiting}/cancel',"
        " {method: 'POST', mode: 'no-cors', credentials: 'include'})"
        ".then(() => document.title = 'sent', () => document.title = 'blocked');"
        "</script>"
    )
    evil_port = free_port()
    evil = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.2", str(evil_port)],
        cwd=site,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.2:{evil_port}/", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        browser.get(f"http://127.0.0.2:{evil_port}/")
        WebDriverWait(browser, 20).until(lambda d: d.title in ("sent", "blocked"))
        assert browser.title == "sent"  # the request left the browser…
    finally:
        evil.terminate()
        evil.wait(timeout=10)
    assert status_of(harness, waiting) == "awaiting_approval"  # …and changed nothing
    # The same refusal without a browser: a foreign Origin, a foreign Host.
    cancel = f"{base}/api/v1/deployments/{waiting}/cancel"
    foreign = httpx.post(cancel, headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403 and "refused" in foreign.json()["detail"]
    rebound = httpx.post(cancel, headers={"Host": "evil.example", "Origin": "http://evil.example"})
    assert rebound.status_code == 403 and "evil.example" in rebound.json()["detail"]
    assert status_of(harness, waiting) == "awaiting_approval"
    # The console's own button still works.
    browser.get(f"{base}/deployments/{waiting}")
    click(browser, "the Cancel button", button("Cancel"))
    click(browser, "the confirmation's Yes", button("Yes"))
    WebDriverWait(browser, 20).until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, ".q-dialog"),
        "the confirmation stayed open after Yes",
    )
    deadline = time.monotonic() + 20
    while status_of(harness, waiting) != "cancelled":
        assert time.monotonic() < deadline, "the console's Cancel did not cancel"
        time.sleep(0.2)
