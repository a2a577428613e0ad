#!/usr/bin/env python
"""Fan-out benchmark: one trivial probe on every node of a loopback SSH fleet.

    python bench/fanout.py [--nodes 200] [--repeat 3] [--parallel 50] [--console]

Starts ONE fleet of real sshd processes on loopback (squall.testing.fleet.Fleet) and, with
that same fleet, measures several repetitions of each contender, interleaved:

* squall          a no-op deployment of every node through Squall's engine (SQLite
                  database, logs, events, facts), in this process. Each repetition gets a
                  fresh data directory (new database, migrations, inventory import), so it
                  is a cold start of the deployment but not of Python imports. The clock runs
                  from `create` to the deployment's final status (SquallHarness.create + run).
* fabric          bare Fabric: ThreadPoolExecutor(parallel), one fabric.Connection per node,
                  client key loaded once, known_hosts parsed once and each client given its
                  node's entry with paramiko's RejectPolicy, `run(PROBE, hide=True)`, close.
* squall-cli      `squall deploy noop --target all --parallel N` as its own process, timed as a
                  user times a command: Python's start, imports, plugins, the database check,
                  the run and the summary it prints. Each repetition gets a fresh data
                  directory whose database (migrations) and fleet inventory were made by an
                  untimed `squall inventory import` just before. Squall's bytecode is
                  compiled first, as pip compiles an installed package's and as Fabric's is
                  (an editable install under PYTHONDONTWRITEBYTECODE would else recompile
                  every module at every start).
* fabric-cli      the bare-Fabric peer as its own process (bench/bare_fabric.py): the same
                  thread pool and host-key checks as `fabric`, behind a Python start and
                  `import fabric`.
* squall-cli-1    `squall deploy noop --target host:<first node>`: the same process and the
                  same inventory of the whole fleet, one node deployed; its time is the fixed
                  cost of a run (start, imports, plan, record) and one connection.
* fabric-cli-1    bench/bare_fabric.py on a job of that one node.
* squall-server   (only with --only) `squall --server URL deploy noop --target all`: the
                  command cold, against a `squall serve` started once on the fleet's
                  inventory (untimed), whose engine runs the deployment; the server's CPU
                  is in the "other CPU" column, not the client's.
* ansible         `ansible all -m raw -a PROBE -f parallel` as Ansible comes: its default
                  ssh_args (`-C -o ControlMaster=auto -o ControlPersist=60s`), OpenSSH
                  checking host keys against the fleet's known_hosts, default key exchange.
                  Each repetition starts cold, with a control-socket directory of its own;
                  the connection masters it leaves behind are stopped after the clock.
* ansible-nomux   the same with ssh_args `-C -o ControlMaster=no`: no connection master.
* ansible-c25519  the same as `ansible` with `-o KexAlgorithms=curve25519-sha256`.

Every contender runs the very same probe command as the noop plugin (plugins.noop.PROBE) and
its output is checked on every node. Reported per contender: wall seconds (median, min-max),
CPU seconds of the client process(es), CPU seconds of the fleet's sshd processes
(accounted on the loopback machine, where they share the cores with the client), and for
the processes (squall-cli, fabric-cli) the client's peak resident memory.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import console_during  # beside this script (bench/ is first on the path of a script)
import fabric
import paramiko

from squall.plugins.noop import PROBE
from squall.testing.fleet import SSHD_CANDIDATES, Fleet, FleetError, FleetNode
from squall.testing.harness import SquallHarness

PROBE_KEYS = ("hostname", "kernel", "user", "load", "disk_free_kib")
TARGET_VS_FABRIC = 1.25  # Squall's wall time at most this many times bare Fabric's
TARGET_CLI_VS_FABRIC = 1.15  # the same for the `squall deploy` process and a Fabric process
TARGET_VS_ANSIBLE = 4.0  # Ansible's wall time at least this many times Squall's
CONTENDERS = (
    "squall", "fabric", "squall-cli", "fabric-cli", "squall-cli-1", "fabric-cli-1",
    "squall-server", "ansible", "ansible-nomux", "ansible-c25519",
)  # fmt: skip
OPTIONAL = ("squall-server",)
"""Only when asked for (`--only`): its idle server would be other CPU in everyone's runs."""
LABELS = {
    "squall": "Squall (noop deployment)",
    "fabric": "bare Fabric (thread pool)",
    "squall-cli": "squall deploy (process)",
    "fabric-cli": "bare Fabric (process)",
    "squall-cli-1": "squall deploy (1 node)",
    "fabric-cli-1": "bare Fabric process (1 node)",
    "squall-server": "squall deploy --server",
    "ansible": "Ansible -m raw (default)",
    "ansible-nomux": "Ansible (no ControlMaster)",
    "ansible-c25519": "Ansible -m raw (curve25519)",
}


# -- measurements ------------------------------------------------------------------------------


@dataclass
class Run:
    contender: str
    wall: float
    cpu: float
    sshd_cpu: float
    other_cpu: float
    extra: dict[str, float] = field(default_factory=dict)


def _rusage(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def client_cpu() -> float:
    """CPU seconds of this process (all threads) plus its reaped children."""
    return _rusage(resource.RUSAGE_SELF) + _rusage(resource.RUSAGE_CHILDREN)


def sshd_cpu(fleet: Fleet) -> float:
    """CPU seconds of the fleet's sshd processes and of the per-connection processes they
    forked and reaped (utime + stime + cutime + cstime of every node's listening sshd)."""
    pids = (fleet.pid(node.name) for node in fleet.nodes)
    return sum(process_cpu(pid, reaped=True) for pid in pids if pid is not None)


def process_cpu(pid: int, *, reaped: bool = False) -> float:
    """User and system CPU seconds of a running process, with `reaped` those of the
    children it has reaped too (0 if it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = fields[11:15] if reaped else fields[11:13]  # utime stime, then cutime cstime
    return sum(int(value) for value in ticks) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds every core of the machine spent busy since boot (from /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def check_probe(output: str, user: str) -> str | None:
    """None when `output` is a complete probe answer, else what is wrong with it."""
    facts: dict[str, str] = {}
    for line in output.replace("\r", "").splitlines():
        key, separator, value = line.partition("=")
        if separator:
            facts[key.strip()] = value.strip()
    return check_facts(facts, user)


def check_facts(facts: dict[str, Any], user: str) -> str | None:
    missing = [key for key in PROBE_KEYS if not str(facts.get(key, "")).strip()]
    if missing:
        return f"missing {', '.join(missing)} in {facts!r}"
    if facts["user"] != user:
        return f"user={facts['user']!r}, expected {user!r}"
    if not str(facts["disk_free_kib"]).isdigit():
        return f"disk_free_kib={facts['disk_free_kib']!r} is not a number"
    return None


class BenchError(RuntimeError):
    pass


class Clock:
    """The timed part of one run: wall time, client CPU, and (for the "other CPU" column)
    the machine's busy CPU and the fleet's sshd CPU over exactly the same interval."""

    def __init__(self, fleet: Fleet, *, children_only: bool = False) -> None:
        self.fleet = fleet
        self.children_only = children_only

    def _cpu(self) -> float:
        return _rusage(resource.RUSAGE_CHILDREN) if self.children_only else client_cpu()

    def __enter__(self) -> Clock:
        self.busy = machine_busy()
        self.sshd_start = sshd_cpu(self.fleet)
        self.cpu = self._cpu()
        self.wall = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = self._cpu() - self.cpu
        self.sshd = sshd_cpu(self.fleet) - self.sshd_start
        self.busy = machine_busy() - self.busy


Measured = tuple[Clock, dict[str, float]]


# -- contenders ------------------------------------------------------------------------------


class SquallContender:
    def __init__(self, fleet: Fleet, workdir: Path, parallel: int) -> None:
        self.fleet = fleet
        self.workdir = workdir
        self.parallel = parallel
        self.count = 0

    def __call__(self) -> Measured:
        self.count += 1
        data_dir = self.workdir / f"squall-data-{self.count}"
        # Untimed: new database and migrations, plugin host, fleet inventory import.
        harness = SquallHarness(data_dir, ["squall.plugins.noop"], fleet=self.fleet)
        try:
            with Clock(self.fleet) as clock:
                started = time.perf_counter()
                deployment_id = harness.create("noop", parallelism=self.parallel)
                created = time.perf_counter()
                view = harness.run(deployment_id, timeout=600)
            counts = dict(view.counts)
            if view.status != "succeeded" or counts.get("succeeded") != len(self.fleet.nodes):
                raise BenchError(f"Squall deployment ended {view.status} with {counts}")
            facts = harness.facts(deployment_id, "probe")
            if len(facts) != len(self.fleet.nodes):
                raise BenchError(f"Squall recorded facts of {len(facts)} nodes only")
            for node in self.fleet.nodes:
                problem = check_facts(dict(facts.get(node.name, {})), node.user)
                if problem:
                    raise BenchError(f"Squall, {node.name}: {problem}")
        finally:
            harness.close()
            shutil.rmtree(data_dir, ignore_errors=True)
        return clock, {"create": created - started}


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mb: float


def run_process(command: list[str], env: dict[str, str], cwd: Path) -> Finished:
    """Run a command to its end, output to files (no terminal, so no live display). Its
    peak resident memory is the kernel's high-water mark of its own address space (VmHWM),
    read every 10 ms while it runs: the rusage of a child also counts the memory of this
    process, which forked it."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        peak_kib = 0
        while True:
            pid, status = os.waitpid(process.pid, os.WNOHANG)
            if pid:
                break
            try:
                for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak_kib = max(peak_kib, int(line.split()[1]))
            except (FileNotFoundError, ProcessLookupError):
                pass
            time.sleep(0.01)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Finished(
            process.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            peak_kib / 1024,
        )


def clean_environment() -> dict[str, str]:
    """This environment without Squall's settings or pytest's marker, so a child process
    is configured only by what a contender gives it."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SQUALL_", "PYTEST_"))
    }


def compile_squall() -> None:
    """Write the bytecode of Squall's modules, as pip does when it installs a package (and
    has done for Fabric's). Python writes it itself on a first run, but not where
    PYTHONDONTWRITEBYTECODE is set: with an editable install, every start would then
    compile Squall's modules from source again."""
    import squall

    if not compileall.compile_dir(Path(squall.__file__).parent, quiet=1):
        raise BenchError("could not compile Squall's modules")


class SquallProcessContender:
    """`squall deploy noop --target all` run as a user runs it: the console script pip
    installed beside this Python, a process of its own, output to a file. With `one_node`,
    the same inventory with the deployment aimed at its first node only."""

    def __init__(
        self, fleet: Fleet, workdir: Path, parallel: int, *, one_node: bool = False
    ) -> None:
        self.fleet = fleet
        self.workdir = workdir
        self.parallel = parallel
        self.nodes = fleet.nodes[:1] if one_node else fleet.nodes
        self.name = "squall-cli-1" if one_node else "squall-cli"
        self.count = 0
        self.squall = str(Path(sys.executable).parent / "squall")
        self.inventory = fleet.write_inventory(workdir / "fleet-inventory.yaml")
        self.env = clean_environment() | {
            "SQUALL_DEMO_INVENTORY": "false",
            "SQUALL_SSH__KEY_FILE": str(fleet.client_key),
            "SQUALL_SSH__KNOWN_HOSTS": str(fleet.known_hosts),
        }
        target = f"host:{fleet.nodes[0].name}" if one_node else "all"
        self.command = [
            self.squall, "deploy", "noop", "--target", target, "--parallel", str(parallel),
        ]  # fmt: skip
        compile_squall()

    def shell_command(self) -> str:
        import shlex

        return "squall inventory import fleet.yaml (untimed); " + shlex.join(
            ["squall", *self.command[1:]]
        )

    def __call__(self) -> Measured:
        self.count += 1
        data_dir = self.workdir / f"{self.name}-data-{self.count}"
        env = self.env | {"SQUALL_DATA_DIR": str(data_dir)}
        try:
            # Untimed: a new database with every migration, and the fleet's inventory.
            subprocess.run(
                [self.squall, "inventory", "import", str(self.inventory)],
                env=env,
                cwd=self.workdir,
                check=True,
                capture_output=True,
            )
            with Clock(self.fleet, children_only=True) as clock:
                done = run_process(self.command, env, self.workdir)
            self.verify(done, data_dir)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
        return clock, {"peak_rss_mb": done.peak_rss_mb}

    def verify(self, done: Finished, data_dir: Path) -> None:
        created = re.search(r"deployment (\d+) created", done.stdout)
        if done.returncode != 0 or not created:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise BenchError(f"squall deploy exited {done.returncode}: {tail}")
        harness = SquallHarness(data_dir, ["squall.plugins.noop"])
        try:
            facts = harness.facts(int(created[1]), "probe")
        finally:
            harness.close()
        if sorted(facts) != sorted(node.name for node in self.nodes):
            raise BenchError(
                f"squall deploy recorded facts of {len(facts)} nodes, not {len(self.nodes)}"
            )
        for node in self.nodes:
            problem = check_facts(dict(facts.get(node.name, {})), node.user)
            if problem:
                raise BenchError(f"squall deploy, {node.name}: {problem}")


class SquallServerContender:
    """`squall --server URL deploy noop --target all` run as a user runs it against a
    `squall serve` already running on the fleet's inventory: the command is cold, the
    server (its engine, its SSH transport) warm. The server's CPU is not the command's: it
    shows in the "other CPU" column."""

    name = "squall-server"

    def __init__(self, fleet: Fleet, workdir: Path, parallel: int) -> None:
        self.local = SquallProcessContender(fleet, workdir, parallel)
        self.fleet = fleet
        self.data_dir = workdir / "squall-server-data"
        self.env = self.local.env | {"SQUALL_DATA_DIR": str(self.data_dir)}
        self.port = console_during.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        squall = self.local.squall
        self.command = [
            squall, "--server", self.url, "deploy", "noop", "--target", "all",
            "--parallel", str(parallel),
        ]  # fmt: skip
        subprocess.run(
            [squall, "inventory", "import", str(self.local.inventory)],
            env=self.env,
            cwd=workdir,
            check=True,
            capture_output=True,
        )
        # Changes over the API need a token (a request without one is taken for a page).
        made = subprocess.run(
            [squall, "token", "create", "bench", "--days", "1"],
            env=self.env,
            cwd=workdir,
            check=True,
            capture_output=True,
            text=True,
        )
        self.deploy_env = self.local.env | {"SQUALL_TOKEN": made.stdout.split()[-1]}
        self.log = (workdir / "squall-serve.log").open("wb")
        try:
            self.server = console_during.serve(squall, self.env, self.port, output=self.log)
        except RuntimeError as exc:
            self.log.close()
            raise BenchError(str(exc)) from None

    def shell_command(self) -> str:
        import shlex

        return "squall serve (started once, untimed); " + shlex.join(["squall", *self.command[1:]])

    def __call__(self) -> Measured:
        with Clock(self.fleet, children_only=True) as clock:
            done = run_process(self.command, self.deploy_env, self.local.workdir)
        self.local.verify(done, self.data_dir)
        return clock, {"peak_rss_mb": done.peak_rss_mb}

    def stop(self) -> None:
        self.server.terminate()
        try:
            self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.server.kill()
        self.log.close()


class FabricProcessContender:
    """bench/bare_fabric.py in a process of its own, on a job file written once (with
    `one_node`, of the fleet's first node only)."""

    def __init__(
        self, fleet: Fleet, workdir: Path, parallel: int, *, one_node: bool = False
    ) -> None:
        self.fleet = fleet
        self.workdir = workdir
        self.job = workdir / ("bare-fabric-job-1.json" if one_node else "bare-fabric-job.json")
        chosen = fleet.nodes[:1] if one_node else fleet.nodes
        nodes = [{"host": n.host, "port": n.port, "user": n.user} for n in chosen]
        job = {
            "probe": PROBE.text,
            "parallel": parallel,
            "key_file": str(fleet.client_key),
            "known_hosts": str(fleet.known_hosts),
            "keys": list(PROBE_KEYS),
            "nodes": nodes,
        }
        self.job.write_text(json.dumps(job), encoding="utf-8")
        self.command = [
            sys.executable,
            str(Path(__file__).with_name("bare_fabric.py")),
            str(self.job),
        ]
        self.env = clean_environment()

    def shell_command(self) -> str:
        return f"python bench/bare_fabric.py {self.job.name}"

    def __call__(self) -> Measured:
        with Clock(self.fleet, children_only=True) as clock:
            done = run_process(self.command, self.env, self.workdir)
        if done.returncode != 0:
            raise BenchError(f"bare Fabric process exited {done.returncode}: {done.stderr[-500:]}")
        return clock, {"peak_rss_mb": done.peak_rss_mb}


class FabricContender:
    def __init__(self, fleet: Fleet, parallel: int) -> None:
        self.fleet = fleet
        self.parallel = parallel
        # Loaded once, handed to every connection.
        self.key = paramiko.PKey.from_path(fleet.client_key)
        # Parsed once; each client gets only its own node's entry and refuses anything else.
        self.host_keys = paramiko.HostKeys(str(fleet.known_hosts))
        self.negotiated: dict[str, str] = {}

    def _known_name(self, node: FleetNode) -> str:
        return node.host if node.port == 22 else f"[{node.host}]:{node.port}"

    def connection(self, node: FleetNode) -> fabric.Connection:
        connection = fabric.Connection(
            node.host,
            port=node.port,
            user=node.user,
            connect_kwargs={"pkey": self.key, "look_for_keys": False, "allow_agent": False},
        )
        known = self.host_keys.lookup(self._known_name(node))
        if not known:
            raise BenchError(f"no known_hosts entry for {node.host}:{node.port}")
        client_keys = connection.client.get_host_keys()
        for key_type, key in known.items():
            client_keys.add(self._known_name(node), key_type, key)
        connection.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        return connection

    def probe(self, node: FleetNode) -> str | None:
        connection = self.connection(node)
        try:
            result = connection.run(PROBE.text, hide=True)
            return check_probe(result.stdout, node.user)
        finally:
            connection.close()

    def __call__(self) -> Measured:
        with Clock(self.fleet) as clock, ThreadPoolExecutor(self.parallel) as pool:
            problems = list(pool.map(self.probe, self.fleet.nodes))
        bad = [
            (node.name, problem)
            for node, problem in zip(self.fleet.nodes, problems, strict=True)
            if problem
        ]
        if bad:
            raise BenchError(f"bare Fabric: {len(bad)} nodes answered wrongly, e.g. {bad[0]}")
        return clock, {}

    def describe_transport(self) -> dict[str, str]:
        """What paramiko negotiates with a node (Squall uses paramiko too): read from
        paramiko's own debug log of one connection."""
        import logging

        seen: list[str] = []

        class Catch(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                message = record.getMessage()
                if message.startswith("Kex: "):
                    seen.append(message)

        logger = logging.getLogger("paramiko.transport")
        handler, level = Catch(), logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        connection = self.connection(self.fleet.nodes[0])
        try:
            connection.open()
            host_key = connection.transport.host_key_type
            cipher = connection.transport.local_cipher
        finally:
            connection.close()
            logger.removeHandler(handler)
            logger.setLevel(level)
        kex = seen[0].split(": ", 1)[1] if seen else "unknown"
        return {"kex": kex, "host key": str(host_key), "cipher": str(cipher)}


_ANSIBLE_HEADER = re.compile(r"^(\S+) \| ([A-Z!]+)(?: \| rc=(-?\d+))? (>>|=>)")


class AnsibleContender:
    def __init__(
        self,
        fleet: Fleet,
        workdir: Path,
        parallel: int,
        extra_ssh: list[str],
        ansible: str,
        *,
        master: bool = True,
    ) -> None:
        self.fleet = fleet
        self.workdir = workdir
        self.parallel = parallel
        self.master = master
        self.count = 0
        self.inventory = workdir / "ansible-inventory.ini"
        lines = ["[fleet]"]
        for node in fleet.nodes:
            lines.append(
                f"{node.name} ansible_host={node.host} ansible_port={node.port} "
                f"ansible_user={node.user} ansible_ssh_private_key_file={fleet.client_key}"
            )
        self.inventory.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.common_args = " ".join(
            [
                f"-o UserKnownHostsFile={fleet.known_hosts}",
                "-o StrictHostKeyChecking=yes",
                *extra_ssh,
            ]
        )
        self.command = [
            ansible,
            "all",
            "-i",
            str(self.inventory),
            "-m",
            "raw",
            "-a",
            PROBE.text,
            "-f",
            str(parallel),
            "-e",
            json.dumps({"ansible_ssh_common_args": self.common_args}),
        ]
        self.env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("ANSIBLE_")  # Ansible's defaults, host key checking on
        }
        self.env.update(
            {
                "ANSIBLE_HOME": str(workdir / "ansible-home"),
                "ANSIBLE_CONFIG": str(workdir / "no-ansible.cfg"),
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_DEPRECATION_WARNINGS": "False",
            }
        )
        if not master:
            # Ansible's default ssh_args are "-C -o ControlMaster=auto -o ControlPersist=60s";
            # OpenSSH takes the first value of an option and ssh_args come first, so they are
            # replaced, not added to.
            self.env["ANSIBLE_SSH_ARGS"] = "-C -o ControlMaster=no"

    def shell_command(self) -> str:
        import shlex

        env = " ".join(
            f"{name}={shlex.quote(self.env[name])}"
            for name in ("ANSIBLE_SSH_ARGS",)
            if name in self.env
        )
        return f"{env} {shlex.join(self.command)}".strip()

    def __call__(self) -> Measured:
        self.count += 1
        # A directory of control sockets per repetition: no master from an earlier run is
        # reused, so each run starts as cold as the other contenders.
        sockets = self.workdir / f"ansible-cp-{self.count}"
        env = self.env | {"ANSIBLE_SSH_CONTROL_PATH_DIR": str(sockets)}
        try:
            with Clock(self.fleet, children_only=True) as clock:
                done = subprocess.run(
                    self.command, env=env, cwd=self.workdir, capture_output=True, text=True,
                    check=False,
                )  # fmt: skip
        finally:
            masters, masters_cpu = stop_masters(sockets) if self.master else (0, 0.0)
        # The masters are Ansible's processes: their CPU (idle since the run ended) is its.
        clock.cpu += masters_cpu
        self.verify(done)
        return clock, {"masters": float(masters)} if self.master else {}

    def verify(self, done: subprocess.CompletedProcess[str]) -> None:
        blocks: dict[str, tuple[str, str | None, list[str]]] = {}
        current: list[str] | None = None
        for line in done.stdout.splitlines():
            match = _ANSIBLE_HEADER.match(line)
            if match:
                current = []
                blocks[match[1]] = (match[2], match[3], current)
            elif current is not None:
                current.append(line)
        bad = []
        for node in self.fleet.nodes:
            status, rc, lines = blocks.get(node.name, ("MISSING", None, []))
            problem = None
            if status not in ("CHANGED", "SUCCESS") or rc not in ("0", None):
                problem = f"{status} rc={rc}: {' '.join(lines)[:300]}"
            else:
                problem = check_probe("\n".join(lines), node.user)
            if problem:
                bad.append((node.name, problem))
        if bad or done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-5:]
            raise BenchError(
                f"ansible exited {done.returncode}; {len(bad)} nodes failed, e.g. "
                f"{bad[:1]}; stderr: {tail}"
            )


def stop_masters(sockets: Path, timeout: float = 30.0) -> tuple[int, float]:
    """Stop the connection masters (ControlPersist) whose sockets are in `sockets`, wait
    until they are gone, and return how many there were and the CPU seconds they used.
    They outlive the `ansible` run by design, detached from it (so their CPU is not among
    its children's), and left running they would hold every node's session open through
    the next contender's turn. Their command lines name the socket directory."""
    pids = _processes_naming(str(sockets) + "/")
    cpu = sum(process_cpu(pid) for pid in pids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _processes_naming(str(sockets) + "/"):
        if time.monotonic() > deadline:
            raise BenchError(f"ssh masters in {sockets} did not stop within {timeout:g}s")
        time.sleep(0.05)
    return len(pids), cpu


def _processes_naming(text: str) -> list[int]:
    """The running processes whose command line contains `text` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # it ended meanwhile
        if text in command and state != "Z":
            found.append(int(entry.name))
    return found


# -- machine ---------------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _version_line(command: list[str]) -> str:
    """The first line a program prints of its version (OpenSSH prints it on stderr)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True)
    except FileNotFoundError:
        return "not installed"  # the fleet says what to install when it starts
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[0] if lines else "unknown"


def machine_facts() -> dict[str, str]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    os_name = "unknown"
    if Path("/etc/os-release").exists():
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    return {
        "cores": str(os.cpu_count()),
        "cpu": model,
        "os": f"{os_name}, Linux {platform.release()}",
        # Where the fleet finds it: the first of its candidates that can be run.
        "sshd": _version_line(
            [next((path for path in SSHD_CANDIDATES if os.access(path, os.X_OK)), "sshd"), "-V"]
        ),
        "ssh client": _version_line(["ssh", "-V"]),
        "python": platform.python_version(),
        "fabric": _version("fabric"),
        "paramiko": _version("paramiko"),
        "ansible-core": _version("ansible-core"),
        "sqlalchemy": _version("sqlalchemy"),
        "load before": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def openssh_kex(fleet: Fleet, extra: list[str]) -> str:
    """The key exchange and host key algorithm OpenSSH's client negotiates with a node."""
    node = fleet.nodes[0]
    command = [
        "ssh", "-v", "-o", "BatchMode=yes", "-o", "ControlMaster=no",
        "-o", f"UserKnownHostsFile={fleet.known_hosts}", "-o", "StrictHostKeyChecking=yes",
        "-i", str(fleet.client_key), "-p", str(node.port), *extra,
        f"{node.user}@{node.host}", "true",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    kex = re.search(r"kex: algorithm: (\S+)", done.stderr)
    host_key = re.search(r"kex: host key algorithm: (\S+)", done.stderr)
    cipher = re.search(r"kex: server->client cipher: (\S+)", done.stderr)
    if done.returncode != 0 or not kex:
        return f"unknown (ssh exited {done.returncode})"
    parts = [kex[1]]
    if host_key:
        parts.append(f"host key {host_key[1]}")
    if cipher:
        parts.append(f"cipher {cipher[1]}")
    return ", ".join(parts)


def find_ansible() -> str | None:
    def which() -> str | None:  # on PATH, or installed beside this Python (a venv)
        return shutil.which("ansible") or shutil.which("ansible", path=Path(sys.executable).parent)

    found = which()
    if found:
        return found
    print("`ansible` is not on PATH: installing ansible-core with pip …", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "ansible-core"], check=False)
    found = which()
    if not found:
        print("ansible is still not available: the Ansible contenders are skipped.")
    return found


# -- report ----------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values)


def summarize(runs: list[Run]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for name in CONTENDERS:
        mine = [run for run in runs if run.contender == name]
        if not mine:
            continue
        walls = [run.wall for run in mine]
        summary[name] = {
            "runs": len(mine),
            "wall": _median(walls),
            "wall_min": min(walls),
            "wall_max": max(walls),
            "walls": walls,
            "cpu": _median([run.cpu for run in mine]),
            "sshd_cpu": _median([run.sshd_cpu for run in mine]),
            "other_cpu": _median([run.other_cpu for run in mine]),
        }
        extras = sorted({key for run in mine for key in run.extra})
        for key in extras:
            summary[name][key] = _median([run.extra.get(key, 0.0) for run in mine])
    return summary


def table(summary: dict[str, dict[str, Any]], nodes: int, parallel: int) -> str:
    header = (
        f"{'contender':<30} {'wall s (median)':>15} {'min-max':>13} "
        f"{'client CPU s':>12} {'sshd CPU s':>10} {'other CPU s':>11} {'peak RSS MB':>11} "
        f"{'runs':>4}"
    )
    lines = [f"{nodes} nodes, parallelism {parallel}", header, "-" * len(header)]
    for name, row in summary.items():
        spread = f"{row['wall_min']:.2f}-{row['wall_max']:.2f}"
        rss = f"{row['peak_rss_mb']:.0f}" if "peak_rss_mb" in row else "-"
        lines.append(
            f"{LABELS[name]:<30} {row['wall']:>15.2f} {spread:>13} "
            f"{row['cpu']:>12.2f} {row['sshd_cpu']:>10.2f} {row['other_cpu']:>11.2f} "
            f"{rss:>11} {row['runs']:>4}"
        )
    lines.append(
        "client CPU: the benchmark process (Squall, Fabric), the process run (squall deploy,"
        "\nbare Fabric process) or ansible, each with its children; sshd CPU: the fleet's sshd"
        "\nand everything it forked; other CPU: the rest of the machine while the clock ran"
        "\n(other programs; 0 on a quiet machine); peak RSS: the process's own maximum."
    )
    lines.append("")
    # (label, numerator, denominator, target, the numerator must be at most the target)
    ansible, nomux = "Ansible (default)", "Ansible (no ControlMaster)"
    c25519 = "Ansible (curve25519)"
    wanted = [
        ("Squall / bare Fabric", "squall", "fabric", TARGET_VS_FABRIC, True),
        ("squall deploy / Fabric process", "squall-cli", "fabric-cli", TARGET_CLI_VS_FABRIC, True),
        ("squall deploy --server / Fabric proc", "squall-server", "fabric-cli", None, True),
        (f"{ansible} / Squall", "ansible", "squall", TARGET_VS_ANSIBLE, False),
        (f"{c25519} / Squall", "ansible-c25519", "squall", TARGET_VS_ANSIBLE, False),
        (f"{ansible} / squall deploy", "ansible", "squall-cli", TARGET_VS_ANSIBLE, False),
        (f"{c25519} / squall deploy", "ansible-c25519", "squall-cli", TARGET_VS_ANSIBLE, False),
        # Ansible without its connection master: a setting, not its default, so no target.
        (f"{nomux} / squall deploy", "ansible-nomux", "squall-cli", None, False),
        # The peers alone: how much faster than Ansible a process that does nothing but
        # connect and run the probe is on this machine, the bound for the lines above.
        (f"{ansible} / Fabric process", "ansible", "fabric-cli", None, False),
        (f"{nomux} / Fabric process", "ansible-nomux", "fabric-cli", None, False),
    ]  # fmt: skip
    ratios: list[tuple[str, float, str, str]] = []
    for label, top, bottom, target, at_most in wanted:
        over, under = summary.get(top), summary.get(bottom)
        if not (over and under):
            continue
        ratio = over["wall"] / under["wall"]
        if target is None:
            peers = not any(name.startswith("squall") for name in (top, bottom))
            verdict = "peers only: no Squall in it" if peers else ""
        else:
            met = ratio <= target if at_most else ratio >= target
            sign = "<=" if at_most else ">="
            verdict = f"target {sign} {target:g}x  {'PASS' if met else 'MISS'}"
        ratios.append((f"{label}, wall", ratio, _paired(over["walls"], under["walls"]), verdict))
        if at_most and under["cpu"]:
            ratios.append((f"{label}, client CPU", over["cpu"] / under["cpu"], "", ""))
    if ratios:
        lines.append(f"{'ratio of the medians':<50} {'':>6}   {'per repetition':<14}")
    for label, ratio, paired, verdict in ratios:
        lines.append(f"{label:<50} {ratio:5.2f}x   {paired:<14} {verdict}".rstrip())
    costs = fixed_and_per_node(summary, nodes, parallel)
    if costs:
        lines.append("")
        lines.append(
            f"the processes' wall time split (medians; {nodes - 1} nodes beyond the first)"
        )
        lines.append(
            f"  {'one node, start to end':<34} squall deploy {costs['squall_one']:6.2f} s  "
            f"Fabric process {costs['fabric_one']:6.2f} s  "
            f"({costs['squall_one'] - costs['fabric_one']:+.2f} s)"
        )
        lines.append(
            f"  {'each further node':<34} squall deploy {costs['squall_per_node'] * 1000:6.2f} ms "
            f"Fabric process {costs['fabric_per_node'] * 1000:6.2f} ms "
            f"({costs['squall_per_node'] / costs['fabric_per_node']:.2f}x)"
        )
        lines.append(
            f"  at these costs squall deploy is within {TARGET_CLI_VS_FABRIC:g}x of the Fabric "
            f"process {costs['within_target']}"
        )
    return "\n".join(lines)


def fixed_and_per_node(
    summary: dict[str, dict[str, Any]], nodes: int, parallel: int
) -> dict[str, Any] | None:
    """The two processes' wall time split into what a run costs whatever its size (the
    one-node runs: Python's start, imports, planning, recording and one connection) and what
    each further node adds, (all nodes - one node) / (nodes - 1); and at which sizes, at
    these costs, `squall deploy` is within TARGET_CLI_VS_FABRIC of the Fabric process. None
    without the four processes' runs; with no more nodes than the parallelism, where they
    all run at once and a node adds no time of its own; or when the machine's drift leaves
    Fabric's further nodes costing nothing."""
    found = [
        summary.get(name) for name in ("squall-cli", "fabric-cli", "squall-cli-1", "fabric-cli-1")
    ]
    if nodes <= max(parallel, 1) or not all(found):
        return None
    squall_all, fabric_all, squall_one, fabric_one = (row["wall"] for row in found if row)
    squall_per_node = (squall_all - squall_one) / (nodes - 1)
    fabric_per_node = (fabric_all - fabric_one) / (nodes - 1)
    if fabric_per_node <= 0:
        return None
    # Within at k further nodes: squall_one + k * squall_per_node
    #                              <= target * (fabric_one + k * fabric_per_node)
    excess = squall_one - TARGET_CLI_VS_FABRIC * fabric_one
    room = TARGET_CLI_VS_FABRIC * fabric_per_node - squall_per_node
    if excess <= 0 and room >= 0:
        within = "at every size"
    elif excess > 0 and room > 0:
        within = f"from {1 + math.ceil(excess / room)} nodes on"
    elif excess <= 0:
        within = f"up to {1 + math.floor(excess / room)} nodes"
    else:
        within = "at no size"
    return {
        "squall_one": squall_one,
        "fabric_one": fabric_one,
        "squall_per_node": squall_per_node,
        "fabric_per_node": fabric_per_node,
        "within_target": within,
    }


def _paired(numerators: list[float], denominators: list[float]) -> str:
    """Range of the ratio within each repetition (the contenders ran back to back)."""
    pairs = [a / b for a, b in zip(numerators, denominators, strict=False) if b]
    return f"{min(pairs):.2f}-{max(pairs):.2f}x" if pairs else ""


# -- main ------------------------------------------------------------------------------------


def console_while_deploying(fleet: Fleet, workdir: Path, parallel: int) -> dict[str, Any]:
    """The board and the deployment page, asked of `squall serve` while a `squall deploy`
    process runs the fleet (bench/console_during.py)."""
    process = SquallProcessContender(fleet, workdir, parallel)
    print(
        f"\nThe console while `squall deploy` runs {len(fleet.nodes)} nodes "
        "(squall serve --no-worker on the same database; one request at a time):",
        flush=True,
    )
    try:
        samples = console_during.measure(
            process.squall, process.env, process.inventory, process.command, workdir
        )
    except RuntimeError as exc:
        raise BenchError(f"console run: {exc}") from None
    for name, found in samples.items():
        print(found.line(name))
    return {name: asdict(found) for name, found in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=50)
    parser.add_argument(
        "--only",
        default=",".join(name for name in CONTENDERS if name not in OPTIONAL),
        help=f"comma-separated contenders to run, of {', '.join(CONTENDERS)} (default: all "
        f"but {', '.join(OPTIONAL)})",
    )
    parser.add_argument("--settle", type=float, default=1.0, help="seconds of rest between runs")
    parser.add_argument("--json", type=Path, help="also write every measurement to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--console",
        action="store_true",
        help="then one more `squall deploy` process, with `squall serve` answering the board "
        "and the deployment page while it runs (timings of each; not in the ratios)",
    )
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders: {', '.join(sorted(unknown))}")

    ansible = find_ansible() if any(name.startswith("ansible") for name in chosen) else None
    if ansible is None:
        chosen = [name for name in chosen if not name.startswith("ansible")]

    machine = machine_facts()
    workdir = Path(tempfile.mkdtemp(prefix="squall-fanout-"))
    fleet = Fleet(workdir / "fleet", args.nodes)
    contenders: dict[str, Callable[[], Measured]] = {}
    try:
        started = time.perf_counter()
        fleet.start()
        print(
            f"fleet of {args.nodes} sshd started in {time.perf_counter() - started:.1f}s",
            flush=True,
        )

        fabric_contender = FabricContender(fleet, args.parallel)
        machine["paramiko negotiates (Fabric, Squall)"] = ", ".join(
            f"{key} {value}" if key != "kex" else value
            for key, value in fabric_contender.describe_transport().items()
        )
        if "squall" in chosen:
            contenders["squall"] = SquallContender(fleet, workdir, args.parallel)
        if "fabric" in chosen:
            contenders["fabric"] = fabric_contender
        if "squall-cli" in chosen:
            contenders["squall-cli"] = SquallProcessContender(fleet, workdir, args.parallel)
        if "fabric-cli" in chosen:
            contenders["fabric-cli"] = FabricProcessContender(fleet, workdir, args.parallel)
        if "squall-cli-1" in chosen:
            contenders["squall-cli-1"] = SquallProcessContender(
                fleet, workdir, args.parallel, one_node=True
            )
        if "fabric-cli-1" in chosen:
            contenders["fabric-cli-1"] = FabricProcessContender(
                fleet, workdir, args.parallel, one_node=True
            )
        if "squall-server" in chosen:
            contenders["squall-server"] = SquallServerContender(fleet, workdir, args.parallel)
        commands: dict[str, str] = {}
        if "ansible" in chosen and ansible:
            contenders["ansible"] = AnsibleContender(fleet, workdir, args.parallel, [], ansible)
            machine["OpenSSH negotiates (Ansible default)"] = openssh_kex(fleet, [])
        if "ansible-nomux" in chosen and ansible:
            contenders["ansible-nomux"] = AnsibleContender(
                fleet, workdir, args.parallel, [], ansible, master=False
            )
        if "ansible-c25519" in chosen and ansible:
            kex = ["-o", "KexAlgorithms=curve25519-sha256"]
            contenders["ansible-c25519"] = AnsibleContender(
                fleet, workdir, args.parallel, [" ".join(kex)], ansible
            )
            machine["OpenSSH negotiates (Ansible curve25519)"] = openssh_kex(fleet, kex)
        for name, contender in contenders.items():
            if isinstance(
                contender,
                AnsibleContender
                | SquallProcessContender
                | SquallServerContender
                | FabricProcessContender,
            ):
                commands[name] = contender.shell_command()

        print("\nMachine:")
        for key, value in machine.items():
            print(f"  {key:<40} {value}")
        print(
            "\nSquall: SquallHarness with plugins.noop only, a fresh data directory (database,"
            "\nmigrations, inventory) per repetition, set up outside the clock; imports are"
            "\nwarm. The processes (squall deploy, bare Fabric) start cold, and their clocks"
            "\nrun from starting them to reaping them; Squall's bytecode is compiled first, as"
            "\npip does on install (Fabric's is). Ansible: its default ssh_args, with a"
            "\ncontrol-socket directory per repetition, so every repetition connects anew;"
            "\nthe masters it leaves are stopped after the clock (ansible-nomux: ssh_args"
            "\n'-C -o ControlMaster=no'). OpenSSH verifies host keys against the fleet's"
            "\nknown_hosts (StrictHostKeyChecking=yes)."
        )
        for name, command in commands.items():
            print(f"  {name}: {command}")

        # Untimed warm-up: imports, lazily built caches, sshd binary and page cache.
        print("\nwarm-up …", flush=True)
        for contender in contenders.values():
            if not isinstance(contender, AnsibleContender):
                contender()
        time.sleep(args.settle)

        runs: list[Run] = []
        for repetition in range(1, args.repeat + 1):
            for name, contender in contenders.items():
                clock, extra = contender()
                time.sleep(args.settle)  # lets every sshd reap its sessions before counting
                served = sshd_cpu(fleet) - clock.sshd_start
                # CPU that neither the client nor the fleet used while the clock ran: other
                # programs on the machine, which make the wall times less reliable. The fleet's
                # share is taken once its sessions are reaped: Ansible's connection masters
                # keep theirs open past the clock.
                other = max(clock.busy - clock.cpu - served, 0.0)
                wall, cpu = clock.wall, clock.cpu
                run = Run(name, wall, cpu, served, other, extra)
                runs.append(run)
                rss = f"  peak RSS {extra['peak_rss_mb']:4.0f} MB" if "peak_rss_mb" in extra else ""
                masters = f"  {extra['masters']:.0f} masters" if "masters" in extra else ""
                print(
                    f"  run {repetition}/{args.repeat} {LABELS[name]:<30} wall {wall:6.2f}s  "
                    f"client CPU {cpu:6.2f}s  sshd CPU {served:6.2f}s  other CPU {other:5.2f}s"
                    f"{rss}{masters}",
                    flush=True,
                )

        summary = summarize(runs)
        print()
        print(table(summary, args.nodes, args.parallel))
        console: dict[str, Any] = {}
        if args.console:
            console = console_while_deploying(fleet, workdir, args.parallel)
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "nodes": args.nodes,
                        "parallel": args.parallel,
                        "repeat": args.repeat,
                        "machine": machine,
                        "commands": commands,
                        "runs": [asdict(run) for run in runs],
                        "summary": summary,
                        "fixed_and_per_node": fixed_and_per_node(
                            summary, args.nodes, args.parallel
                        ),
                        "console": console,
                    },
                    indent=2,
                ),
                encoding="utf-8",
            )
        return 0
    except (BenchError, FleetError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        for contender in contenders.values():
            if isinstance(contender, SquallServerContender):
                contender.stop()
        fleet.stop()
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
