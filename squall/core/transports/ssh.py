"""The `ssh` transport: Fabric connections, one per node task, kept open across its steps.

Keys are loaded once per process and handed to every connection. Host keys are checked
against known_hosts (the user's, an optional configured file, and Squall's own); a host
seen for the first time is refused unless trust-on-first-use is switched on, in which
case its key is recorded in Squall's known_hosts and reported to the caller.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import select
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paramiko
from fabric import Config, Connection
from paramiko.config import SSHConfig
from paramiko.hostkeys import HostKeyEntry

from squall.core.plan import NodeInfo
from squall.core.settings import SSHSettings
from squall.core.transports.base import (
    KILL_GRACE,
    Ended,
    Output,
    ShellConnection,
    Stop,
    TransportError,
)

DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")


def fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_host_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


class UnknownHostKey(paramiko.SSHException):  # type: ignore[misc]  # paramiko is untyped
    pass


class HostKeyVerifier(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
    """Checks every server key against known_hosts; learns new ones only when trusted.

    Connections start with no host keys of their own, so paramiko asks this policy about
    every host, and the known_hosts files are parsed once per process, not per connection.
    """

    def __init__(self, files: list[Path], learned_file: Path, trust_unknown: bool) -> None:
        self._lock = threading.Lock()
        self._learned_file = learned_file
        self._trust_unknown = trust_unknown
        self._plain: dict[str, dict[str, paramiko.PKey]] = {}
        self._hashed: list[tuple[bytes, bytes, paramiko.PKey]] = []
        """(salt, digest, key) of each hashed entry (`|1|salt|digest`), decoded once."""
        self._hashed_matches: dict[str, dict[str, paramiko.PKey]] = {}
        for path in files:
            if path.exists():
                self._load(path)
        self.on_trusted = threading.local()
        """Per thread: a callable(hostname, fingerprint) told when a new key is trusted."""

    def _load(self, path: Path) -> None:
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = HostKeyEntry.from_line(line)
            except (paramiko.SSHException, ValueError):
                continue  # a key type paramiko does not know, or a malformed line
            if entry is None or entry.key is None:
                continue
            for name in entry.hostnames:
                if name.startswith("|1|"):
                    _, _, salt, digest = name.split("|")
                    self._hashed.append(
                        (base64.b64decode(salt), base64.b64decode(digest), entry.key)
                    )
                else:
                    self._plain.setdefault(name, {})[entry.key.get_name()] = entry.key

    def _hashed_keys(self, hostname: str) -> dict[str, paramiko.PKey]:
        """Keys of hashed entries for this host; computed once per host, outside the lock."""
        found = self._hashed_matches.get(hostname)
        if found is None:
            name = hostname.encode()
            found = {
                key.get_name(): key
                for salt, digest, key in self._hashed
                if hmac.compare_digest(hmac.digest(salt, name, "sha1"), digest)
            }
            self._hashed_matches[hostname] = found
        return found

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        hashed = self._hashed_keys(hostname)
        with self._lock:
            known = {**hashed, **self._plain.get(hostname, {})}
            if known:
                expected = known.get(key.get_name())
                if expected == key:
                    return
                raise paramiko.BadHostKeyException(
                    hostname, key, expected or next(iter(known.values()))
                )
            if not self._trust_unknown:
                raise UnknownHostKey(hostname)
            self._plain.setdefault(hostname, {})[key.get_name()] = key
            self._learned_file.parent.mkdir(parents=True, exist_ok=True)
            with self._learned_file.open("a") as handle:
                handle.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        callback = getattr(self.on_trusted, "callback", None)
        if callback is not None:
            callback(hostname, fingerprint(key))


class FabricConnection(Connection):  # type: ignore[misc]  # fabric is untyped
    """Fabric's `Connection` with `inline_ssh_env` as a plain attribute. Fabric's own class
    stores that setting into the config it is given, which merges every layer of the config
    again: for each connection, into the one config all connections share."""

    inline_ssh_env: bool | None = None


class SSHConnector:
    """Opens SSH connections for node tasks; one per process, shared by every worker."""

    def __init__(self, settings: SSHSettings, learned_hosts_file: Path) -> None:
        self.settings = settings
        self._key = _load_key(settings.key_file)
        files = [Path.home() / ".ssh" / "known_hosts"]
        if settings.known_hosts:
            files.append(settings.known_hosts)
        files.append(learned_hosts_file)
        self._verifier = HostKeyVerifier(files, learned_hosts_file, settings.trust_unknown_hosts)
        # One Fabric config for all connections: no ssh_config files are read, so the
        # inventory alone decides how a node is reached. Connections only read it (see
        # FabricConnection); invoke's config objects are not made for threads, hence the lock.
        self._config = Config(ssh_config=SSHConfig())
        self._config_lock = threading.Lock()

    def connect(
        self, node: NodeInfo, on_trusted: Callable[[str, str], None] | None = None
    ) -> SSHConnection:
        """Open the connection now, so that an unreachable node fails before any step."""
        connection = self._connection(node.host, node.port, node.user, node.vars.get("jump_host"))
        self._verifier.on_trusted.callback = on_trusted
        try:
            connection.open()
        except UnknownHostKey:
            connection.close()
            raise TransportError(
                f"host key of {node.host}:{node.port} is not known: add it to known_hosts, "
                "or set ssh.trust_unknown_hosts to accept and record new keys"
            ) from None
        except paramiko.BadHostKeyException as exc:
            connection.close()
            raise TransportError(
                f"host key of {node.host}:{node.port} does not match known_hosts "
                f"(got {fingerprint(exc.key)}): refusing to connect"
            ) from None
        except paramiko.AuthenticationException as exc:
            connection.close()
            raise TransportError(
                f"authentication failed for {connection.user}@{node.host}:{node.port}: {exc}"
            ) from None
        except TimeoutError:
            connection.close()
            raise TransportError(
                f"cannot connect to {node.host}:{node.port}: timed out after "
                f"{self.settings.connect_timeout:g}s"
            ) from None
        except (OSError, paramiko.SSHException) as exc:
            connection.close()
            raise TransportError(
                f"cannot connect to {node.host}:{node.port}: {_reason(exc)}"
            ) from None
        finally:
            self._verifier.on_trusted.callback = None
        return SSHConnection(node, connection)

    def _connection(self, host: str, port: int, user: str | None, jump: str | None) -> Connection:
        timeout = self.settings.connect_timeout
        gateway = self._gateway(jump) if jump else None
        with self._config_lock:
            connection = FabricConnection(
                host,
                user=user,
                port=port,
                config=self._config,
                connect_timeout=timeout,
                gateway=gateway,
                connect_kwargs={
                    "pkey": self._key,
                    "look_for_keys": False,
                    "allow_agent": False,
                    "banner_timeout": timeout,
                    "auth_timeout": timeout,
                },
            )
        connection.client.set_missing_host_key_policy(self._verifier)
        return connection

    def _gateway(self, jump: str) -> Connection:
        user, _, rest = jump.rpartition("@")
        host, _, port = rest.partition(":")
        return self._connection(host, int(port or 22), user or None, None)


class SSHConnection(ShellConnection):
    def __init__(self, node: NodeInfo, connection: Connection) -> None:
        super().__init__(node)
        self._connection = connection

    def _execute(
        self, command: str, *, stdin: bytes | None, output: Output, deadline: float
    ) -> Ended:
        transport = self._connection.transport
        if transport is None or not transport.is_active():
            raise TransportError("the SSH connection was lost")
        try:
            channel = transport.open_session(timeout=10)
            channel.exec_command(command)
        except (paramiko.SSHException, OSError) as exc:
            raise TransportError(f"cannot start a command: {_reason(exc)}") from None
        try:
            if stdin is not None:
                channel.settimeout(max(deadline - time.monotonic(), 1.0))
                channel.sendall(stdin)
                channel.settimeout(None)
            channel.shutdown_write()
            return self._pump(channel, output, deadline)
        except (paramiko.SSHException, OSError) as exc:
            raise TransportError(f"the SSH connection failed: {_reason(exc)}") from None
        finally:
            channel.close()

    def _pump(self, channel: paramiko.Channel, output: Output, deadline: float) -> Ended:
        stop: Stop | None = None
        stopped_at = 0.0
        signals_sent = 0
        while True:
            if channel.eof_received:
                # The output is all in, and paramiko keeps the channel readable from now
                # on (select would return at once): wait for the exit status instead.
                channel.status_event.wait(0.1)
            else:
                select.select([channel], [], [], 0.1)
            _drain(channel, output)
            # The end is the exit status *and* the end of the output: OpenSSH sends the
            # status when the process exits, before what is still in its pipes and before
            # anything a process it left running writes later.
            if channel.closed or (channel.eof_received and channel.status_event.is_set()):
                _drain(channel, output)
                return self._ended(channel, stop)
            now = time.monotonic()
            if stop is None and (now >= deadline or self._interrupt.is_set()):
                stop = "timeout" if now >= deadline else "interrupt"
                stopped_at = now
                self._signal(output.stderr.pid, "TERM")
                signals_sent = 1
            elif stop is not None and signals_sent == 1 and now - stopped_at >= KILL_GRACE:
                self._signal(output.stderr.pid, "KILL")
                signals_sent = 2
            elif stop is not None and signals_sent == 2 and now - stopped_at >= 2 * KILL_GRACE:
                # The node does not answer any more: give up on the command.
                return Ended(None, stop)

    def _ended(self, channel: paramiko.Channel, stop: Stop | None) -> Ended:
        status = channel.recv_exit_status()  # at once: the status came or the channel closed
        if status >= 0:  # paramiko reads it unsigned: -1 means none came
            return Ended(status, stop)
        if stop is not None:
            return Ended(None, stop)
        transport = self._connection.transport
        # A dying transport closes its channels before it says it is inactive, but after
        # it has kept the exception that killed it.
        if transport.saved_exception is not None or not transport.is_active():
            raise TransportError("the SSH connection was lost while the command ran")
        # OpenSSH reports a process killed by a signal with "exit-signal", which paramiko
        # drops: the channel closes without a status.
        return Ended(None, signal="unknown")

    def _signal(self, pid: int | None, name: str) -> None:
        if pid is None:
            return
        transport = self._connection.transport
        try:
            channel = transport.open_session(timeout=5)
            channel.exec_command(f"kill -{name} -- -{pid} 2>/dev/null || kill -{name} {pid}")
            channel.recv_exit_status()
            channel.close()
        except (paramiko.SSHException, OSError):
            pass  # the main channel's deadline logic gives up if the node is gone

    def close(self) -> None:
        self._connection.close()


def _drain(channel: paramiko.Channel, output: Output) -> None:
    while channel.recv_ready():
        output.stdout(channel.recv(65536))
    while channel.recv_stderr_ready():
        output.stderr.feed(channel.recv_stderr(65536))


def _load_key(path: Path | None) -> paramiko.PKey | None:
    candidates = [path] if path else [Path.home() / ".ssh" / name for name in DEFAULT_KEYS]
    for candidate in candidates:
        if candidate.exists():
            try:
                return paramiko.PKey.from_path(candidate)
            except (paramiko.SSHException, OSError, ValueError) as exc:
                raise TransportError(f"cannot load SSH key {candidate}: {exc}") from exc
    if path:
        raise TransportError(f"SSH key {path} does not exist")
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        errors = {str(error.strerror or error).lower() for error in exc.errors.values()}
        return ", ".join(sorted(errors)) or "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
