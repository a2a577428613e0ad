"""A fleet of real OpenSSH ``sshd`` nodes on loopback, for tests that need SSH hosts.

Every node is its own ``sshd`` process (``/usr/sbin/sshd -D -f <config> -E <log>``) listening
on its own loopback address ``127.N.x.y`` and on one port shared by the whole fleet. Every
address in ``127.0.0.0/8`` already reaches the loopback device on Linux, so a node looks like
a distinct host without any network setup. Each SSH session on a node gets ``HOME`` and
``NODE_ROOT`` set to the node's own folder, and SFTP starts in that folder::

    with Fleet(tmp_path, 20, clusters=2) as fleet:
        node = fleet.node("node-01")
        fleet.write_inventory(tmp_path / "inventory.yaml")
        fleet.stop_node("node-02")     # connection refused until start_node()/heal()

Layout of ``workdir`` (files exist once :meth:`Fleet.start` has run)::

    keys/host_ed25519      one host key for every node
    keys/client_ed25519    the client key every node accepts (:attr:`Fleet.client_key`)
    known_hosts            every node's host key (:attr:`Fleet.known_hosts`)
    nodes/<name>/sshd_config, sshd.log, sshd.pid, authorized_keys
    nodes/<name>/root/     the node's folder (:attr:`FleetNode.root`); nothing sshd needs

Facts worth knowing:

* Linux only, and ``sshd`` (Debian: ``apt-get install openssh-server``) and ``ssh-keygen``
  must be installed.
* Root is not required. Run as root, sshd needs ``/run/sshd`` (created here when missing)
  and any port may be used; as another user, only that user can log in (sshd cannot switch
  users), the user's login shell must be a real shell, and ports below 1024 are refused.
  By default the fleet picks a free unprivileged port, so both work the same way.
* sshd starts every session in the OS user's home directory from ``/etc/passwd``, not in the
  node's folder (``HOME`` is overridden, the working directory is not): commands should use
  ``$NODE_ROOT`` or ``cd ~`` rather than relative paths.
* A Fleet reserves its subnet ``127.N.0.0/16`` from construction until :meth:`Fleet.stop`
  (a Linux abstract socket held by this process, gone when it exits), so fleets in one
  process, in parallel test processes (pytest-xdist) or in other users' runs never collide.
* paramiko parses a known_hosts file in full at every ``load_host_keys`` (about 0.2 ms of CPU
  per line): with hundreds of nodes, parse it once (``paramiko.HostKeys(path)``) and give
  each client only its node's entry, and load the client key once (``pkey=``).
* sshd processes are stopped by :meth:`Fleet.stop`, when the Fleet is garbage collected, at
  interpreter exit, and (for fleets started from the main thread, when ``setpriv`` is
  installed) by the kernel if the test process is killed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from squall.core.errors import ConfigError

__all__ = ["Fleet", "FleetError", "FleetNode"]

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/usr/bin/sshd")
PRIVSEP_DIR = Path("/run/sshd")
NODES_PER_SUBNET = 254 * 256
LOG_TAIL_LINES = 20
# Characters the sshd config cannot carry in a path: internal-sftp splits its arguments on
# spaces without quoting, and AuthorizedKeysFile and SetEnv treat % and quotes specially.
_UNSAFE_PATH = re.compile(r"[\s\"'\\%#]")


class FleetError(ConfigError):
    """A fleet could not be set up, started or changed; the message says why and what to do."""


@dataclass(frozen=True)
class FleetNode:
    """One SSH node of a :class:`Fleet`: where to connect and the folder it owns.

    Attributes:
        name: Node name, ``"<prefix>-01"`` and up (zero-padded to the width of the size).
        cluster: Name of the cluster the node belongs to, ``"<prefix>-cluster-a"`` and up.
        host: The node's own loopback address, ``"127.N.x.y"``.
        port: Port sshd listens on; the same for every node of a fleet.
        user: The OS user the tests run as; the only user who can log in.
        root: The node's own folder; every SSH session gets ``HOME`` and ``NODE_ROOT`` set to
            it and SFTP starts in it.
    """

    name: str
    cluster: str
    host: str
    port: int
    user: str
    root: Path


class Fleet:
    """A set of real sshd processes on loopback addresses, with reversible faults.

    Nodes are placed into ``clusters`` clusters in contiguous blocks, in name order: with 10
    nodes and 3 clusters, ``<prefix>-cluster-a`` holds nodes 01-04, ``-b`` 05-07 and ``-c``
    08-10 (earlier clusters take the remainder). Clusters are lettered ``a`` … ``z``, ``aa``,
    ``ab`` … Node ``i`` (from 0) listens on ``127.N.(i // 254).(i % 254 + 1)``.

    Construction only computes the nodes and reserves a subnet and a port; :meth:`start`
    writes keys and configuration and starts sshd. Use it as a context manager, or call
    :meth:`stop` yourself. Methods may be called from several threads.

    Args:
        workdir: Folder for keys, configs, logs and node folders; created if missing. Its
            absolute path must not contain whitespace, quotes, backslashes, ``%`` or ``#``.
        size: Number of nodes (1 to 65024).
        clusters: Number of clusters, at most ``size``.
        prefix: Prefix of node and cluster names.
        subnet: ``N`` in ``127.N.x.y``, 1 to 254. By default the first free one from a value
            derived from the process id. An explicit subnet already used by another fleet is
            an error.
        port: Port for every node. By default a free unprivileged port; ``22`` makes the fleet
            look like ordinary hosts (needs root).
        start_timeout: Seconds :meth:`start` waits for every sshd to listen.
    """

    def __init__(
        self,
        workdir: Path,
        size: int,
        *,
        clusters: int = 1,
        prefix: str = "node",
        subnet: int | None = None,
        port: int | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        if not 1 <= size <= NODES_PER_SUBNET:
            raise ValueError(f"size must be between 1 and {NODES_PER_SUBNET}, not {size}")
        if not 1 <= clusters <= size:
            raise ValueError(f"clusters must be between 1 and size ({size}), not {clusters}")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", prefix):
            raise ValueError(f"prefix must be letters, digits, '.', '_' or '-', not {prefix!r}")
        if subnet is not None and not 1 <= subnet <= 254:
            raise ValueError(f"subnet must be between 1 and 254, not {subnet}")
        if port is not None and not 1 <= port <= 65535:
            raise ValueError(f"port must be between 1 and 65535, not {port}")
        self.workdir = Path(workdir).absolute()
        if _UNSAFE_PATH.search(str(self.workdir)):
            raise ValueError(
                f"workdir {self.workdir} cannot be used in an sshd config: choose a path "
                "without whitespace, quotes, backslashes, '%' or '#'"
            )
        self.start_timeout = start_timeout
        self.client_key = self.workdir / "keys" / "client_ed25519"
        self.host_key = self.workdir / "keys" / "host_ed25519"
        self.known_hosts = self.workdir / "known_hosts"
        self._user = pwd.getpwuid(os.geteuid()).pw_name
        self._prefix = prefix
        self._size = size
        self._clusters = clusters
        self._lock = threading.RLock()
        self._runtime = _Runtime()
        self._finalizer = weakref.finalize(self, self._runtime.shutdown)
        self._stopped: set[str] = set()
        self._refused: set[str] = set()
        self._files_written = False
        self._running = False
        self.subnet, self.port = self._reserve(subnet, port)
        self.nodes: tuple[FleetNode, ...] = tuple(self._plan_nodes())
        self._by_name = {node.name: node for node in self.nodes}

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Start every node that is not running and wait until each one listens.

        Safe to call again (after :meth:`stop` too). Raises :class:`FleetError`, with the tail
        of the sshd log, if a node fails to start; nodes started by this call are stopped then.
        """
        with self._lock:
            if self._runtime.reservation is None:
                self.subnet, self.port = self._reserve(self.subnet, self.port)
            sshd = _sshd_binary()
            if os.geteuid() == 0:
                PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
            if not self._files_written:
                self._write_files(sshd)
            pending = [node for node in self.nodes if not self._runtime.is_running(node.name)]
            self._spawn_and_wait(sshd, pending)
            self._stopped.clear()
            self._running = True
        return self

    def stop(self) -> None:
        """Stop every sshd with SIGTERM (SIGKILL after a grace period), and every process a
        session on a node left running; release the subnet. Idempotent."""
        with self._lock:
            self._running = False
            self._runtime.shutdown()

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()  # __exit__ does not run when __enter__ fails
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- lookup ------------------------------------------------------------------------------

    def node(self, name: str) -> FleetNode:
        """The node called ``name``; raises KeyError naming the fleet's nodes otherwise."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(
                f"no node {name!r} in this fleet ({self.nodes[0].name} … {self.nodes[-1].name})"
            ) from None

    def pid(self, name: str) -> int | None:
        """Process id of the node's sshd, or None when it is not running."""
        self.node(name)
        return self._runtime.pid(name)

    def sshd_log(self, name: str) -> Path:
        """The node's sshd log file (authentication failures are explained there)."""
        return self._node_dir(self.node(name)) / "sshd.log"

    def connect_kwargs(self) -> dict[str, Any]:
        """``connect_kwargs`` for Fabric's Connection (or paramiko's ``SSHClient.connect``)
        that log in with the fleet's client key and nothing else."""
        return {"key_filename": str(self.client_key), "look_for_keys": False, "allow_agent": False}

    # -- inventory ---------------------------------------------------------------------------

    def inventory(self) -> dict[str, Any]:
        """Squall's inventory for this fleet: ``{"clusters": {name: {"nodes": [...]}}}`` with
        ``name``, ``host``, ``port``, ``user`` and ``transport`` (``"ssh"``) per node."""
        clusters: dict[str, Any] = {}
        for node in self.nodes:
            entry = {
                "name": node.name,
                "host": node.host,
                "port": node.port,
                "user": node.user,
                "transport": "ssh",
            }
            clusters.setdefault(node.cluster, {"nodes": []})["nodes"].append(entry)
        return {"clusters": clusters}

    def write_inventory(self, path: Path) -> Path:
        """Write :meth:`inventory` to ``path`` as YAML and return the path."""
        import yaml  # only needed here; keeps importing this module cheap

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.inventory(), sort_keys=False), encoding="utf-8")
        return path

    # -- faults ------------------------------------------------------------------------------

    def stop_node(self, name: str) -> None:
        """Take the node down as if it crashed: its sshd and every session on it are killed,
        and new connections are refused until :meth:`start_node` or :meth:`heal`."""
        node = self.node(name)
        with self._lock:
            self._require_running()
            self._stopped.add(node.name)
            self._runtime.terminate([node.name])

    def start_node(self, name: str) -> None:
        """Start the node's sshd again (a no-op if it is running) and wait until it listens."""
        node = self.node(name)
        with self._lock:
            self._require_running()
            if not self._runtime.is_running(node.name):
                self._spawn_and_wait(_sshd_binary(), [node])
            self._stopped.discard(node.name)

    def refuse_key(self, name: str) -> None:
        """Remove the client key from the node's authorized keys: logins fail with an
        authentication error until :meth:`accept_key` or :meth:`heal`."""
        node = self.node(name)
        with self._lock:
            if self._files_written:
                _write_atomically(self._node_dir(node) / "authorized_keys", "")
            self._refused.add(node.name)

    def accept_key(self, name: str) -> None:
        """Authorize the client key on the node again."""
        node = self.node(name)
        with self._lock:
            if self._files_written:
                authorized_keys = self._node_dir(node) / "authorized_keys"
                _write_atomically(authorized_keys, self._client_public_key())
            self._refused.discard(node.name)

    @property
    def stopped_nodes(self) -> frozenset[str]:
        """Names of nodes taken down with :meth:`stop_node` and not started since."""
        return frozenset(self._stopped)

    @property
    def refused_nodes(self) -> frozenset[str]:
        """Names of nodes refusing the client key since :meth:`refuse_key`."""
        return frozenset(self._refused)

    def heal(self) -> None:
        """Undo every fault: authorize the client key everywhere it was refused and, while the
        fleet runs, start every node whose sshd is not running (stopped on purpose or crashed).
        """
        with self._lock:
            for name in sorted(self._refused):
                self.accept_key(name)
            if self._running:
                down = [node for node in self.nodes if not self._runtime.is_running(node.name)]
                self._spawn_and_wait(_sshd_binary(), down)
            self._stopped.clear()

    def reset(self) -> None:
        """Give the next test clean, healthy nodes: :meth:`heal`, kill every process a session
        left running on a node, and empty every node's folder.

        Processes are found as descendants of the node's sshd or by the ``NODE_ROOT`` in their
        environment, so a ``nohup cmd &`` is found too; one that changed its environment and
        left its session is not.
        """
        with self._lock:
            self.heal()
            self._runtime.end_sessions()
            for node in self.nodes:
                _empty_folder(node.root)

    def _require_running(self) -> None:
        if not self._running:
            raise FleetError("the fleet is not running: call start() first")

    # -- internals ---------------------------------------------------------------------------

    def _reserve(self, subnet: int | None, port: int | None) -> tuple[int, int]:
        reservation = _SubnetReservation.acquire(subnet)
        try:
            hosts = [_address(reservation.subnet, index) for index in range(self._size)]
            chosen = _choose_port(hosts, port)
        except BaseException:
            reservation.release()
            raise
        self._runtime.reservation = reservation
        return reservation.subnet, chosen

    def _plan_nodes(self) -> Iterator[FleetNode]:
        width = max(2, len(str(self._size)))
        base, extra = divmod(self._size, self._clusters)
        index = 0
        for cluster_index in range(self._clusters):
            cluster = f"{self._prefix}-cluster-{_letters(cluster_index)}"
            for _ in range(base + (1 if cluster_index < extra else 0)):
                name = f"{self._prefix}-{index + 1:0{width}d}"
                yield FleetNode(
                    name=name,
                    cluster=cluster,
                    host=_address(self.subnet, index),
                    port=self.port,
                    user=self._user,
                    root=self.workdir / "nodes" / name / "root",
                )
                index += 1

    def _node_dir(self, node: FleetNode) -> Path:
        return node.root.parent

    def _client_public_key(self) -> str:
        return self.client_key.with_suffix(".pub").read_text(encoding="utf-8")

    def _write_files(self, sshd: _Sshd) -> None:
        keygen = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
        self.client_key.parent.mkdir(parents=True, exist_ok=True)
        for key in (self.host_key, self.client_key):
            if not key.exists():
                _generate_key(keygen, key)
        host_key = " ".join(self.host_key.with_suffix(".pub").read_text().split()[:2])
        client_key = self._client_public_key()
        known_hosts = "".join(
            f"{_known_hosts_name(node.host, node.port)} {host_key}\n" for node in self.nodes
        )
        _write_atomically(self.known_hosts, known_hosts)
        for node in self.nodes:
            node_dir = self._node_dir(node)
            node.root.mkdir(parents=True, exist_ok=True)
            authorized = "" if node.name in self._refused else client_key
            _write_atomically(node_dir / "authorized_keys", authorized)
            (node_dir / "sshd_config").write_text(self._sshd_config(node, sshd), encoding="utf-8")
        self._files_written = True

    def _sshd_config(self, node: FleetNode, sshd: _Sshd) -> str:
        node_dir = self._node_dir(node)
        lines = [
            f"# sshd for {node.name} of the Squall test fleet in {self.workdir}",
            f"ListenAddress {node.host}",
            f"Port {node.port}",
            f"HostKey {self.host_key}",
            f"PidFile {node_dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {node_dir / 'authorized_keys'}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "MaxStartups 1000:30:2000",
            "MaxSessions 50",
            "PrintMotd no",
            "PrintLastLog no",
            f"SetEnv NODE_ROOT={node.root} HOME={node.root}",
            f"Subsystem sftp internal-sftp -d {node.root}",
        ]
        if sshd.version >= (9, 8):
            # Since 9.8 sshd penalizes a source address after failed logins, and every test
            # client connects from 127.0.0.1: refuse_key() would lock out healthy nodes.
            lines.append("PerSourcePenalties no")
        return "\n".join(lines) + "\n"

    def _spawn_and_wait(self, sshd: _Sshd, nodes: list[FleetNode]) -> None:
        """Start sshd for ``nodes`` all at once, then wait for each; on failure stop them."""
        try:
            self._spawn_all_and_wait(sshd, nodes)
        except BaseException:
            self._runtime.terminate([node.name for node in nodes])
            raise

    def _spawn_all_and_wait(self, sshd: _Sshd, nodes: list[FleetNode]) -> None:
        pid_files = {}
        for node in nodes:
            node_dir = self._node_dir(node)
            pid_file = node_dir / "sshd.pid"
            pid_file.unlink(missing_ok=True)
            log = node_dir / "sshd.log"
            command = [str(sshd.path), "-D", "-f", str(node_dir / "sshd_config"), "-E", str(log)]
            try:
                process = self._runtime.spawn(node.name, command, log=log, node_root=node.root)
            except OSError as error:
                raise FleetError(f"could not start sshd for {node.name}: {error}") from error
            pid_files[node.name] = (pid_file, process)
        deadline = time.monotonic() + self.start_timeout
        while pid_files:
            for name, (pid_file, process) in list(pid_files.items()):
                if _pid_file_written(pid_file, process.pid):
                    del pid_files[name]
                elif process.poll() is not None:
                    raise FleetError(
                        f"sshd of {name} exited with status {process.returncode} while starting."
                        f"\n{self._log_tail(name)}"
                    )
            if pid_files and time.monotonic() > deadline:
                name = min(pid_files)
                raise FleetError(
                    f"{len(pid_files)} sshd did not listen within {self.start_timeout:.0f} s, "
                    f"among them {name}.\n{self._log_tail(name)}"
                )
            if pid_files:
                time.sleep(0.005)

    def _log_tail(self, name: str) -> str:
        log = self.sshd_log(name)
        try:
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return f"(no log at {log})"
        tail = "\n".join(f"  {line}" for line in lines[-LOG_TAIL_LINES:])
        return f"Last lines of {log}:\n{tail or '  (empty)'}"


# -- sshd and keys ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sshd:
    path: Path
    version: tuple[int, int]


_sshd_cache: list[_Sshd] = []


def _sshd_binary() -> _Sshd:
    if _sshd_cache:
        return _sshd_cache[0]
    path = next((Path(p) for p in SSHD_CANDIDATES if os.access(p, os.X_OK)), None)
    if path is None:
        raise FleetError(
            "sshd is not installed: install openssh-server (Debian/Ubuntu: "
            "apt-get install -y openssh-server)"
        )
    # sshd re-executes itself for every connection and insists on an absolute path.
    probe = subprocess.run([str(path), "-V"], capture_output=True, text=True, check=False)
    found = re.search(r"OpenSSH_(\d+)\.(\d+)", probe.stderr + probe.stdout)
    version = (int(found[1]), int(found[2])) if found else (0, 0)
    _sshd_cache.append(_Sshd(path, version))
    return _sshd_cache[0]


def _generate_key(keygen: str, path: Path) -> None:
    command = [keygen, "-q", "-t", "ed25519", "-N", "", "-C", f"squall-fleet-{path.stem}"]
    try:
        subprocess.run([*command, "-f", str(path)], capture_output=True, text=True, check=True)
    except FileNotFoundError as error:
        raise FleetError("ssh-keygen is not installed: install openssh-client") from error
    except subprocess.CalledProcessError as error:
        raise FleetError(f"ssh-keygen failed for {path}: {error.stderr.strip()}") from error


def _known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _pid_file_written(pid_file: Path, pid: int) -> bool:
    # sshd writes its pid file only after its listening sockets are bound, so this is the
    # cheapest exact readiness signal: a probe connection would cost sshd a fork and exec.
    try:
        return pid_file.read_text(encoding="ascii").strip() == str(pid)
    except (FileNotFoundError, UnicodeDecodeError):
        return False


# -- addresses and ports ---------------------------------------------------------------------


def _address(subnet: int, index: int) -> str:
    return f"127.{subnet}.{index // 254}.{index % 254 + 1}"


def _letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("a") + remainder) + letters
    return letters


class _SubnetReservation:
    """Holds ``127.N.0.0/16`` for this process: a Linux abstract socket named after the subnet,
    which any process of any user sees and which vanishes when the holder exits."""

    def __init__(self, subnet: int, sock: socket.socket) -> None:
        self.subnet = subnet
        self._sock = sock

    @classmethod
    def acquire(cls, subnet: int | None) -> _SubnetReservation:
        if subnet is not None:
            reservation = cls._try(subnet)
            if reservation is None:
                raise FleetError(f"subnet 127.{subnet}.0.0/16 is in use by another fleet")
            return reservation
        first = os.getpid() % 254
        for offset in range(254):
            reservation = cls._try((first + offset) % 254 + 1)
            if reservation is not None:
                return reservation
        raise FleetError("every subnet 127.1-254.0.0/16 is in use by another fleet")

    @classmethod
    def _try(cls, subnet: int) -> _SubnetReservation | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(f"\0squall-fleet-127.{subnet}")
        except OSError as error:
            sock.close()
            if error.errno == errno.EADDRINUSE:
                return None
            raise FleetError(f"cannot reserve subnet 127.{subnet}.0.0/16: {error}") from error
        return cls(subnet, sock)

    def release(self) -> None:
        self._sock.close()


def _choose_port(hosts: list[str], port: int | None) -> int:
    if port is not None:
        for host in hosts:
            reason = _bind_failure(host, port)
            if reason is not None:
                hint = " (ports below 1024 need root)" if port < 1024 else ""
                raise FleetError(f"sshd cannot listen on {host}:{port}: {reason}{hint}")
        return port
    for _ in range(50):
        with _listening_socket() as probe:
            probe.bind((hosts[0], 0))
            candidate: int = probe.getsockname()[1]
        if all(_bind_failure(host, candidate) is None for host in hosts):
            return candidate
    raise FleetError(f"found no port free on every address {hosts[0]} … {hosts[-1]}")


def _listening_socket() -> socket.socket:
    # SO_REUSEADDR as sshd sets it: a listener conflicts, lingering connections do not.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


def _bind_failure(host: str, port: int) -> str | None:
    with _listening_socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.strerror or str(error)
    return None


# -- processes -------------------------------------------------------------------------------


class _Runtime:
    """The processes and reservation of one fleet, kept apart from the Fleet object so that a
    finalizer can stop them after the Fleet is gone."""

    grace = 2.0

    def __init__(self) -> None:
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.node_roots: dict[str, str] = {}
        self.reservation: _SubnetReservation | None = None
        self._deathsig = _deathsig_prefix()

    def spawn(
        self, name: str, command: list[str], *, log: Path, node_root: Path
    ) -> subprocess.Popen[bytes]:
        self.node_roots[name] = str(node_root)
        # Only the main thread lives as long as the process; the kernel sends the death
        # signal when the *thread* that started the child ends.
        prefix = self._deathsig if threading.current_thread() is threading.main_thread() else []
        with log.open("ab") as log_file:
            process = subprocess.Popen(
                [*prefix, *command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log_file,  # errors before sshd opens its -E log, e.g. a bad config
                start_new_session=True,  # a Ctrl-C in the terminal is for pytest, not sshd
            )
        self.processes[name] = process
        return process

    def is_running(self, name: str) -> bool:
        process = self.processes.get(name)
        return process is not None and process.poll() is None

    def pid(self, name: str) -> int | None:
        return self.processes[name].pid if self.is_running(name) else None

    def terminate(self, names: list[str]) -> None:
        masters = [self.processes.pop(name) for name in names if name in self.processes]
        roots = {self.node_roots[name] for name in names if name in self.node_roots}
        _terminate(masters, _session_processes({p.pid for p in masters}, roots), self.grace)

    def end_sessions(self) -> None:
        masters = {process.pid for process in self.processes.values()}
        victims = _session_processes(masters, set(self.node_roots.values()))
        _terminate([], {info for info in victims if info.pid not in masters}, self.grace)

    def shutdown(self) -> None:
        self.terminate(list(self.processes))
        if self.reservation is not None:
            self.reservation.release()
            self.reservation = None


def _deathsig_prefix() -> list[str]:
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


@dataclass(frozen=True)
class _ProcessInfo:
    pid: int
    ppid: int
    start_time: int


def _process_table() -> dict[int, _ProcessInfo]:
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()
        except OSError:
            continue
        pid = int(entry.name)
        table[pid] = _ProcessInfo(pid, int(fields[1]), int(fields[19]))
    return table


def _session_processes(masters: set[int], node_roots: set[str]) -> set[_ProcessInfo]:
    """Processes of the given sshd masters: the masters, their descendants (connections,
    sessions, commands), and processes started in a session that outlived it, recognised by
    their ``NODE_ROOT``."""
    table = _process_table()
    markers = {f"NODE_ROOT={root}".encode() for root in node_roots}
    seeds = set(masters)
    own = os.getpid()
    for pid in table:
        if pid == own or pid in seeds:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as environ:
                variables = environ.read().split(b"\0")
        except OSError:  # gone, or another user's process
            continue
        if markers.intersection(variables):
            seeds.add(pid)
    children: dict[int, list[int]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info.pid)
    found: set[_ProcessInfo] = set()
    stack = [pid for pid in seeds if pid in table]
    while stack:
        info = table[stack.pop()]
        if info not in found and info.pid != own:
            found.add(info)
            stack.extend(children.get(info.pid, []))
    return found


def _terminate(
    masters: list[subprocess.Popen[bytes]], others: set[_ProcessInfo], grace: float
) -> None:
    master_pids = {process.pid for process in masters}
    others = {info for info in others if info.pid not in master_pids}
    for process in masters:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    for info in others:
        _signal(info, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in masters:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    while others and time.monotonic() < deadline:
        others = {info for info in others if _alive(info)}
        if others:
            time.sleep(0.01)
    for info in others:
        _signal(info, signal.SIGKILL)


def _alive(info: _ProcessInfo) -> bool:
    try:
        with open(f"/proc/{info.pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
    except OSError:
        return False
    return fields[0] != b"Z" and int(fields[19]) == info.start_time


def _signal(info: _ProcessInfo, signum: signal.Signals) -> None:
    # The start time guards against signalling a new process that reused the pid.
    if _alive(info):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(info.pid, signum)


# -- files -----------------------------------------------------------------------------------


def _write_atomically(path: Path, text: str) -> None:
    # sshd reads authorized_keys at every login; it must never see a half-written file.
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def _empty_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for entry in os.scandir(folder):
        path = Path(entry.path)
        if not entry.is_dir(follow_symlinks=False):
            path.unlink(missing_ok=True)
            continue
        try:
            shutil.rmtree(path)
        except PermissionError:
            # A test left a read-only folder behind (never a problem for root).
            for parent, folders, _ in os.walk(path):
                for name in folders:
                    os.chmod(os.path.join(parent, name), 0o700)
            os.chmod(path, 0o700)
            shutil.rmtree(path)
