"""The sshd test fleet and its pytest plugin, exercised with real sshd and real SSH clients."""

from __future__ import annotations

import errno
import os
import signal
import socket
import sys
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import paramiko
import pytest
import yaml
from fabric import Connection

from squall.testing import fleet as fleet_module
from squall.testing.fleet import Fleet, FleetError, FleetNode

if TYPE_CHECKING:
    from squall.testing.pytest_plugin import FleetFactory

# Installed, Squall registers the plugin through its pytest11 entry point; from a source
# checkout this module asks for it.
if "squall.testing.pytest_plugin" not in sys.modules:
    pytest_plugins = ["pytester", "squall.testing.pytest_plugin"]
else:
    pytest_plugins = ["pytester"]


def connect(fleet: Fleet, node: FleetNode, *, known_hosts: Path | None = None) -> Connection:
    """A Fabric connection that logs in with the fleet's key and verifies the host key."""
    connection = Connection(
        node.host,
        port=node.port,
        user=node.user,
        connect_timeout=10,
        connect_kwargs={
            "key_filename": str(fleet.client_key),
            "look_for_keys": False,
            "allow_agent": False,
        },
    )
    connection.client.load_host_keys(str(known_hosts or fleet.known_hosts))
    connection.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return connection


def run(fleet: Fleet, node: FleetNode, command: str) -> str:
    with connect(fleet, node) as connection:
        result = connection.run(command, hide=True, pty=False, in_stream=False)
    return str(result.stdout)


def processes_running_config_of(fleet: Fleet) -> list[int]:
    """Pids of processes whose command line names one of the fleet's sshd configs."""
    marker = str(fleet.workdir / "nodes").encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def processes_started_on(fleet: Fleet) -> list[int]:
    """Pids of processes started through an SSH session on one of the fleet's nodes."""
    markers = {f"NODE_ROOT={node.root}".encode() for node in fleet.nodes}
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if markers & set((entry / "environ").read_bytes().split(b"\0")):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def pid_exists(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_every_node_of_ten_answers_over_ssh_from_its_own_address_and_folder(
    fleet_factory: FleetFactory,
) -> None:
    ten = fleet_factory(10)
    command = 'echo "$NODE_ROOT"; echo "$HOME"; echo "$SSH_CONNECTION"'
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda node: run(ten, node, command), ten.nodes))

    assert len(answers) == 10
    for node, answer in zip(ten.nodes, answers, strict=True):
        node_root, home, ssh_connection = answer.splitlines()
        assert node_root == home == str(node.root)
        assert node.root.is_dir()
        assert ssh_connection.split()[2:] == [node.host, str(node.port)]


def test_nodes_have_distinct_loopback_addresses_names_and_folders(fleet: Fleet) -> None:
    assert len({node.host for node in fleet.nodes}) == len(fleet.nodes)
    assert len({node.name for node in fleet.nodes}) == len(fleet.nodes)
    assert len({node.root for node in fleet.nodes}) == len(fleet.nodes)
    assert {node.port for node in fleet.nodes} == {fleet.port}
    assert fleet.port != 22
    assert all(node.host.startswith(f"127.{fleet.subnet}.") for node in fleet.nodes)
    assert [node.name for node in fleet.nodes][:2] == ["node-01", "node-02"]


def test_host_keys_are_verified_against_known_hosts(fleet: Fleet, tmp_path: Path) -> None:
    node = fleet.nodes[0]
    lines = fleet.known_hosts.read_text().splitlines()
    assert len(lines) == len(fleet.nodes)
    assert lines[0].startswith(f"[{node.host}]:{node.port} ssh-ed25519 ")

    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with (
        pytest.raises(paramiko.SSHException, match="not found in known_hosts"),
        connect(fleet, node, known_hosts=empty) as connection,
    ):
        connection.open()


def test_uploads_land_in_the_node_folder(fleet: Fleet, tmp_path: Path) -> None:
    release = tmp_path / "release.txt"
    release.write_text("v2\n")
    node = fleet.nodes[1]

    with connect(fleet, node) as connection:
        connection.put(str(release), "release.txt")

    assert (node.root / "release.txt").read_text() == "v2\n"
    assert not (fleet.nodes[0].root / "release.txt").exists()


def test_stopped_node_refuses_connections_until_started(fleet: Fleet) -> None:
    down, up = fleet.nodes[2], fleet.nodes[3]

    fleet.stop_node(down.name)

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((down.host, down.port), timeout=5).close()
    with pytest.raises(paramiko.ssh_exception.NoValidConnectionsError) as refused:
        run(fleet, down, "true")
    assert all(e.errno == errno.ECONNREFUSED for e in refused.value.errors.values())
    assert run(fleet, up, "echo up") == "up\n"
    assert fleet.pid(down.name) is None
    assert fleet.stopped_nodes == {down.name}

    fleet.start_node(down.name)

    assert run(fleet, down, "echo back") == "back\n"
    assert fleet.stopped_nodes == set()


def test_stopping_a_node_drops_its_open_sessions(fleet: Fleet) -> None:
    node = fleet.nodes[4]
    with connect(fleet, node) as connection:
        connection.run("true", hide=True, in_stream=False)
        fleet.stop_node(node.name)
        with pytest.raises((EOFError, OSError, paramiko.SSHException)):
            connection.run("true", hide=True, in_stream=False)


def test_refused_key_fails_authentication_until_accepted(fleet: Fleet) -> None:
    node = fleet.nodes[5]

    fleet.refuse_key(node.name)

    with pytest.raises(paramiko.AuthenticationException):
        run(fleet, node, "true")
    assert run(fleet, fleet.nodes[6], "echo other") == "other\n"
    assert fleet.refused_nodes == {node.name}

    fleet.accept_key(node.name)

    assert run(fleet, node, "echo again") == "again\n"


def test_heal_undoes_every_fault_including_a_crashed_sshd(fleet: Fleet) -> None:
    stopped, refused, crashed = fleet.nodes[0], fleet.nodes[1], fleet.nodes[2]
    fleet.stop_node(stopped.name)
    fleet.refuse_key(refused.name)
    crashed_pid = fleet.pid(crashed.name)
    assert crashed_pid is not None
    os.kill(crashed_pid, signal.SIGKILL)
    wait_for(lambda: fleet.pid(crashed.name) is None)

    fleet.heal()

    for node in (stopped, refused, crashed):
        assert run(fleet, node, "echo healed") == "healed\n"
    assert fleet.pid(crashed.name) not in (None, crashed_pid)
    assert fleet.stopped_nodes == fleet.refused_nodes == set()


def test_reset_empties_node_folders_and_kills_leftover_processes(fleet: Fleet) -> None:
    node = fleet.nodes[7]
    # Sessions start in the OS user's home directory, not in the node's folder.
    leftover = run(
        fleet, node, 'cd "$NODE_ROOT" && echo data > file && mkdir -p a/b && '
        "{ nohup sleep 300 >/dev/null 2>&1 & echo $!; }"
    )  # fmt: skip
    sleep_pid = int(leftover)
    assert (node.root / "file").exists()
    assert pid_exists(sleep_pid)

    fleet.reset()

    assert list(node.root.iterdir()) == []
    wait_for(lambda: not pid_exists(sleep_pid))  # SIGKILL lands a moment later on a busy machine
    assert run(fleet, node, 'ls -A "$NODE_ROOT"') == ""


def test_stop_leaves_no_sshd_process_of_the_fleet(fleet_factory: FleetFactory) -> None:
    small = fleet_factory(3)
    pids = [small.pid(node.name) for node in small.nodes]
    assert all(pid is not None and pid_exists(pid) for pid in pids)
    assert sorted(processes_running_config_of(small)) == sorted(pids)
    connection = connect(small, small.nodes[0])
    connection.open()
    connection.client.exec_command("sleep 300")  # a live session, with a command running
    wait_for(lambda: len(processes_started_on(small)) > 0)

    small.stop()
    small.stop()  # idempotent

    assert not any(pid_exists(pid) for pid in pids if pid is not None)
    assert processes_running_config_of(small) == []
    assert processes_started_on(small) == []
    assert all(small.pid(node.name) is None for node in small.nodes)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((small.nodes[0].host, small.port), timeout=5).close()
    connection.close()


def test_two_fleets_at_once_do_not_collide(fleet: Fleet, fleet_factory: FleetFactory) -> None:
    other = fleet_factory(3)

    assert other.subnet != fleet.subnet
    assert not {node.host for node in other.nodes} & {node.host for node in fleet.nodes}
    assert run(other, other.nodes[0], "echo $NODE_ROOT") == f"{other.nodes[0].root}\n"
    assert run(fleet, fleet.nodes[0], "echo $NODE_ROOT") == f"{fleet.nodes[0].root}\n"
    with pytest.raises(FleetError, match="in use by another fleet"):
        Fleet(other.workdir.parent / "third", 1, subnet=other.subnet)


def test_clusters_are_contiguous_blocks_in_the_inventory(
    fleet_factory: FleetFactory, tmp_path: Path
) -> None:
    lab = fleet_factory(5, clusters=2, prefix="web")

    inventory = lab.inventory()

    clusters = inventory["clusters"]
    assert list(clusters) == ["web-cluster-a", "web-cluster-b"]
    assert [n["name"] for n in clusters["web-cluster-a"]["nodes"]] == ["web-01", "web-02", "web-03"]
    assert [n["name"] for n in clusters["web-cluster-b"]["nodes"]] == ["web-04", "web-05"]
    first = clusters["web-cluster-a"]["nodes"][0]
    node = lab.node("web-01")
    assert first == {
        "name": "web-01", "host": node.host, "port": lab.port, "user": node.user, "transport": "ssh"
    }  # fmt: skip
    assert lab.node("web-05").cluster == "web-cluster-b"
    written = lab.write_inventory(tmp_path / "inventory.yaml")
    assert yaml.safe_load(written.read_text()) == inventory


def test_a_node_whose_address_is_taken_fails_start_with_the_sshd_log(tmp_path: Path) -> None:
    broken = Fleet(tmp_path / "fleet", 3)
    squatter = socket.socket()
    squatter.bind((broken.nodes[1].host, broken.port))
    squatter.listen()
    try:
        with pytest.raises(FleetError, match=r"(?s)sshd of node-02 exited.*Last lines of"):
            broken.start()
        assert processes_running_config_of(broken) == []
    finally:
        squatter.close()
        broken.stop()


def test_a_missing_sshd_says_to_install_openssh_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fleet_module, "SSHD_CANDIDATES", (str(tmp_path / "no-sshd"),))
    monkeypatch.setattr(fleet_module, "_sshd_cache", [])

    with pytest.raises(FleetError, match="install openssh-server"), Fleet(tmp_path / "fleet", 1):
        pass


def test_plugin_option_sizes_the_session_fleet(
    pytester: pytest.Pytester, pytestconfig: pytest.Config
) -> None:
    pytester.makepyfile(
        textwrap.dedent(
            """
            def test_size(fleet, ssh_fleet, fleet_factory):
                assert fleet is ssh_fleet
                assert len(fleet.nodes) == 3
                assert len(fleet_factory(2, 2).inventory()["clusters"]) == 2
            """
        )
    )
    # Installed, the inner run loads the plugin through its entry point by itself.
    load = (
        []
        if pytestconfig.pluginmanager.has_plugin("squall")
        else ["-p", "squall.testing.pytest_plugin"]
    )

    result = pytester.runpytest_inprocess(
        *load, "--squall-fleet-size=3", "-p", "no:cacheprovider", "-p", "no:asyncio"
    )

    result.assert_outcomes(passed=1)
