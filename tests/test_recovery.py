"""Crash recovery from the CLI alone: a `squall deploy` killed with SIGKILL mid-step, no
server and no worker running, then `status`, `resume`, `abort`, `retry` and `logs` run as
separate processes on the real sshd fleet, as an operator would."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from crashes import crashed_mid_step
from pypdf import PdfReader

from squall.app import DEFAULT_PLUGINS
from squall.core.engine.claims import claim_tasks
from squall.core.engine.orphans import drop_lease, hold_lease
from squall.core.errors import InvalidTransition
from squall.core.services import actions, reports
from squall.testing.fleet import Fleet
from squall.testing.harness import SquallHarness

LEASE = 2.5
"""Seconds a task's claim lasts: short, so a killed process's tasks are orphaned quickly."""
SLOW_ONCE = "sh -c 'cd ~; echo run >> runs; [ $(wc -l < runs) -gt 1 ] || sleep 60'"
"""Sleeps the first time it runs on a node (to be killed in), passes at once after."""


class Cli:
    """`python -m squall` on one data directory holding the fleet as its inventory."""

    def __init__(self, data_dir: Path, fleet: Fleet) -> None:
        self.data_dir = data_dir
        self.env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("SQUALL_", "PYTEST_"))
        }
        self.env.update(
            SQUALL_DATA_DIR=str(data_dir),
            SQUALL_DEMO_INVENTORY="false",
            SQUALL_SSH__KEY_FILE=str(fleet.client_key),
            SQUALL_SSH__KNOWN_HOSTS=str(fleet.known_hosts),
            SQUALL_ENGINE__LEASE_SECONDS=str(LEASE),
            SQUALL_ENGINE__POLL_SECONDS="0.1",
            COLUMNS="250",
            NO_COLOR="1",
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "squall", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def kill_mid_step(self, *args: str, step: str, steps: int) -> None:
        """Start `squall deploy …`, SIGKILL it once `steps` node tasks are inside `step`,
        and wait until their claims have run out."""
        victim = subprocess.Popen(
            [sys.executable, "-m", "squall", *args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while len(self.in_step(step)) < steps:
                assert victim.poll() is None, "the deploy ended before it could be killed"
                assert time.monotonic() < deadline, "the steps never started"
                time.sleep(0.1)
            time.sleep(0.3)  # the step's command has started on the node
        finally:
            victim.send_signal(signal.SIGKILL)
            victim.wait()
        time.sleep(LEASE + 0.5)

    def query(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.data_dir / "squall.db") as db:
            return db.execute(sql, args).fetchall()

    def in_step(self, step: str) -> list[tuple[object, ...]]:
        return self.query(
            "SELECT id FROM node_tasks WHERE status = 'running' "
            "AND json_extract(step_names, '$[' || current_step || ']') = ?",
            step,
        )

    def tasks(self) -> dict[str, str]:
        return dict(self.query("SELECT node_name, status FROM node_tasks ORDER BY id"))  # type: ignore[arg-type]


@pytest.fixture
def cli(tmp_path: Path, fleet: Fleet) -> Cli:
    cli = Cli(tmp_path / "data", fleet)
    imported = cli.run("inventory", "import", str(fleet.write_inventory(tmp_path / "inv.yaml")))
    assert imported.returncode == 0, imported.stderr
    return cli


def runs(fleet: Fleet, node: str) -> int:
    """How many times SLOW_ONCE ran on the node."""
    return len(fleet.node(node).root.joinpath("runs").read_text().splitlines())


def test_a_killed_deploy_is_orphaned_then_resumed_from_the_cli(cli: Cli, fleet: Fleet) -> None:
    target = "host:node-01,host:node-02"
    cli.kill_mid_step(
        "deploy",
        "cache_rebuild",
        "-t",
        target,
        "-p",
        f"rebuild_command={SLOW_ONCE}",
        step="rebuild",
        steps=2,
    )
    status = cli.run("status", "1")
    assert status.returncode == 0, status.stderr
    assert "status running" in status.stdout
    assert "orphaned" in status.stdout
    assert "`squall resume 1` runs it here, `squall abort 1` ends it" in status.stdout
    for node in ("node-01", "node-02"):
        assert f"⟳ {node}: step rebuild (attempt 1) was running" in status.stdout
    assert status.stdout.count("this step may have run twice") == 2
    # Reaped by that `status`: nothing is claimed by the dead process any more.
    assert cli.tasks() == {"node-01": "pending", "node-02": "pending"}
    assert cli.query("SELECT count(*) FROM node_leases") == [(0,)]

    retried = cli.run("retry", "1")
    assert retried.returncode == 2
    assert "orphaned" in retried.stderr and "`squall resume 1`" in retried.stderr

    resumed = cli.run("resume", "1")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "status succeeded" in resumed.stdout
    assert runs(fleet, "node-01") == runs(fleet, "node-02") == 2  # the step did run twice

    log = cli.run("logs", "1", "--node", "node-01").stdout.splitlines()
    starts = [index for index, line in enumerate(log) if "step 1/1: rebuild" in line]
    marker = [index for index, line in enumerate(log) if "⟳ step 'rebuild' was running" in line]
    assert len(starts) == 2 and len(marker) == 1
    assert starts[0] < marker[0] < starts[1]  # where the second run starts
    assert "may have run twice" in log[marker[0]]
    after = cli.run("status", "1").stdout
    assert "orphaned" not in after and after.count("this step may have run twice") == 2


def test_an_orphaned_deployment_is_aborted_then_retried(cli: Cli, fleet: Fleet) -> None:
    cli.kill_mid_step(
        "deploy",
        "cache_rebuild",
        "-t",
        "host:node-03",
        "-p",
        f"rebuild_command={SLOW_ONCE}",
        step="rebuild",
        steps=1,
    )
    aborted = cli.run("abort", "1")
    assert aborted.returncode == 0, aborted.stderr
    assert aborted.stdout.strip() == "deployment 1 aborted"
    assert cli.tasks() == {"node-03": "cancelled"}
    assert cli.query("SELECT status FROM deployments") == [("cancelled",)]
    retried = cli.run("retry", "1")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "attempt 2" in retried.stdout and "status succeeded" in retried.stdout
    assert runs(fleet, "node-03") == 2


def test_an_interrupted_task_that_cannot_run_twice_names_its_step_and_the_next_step(
    cli: Cli, fleet: Fleet
) -> None:
    install = "sh -c '[ -e ~/installed ] || { touch ~/installed; sleep 60; }'"
    cli.kill_mid_step(
        "deploy",
        "single_instance",
        "-t",
        "host:node-04",
        "-p",
        "version=2.0",
        "-p",
        f"install_command={install}",
        step="prepare",
        steps=1,
    )
    status = cli.run("status", "1")
    assert "status failed" in status.stdout
    assert (
        "✗ node-04 [" in status.stdout
        and "interrupted during step prepare (may have partly run): worker " in status.stdout
    )
    assert "before any step" not in status.stdout
    assert "next: `squall retry 1` runs the 1 interrupted node(s) again" in status.stdout
    assert cli.query("SELECT status, failed_step_name FROM node_tasks") == [
        ("interrupted", "prepare")
    ]
    assert cli.query("SELECT name, status FROM step_results") == [("prepare", "interrupted")]
    retried = cli.run("retry", "1")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert fleet.node("node-04").root.joinpath("app/current").resolve().name == "2.0"


def test_a_killed_group_of_config_changes_resumes_its_wave(cli: Cli, fleet: Fleet) -> None:
    fleet.node("node-01").root.joinpath("runs").write_text("lightning passes at once\n")
    thunder = [node.name for node in fleet.nodes if node.name != "node-01"]
    cli.kill_mid_step(
        "deploy",
        "group",
        "-t",
        "all",
        "-p",
        "inner_type=config_change",
        "-p",
        "inner_params.path=app.conf",
        "-p",
        "inner_params.content=listen 80",
        "-p",
        f"inner_params.reload_command={SLOW_ONCE}",
        "-p",
        "lightning_size=1",
        "-p",
        "wave_size=100%",
        "-p",
        "thunder.gate=auto",
        step="reload",
        steps=len(thunder),
    )
    status = cli.run("status", "1")
    assert "orphaned" in status.stdout, status.stdout
    assert status.stdout.count("step reload (attempt 1) was running") == len(thunder)
    resumed = cli.run("resume", "1")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "status succeeded" in resumed.stdout
    for node in thunder:
        assert runs(fleet, node) == 2
        assert fleet.node(node).root.joinpath("app.conf").read_text() == "listen 80"


def test_a_deploy_killed_while_baking_is_orphaned_then_resumed(cli: Cli, fleet: Fleet) -> None:
    """Killed between steps (the lightning phase baking): no task is claimed, yet nothing
    runs it; `status` says so and `resume` runs it to the end."""
    params = [
        "inner_type=noop",
        "lightning_size=1",
        "lightning.bake_seconds=3",
        "thunder.gate=auto",
    ]
    victim = subprocess.Popen(
        [sys.executable, "-m", "squall", "deploy", "group", "-t", "host:node-01,host:node-02"]
        + [arg for param in params for arg in ("-p", param)],
        env=cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while cli.query("SELECT status FROM stages WHERE name = 'lightning'") != [("baking",)]:
            assert victim.poll() is None, "the deploy ended before it could be killed"
            assert time.monotonic() < deadline, "lightning never baked"
            time.sleep(0.05)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    assert cli.query("SELECT count(*) FROM node_tasks WHERE status = 'running'") == [(0,)]
    time.sleep(LEASE + 0.5)  # its engine's lease runs out
    status = cli.run("status", "1")
    assert "status running" in status.stdout and "orphaned" in status.stdout, status.stdout
    resumed = cli.run("resume", "1")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "status succeeded" in resumed.stdout
    assert cli.tasks() == {"node-01": "succeeded", "node-02": "succeeded"}
    assert "orphaned" not in cli.run("status", "1").stdout


# --- in one process: the rules behind the commands ---------------------------------------


@pytest.fixture
def squall(tmp_path: Path, fleet: Fleet) -> Iterator[SquallHarness]:
    with SquallHarness(tmp_path / "squall", DEFAULT_PLUGINS, fleet=fleet) as harness:
        yield harness


def test_resume_refuses_a_deployment_whose_worker_still_holds_its_tasks(
    squall: SquallHarness,
) -> None:
    deployment_id = squall.create("noop", target="host:node-01")
    with squall.runtime.db.write() as session:
        claim_tasks(
            session, worker="busy-worker", capacity=1, lease_seconds=30, box=squall.runtime.secrets
        )
    with pytest.raises(InvalidTransition, match="worker busy-worker holds 1 node task"):
        squall.act(actions.resume, deployment_id)


def test_a_deployment_is_orphaned_only_while_no_engine_is_alive(squall: SquallHarness) -> None:
    """Any live engine (a `squall serve` elsewhere) moves it forward: not orphaned; once
    that engine stops, it is."""
    deployment_id = crashed_mid_step(
        squall, "cache_rebuild", "host:node-01", {"rebuild_command": ["true"]}
    )
    assert squall.view(deployment_id).waiting_for.startswith("a process to run it (orphaned")
    hold_lease(squall.runtime.db, "serve-elsewhere", 30)
    assert squall.view(deployment_id).waiting_for is None
    with pytest.raises(InvalidTransition, match="is running, not paused"):
        squall.act(actions.resume, deployment_id)
    drop_lease(squall.runtime.db, "serve-elsewhere")
    assert "orphaned" in str(squall.view(deployment_id).waiting_for)
    squall.act(actions.resume, deployment_id)
    assert squall.run(deployment_id).status == "succeeded"


def test_reports_name_the_step_an_interrupted_task_was_in_and_the_steps_run_twice(
    squall: SquallHarness,
) -> None:
    rebuilt = crashed_mid_step(
        squall, "cache_rebuild", "host:node-01", {"rebuild_command": ["true"]}
    )
    assert squall.run(rebuilt).status == "succeeded"
    # In prepare, its first step.
    crashed = crashed_mid_step(squall, "single_instance", "host:node-02", {"version": "1.0"})
    assert squall.view(crashed).status == "failed"
    with squall.runtime.db.read() as session:
        twice = reports.deployment_report(session, squall.runtime, squall.actor, rebuilt)
        once = reports.deployment_report(session, squall.runtime, squall.actor, crashed)
    (note,) = [entry for entry in twice.timeline if entry.kind == "task.requeued"]
    assert note.detail.startswith("node-01 (attempt 1): step 'rebuild' was running when worker")
    assert note.detail.endswith("it runs again, so it may have run twice")
    rt, me = squall.runtime, squall.actor
    assert note.detail in reports.render_json(rt, me, twice)
    text = " ".join(pdf_text(reports.render_pdf(rt, me, twice)).split())
    assert "Steps that may have run twice" in text and "so it may have run twice" in text
    (line,) = once.nodes
    assert (line.status, line.failed_step) == ("interrupted", "prepare")
    text = " ".join(pdf_text(reports.render_pdf(rt, me, once)).split())
    assert "interrupted during step prepare (may have partly run)" in text


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
