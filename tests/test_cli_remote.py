"""`squall --server URL`: the day-to-day commands over HTTP against a served Squall, with
the same output and exit codes as on the server's own machine, and the token never shown."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from fake_jira import FakeJira
from served import ROOT, Installation, installation, wait_until

from squall.api.remote import RemoteBackend
from squall.core.auth import Actor, Grant
from squall.core.errors import NotFound
from squall.core.status import DeploymentStatus
from squall.core.values.deployments import DeploymentRequest

pytest_plugins = ["integration_fixtures"]


@dataclass
class Remote:
    squall: Installation
    url: str
    token: str

    def run(self, *args: str, token: str | None = None, timeout: float = 120) -> Result:
        env = self.squall.env(SQUALL_SERVER=self.url, SQUALL_TOKEN=token or self.token)
        return self._run(env, args, timeout)

    def local(self, *args: str, timeout: float = 120) -> Result:
        """The same command on the server's machine, straight on its database."""
        return self._run(self.squall.env(), args, timeout)

    def _run(self, env: dict[str, str], args: tuple[str, ...], timeout: float) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "squall", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        result = Result(done.returncode, done.stdout, done.stderr)
        assert self.token not in done.stdout + done.stderr  # never shown, whatever happens
        return result


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    root = tmp_path_factory.mktemp("remote-cli")
    with installation(root / "data", f"sqlite:///{root / 'data' / 'squall.db'}") as squall:
        clusters = {
            name: {
                "defaults": {"transport": "local"},
                "nodes": [
                    {"name": f"{name}-{index}", "root": str(root / "nodes" / f"{name}-{index}")}
                    for index in (1, 2)
                ],
            }
            for name in ("web", "db")
        }
        inventory = root / "inventory.yaml"
        inventory.write_text(yaml.safe_dump({"clusters": clusters}))
        squall.harness.import_inventory(inventory)
        url = squall.serve(worker=True)
        yield Remote(squall, url, squall.token())


def test_listings_and_plans_print_the_same_as_on_the_server(remote: Remote) -> None:
    for command in (
        ("types",),
        ("inventory", "list", "--target", "cluster:web"),
        ("deploy", "noop", "--target", "all", "--dry-run"),
        ("deploy", "cache_rebuild", "-t", "all", "-p", "rebuild_command=make cache", "--dry-run"),
    ):
        over_http, here = remote.run(*command), remote.local(*command)
        assert (over_http.code, over_http.out) == (here.code, here.out) == (0, here.out)
    assert "web-1" in remote.run("inventory", "list").out


def test_a_remote_deploy_runs_on_the_servers_workers_and_reports_like_a_local_one(
    remote: Remote,
) -> None:
    deployed = remote.run("deploy", "noop", "--target", "cluster:web", "--follow")
    assert deployed.code == 0, deployed.err
    deployment_id = int(deployed.out.split("deployment ", 1)[1].split()[0])
    assert "succeeded" in deployed.out and "hostname=" in deployed.out  # the nodes' output
    for command in (("status", str(deployment_id)), ("logs", str(deployment_id))):
        over_http, here = remote.run(*command), remote.local(*command)
        assert (over_http.code, over_http.out) == (here.code, here.out), command
    web1 = remote.run("logs", str(deployment_id), "--node", "web-1")
    assert web1.out and "web-2" not in web1.out
    assert remote.run("status").out == remote.local("status").out


def test_a_command_following_the_server_sees_the_end_when_the_server_streams_it(
    remote: Remote,
) -> None:
    backend = RemoteBackend(remote.url, remote.token)
    try:
        # The nodes take three seconds, so the first look sees it running however fast
        # the server is; the end is then seen only if something says so.
        request = DeploymentRequest("cache_rebuild", {"rebuild_command": "sleep 3"}, "cluster:db")
        deployment_id = backend.create(request)
        seen: list[str] = []
        started = time.monotonic()
        # Asked to look only once a minute: what it sees sooner, the server's stream told it.
        status = backend.settle(
            deployment_id, lambda: seen.append(backend.view(deployment_id).status), interval=60
        )
        assert time.monotonic() - started < 30
        assert status is DeploymentStatus.SUCCEEDED
        assert seen[0] != "succeeded" and seen[-1] == "succeeded"
        assert backend.view(deployment_id).counts == {"succeeded": 2}
    finally:
        backend.close()


def test_a_remote_command_loads_no_database_layer(remote: Remote, tmp_path: Path) -> None:
    """The server reads its database; the command only asks it, so it starts as a client."""
    listing = tmp_path / "modules.json"
    for args in (
        ["deploy", "noop", "--target", "cluster:web", "--follow"],
        ["status"],
        ["logs", "1"],
        ["audit", "list"],
    ):
        script = (
            "import atexit, json, sys\n"
            f"atexit.register(lambda: open({str(listing)!r}, 'w').write(json.dumps(list(sys.modules))))\n"
            f"sys.argv = ['squall', *{args!r}]\n"
            "from squall.app import main\n"
            "main()\n"
        )
        env = remote.squall.env(SQUALL_SERVER=remote.url, SQUALL_TOKEN=remote.token)
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (args, done.stderr)
        modules = set(json.loads(listing.read_text()))
        assert "squall.api.remote" in modules, args
        loaded = sorted(
            name
            for name in modules
            if name.partition(".")[0] == "sqlalchemy"
            or name.startswith(("squall.core.models", "squall.core.runtime", "squall.core.engine"))
            or name.startswith(("squall.core.services.views", "squall.api.local", "alembic"))
        )
        assert loaded == [], args


def test_a_deploy_held_by_the_jira_gate_exits_3_or_with_follow_waits_for_it(
    tmp_path: Path, jira: FakeJira
) -> None:
    """The server checks the gate; the command says what it waits for and leaves (exit 3),
    or with --follow waits until the server finds the gate met."""
    issue = jira.add_issue("OPS-7", status="In Review")
    gate = {"SQUALL_JIRA__URL": jira.url, "SQUALL_JIRA__TOKEN": jira.token}
    gate["SQUALL_JIRA__GATE"] = "Approved"
    gate["SQUALL_OUTBOX__GATE_POLL_SECONDS"] = "1"  # the gate is asked again each second
    with installation(tmp_path / "data", f"sqlite:///{tmp_path / 'squall.db'}") as squall:
        squall.settings.update(gate)
        nodes = [{"name": "solo-1", "root": str(tmp_path / "solo-1")}]
        inventory = tmp_path / "inventory.yaml"
        clusters = {"solo": {"defaults": {"transport": "local"}, "nodes": nodes}}
        inventory.write_text(yaml.safe_dump({"clusters": clusters}))
        squall.harness.import_inventory(inventory)
        remote = Remote(squall, squall.serve(worker=True), squall.token())
        held = remote.run("deploy", "noop", "--target", "all", "--ticket", "OPS-7")
        assert held.code == 3, held.out + held.err
        assert "waiting for JIRA OPS-7 to be in Approved (now: In Review)" in held.out
        assert squall.harness.view(1).status == "pending"
        follow = ["deploy", "noop", "-t", "all", "--ticket", "OPS-7", "--follow"]
        followed = subprocess.Popen(
            [sys.executable, "-m", "squall", *follow],
            env=squall.env(SQUALL_SERVER=remote.url, SQUALL_TOKEN=remote.token),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_until(lambda: _waiting_for(squall, 2), "the gate to be checked")
            time.sleep(1)
            assert followed.poll() is None  # still waiting, as asked
            issue.status = "Approved"
            shown, _ = followed.communicate(timeout=60)
        finally:
            followed.kill()
        assert followed.returncode == 0, shown
        assert squall.harness.view(2).status == "succeeded"


def _waiting_for(squall: Installation, deployment_id: int) -> str | None:
    with contextlib.suppress(NotFound):
        return squall.harness.view(deployment_id).waiting_for
    return None


def test_a_failed_deployment_exits_1_and_a_refused_request_exits_2_with_the_reason(
    remote: Remote,
) -> None:
    failed = remote.run("deploy", "cache_rebuild", "-t", "host:db-1", "-p", "rebuild_command=false")
    assert failed.code == 1
    for command in (
        ("deploy", "no_such_type", "-t", "all"),
        ("deploy", "noop", "-t", "cluster:"),
        ("status", "4242"),
    ):
        over_http, here = remote.run(*command), remote.local(*command)
        assert (over_http.code, over_http.err) == (here.code, here.err) == (2, here.err), command
        assert here.err.startswith("error: ")
    viewer = remote.squall.token(Actor("watcher", source="sso", grants=(Grant("viewer"),)))
    refused = remote.run("deploy", "noop", "-t", "all", token=viewer)
    assert refused.code == 2 and "deployment.create" in refused.err and viewer not in refused.err
    nobody = remote.run("status", token="sq_1_not-the-secret")
    assert (nobody.code, nobody.err.strip()) == (2, "error: unknown API token")


def test_operator_actions_go_over_http(remote: Remote) -> None:
    deployment_id = remote.squall.harness.create(
        "cache_rebuild", target="cluster:db", params={"rebuild_command": "sleep 30"}
    )
    paused = remote.run("pause", str(deployment_id))
    assert (paused.code, paused.out.strip()) == (0, f"deployment {deployment_id} paused")
    aborted = remote.run("abort", str(deployment_id))
    assert (aborted.code, aborted.out.strip()) == (0, f"deployment {deployment_id} aborted")
    again = remote.run("abort", str(deployment_id))
    assert again.code == 2 and again.err.startswith("error: ") and "cancelled" in again.err
    follow = remote.run("logs", str(deployment_id), "--follow", timeout=60)
    assert follow.code == 0  # ends: the deployment is final


def test_commands_of_the_servers_machine_refuse_a_server(remote: Remote) -> None:
    refused = remote.run("worker")
    assert (refused.code, refused.err.strip()) == (
        2,
        "error: `squall worker` works on this machine's Squall only; drop --server",
    )
    unreachable = Remote(remote.squall, "http://127.0.0.1:9", remote.token).run("status")
    assert unreachable.code == 2 and "cannot reach http://127.0.0.1:9" in unreachable.err
    in_clear = Remote(remote.squall, "http://squall.example.com", remote.token).run("status")
    assert in_clear.code == 2 and "refusing to send an API token" in in_clear.err
    assert remote.token not in in_clear.out + in_clear.err
