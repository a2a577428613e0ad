"""pytest fixtures that give tests real SSH nodes (a fleet of OpenSSH sshd processes on
loopback) and an in-process Squall deploying to them.

Installing Squall registers this plugin through the ``pytest11`` entry point ``squall``;
from a source checkout, enable it with ``-p squall.testing.pytest_plugin`` (or
``pytest_plugins = ["squall.testing.pytest_plugin"]`` in the root ``conftest.py``). Nothing
starts until a test asks for one of the fixtures.

Fixtures:

``fleet`` (function scope)
    The session's :class:`~squall.testing.fleet.Fleet`, clean and healthy for this test: before
    the test, every fault is undone (:meth:`~squall.testing.fleet.Fleet.heal`), processes that
    earlier sessions left running on the nodes are killed, and every node's folder is emptied;
    after the test, ``heal()`` runs again. Use this one by default.

``ssh_fleet`` (session scope)
    The same fleet without the per-test cleaning: started at the first use, stopped at the end
    of the run. For session-scoped fixtures of your own (a deployed baseline shared by many
    tests); whatever a test changes, the next test sees. Don't mix the two on state that must
    last: every test that takes ``fleet`` empties the node folders and kills what runs there.

``fleet_factory`` (function scope)
    ``fleet_factory(size, clusters=1, *, prefix="node") -> Fleet`` starts another fleet, on
    its own addresses, and stops it after the test. For tests that need a particular size or
    cluster layout, or two fleets at once.

``squall_plugins`` (function scope)
    The plugins the ``squall`` fixture loads: module names (``"squall_nginx"``) or plugin
    objects. Returns ``()``; override it in your ``conftest.py`` to name the plugin under
    test::

        @pytest.fixture
        def squall_plugins():
            return ["squall_nginx"]

    Modules are imported by name, so the package only has to be importable (installed, or
    on ``sys.path`` through pytest's ``pythonpath`` option); its entry point is not read.

``squall`` (function scope)
    An in-process Squall (:class:`~squall.testing.harness.SquallHarness`) on a fresh SQLite
    database under ``tmp_path``, with the ``squall_plugins`` loaded and the ``fleet`` as its
    inventory (one cluster, nodes ``node-01`` …), closed after the test::

        def test_reload_runs_everywhere(squall, fleet):
            result = squall.deploy("nginx_reload", target="all", params={"unit": "nginx"})
            assert result.status == "succeeded"
            assert result.counts == {"succeeded": len(fleet.nodes)}
            assert "reloaded" in squall.logs(result.id, node="node-01")

    ``deploy()`` runs the deployment to its end in the test's process; the view it returns
    has ``status``, ``counts`` and ``failures`` (node, step, exit code, error, last lines).
    Invalid parameters raise :class:`squall.core.errors.ValidationError` before anything runs.

Options: ``--squall-fleet-size=N`` or the ini option ``squall_fleet_size`` (default 10) set the
size of the session fleet; the command-line option exists only when the plugin is loaded at
start-up (entry point, ``-p`` or the root ``conftest.py``).

A test connects with Fabric and verifies host keys against the fleet's known_hosts::

    def test_release_is_unpacked(fleet):
        node = fleet.node("node-01")
        with Connection(node.host, port=node.port, user=node.user,
                        connect_kwargs=fleet.connect_kwargs()) as conn:
            conn.client.load_host_keys(str(fleet.known_hosts))
            conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
            assert conn.run("cat $NODE_ROOT/current/VERSION", hide=True).stdout == "2\\n"

and writes an inventory for the code under test with ``fleet.write_inventory(path)``. Faults:
``fleet.stop_node(name)`` (connection refused), ``fleet.refuse_key(name)`` (authentication
fails); the ``fleet`` fixture undoes them.

Requirements: Linux with OpenSSH's ``sshd`` and ``ssh-keygen`` (Debian/Ubuntu:
``apt-get install openssh-server``); a missing sshd fails the test with that advice rather
than skipping it. Root is not needed. As root, sessions log in as root and ``/run/sshd`` is
created when missing. As another user, sessions log in as that user, whose login shell must be
a real shell. Fleets pick free unprivileged ports and their own ``127.N.x.y`` addresses, so
parallel runs (pytest-xdist, several users) do not collide. Sessions start in the OS user's
home directory, not the node's folder: use ``$NODE_ROOT`` (equal to ``$HOME``) in commands.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest

if TYPE_CHECKING:
    from squall.testing.fleet import Fleet
    from squall.testing.harness import SquallHarness

DEFAULT_FLEET_SIZE = 10


class FleetFactory(Protocol):
    """The ``fleet_factory`` fixture: starts a fleet that is stopped after the test."""

    def __call__(self, size: int, clusters: int = 1, *, prefix: str = "node") -> Fleet: ...


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("squall", "Squall SSH test fleet")
    group.addoption(
        "--squall-fleet-size",
        dest="squall_fleet_size",
        type=int,
        default=None,
        metavar="N",
        help=f"number of sshd nodes in the session fleet (default {DEFAULT_FLEET_SIZE})",
    )
    parser.addini(
        "squall_fleet_size",
        help=f"number of sshd nodes in the session fleet (default {DEFAULT_FLEET_SIZE})",
        default=str(DEFAULT_FLEET_SIZE),
    )


def _fleet_size(config: pytest.Config) -> int:
    size = config.getoption("squall_fleet_size", default=None)
    source = "--squall-fleet-size"
    if size is None:
        source = "ini option squall_fleet_size"
        try:
            size = int(config.getini("squall_fleet_size"))
        except ValueError:
            raise pytest.UsageError(f"{source} must be a whole number") from None
    if not isinstance(size, int) or size < 1:
        raise pytest.UsageError(f"{source} must be at least 1, not {size}")
    return size


@pytest.fixture(scope="session")
def ssh_fleet(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    """The session's fleet of sshd nodes, started once and stopped at the end of the run."""
    from squall.testing.fleet import Fleet

    workdir = tmp_path_factory.mktemp("squall-fleet")
    with Fleet(workdir, _fleet_size(request.config)) as fleet:
        yield fleet


@pytest.fixture
def fleet(ssh_fleet: Fleet) -> Iterator[Fleet]:
    """The session's fleet, healthy with empty node folders and no leftover sessions."""
    ssh_fleet.reset()
    yield ssh_fleet
    ssh_fleet.heal()


@pytest.fixture
def fleet_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetFactory]:
    """Start extra fleets for one test: ``fleet_factory(size, clusters=1, *, prefix="node")``."""
    from squall.testing.fleet import Fleet

    started: list[Fleet] = []

    def start(size: int, clusters: int = 1, *, prefix: str = "node") -> Fleet:
        fleet = Fleet(
            tmp_path_factory.mktemp("squall-fleet"), size, clusters=clusters, prefix=prefix
        )
        started.append(fleet)
        return fleet.start()

    yield start
    for fleet in reversed(started):
        fleet.stop()


@pytest.fixture
def squall_plugins() -> Sequence[str | object]:
    """Plugins the ``squall`` fixture loads; override it to name the plugin under test."""
    return ()


@pytest.fixture
def squall(
    tmp_path: Path, fleet: Fleet, squall_plugins: Sequence[str | object]
) -> Iterator[SquallHarness]:
    """Squall with the ``squall_plugins`` on a fresh SQLite database, the fleet as inventory."""
    # Imported here: the harness pulls in the database layer, which most test runs never need.
    from squall.testing.harness import SquallHarness

    with SquallHarness(tmp_path / "squall", squall_plugins, fleet=fleet) as harness:
        yield harness
