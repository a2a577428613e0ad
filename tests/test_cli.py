"""The `squall` command, run as a user runs it: a separate process on a fresh data directory."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from squall.core.auth import local_operator
from squall.core.runtime import Runtime
from squall.core.services import deployments
from squall.core.settings import load_settings
from squall.core.values.deployments import DeploymentRequest

DEMO_NODES = [
    "demo-api-1",
    "demo-api-2",
    "demo-api-3",
    "demo-cache-1",
    "demo-cache-2",
    "demo-web-1",
    "demo-web-2",
    "demo-web-3",
]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def env_for(data_dir: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SQUALL_", "PYTEST_"))
    }
    env.update(SQUALL_DATA_DIR=str(data_dir), COLUMNS="200", NO_COLOR="1")
    return env


def squall(data_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "squall", *args],
        env=env_for(data_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


REBUILD_WHEN_READY = (
    "deploy",
    "cache_rebuild",
    "-t",
    "cluster:demo-cache",
    "-p",
    "rebuild_command=test -e ready",
)
"""A cache rebuild of the two demo-cache nodes that fails on each until its `ready` exists."""


def demo_node(data_dir: Path, name: str) -> Path:
    return data_dir / "demo" / name


def test_first_run_creates_a_demo_inventory_that_really_deploys(data_dir: Path) -> None:
    result = squall(data_dir, "deploy", "noop", "--target", "all", "--follow")
    assert result.returncode == 0, result.stderr
    assert "created a demo inventory" in result.stderr
    for node in DEMO_NODES:
        assert re.search(rf"{node} hostname=\S+", result.stdout), node
    assert "status succeeded" in result.stdout
    assert "parameters:" not in result.stdout  # a no-op with no message has none to show
    listing = squall(data_dir, "status")
    assert re.search(r"1\s+noop\s+succeeded\s+8/8\s+0\s+all", listing.stdout), listing.stdout


def test_tables_fit_a_narrow_terminal_and_cut_no_outcome_or_action_short(data_dir: Path) -> None:
    assert squall(data_dir, *REBUILD_WHEN_READY).returncode == 1
    demo_node(data_dir, "demo-cache-2").joinpath("ready").touch()
    assert squall(data_dir, "retry", "1").returncode == 1  # demo-cache-1 still fails
    excluded = squall(data_dir, "exclude", "1")
    assert excluded.returncode == 1 and "succeeded with exclusions" in excluded.stdout  # not 0
    assert squall(data_dir, "deploy", "noop", "-t", "all").returncode == 0

    def shown_at(columns: int, *command: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "squall", *command],
            env={**env_for(data_dir), "COLUMNS": str(columns)},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout

    for columns in (80, 60):
        for command in (("status",), ("audit", "list"), ("inventory", "list"), ("roles",)):
            shown = shown_at(columns, *command)
            assert max(len(line) for line in shown.splitlines()) <= columns, shown
            assert "…" not in shown, shown  # wrapped or folded, never cut short
        # One deployment: its tables fit too; its sentences are left to the terminal to wrap.
        assert "…" not in shown_at(columns, "status", "1")
        for report in (
            ("deployment", "1"),
            ("cluster", "demo-cache", "--since", "1d"),
            ("node", "demo-cache-1"),
        ):
            shown = shown_at(columns, "report", *report)
            assert "…" not in shown, shown
            tables = shown.split("\n", 1)[1].rsplit("data SHA-256", 1)[0]  # not the headline
            assert max(len(line) for line in tables.splitlines()) <= columns, tables
    # A report's main table in the terminal: outcomes in words, times to the minute.
    cluster = shown_at(120, "report", "cluster", "demo-cache", "--since", "1d")
    assert re.search(r"(?m)^\s*1\s+cache_rebuild\s+succeeded with exclusions\s", cluster), cluster
    assert re.search(r"(?m)^\s*2\s+noop\s+succeeded\s+\S+\s+\d{4}-\d\d-\d\d \d\d:\d\d\s", cluster)
    node = shown_at(120, "report", "node", "demo-cache-1")
    assert re.search(r"(?m)^\s*1\s+cache_rebuild\s+rebuild\s+excluded\s+2\s", node), node
    assert re.search(r"at rebuild, exit 1\b", node), node
    deployment = shown_at(120, "report", "deployment", "1")
    assert "succeeded with exclusions (1 excluded, 1 succeeded)" in deployment, deployment
    assert "_" not in deployment.split("data SHA-256")[0].replace("demo-cache", ""), deployment
    # In an ordinary terminal each outcome, action, date and time is there in whole words.
    audit = shown_at(80, "audit", "list")
    for action in ("deployment.create", "deployment.retry", "deployment.exclude"):
        assert re.search(rf"\s{re.escape(action)}\s", audit), audit
    roles = shown_at(80, "roles")
    assert re.search(r"(?m)^\s*deployment\.create\s", roles), roles
    shown = shown_at(80, "status")
    assert re.search(r"\bsucceeded\s+8/8\b", shown), shown
    assert re.search(r"(?m)^\s*1\s+cache_rebuild\s", shown), shown  # a type's name whole
    assert re.search(r"\bsucceeded\s+2/2\b", shown), shown
    assert re.search(r"(?m)^\s+\S*\s+with\s", shown), shown
    assert re.search(r"(?m)^\s+\S*\s+exclusions\s", shown), shown
    assert len(re.findall(r"\b\d{4}-\d\d-\d\d\b", shown)) == 2, shown
    assert len(re.findall(r"\b\d\d:\d\d\b", shown)) == 2, shown


def test_dry_run_shows_the_plan_and_executes_nothing(data_dir: Path) -> None:
    result = squall(
        data_dir,
        "deploy",
        "cache_rebuild",
        "-t",
        "cluster:demo-web",
        "-p",
        "rebuild_command=touch rebuilt",
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr
    assert "$ touch rebuilt" in result.stdout
    assert "dry run: 3 nodes, nothing was executed" in result.stdout
    assert not any(demo_node(data_dir, node).joinpath("rebuilt").exists() for node in DEMO_NODES)
    assert (
        "noop" not in squall(data_dir, "status").stdout
        and "cache_rebuild" not in squall(data_dir, "status").stdout
    )
    one_line = squall(
        data_dir, "deploy", "config_change", "-t", "host:demo-web-1", "-p", "path=etc/app.conf",
        "-p", "content=port=8080", "--dry-run",
    )  # fmt: skip
    assert "back up and write etc/app.conf (1 line)" in one_line.stdout, one_line.stdout
    assert not demo_node(data_dir, "demo-web-1").joinpath("etc", "app.conf").exists()


def test_failures_are_reported_with_their_failure_point_and_exit_status(data_dir: Path) -> None:
    result = squall(
        data_dir,
        "deploy",
        "cache_rebuild",
        "-t",
        "cluster:demo-api",
        "-p",
        "rebuild_command=sh -c 'echo no space >&2; exit 3'",
    )
    assert result.returncode == 1
    for node in ("demo-api-1", "demo-api-2", "demo-api-3"):
        assert re.search(
            rf"✗ {node} \[demo-api\] failed at step rebuild \(exit 3\): no space",
            result.stdout,
        )
    assert "| no space" in result.stdout
    status = squall(data_dir, "status", "1")
    assert "3 failed node(s)" in status.stdout


def test_retry_runs_the_failed_nodes_again_until_they_succeed(data_dir: Path) -> None:
    failed = squall(data_dir, *REBUILD_WHEN_READY)
    assert failed.returncode == 1
    demo_node(data_dir, "demo-cache-2").joinpath("ready").touch()
    still = squall(data_dir, "retry", "1")
    assert still.returncode == 1
    now, history = still.stdout.split("attempts:\n")
    assert "✗ demo-cache-1" in now and "✗ demo-cache-2" not in now
    # Attempt 1's failures stay on record, each with its failure point.
    assert "attempt 1: by " in history and "attempt 2: by " in history
    assert re.search(r"attempt 1: .*2 node\(s\): 2 failed", history)
    assert re.search(r"attempt 2: .*2 node\(s\): 1 failed, 1 succeeded", history)
    assert history.count("✗ demo-cache-1 [rebuild] failed at step rebuild, exit code 1") == 2
    assert history.count("✗ demo-cache-2 [rebuild] failed at step rebuild, exit code 1") == 1
    demo_node(data_dir, "demo-cache-1").joinpath("ready").touch()
    done = squall(data_dir, "retry", "1")
    assert done.returncode == 0, done.stdout
    assert "attempt 3" in done.stdout
    status = squall(data_dir, "status", "1").stdout
    assert "status succeeded" in status and "attempt 3: by " in status
    # Parameters as `--param` takes them: the command as words, nothing unset shown.
    assert (
        "parameters: rebuild_command=test -e ready · verify_attempts=3 · verify_interval=5.0"
        " · timeout=1800\n" in status
    ), status
    assert status.count("✗ demo-cache-1 [rebuild] failed at step rebuild") == 2
    log = squall(data_dir, "logs", "1", "--node", "demo-cache-2").stdout
    assert log.count("step 1/1: rebuild") == 2  # attempts 1 and 2; attempt 3 left it alone


def test_cancel_from_another_terminal_stops_a_running_deployment(data_dir: Path) -> None:
    assert squall(data_dir, "inventory", "list").returncode == 0  # creates the demo inventory
    running = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "squall",
            "deploy",
            "cache_rebuild",
            "-t",
            "all",
            "-p",
            "rebuild_command=sleep 60",
            "--parallel",
            "2",
        ],
        env=env_for(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while "running" not in squall(data_dir, "status").stdout:
            assert time.monotonic() < deadline, "the deployment never started"
            time.sleep(0.3)
        started = time.monotonic()
        cancelled = squall(data_dir, "cancel", "1")
        assert cancelled.returncode == 0 and "deployment 1 cancelled" in cancelled.stdout
        out, _ = running.communicate(timeout=30)
        assert time.monotonic() - started < 15
    finally:
        running.kill()
    assert running.returncode == 1
    assert "status cancelled" in out
    status = squall(data_dir, "status", "1").stdout
    # The two running were cancelled; the six waiting never started, in words.
    assert "2 cancelled, 6 not started" in " ".join(status.split()), status
    assert "not_started" not in status


def test_ctrl_c_cancels_the_deployment_it_runs(data_dir: Path) -> None:
    assert squall(data_dir, "inventory", "list").returncode == 0
    running = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "squall",
            "deploy",
            "cache_rebuild",
            "-t",
            "host:demo-web-1",
            "-p",
            "rebuild_command=sleep 60",
        ],
        env=env_for(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while "running" not in squall(data_dir, "status").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    running.send_signal(signal.SIGINT)
    out, err = running.communicate(timeout=30)
    assert "cancelling deployment 1" in err
    assert "status cancelled" in out


def test_logs_of_one_node_or_all(data_dir: Path) -> None:
    assert (
        squall(
            data_dir, "deploy", "noop", "-t", "cluster:demo-cache", "-p", "message=hello $(id)"
        ).returncode
        == 0
    )
    one = squall(data_dir, "logs", "1", "--node", "demo-cache-1").stdout
    assert "hello $(id)" in one and "demo-cache-2" not in one
    every = squall(data_dir, "logs", "1").stdout
    assert "demo-cache-1 hello $(id)" in every and "demo-cache-2 hello $(id)" in every
    # A node the deployment did not touch (misspelt, or another cluster's) is an error, not
    # an empty log that reads as a node that printed nothing.
    for node in ("demo-cache-9", "demo-web-1"):
        missing = squall(data_dir, "logs", "1", "--node", node)
        assert (missing.returncode, missing.stdout) == (2, "")
        assert f"deployment 1 has no node {node}" in missing.stderr


def test_a_malformed_inventory_names_its_line_and_imports_nothing(
    data_dir: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "hosts.ini"
    bad.write_text("[web]\nweb1 ansible_host=10.0.0.1\nweb2 ansible_port=twenty-two\n[db]\ndb1\n")
    before = squall(data_dir, "inventory", "list").stdout
    result = squall(data_dir, "inventory", "import", str(bad))
    assert result.returncode == 2
    assert f"{bad}:3:" in result.stderr and "ansible_port" in result.stderr
    assert squall(data_dir, "inventory", "list").stdout == before


def test_an_ansible_inventory_imports_groups_as_clusters(data_dir: Path, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.ini"
    hosts.write_text(
        "[web]\nweb[1:3].example.com ansible_user=deploy\n\n[db]\ndb1 ansible_host=10.0.0.9 ansible_port=2222\n"
    )
    result = squall(data_dir, "inventory", "import", str(hosts))
    assert result.returncode == 0, result.stderr
    assert "imported 2 cluster(s)" in result.stdout and "4 node(s) added" in result.stdout
    listing = squall(data_dir, "inventory", "list", "--target", "cluster:web,cluster:db").stdout
    assert re.search(r"web\s+web2\.example\.com\s+web2\.example\.com:22\s+deploy", listing)
    assert re.search(r"db\s+db1\s+10\.0\.0\.9:2222", listing)
    assert "4 node(s)" in listing


def test_invalid_parameters_are_refused_before_anything_is_created(data_dir: Path) -> None:
    result = squall(data_dir, "deploy", "config_change", "-t", "all", "-p", "content=x")
    assert result.returncode == 2
    assert "invalid parameters for config_change: path: Field required" in result.stderr
    unknown = squall(data_dir, "deploy", "teleport", "-t", "all")
    assert unknown.returncode == 2 and "no deployment type named 'teleport'" in unknown.stderr
    nothing = squall(data_dir, "deploy", "noop", "-t", "cluster:nope")
    assert nothing.returncode == 2 and "matches no node" in nothing.stderr
    too_many = squall(data_dir, "deploy", "single_instance", "-t", "all", "-p", "version=1.0")
    assert too_many.returncode == 2 and "exactly one node; the target selects 8" in too_many.stderr
    piped = squall(
        data_dir,
        "deploy",
        "cache_rebuild",
        "-t",
        "all",
        "-p",
        "rebuild_command=app rebuild | tee x",
    )
    assert piped.returncode == 2
    assert "rebuild_command: command 'app rebuild | tee x': a shell would act on '|'," in (
        " ".join(piped.stderr.split())
    )
    assert "No deployment" not in squall(data_dir, "status").stdout
    assert squall(data_dir, "status").stdout.startswith("no deployments yet")  # none created


def test_types_lists_every_installed_type_with_its_parameters(data_dir: Path) -> None:
    result = squall(data_dir, "types")
    for name in ("noop", "config_change", "cache_rebuild", "single_instance", "group"):
        assert re.search(rf"^{name} — ", result.stdout, re.M)
    assert "rebuild_command (command; required): The command that rebuilds" in result.stdout
    assert "thunder.gate (one of auto, manual; default manual): " in result.stdout
    assert "secrets (mapping of names to secrets; default empty): " in result.stdout
    for internal in ("Annotated", "PydanticUndefined", "<function", "Optional[", "default None"):
        assert internal not in result.stdout


def test_help_shows_a_type_beside_options_that_take_a_value_and_none_beside_flags(
    data_dir: Path,
) -> None:
    result = squall(data_dir, "deploy", "--help")
    assert result.returncode == 0, result.stderr
    rows = {
        found[1]: found[2]
        for found in re.finditer(r"^\W*(--[\w-]+)(?:\s+-\w)?[ \t]+(\S+)", result.stdout, re.M)
    }
    assert rows["--parallel"] == "<int>"
    assert rows["--step-timeout"] == "<float>"
    assert rows["--param"] == "<str>"  # one value each time it is given: "(repeat …)"
    for flag in ("--dry-run", "--follow", "--help"):  # the help text comes next, not a type
        assert not rows[flag].startswith("<"), (flag, rows[flag])
    assert "<bool>" not in result.stdout


def test_every_command_explains_each_of_its_parameters() -> None:
    """Walks the whole command tree, plugins' commands included: each argument and option
    says what it is, and no help shows Python's spelling of a type or a doubled bracket."""
    import typer.main
    from typer.testing import CliRunner

    from squall.app import add_plugin_commands, cli

    add_plugin_commands()
    root = typer.main.get_command(cli)
    context_class = type(root.make_context("squall", [], resilient_parsing=True))
    commands: list[tuple[list[str], object]] = []

    def walk(command: object, path: list[str], parent: object) -> None:
        context = context_class(command, info_name=path[-1] if path else "squall", parent=parent)
        if hasattr(command, "commands"):
            for name in command.list_commands(context):
                walk(command.get_command(context, name), [*path, name], context)
        else:
            commands.append((path, command))

    walk(root, [], None)
    assert len(commands) > 30 and ["jira", "drift"] in [path for path, _ in commands]
    for path, command in commands:
        unexplained = [
            param.name
            for param in command.params  # type: ignore[attr-defined]
            if param.name != "help" and not getattr(param, "help", None)
        ]
        assert not unexplained, (path, unexplained)
        shown = CliRunner().invoke(cli, [*path, "--help"], env={"COLUMNS": "200"})
        assert shown.exit_code == 0, (path, shown.output)
        for wrong in ("<bool>", "<list[", "[[", "{["):
            assert wrong not in shown.output, (path, wrong, shown.output)


def test_types_in_a_terminal_wrap_each_description_under_its_parameter(data_dir: Path) -> None:
    # Rich sees a terminal: the output goes to a pseudo-terminal 72 columns wide.
    lines = _in_a_terminal(data_dir, 72, "types")
    assert lines and max(map(len, lines)) <= 72, lines
    start = next(i for i, line in enumerate(lines) if line.startswith("  path (string;"))
    assert lines[start] == "  path (string; required): File to write; relative paths start in the"
    assert lines[start + 1].startswith("      node's home folder.")  # under the parameter
    # Whole words, nothing lost: joined again, the description reads as it is written.
    text = " ".join(line.strip() for line in lines)
    assert "e.g. app-cache rebuild --all." in text
    assert "(never shown or stored in clear)" in text


def test_a_long_parameter_line_wraps_between_words_in_a_terminal(data_dir: Path) -> None:
    assert squall(data_dir, "deploy", "group", "-t", "all", "-p", "inner_type=noop").returncode == 3
    lines = _in_a_terminal(data_dir, 72, "status", "1")
    start = next(i for i, line in enumerate(lines) if line.startswith("parameters: "))
    end = next(i for i, line in enumerate(lines) if line.startswith("stages"))
    assert end - start > 1 and max(len(line) for line in lines[start:end]) <= 72, lines
    shown = " ".join(line.strip() for line in lines[start:end])
    assert "thunder.gate=manual · thunder.max_fail=10%" in shown, lines  # whole words
    assert len(squall(data_dir, "status", "1").stdout.split("parameters: ")[1].splitlines()[0]) > 72


def _in_a_terminal(data_dir: Path, columns: int, *command: str) -> list[str]:
    """What `squall COMMAND` prints to a pseudo-terminal `columns` wide, styles removed."""
    leader, follower = os.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "squall", *command],
        env={**env_for(data_dir), "COLUMNS": str(columns), "NO_COLOR": "1"},
        stdout=follower,
        stderr=subprocess.DEVNULL,
    ) as shown:
        os.close(follower)
        chunks = []
        while chunk := _read_or_empty(leader):
            chunks.append(chunk)
        assert shown.wait(timeout=60) == 0
    os.close(leader)
    output = re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode())  # bold, colours
    return output.replace("\r\n", "\n").splitlines()


def _read_or_empty(descriptor: int) -> bytes:
    try:
        return os.read(descriptor, 65536)
    except OSError:  # the other end closed: on Linux a pseudo-terminal says so with EIO
        return b""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_refuses_to_listen_beyond_this_machine_without_sign_on(data_dir: Path) -> None:
    result = squall(data_dir, "serve", "--host", "0.0.0.0", "--no-browser")
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0" in result.stderr


def test_serve_answers_on_loopback_and_runs_deployments(data_dir: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "squall", "serve", "--port", str(port), "--no-browser"],
        env=env_for(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    assert response.status == 200
                    assert "Squall" in response.read().decode()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.3)
        # The server's worker runs what another process creates in the shared database.
        settings = load_settings({"SQUALL_DATA_DIR": str(data_dir)})
        with (
            Runtime.open(
                settings, plugin_modules=("squall.plugins.noop",), entry_points=False
            ) as runtime,
            runtime.db.write() as session,
        ):
            created = deployments.create(
                session,
                runtime,
                local_operator(),
                DeploymentRequest("noop", {}, "all"),
            )
        deadline = time.monotonic() + 30
        while not re.search(
            rf"^\s*{created}\s+noop\s+succeeded", squall(data_dir, "status").stdout, re.M
        ):
            assert time.monotonic() < deadline, "the server's worker did not run the deployment"
            time.sleep(0.3)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


def test_a_group_deployment_waits_at_its_gate_then_promote_and_rollback_finish_it(
    data_dir: Path,
) -> None:
    group = [
        "deploy",
        "group",
        "-t",
        "all",
        "-p",
        "inner_type=config_change",
        "-p",
        "inner_params.path=etc/app.conf",
        "-p",
        "inner_params.content=v2",
    ]
    waiting = squall(data_dir, *group)
    assert waiting.returncode == 3, waiting.stderr
    assert "Stage 1: lightning — 1 node(s): demo-api 1" in waiting.stdout
    assert "waiting for approval of the gate before thunder 1" in waiting.stdout
    assert "squall promote 1" in waiting.stdout
    own = squall(data_dir, "promote", "1")
    assert own.returncode == 2 and "never approves their own gate" in own.stderr
    written = [demo_node(data_dir, node) / "etc" / "app.conf" for node in DEMO_NODES]
    assert sum(path.exists() for path in written) == 1
    # A team of one can turn four-eyes off.
    promoted = subprocess.run(
        [sys.executable, "-m", "squall", "promote", "1", "--comment", "checked the canary"],
        env={**env_for(data_dir), "SQUALL_FOUR_EYES": "false"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert "approved the gate before thunder 1" in promoted.stdout
    assert all(path.read_text() == "v2" for path in written)
    status = squall(data_dir, "status", "1").stdout
    assert "thunder 1 approved by" in status and "checked the canary" in status
    assert re.search(r"thunder 1\s+demo-\w+\s+\d+\s+\d+\s+0\s+0\s+0", status)  # by cluster
    undone = squall(data_dir, "rollback", "1")
    assert undone.returncode == 0, undone.stdout
    assert "status rolled back" in undone.stdout
    assert not any(path.exists() for path in written)  # the file did not exist before


def test_setting_aside_every_node_is_refused_and_changes_nothing(data_dir: Path) -> None:
    failed = squall(data_dir, "deploy", "cache_rebuild", "-t", "cluster:demo-cache", "-p",
                    "rebuild_command=false")  # fmt: skip
    assert failed.returncode == 1
    refused = squall(data_dir, "exclude", "1")
    assert refused.returncode == 2
    assert "every node of deployment 1 failed" in refused.stderr, refused.stderr
    assert "retry it instead" in refused.stderr
    # Still failed, both failures in place, and nothing audited: a success that changed
    # nothing is not recorded.
    assert re.search(
        r"(?m)^\s*1\s+cache_rebuild\s+failed\s+2/2\s+2\s", squall(data_dir, "status").stdout
    )
    assert "deployment.exclude" not in squall(data_dir, "audit", "list").stdout


def test_listings_with_nothing_in_them_say_so(data_dir: Path) -> None:
    assert squall(data_dir, "inventory", "remove", "--demo").returncode == 0
    for command, said in (
        (("status",), "no deployments yet: `squall deploy TYPE --target SELECTOR` starts one"),
        (("inventory", "list"), "no nodes yet: `squall inventory import FILE` adds clusters"),
        (("token", "list"), "no tokens"),
        (("role", "list"), "no role given in Squall"),
        (("audit", "list", "--actor", "nobody"), "no audit record matches"),
    ):
        shown = squall(data_dir, *command)
        assert shown.returncode == 0, (command, shown.stderr)
        assert shown.stdout.strip().startswith(said), (command, shown.stdout)  # no bare headers
    # A selector that picks nothing is still an error, as for a deployment.
    missed = squall(data_dir, "inventory", "list", "-t", "tag:db")
    assert missed.returncode == 2 and "matches no node" in missed.stderr


def test_abort_stops_a_group_waiting_at_its_gate(data_dir: Path) -> None:
    waiting = squall(data_dir, "deploy", "group", "-t", "all", "-p", "inner_type=noop")
    assert waiting.returncode == 3
    aborted = squall(data_dir, "abort", "1")
    assert aborted.returncode == 0 and "deployment 1 aborted" in aborted.stdout
    assert re.search(r"^\s*1\s+group\s+cancelled", squall(data_dir, "status").stdout, re.M)


def test_audit_verify_finds_an_edited_record_and_a_cut_off_tail(data_dir: Path) -> None:
    deployed = squall(data_dir, "deploy", "noop", "--target", "all", "-p", "message=hi there")
    assert deployed.returncode == 0
    granted = squall(data_dir, "role", "grant", "user:alice", "deployer@env:staging")
    assert "user:alice has deployer@env:staging" in granted.stdout
    listed = squall(data_dir, "audit", "list")
    assert re.search(
        r"role\.grant\s+user:alice\s+via=local, grant=deployer@env:staging", listed.stdout
    )
    # Details read as parameters do everywhere: dotted names, nothing unset, no Python reprs.
    details = "".join(listed.stdout.split())
    assert "type=noop,target=all,params.message=hithere" in details, listed.stdout
    assert "None" not in details and "{'" not in details, listed.stdout
    # The CSV export keeps them whole, as JSON, unset values included.
    exported = data_dir / "audit.csv"
    listing = squall(data_dir, "audit", "list", "--action", "deployment.", "--csv", str(exported))
    assert listing.returncode == 0, listing.stderr
    (row,) = csv.DictReader(io.StringIO(exported.read_text()))
    assert json.loads(row["details"]) == {
        "via": "local", "type": "noop", "target": "all", "params": {"message": "hi there"},
        "ticket": None,
    }  # fmt: skip
    intact = squall(data_dir, "audit", "verify")
    assert intact.returncode == 0, intact.stderr
    assert "chain intact" in intact.stdout
    head = re.search(r"^head ([0-9a-f]{64})$", intact.stdout, re.M)
    assert head is not None

    with sqlite3.connect(data_dir / "squall.db") as db:
        (actor,) = db.execute("SELECT actor FROM audit_records WHERE id = 1").fetchone()
        db.execute("UPDATE audit_records SET actor = 'mallory' WHERE id = 1")
    edited = squall(data_dir, "audit", "verify")
    assert edited.returncode == 1
    assert "record 1: content does not match its hash (edited)" in edited.stderr
    assert "the audit log was tampered with: 1 break(s)" in edited.stderr

    with sqlite3.connect(data_dir / "squall.db") as db:
        db.execute("UPDATE audit_records SET actor = ? WHERE id = 1", (actor,))
        db.execute("DELETE FROM audit_records WHERE id = (SELECT max(id) FROM audit_records)")
    # A cut-off tail leaves a chain that holds; the head noted earlier shows it.
    assert squall(data_dir, "audit", "verify").returncode == 0
    cut = squall(data_dir, "audit", "verify", "--head", head.group(1))
    assert cut.returncode == 1
    assert f"the head noted earlier ({head.group(1)[:12]}…) is gone" in cut.stderr


def test_tokens_from_the_command_line(data_dir: Path) -> None:
    made = squall(
        data_dir, "token", "create", "ci-deploys", "--days", "7", "--scope", "deployment.view"
    )
    assert made.returncode == 0, made.stderr
    secret = re.search(r"^(sq_1_\S+)$", made.stdout, re.M)
    assert secret is not None
    assert "it is shown this once" in made.stderr
    listed = squall(data_dir, "token", "list")
    assert re.search(
        r"^\s*1\s+\S+\s+ci-deploys\s+deployment\.view\s+\S+ \S+\s+active", listed.stdout, re.M
    )
    assert secret.group(1) not in listed.stdout
    assert "token 1 (ci-deploys) revoked" in squall(data_dir, "token", "revoke", "1").stdout
    assert re.search(r"ci-deploys.*revoked", squall(data_dir, "token", "list").stdout)
    refused = squall(data_dir, "token", "create", "x", "--scope", "deployment.destroy")
    assert refused.returncode == 2
    assert "unknown permission(s) deployment.destroy" in refused.stderr


def test_roles_prints_the_matrix_and_the_docs_page(data_dir: Path) -> None:
    table = squall(data_dir, "roles").stdout
    assert re.search(r"roles\.manage\s+✓\s*$", table, re.M)  # the admin column only
    markdown = squall(data_dir, "roles", "--markdown").stdout
    assert markdown == (Path(__file__).parent.parent / "docs" / "roles.md").read_text()
