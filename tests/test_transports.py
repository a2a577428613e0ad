"""How a command ends, over SSH (a real sshd node) and locally: the two transports agree.

A command has ended when it has exited *and* its output has closed. OpenSSH sends the exit
status as soon as the process exits, before what is still in its pipes and before anything
a process it left running writes later, so the status alone would lose the end of the
output (a node's facts, its last log lines).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from squall.core.execution import CommandResult, StepOutcome, Stream
from squall.core.plan import NodeInfo
from squall.core.settings import SSHSettings
from squall.core.shell import sh
from squall.core.transports.base import ShellConnection, TransportError
from squall.core.transports.local import LocalConnector
from squall.core.transports.ssh import SSHConnector
from squall.testing.fleet import Fleet


class Lines:
    def __init__(self) -> None:
        self.lines: list[tuple[Stream, str]] = []

    def write(self, line: str, stream: Stream = "squall") -> None:
        self.lines.append((stream, line))


def connect_ssh(fleet: Fleet, tmp_path: Path) -> ShellConnection:
    node = fleet.nodes[0]
    connector = SSHConnector(
        SSHSettings(key_file=fleet.client_key, known_hosts=fleet.known_hosts),
        tmp_path / "learned_hosts",
    )
    return connector.connect(NodeInfo(node.name, node.cluster, node.host, node.port, node.user))


@pytest.fixture(params=["ssh", "local"])
def connection(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ShellConnection]:
    opened: ShellConnection
    if request.param == "ssh":
        opened = connect_ssh(request.getfixturevalue("fleet"), tmp_path)
    else:
        opened = LocalConnector(tmp_path / "nodes").connect(
            NodeInfo("local-1", "lab", "localhost", transport="local")
        )
    yield opened
    opened.close()


def run(
    connection: ShellConnection, command: str, timeout: float = 20
) -> tuple[CommandResult, list[tuple[Stream, str]]]:
    lines = Lines()
    result = connection.run(sh(command), timeout=timeout, log=lines)
    return result, lines.lines


def test_output_written_after_the_command_exits_is_kept(connection: ShellConnection) -> None:
    result, lines = run(connection, "echo early; (sleep 0.5; echo late; echo gone >&2) & exit 0")
    assert result.exit_code == 0 and result.signal is None
    # Each stream in order; the two streams are read apart, so not in order with each other.
    assert [line for stream, line in lines if stream == "stdout"] == ["early", "late"]
    assert [line for stream, line in lines if stream == "stderr"] == ["gone"]


def test_a_command_that_closes_its_output_is_waited_for_without_spinning(
    connection: ShellConnection,
) -> None:
    cpu = time.thread_time()  # the command is waited for in the calling thread
    result, lines = run(connection, "echo ready=1; exec >/dev/null 2>&1; sleep 1.5; exit 4")
    # Waiting 1.5 s for the status costs next to no CPU (a loop polling the closed output
    # would burn all 1.5 s of it, and starve every other node's thread).
    assert time.thread_time() - cpu < 0.5
    assert (result.exit_code, lines) == (4, [("stdout", "ready=1")])


def test_a_command_killed_by_a_signal_is_named_so(connection: ShellConnection) -> None:
    result, lines = run(connection, "echo before; kill -9 $$")
    assert result.exit_code is None and not result.timed_out and not result.interrupted
    assert lines == [("stdout", "before")]
    # OpenSSH reports the signal by name, but paramiko does not pass it on.
    over_ssh = connection.node.transport == "ssh"
    assert result.signal == ("unknown" if over_ssh else "KILL")
    assert StepOutcome.from_command(result, 20) == StepOutcome.failure(
        "killed by a signal" if over_ssh else "killed by signal KILL"
    )


def test_a_connection_lost_while_a_command_runs_fails_it_as_such(
    fleet: Fleet, tmp_path: Path
) -> None:
    connection = connect_ssh(fleet, tmp_path)
    lines = Lines()
    # The command's parent is the node's sshd session: killing it drops the connection.
    with pytest.raises(TransportError, match="connection was lost while the command ran"):
        connection.run(sh("echo before; sleep 0.2; kill -9 $PPID; sleep 5"), timeout=20, log=lines)
    assert lines.lines == [("stdout", "before")]
    connection.close()
