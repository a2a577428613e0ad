#!/usr/bin/env python
"""Board benchmark: the board, a big deployment's page and a big log, on a busy database.

    python bench/board.py [--deployments 1000] [--tasks 100000] [--huge 10000] [--repeat 5]
                          [--no-http] [--no-browser] [--no-logs] [--keep]

Builds (outside the clock, with bulk SQLAlchemy Core inserts into a fresh SQLite database
made by SquallHarness, so the schema is the current one) `--deployments` deployments with
`--tasks` node tasks in all, shaped like a busy console's history:

* most finished: succeeded, failed (a stage over its failure threshold, failure points
  with exit codes, errors and last lines), cancelled, rolled back;
* a tenth active: running (finished, running and pending tasks), a few awaiting approval
  at a group deployment's thunder gate, paused (by an operator or an inconclusive health
  check), pending; a few of the paused and waiting ones days old;
* types noop, config_change, cache_rebuild, single_instance and group (lightning, thunder
  waves, health checks after each), 3% of the deployments on 1,000 nodes;
* one running group deployment with health checks on `--huge` nodes (an edge fleet of
  clusters of 250: 10,000 nodes are 20,000 node tasks in 40 clusters), mid-way through its
  thunder waves with a few failed nodes; its tasks count in `--tasks`;
* step results (durations per step name) for every finished and running task, so the
  board's time-left estimate has a history; node leases for running tasks; approvals;
* a 300-line-per-node log (300,000 lines) on one finished 1,000-node deployment.

Then it times, each the median of `--repeat` runs after a first run reported on its own
(the first run is the cold one: SQLAlchemy's statement cache, and the step-median cache
where the label says so):

* in this process: `board()` with the default filter (every active + 200 recent), with
  the 30 s step-median cache cold and warm, with a status filter and a cluster filter;
  `render(rows)` (the board's HTML); `deployment_detail()` of a running 1,000-node group
  deployment, of a finished 1,000-node one and of the huge one; the node grid's data of
  the running ones; `log_nodes()`;
* as a browser gets it: `squall serve --no-browser --no-worker` on the same data
  directory, then `GET /`, `GET /deployments/<id>` and the log pane's routes (first,
  middle and last window, grouped view, search, download) with httpx, until the whole
  response is read; with the size of what came over the wire;
* in headless Chromium (`--no-browser` skips it), on the same server: the pages of the
  running 1,000-node and huge deployments, each load alone (after the last page's client
  is gone): when the document arrived, the first contentful paint and when every square
  of the node grid was in the page, by the browser's clock;
* the log pane's read model on a 300,000-line log: bench/logs.py, called as it is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import httpx
from sqlalchemy import Table, insert, text

from squall.app import DEFAULT_PLUGINS
from squall.core.models import (
    Approval,
    Cluster,
    Deployment,
    Event,
    LogLine,
    Node,
    NodeLease,
    NodeTask,
    Stage,
    StepResult,
)
from squall.core.services import board as board_service
from squall.core.services import logs as log_service
from squall.core.services.board import BoardFilter, board
from squall.core.services.views import deployment_detail
from squall.core.status import DeploymentStatus, StageKind, StageStatus, TaskStatus
from squall.testing.harness import SquallHarness
from squall.ui import grids
from squall.ui.pages.board import render

D, S, T, K = DeploymentStatus, StageStatus, TaskStatus, StageKind

ROLES = ("web", "api", "cache")
REGIONS = ("fra", "ams", "lon", "par", "mad", "mil", "waw", "sto")
PER_CLUSTER = 125
"""24 clusters of 125 nodes: a role's 8 clusters are 1,000 nodes."""
BIG = 1000
EDGE_PER_CLUSTER = 250
"""The edge fleet of the huge deployment (`--huge`): clusters edge-01, edge-02… of 250."""
REQUESTERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")

STEPS = {
    "noop": ("probe",),
    "config_change": ("write", "validate", "reload"),
    "cache_rebuild": ("rebuild", "verify"),
    "single_instance": ("drain", "stop", "prepare", "switch", "start", "check"),
}
STAGE_NAMES = {
    "noop": "probe",
    "config_change": "change",
    "cache_rebuild": "rebuild",
    "single_instance": "deploy",
}
ROLLBACK_STEPS = {
    "config_change": ("restore", "reload"),
    "single_instance": ("stop", "switch", "start", "check"),
}
ROLLBACK_STAGE = {"config_change": "restore", "single_instance": "switch back"}
MEDIAN_SECONDS = {
    "probe": 0.4,
    "write": 0.3,
    "validate": 0.8,
    "reload": 2.0,
    "restore": 0.4,
    "rebuild": 150.0,
    "verify": 6.0,
    "drain": 20.0,
    "stop": 4.0,
    "prepare": 30.0,
    "switch": 1.0,
    "start": 8.0,
    "check": 5.0,
    "health": 1.5,
}
FAILURES = {
    # step name: (exit code, error, last lines)
    "validate": (
        1,
        'nginx: [emerg] unknown directive "proxy_bufer" in /etc/nginx/conf.d/app.conf:14\n'
        "nginx: configuration file /etc/nginx/nginx.conf test failed",
        ["nginx: [emerg] unknown directive", "test failed"],
    ),
    "reload": (
        1,
        "Job for app.service failed because the control process exited with error code.",
        ["See 'systemctl status app.service' and 'journalctl -xeu app.service'."],
    ),
    "rebuild": (137, "killed (out of memory)", ["segment 41/97 ...", "Killed"]),
    "verify": (2, "verify: 3 segments missing after rebuild", ["missing: 12, 57, 88"]),
    "health": (1, "curl: (22) The requested URL returned error: 503", ["HTTP/1.1 503"]),
    "start": (1, "app did not answer on :8080 within 30 s", ["starting app ...", "timeout"]),
}
CONNECT_ERROR = "connect to {host}:22: [Errno 111] Connection refused"
INTERRUPTED_ERROR = "worker squall-2 stopped renewing its claim (crashed or cut off)"

BATCH = 20_000
WINDOW = 500
LOG_LINES_PER_NODE = 300


# -- the database ------------------------------------------------------------------------------


@dataclass
class StagePlan:
    name: str
    kind: StageKind
    steps: tuple[str, ...]
    nodes: list[tuple[str, str]]
    """(node, cluster) in task order."""
    parallelism: int
    gate: bool = False
    max_failures: int | None = None
    max_failure_percent: float | None = None
    bake_seconds: float = 0.0


@dataclass
class Spec:
    """One deployment to write: its type, size and final (or current) status."""

    id: int
    type: str
    status: DeploymentStatus
    nodes: int
    inner: str | None = None
    """A group deployment's inner type."""
    health: bool = False
    """A group deployment with a health check after each phase (twice the tasks)."""
    big: bool = False
    watched: bool = False
    """The running 1,000-node group deployment whose page is opened: mid-way."""
    huge: bool = False
    """The running group deployment on the whole edge fleet (`--huge` nodes): mid-way."""

    @property
    def multiplier(self) -> int:
        """Node tasks per node."""
        return (2 if self.health else 1) + (1 if self.status == D.ROLLED_BACK else 0)


@dataclass
class Built:
    deployments: int = 0
    tasks: int = 0
    step_results: int = 0
    log_lines: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)
    big: int = 0
    watched: int = 0
    """A running 1,000-node group deployment with health checks (the page people watch)."""
    watched_tasks: int = 0
    huge: int = 0
    """A running group deployment with health checks on `--huge` nodes (0: none)."""
    huge_nodes: int = 0
    huge_tasks: int = 0
    logged: int = 0
    """A finished (failed) 1,000-node config change with a 300,000-line log."""
    cluster: str = ""
    """The busiest cluster, for the cluster filter."""
    seconds: float = 0.0
    size_mb: float = 0.0


def plan_specs(rng: random.Random, count: int, tasks: int, huge: int = 0) -> list[Spec]:
    ids = list(range(1, count + 1))
    active_n = max(1, round(count * 0.10))
    old_n = min(6, active_n // 10)
    recent = ids[-min(count, round(active_n * 1.4)) :]
    older = ids[count // 2 : -len(recent)] if count // 2 < count - len(recent) else []
    old = rng.sample(older, min(old_n, len(older)))
    active = rng.sample(recent, min(active_n - len(old), len(recent))) + old
    rng.shuffle(active)
    states: dict[int, DeploymentStatus] = {}
    cuts = (round(active_n * 0.08), round(active_n * 0.07), round(active_n * 0.08))
    for position, deployment_id in enumerate(active):
        if position < cuts[0]:
            states[deployment_id] = D.AWAITING_APPROVAL
        elif position < cuts[0] + cuts[1]:
            states[deployment_id] = D.PAUSED
        elif position < sum(cuts):
            states[deployment_id] = D.PENDING
        else:
            states[deployment_id] = D.RUNNING
    for deployment_id in old:  # the old active ones wait for a person
        states[deployment_id] = rng.choice((D.PAUSED, D.AWAITING_APPROVAL))
    finished = (D.SUCCEEDED, D.FAILED, D.CANCELLED, D.ROLLED_BACK)
    specs = []
    for deployment_id in ids:
        status = states.get(deployment_id) or rng.choices(finished, (765, 130, 70, 35))[0]
        kind = rng.choices(
            ("config_change", "cache_rebuild", "noop", "single_instance", "group"),
            (38, 20, 14, 12, 16),
        )[0]
        if status == D.AWAITING_APPROVAL:
            kind = "group"  # only group deployments have gates
        if status == D.ROLLED_BACK and kind not in ("config_change", "single_instance", "group"):
            kind = "config_change"  # only these can be rolled back
        if status == D.ROLLED_BACK and kind == "group":
            kind = "config_change"  # keeps the rollback to one stage
        spec = Spec(deployment_id, kind, status, 1)
        if kind == "group":
            spec.inner = rng.choice(("config_change", "config_change", "cache_rebuild"))
            spec.health = rng.random() < 0.6
        if kind != "single_instance":
            spec.nodes = rng.choices(
                (2, 4, 8, 12, 20, 30, 50, 80, 120, 200, 300, 500),
                (8, 10, 12, 12, 12, 12, 10, 8, 6, 5, 3, 2),
            )[0]
        specs.append(spec)
    by_id = {spec.id: spec for spec in specs}

    def make_big(spec: Spec, kind: str, *, health: bool | None = None) -> None:
        spec.big, spec.nodes, spec.type = True, BIG, kind
        if kind == "group":
            spec.inner = spec.inner or "config_change"
            spec.health = rng.random() < 0.6 if health is None else health
        else:
            spec.inner, spec.health = None, False

    running = sorted((i for i, s in states.items() if s == D.RUNNING), reverse=True)
    waiting = [i for i, s in states.items() if s == D.AWAITING_APPROVAL]
    paused = [i for i, s in states.items() if s == D.PAUSED]
    big_n = max(2, round(count * 0.03))
    chosen: list[int] = []
    if running:
        make_big(by_id[running[0]], "group", health=True)
        by_id[running[0]].watched = True
        chosen.append(running[0])
        for deployment_id in running[1:4]:
            make_big(by_id[deployment_id], rng.choice(("group", "group", "config_change")))
            chosen.append(deployment_id)
    if huge and len(running) > 4:
        spec = by_id[running[4]]
        make_big(spec, "group", health=True)
        spec.huge, spec.nodes = True, huge
        chosen.append(running[4])
    for deployment_id in (waiting[:1] + paused[:1])[: max(big_n - len(chosen) - 1, 0)]:
        spec = by_id[deployment_id]
        make_big(spec, "group" if spec.status == D.AWAITING_APPROVAL else "cache_rebuild")
        chosen.append(deployment_id)
    done = [s.id for s in specs if s.status in (D.SUCCEEDED, D.FAILED, D.CANCELLED)]
    logged = rng.choice(done[len(done) // 2 :])
    by_id[logged].status = D.FAILED
    make_big(by_id[logged], "config_change")
    chosen.append(logged)
    pool = [i for i in done if i not in chosen]
    for deployment_id in rng.sample(pool, max(min(big_n - len(chosen), len(pool)), 0)):
        make_big(
            by_id[deployment_id], rng.choice(("group", "group", "config_change", "cache_rebuild"))
        )
    _scale(rng, specs, tasks)
    return specs


def _scale(rng: random.Random, specs: list[Spec], tasks: int) -> None:
    """Resize the ordinary deployments so that there are exactly `tasks` node tasks."""
    fixed = sum(s.nodes * s.multiplier for s in specs if s.big or s.type == "single_instance")
    flexible = [s for s in specs if not s.big and s.type != "single_instance"]
    wanted = tasks - fixed
    current = sum(s.nodes * s.multiplier for s in flexible)
    if wanted < 2 * len(flexible) * 3 or not flexible:
        raise SystemExit(f"{tasks:,} node tasks are too few for {len(specs)} deployments")
    factor = wanted / current
    for spec in flexible:
        spec.nodes = max(2, min(900, round(spec.nodes * factor)))
    left = wanted - sum(s.nodes * s.multiplier for s in flexible)
    singles = [s for s in flexible if s.multiplier == 1]
    while left:
        spec = rng.choice(singles)
        step = max(1, min(abs(left) // 50, 20))
        if left > 0 and spec.nodes + step <= 900:
            spec.nodes, left = spec.nodes + step, left - step
        elif left < 0 and spec.nodes - step >= 2:
            spec.nodes, left = spec.nodes - step, left + step


def choose_nodes(rng: random.Random, spec: Spec) -> tuple[str, list[tuple[str, str]]]:
    if spec.huge:
        return "cluster:edge-*", edge_nodes(spec.nodes)
    role = rng.choice(ROLES)
    clusters = [f"{role}-{region}" for region in REGIONS]
    if spec.nodes >= BIG:
        return f"cluster:{role}-*", [
            (f"{cluster}-{index:03d}", cluster)
            for cluster in clusters
            for index in range(1, PER_CLUSTER + 1)
        ][: spec.nodes]
    spread = math.ceil(spec.nodes / PER_CLUSTER)
    if spec.nodes <= PER_CLUSTER and spec.nodes > 3 and rng.random() < 0.3:
        spread = rng.choice((2, 3))
    picked = rng.sample(clusters, spread)
    nodes = []
    for position, cluster in enumerate(picked):
        share = spec.nodes // spread + (1 if position < spec.nodes % spread else 0)
        first = rng.randrange(1, PER_CLUSTER - share + 2)
        nodes += [(f"{cluster}-{index:03d}", cluster) for index in range(first, first + share)]
    if spec.type == "single_instance":
        return f"host:{nodes[0][0]}", nodes
    return ",".join(f"cluster:{cluster}" for cluster in picked), nodes


def edge_nodes(count: int) -> list[tuple[str, str]]:
    """(node, cluster) of the edge fleet, `count` nodes in clusters of EDGE_PER_CLUSTER."""
    return [
        (
            f"edge-{1 + index // EDGE_PER_CLUSTER:02d}-{1 + index % EDGE_PER_CLUSTER:03d}",
            f"edge-{1 + index // EDGE_PER_CLUSTER:02d}",
        )
        for index in range(count)
    ]


def stage_plans(rng: random.Random, spec: Spec, nodes: list[tuple[str, str]]) -> list[StagePlan]:
    parallelism = rng.choice((10, 20, 50, 50, 100)) if spec.nodes > 1 else 1
    if spec.type != "group":
        stages = [StagePlan(STAGE_NAMES[spec.type], K.DEPLOY, STEPS[spec.type], nodes, parallelism)]
        if spec.status == D.ROLLED_BACK:
            stages.append(
                StagePlan(
                    ROLLBACK_STAGE[spec.type],
                    K.ROLLBACK,
                    ROLLBACK_STEPS[spec.type],
                    nodes,
                    parallelism,
                )
            )
        return stages
    steps = STEPS[spec.inner or "config_change"]
    by_cluster: dict[str, list[tuple[str, str]]] = {}
    for node in nodes:
        by_cluster.setdefault(node[1], []).append(node)
    queues = [list(members) for _, members in sorted(by_cluster.items())]
    ordered: list[tuple[str, str]] = []  # round-robin over the clusters, like the planner
    while any(queues):
        for queue in queues:
            if queue:
                ordered.append(queue.pop(0))
    first = max(1, min(math.ceil(len(ordered) * 0.05), 10))
    per_wave = max(1, round((len(ordered) - first) * rng.choice((0.2, 0.25))))
    phases = [("lightning", ordered[:first], False, 300.0 if spec.big else 0.0)]
    for number, start in enumerate(range(first, len(ordered), per_wave), start=1):
        phases.append((f"thunder {number}", ordered[start : start + per_wave], number == 1, 0.0))
    stages = []
    for name, members, gate, bake in phases:
        stages.append(
            StagePlan(
                name,
                K.DEPLOY,
                steps,
                members,
                parallelism,
                gate=gate,
                max_failure_percent=10.0,
                bake_seconds=bake,
            )
        )
        if spec.health:
            stages.append(
                StagePlan(
                    f"{name} health", K.CHECK, ("health",), members, parallelism, max_failures=0
                )
            )
    return stages


def step_json(name: str, deployment_id: int, timeout: float) -> dict[str, Any]:
    """A planned step shaped like the planners' (see core.services.deployments.store_plan)."""
    if name == "write":
        return {
            "name": name,
            "kind": "config_change.write",
            "args": {
                "path": "/etc/nginx/conf.d/app.conf",
                "content_base64": "dXBzdHJlYW0gYXBwIHsgc2VydmVyIDEyNy4wLjAuMTo4MDgwOyB9Cg==",
                "mode": None,
                "tag": str(deployment_id),
            },
            "timeout": timeout,
            "summary": "back up and write /etc/nginx/conf.d/app.conf (1 lines)",
        }
    if name == "validate":
        return {
            "name": name,
            "kind": "config_change.validate",
            "args": {
                "path": "/etc/nginx/conf.d/app.conf",
                "command": "nginx -t",
                "tag": str(deployment_id),
            },
            "timeout": timeout,
            "summary": "$ nginx -t  [restores /etc/nginx/conf.d/app.conf on failure]",
        }
    command = {
        "probe": "printf 'hostname=%s\\n' \"$(hostname)\"; printf 'kernel=%s\\n' \"$(uname -sr)\"",
        "health": "curl -fsS http://localhost:8080/health",
        "rebuild": "app-cache rebuild --all",
        "verify": "app-cache verify",
    }.get(name, f"systemctl {name} app")
    return {
        "name": name,
        "kind": "run",
        "args": {
            "command": command,
            "attempts": 3 if name == "verify" else 1,
            "interval": 0.0,
            "facts": name == "probe",
        },
        "timeout": timeout,
        "summary": "",
    }


def params_of(spec: Spec) -> dict[str, Any]:
    kind = spec.inner if spec.type == "group" else spec.type
    inner: dict[str, Any] = {
        "noop": {"message": ""},
        "config_change": {
            "path": "/etc/nginx/conf.d/app.conf",
            "content": "upstream app { server 127.0.0.1:8080; }\n",
            "template": None,
            "values": {},
            "secrets": {},
            "mode": None,
            "validate_command": ["nginx", "-t"],
            "reload_command": ["systemctl", "reload", "nginx"],
            "timeout": 60,
        },
        "cache_rebuild": {
            "rebuild_command": ["app-cache", "rebuild", "--all"],
            "verify_command": ["app-cache", "verify"],
            "verify_attempts": 3,
            "verify_interval": 5.0,
            "timeout": 1800,
        },
        "single_instance": {"version": f"2.{spec.id % 40}.{spec.id % 7}"},
    }[kind or "noop"]
    if spec.type != "group":
        return inner
    phase = {
        "gate": "auto",
        "parallelism": None,
        "max_fail": "10%",
        "bake_seconds": 300 if spec.big else 0,
        "health_command": ["curl", "-fsS", "http://localhost:8080/health"] if spec.health else None,
        "health_timeout": 60,
    }
    return {
        "inner_type": spec.inner,
        "inner_params": inner,
        "lightning_size": "auto",
        "lightning_clusters": [],
        "lightning_nodes": [],
        "wave_size": "20%",
        "lightning": phase,
        "thunder": {**phase, "gate": "manual"},
        "wave_gate": "auto",
        "approvals": 1,
    }


TITLES = {
    "noop": "No-op",
    "config_change": "Configuration change",
    "cache_rebuild": "Cache rebuild",
    "single_instance": "Single instance switch",
    "group": "Group deployment",
}


class Writer:
    """Collects rows and inserts them table by table, parents first, in bulk."""

    ORDER = (Cluster, Node, Deployment, Stage, NodeTask, StepResult, Approval, Event, NodeLease)

    def __init__(self, squall: SquallHarness) -> None:
        self.squall = squall
        self.rows: dict[Any, list[dict[str, Any]]] = {model: [] for model in self.ORDER}
        self.written: Counter[str] = Counter()

    def add(self, model: Any, row: dict[str, Any]) -> None:
        self.rows[model].append(row)
        if len(self.rows[model]) >= BATCH and model in (NodeTask, StepResult):
            self.flush()

    def flush(self) -> None:
        with self.squall.runtime.db.write() as session:
            for model in self.ORDER:
                if self.rows[model]:
                    session.execute(insert(cast(Table, model.__table__)), self.rows[model])
                    self.written[model.__tablename__] += len(self.rows[model])
                    self.rows[model] = []


def build(
    root: Path, count: int, tasks: int, seed: int, huge: int = 0
) -> tuple[SquallHarness, Built]:
    began = time.perf_counter()
    rng = random.Random(seed)
    squall = SquallHarness(root / "data", DEFAULT_PLUGINS)
    writer = Writer(squall)
    now = dt.datetime.now(dt.UTC)
    members: dict[str, tuple[list[str], list[str]]] = {}
    """Cluster name → its nodes and their tags."""
    for role in ROLES:
        for region in REGIONS:
            name = f"{role}-{region}"
            nodes = [f"{name}-{index:03d}" for index in range(1, PER_CLUSTER + 1)]
            members[name] = (nodes, [role, region])
    for node, cluster in edge_nodes(huge):
        members.setdefault(cluster, ([], ["edge"]))[0].append(node)
    for name, (nodes, tags) in members.items():
        cluster_id = len(writer.rows[Cluster]) + 1
        writer.add(
            Cluster,
            {
                "id": cluster_id,
                "name": name,
                "environment": "production",
                "source": "bench/board.py",
                "updated_at": now,
            },
        )
        for node in nodes:
            writer.add(
                Node,
                {
                    "cluster_id": cluster_id,
                    "name": node,
                    "host": f"{node}.example.net",
                    "port": 22,
                    "user": "deploy",
                    "transport": "ssh",
                    "tags": tags,
                    "vars": {},
                },
            )
    specs = plan_specs(rng, count, tasks, huge)
    built = Built(deployments=len(specs))
    context = Context(rng, writer, built, now, {"stage": 0, "task": 0, "result": 0}, set())
    oldest = now - dt.timedelta(days=30)
    recent_from = count - round(count * 0.14)
    for spec in specs:
        if spec.id <= recent_from:
            created = oldest + dt.timedelta(days=29.7 * spec.id / max(recent_from, 1))
        else:
            created = now - dt.timedelta(minutes=2.5 * (count - spec.id) + rng.uniform(1, 2))
        old = spec.id <= recent_from and not spec.status.is_final
        _write_deployment(context, spec, created, old=old)
    writer.flush()
    built.tasks = writer.written["node_tasks"]
    built.step_results = writer.written["step_results"]
    built.big = sum(spec.big for spec in specs)
    for spec in specs:
        built.by_status[spec.status.value] += 1
        built.by_type[spec.type] += 1
    built.log_lines = _write_log(squall, built.logged, LOG_LINES_PER_NODE)
    with squall.runtime.db.read() as session:
        busiest = session.execute(
            text(
                "SELECT cluster_name FROM node_tasks GROUP BY cluster_name "
                "ORDER BY count(*) DESC LIMIT 1"
            )
        ).scalar()
        built.watched_tasks = session.execute(
            text("SELECT count(*) FROM node_tasks WHERE deployment_id = :id"),
            {"id": built.watched},
        ).scalar_one()
        built.huge_tasks = session.execute(
            text("SELECT count(*) FROM node_tasks WHERE deployment_id = :id"),
            {"id": built.huge},
        ).scalar_one()
    built.cluster = str(busiest)
    database = Path(squall.runtime.db.url.database or "")
    # Fold the write-ahead log into the database, as SQLite does on its own over time.
    raw = sqlite3.connect(database)
    try:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
    built.size_mb = database.stat().st_size / 1e6
    built.seconds = time.perf_counter() - began
    return squall, built


Times = list[tuple[float | None, float | None, list[float]]]
"""Each task's start and end (seconds from the deployment's start) and step durations."""


@dataclass
class Context:
    """What writing one deployment needs besides its plan."""

    rng: random.Random
    writer: Writer
    built: Built
    now: dt.datetime
    ids: dict[str, int]
    leased: set[str]
    base: dt.datetime | None = None
    """When the deployment started (None: not yet)."""

    def at(self, offset: float | None) -> dt.datetime | None:
        if offset is None or self.base is None:
            return None
        return self.base + dt.timedelta(seconds=offset)

    def next_id(self, kind: str) -> int:
        self.ids[kind] += 1
        return self.ids[kind]


def _write_deployment(context: Context, spec: Spec, created: dt.datetime, *, old: bool) -> None:
    rng, now = context.rng, context.now
    selector, nodes = choose_nodes(rng, spec)
    stages = stage_plans(rng, spec, nodes)
    statuses = _outcome(rng, spec, stages)
    if spec.watched:
        context.built.watched = spec.id
    if spec.huge:
        context.built.huge, context.built.huge_nodes = spec.id, spec.nodes
    if spec.big and spec.type == "config_change" and spec.status == D.FAILED:
        context.built.logged = context.built.logged or spec.id
    timeline, task_times, current = _simulate(rng, stages, statuses)
    if spec.status == D.PENDING:
        context.base = None
    elif spec.status.is_final or old:  # old: days old, still waiting for a person
        context.base = created + dt.timedelta(seconds=rng.uniform(2, 20))
    else:  # anchored so that its present is now
        wait = rng.uniform(60, 1800) if spec.status.waits_for_a_person else rng.uniform(0, 5)
        context.base = now - dt.timedelta(seconds=current + wait)
        created = min(created, context.base - dt.timedelta(seconds=5))
    ends = [end for _, end in timeline if end is not None]
    finished = None
    if spec.status.is_final:
        finished = context.at(max(ends)) if ends else created + dt.timedelta(seconds=3)
    nodes_text = f"{spec.nodes} node{'s' if spec.nodes > 1 else ''}"
    context.writer.add(
        Deployment,
        {
            "id": spec.id,
            "type": spec.type,
            "title": f"{TITLES[spec.type]} on {nodes_text}",
            "params": params_of(spec),
            "selector": selector,
            "options": {
                "parallelism": stages[0].parallelism,
                "max_failures": None,
                "step_timeout": None,
            },
            "requester": rng.choice(REQUESTERS),
            "ticket": f"OPS-{1000 + spec.id}" if rng.random() < 0.6 else None,
            "status": spec.status,
            "attempt": 1,
            "retry_interrupted": spec.type == "cache_rebuild",
            "created_at": created,
            "started_at": context.at(0.0),
            "finished_at": finished,
        },
    )
    approver = rng.choice(REQUESTERS)
    for position, plan in enumerate(stages):
        _write_stage(
            context,
            spec,
            position,
            plan,
            statuses[position],
            timeline[position],
            task_times[position],
            approver,
        )
    if spec.status == D.PAUSED:
        inconclusive = any(T.INCONCLUSIVE in tasks for _, tasks in statuses)
        reason = "health check inconclusive on 1 node(s)" if inconclusive else "operator"
        context.writer.add(
            Event,
            {
                "deployment_id": spec.id,
                "task_id": None,
                "kind": "deployment.paused",
                "actor": None if inconclusive else approver,
                "data": {"reason": reason},
                "created_at": now - dt.timedelta(seconds=rng.uniform(30, 600)),
            },
        )


def _simulate(
    rng: random.Random,
    stages: list[StagePlan],
    statuses: list[tuple[StageStatus, list[TaskStatus]]],
) -> tuple[list[tuple[float | None, float | None]], list[Times], float]:
    """Stage and task times in seconds from the deployment's start, node after node in
    waves of the stage's parallelism; and how far the deployment has got (its present)."""
    clock = current = 0.0
    timeline: list[tuple[float | None, float | None]] = []
    task_times: list[Times] = []
    untouched = (T.PENDING, T.SKIPPED, T.CANCELLED)
    for plan, (stage_status, task_statuses) in zip(stages, statuses, strict=True):
        if stage_status != S.BAKING and all(status in untouched for status in task_statuses):
            # Never started: pending, waiting at its gate, or skipped or cancelled.
            timeline.append((None, clock if stage_status.is_final else None))
            task_times.append([(None, None, [])] * len(plan.nodes))
            continue
        if plan.gate:
            clock += rng.uniform(300, 5400)  # waited for a person to promote it
        node_time = sum(MEDIAN_SECONDS[name] for name in plan.steps)
        started = finished = clock
        times: Times = []
        for position, status in enumerate(task_statuses):
            wave_start = started + (position // plan.parallelism) * node_time * 1.1
            if status in untouched:
                times.append((None, None, []))
                continue
            durations = [MEDIAN_SECONDS[name] * rng.lognormvariate(0, 0.3) for name in plan.steps]
            if status == T.RUNNING:
                times.append((wave_start, None, durations))
                current = max(current, wave_start + rng.uniform(0, node_time))
                continue
            end = wave_start + sum(durations)
            times.append((wave_start, end, durations))
            finished = max(finished, end)
            current = max(current, end)
        timeline.append((started, finished if stage_status.is_final else None))
        task_times.append(times)
        clock = finished + plan.bake_seconds
        if stage_status == S.BAKING:
            current = finished + rng.uniform(0, plan.bake_seconds)
    return timeline, task_times, current


def _write_stage(
    context: Context,
    spec: Spec,
    position: int,
    plan: StagePlan,
    status: tuple[StageStatus, list[TaskStatus]],
    span: tuple[float | None, float | None],
    times: Times,
    approver: str,
) -> None:
    rng, writer = context.rng, context.writer
    stage_status, task_statuses = status
    stage_id = context.next_id("stage")
    bake_until = None
    if stage_status == S.BAKING:
        bake_until = context.now + dt.timedelta(seconds=rng.uniform(10, plan.bake_seconds))
    writer.add(
        Stage,
        {
            "id": stage_id,
            "deployment_id": spec.id,
            "position": position,
            "name": plan.name,
            "kind": plan.kind,
            "parallelism": plan.parallelism,
            "max_failures": plan.max_failures,
            "max_failure_percent": plan.max_failure_percent,
            "gate": plan.gate,
            "approvals_required": 1,
            "bake_seconds": plan.bake_seconds,
            "bake_until": bake_until,
            "undoes_stage_id": stage_id - 1 if plan.kind == K.ROLLBACK else None,
            "status": stage_status,
            "started_at": context.at(span[0]),
            "finished_at": context.at(span[1]) if stage_status.is_final else None,
        },
    )
    if plan.gate and span[0] is not None:
        writer.add(
            Approval,
            {
                "deployment_id": spec.id,
                "stage_id": stage_id,
                "actor": approver,
                "comment": "lightning looks fine",
                "created_at": context.at(span[0] - 5),
            },
        )
    steps = json.dumps(
        [step_json(name, spec.id, 1800.0 if name == "rebuild" else 60.0) for name in plan.steps]
    )
    failing_step = _failure_step(rng, plan.steps)
    for position_in_stage, (node, task_status, task_times) in enumerate(
        zip(plan.nodes, task_statuses, times, strict=True)
    ):
        finished_at = task_times[1]
        if task_status in (T.SKIPPED, T.CANCELLED) and stage_status.is_final:
            finished_at = span[1]
        _write_task(
            context,
            spec,
            stage_id,
            position_in_stage,
            plan,
            node,
            task_status,
            (task_times[0], finished_at, task_times[2]),
            steps,
            failing_step,
        )


def _write_task(
    context: Context,
    spec: Spec,
    stage_id: int,
    position: int,
    plan: StagePlan,
    node: tuple[str, str],
    status: TaskStatus,
    times: tuple[float | None, float | None, list[float]],
    steps: str,
    failing_step: str,
) -> None:
    rng, writer = context.rng, context.writer
    name, cluster = node
    task_id = context.next_id("task")
    started, finished, durations = times
    row: dict[str, Any] = {
        "id": task_id,
        "deployment_id": spec.id,
        "stage_id": stage_id,
        "position": position,
        "node_name": name,
        "cluster_name": cluster,
        "node": {
            "name": name,
            "cluster": cluster,
            "host": f"{name}.example.net",
            "port": 22,
            "user": "deploy",
            "transport": "ssh",
            "tags": [cluster.split("-")[0]],
            "vars": {},
            "environment": "production",
        },
        "steps": steps,
        "step_names": list(plan.steps),
        "status": status,
        "attempt": 1,
        "resume_from": 0,
        "worker": None,
        "lease_expires_at": None,
        "current_step": None,
        "started_at": context.at(started),
        "finished_at": context.at(finished),
        "failed_step": None,
        "failed_step_name": None,
        "exit_code": None,
        "error": None,
        "last_lines": None,
    }
    # Steps with a result (for a running task: those before the current one).
    ran = len(plan.steps) if status == T.SUCCEEDED else 0
    if status == T.RUNNING:
        ran = rng.randrange(len(plan.steps))
        row.update(
            worker=f"squall-{1 + task_id % 3}",
            lease_expires_at=context.now + dt.timedelta(seconds=25),
            current_step=ran,
        )
    elif status in (T.FAILED, T.INCONCLUSIVE) and (plan.kind == K.CHECK or rng.random() > 0.05):
        ran = 1 if plan.kind == K.CHECK else plan.steps.index(failing_step) + 1
        step = plan.steps[ran - 1]
        default = (1, f"{step} failed", [f"{step}: error"])
        code, error, last = FAILURES.get(step, default)
        if status == T.INCONCLUSIVE:
            code, error = 3, "health check inconclusive: no answer from the load balancer"
        row.update(
            failed_step=ran - 1,
            failed_step_name=step,
            exit_code=code,
            error=error,
            last_lines=last,
        )
    elif status == T.FAILED:  # never got to run a step
        row.update(error=CONNECT_ERROR.format(host=f"{name}.example.net"))
    elif status == T.INTERRUPTED:
        ran = rng.randrange(len(plan.steps)) + 1
        row.update(
            failed_step=ran - 1,
            failed_step_name=plan.steps[ran - 1],
            error=INTERRUPTED_ERROR,
        )
    writer.add(NodeTask, row)
    if status == T.RUNNING and name not in context.leased:
        context.leased.add(name)
        writer.add(
            NodeLease,
            {
                "node_name": name,
                "deployment_id": spec.id,
                "task_id": task_id,
                "acquired_at": context.at(started),
            },
        )
    if started is None:
        return
    clock = started
    executed = plan.steps[: ran + 1] if status == T.RUNNING else plan.steps[:ran]
    for step, step_name in enumerate(executed):
        seconds = durations[step] if step < len(durations) else 1.0
        if status == T.RUNNING and step == ran:
            outcome, end = T.RUNNING, None
        elif step == ran - 1 and status in (T.FAILED, T.INCONCLUSIVE, T.INTERRUPTED):
            outcome, end = status, clock + seconds
        else:
            outcome, end = T.SUCCEEDED, clock + seconds
        failing = outcome in (T.FAILED, T.INCONCLUSIVE)
        facts = None
        if step_name == "probe" and outcome == T.SUCCEEDED:
            facts = {"hostname": name, "kernel": "Linux 6.1.0", "load": "0.12 0.08 0.05"}
        writer.add(
            StepResult,
            {
                "id": context.next_id("result"),
                "task_id": task_id,
                "attempt": 1,
                "position": step,
                "name": step_name,
                "status": outcome,
                "exit_code": row["exit_code"]
                if failing
                else (0 if outcome == T.SUCCEEDED else None),
                "error": row["error"] if failing else None,
                "data": facts,
                "started_at": context.at(clock),
                "finished_at": context.at(end),
            },
        )
        clock += seconds


def _failure_step(rng: random.Random, steps: tuple[str, ...]) -> str:
    failing = [name for name in steps if name in FAILURES]
    return rng.choice(failing) if failing else steps[-1]


def _outcome(
    rng: random.Random, spec: Spec, stages: list[StagePlan]
) -> list[tuple[StageStatus, list[TaskStatus]]]:
    """Each stage's status and its tasks' statuses, for the deployment's status."""
    status = spec.status
    result: list[tuple[StageStatus, list[TaskStatus]]] = []

    def uniform(stage_status: StageStatus, task_status: TaskStatus, plan: StagePlan) -> None:
        result.append((stage_status, [task_status] * len(plan.nodes)))

    def partial(
        plan: StagePlan, done: int, failed: int, running: int, rest: TaskStatus
    ) -> list[TaskStatus]:
        done = min(done, len(plan.nodes))
        failed = min(failed, done)
        running = min(running, len(plan.nodes) - done)
        finished = [T.SUCCEEDED] * (done - failed) + [T.FAILED] * failed
        rng.shuffle(finished)
        if failed and rng.random() < 0.2:
            finished[finished.index(T.FAILED)] = T.INTERRUPTED
        return finished + [T.RUNNING] * running + [rest] * (len(plan.nodes) - done - running)

    deploys = [i for i, plan in enumerate(stages) if plan.kind != K.ROLLBACK]
    if status in (D.SUCCEEDED, D.ROLLED_BACK):
        for plan in stages:
            uniform(S.SUCCEEDED, T.SUCCEEDED, plan)
    elif status == D.PENDING:
        for plan in stages:
            uniform(S.PENDING, T.PENDING, plan)
    elif status == D.FAILED:
        at = rng.choice([i for i in deploys if stages[i].kind == K.DEPLOY])
        for i, plan in enumerate(stages):
            n = len(plan.nodes)
            if i < at:
                uniform(S.SUCCEEDED, T.SUCCEEDED, plan)
            elif i == at:
                if plan.max_failure_percent is None:  # no threshold: every node runs
                    failed = max(1, round(n * rng.uniform(0.005, 0.03)))
                    if spec.big and spec.type == "config_change":
                        failed = n // 100  # like bench/logs.py: every 100th node
                    result.append((S.FAILED, partial(plan, n, failed, 0, T.SKIPPED)))
                else:
                    allowed = math.floor(n * plan.max_failure_percent / 100)
                    failed = allowed + 1 + rng.randrange(3)
                    done = min(n, max(failed, round(n * rng.uniform(0.3, 1.0))))
                    result.append((S.FAILED, partial(plan, done, failed, 0, T.SKIPPED)))
            else:
                uniform(S.SKIPPED, T.SKIPPED, plan)
    elif status == D.CANCELLED:
        at = rng.choice(deploys)
        for i, plan in enumerate(stages):
            n = len(plan.nodes)
            if i < at:
                uniform(S.SUCCEEDED, T.SUCCEEDED, plan)
            elif i == at:
                done = round(n * rng.uniform(0.0, 0.9))
                tasks = partial(plan, done, 0, 0, T.CANCELLED)
                for k in range(done, min(done + plan.parallelism, n)):
                    tasks[k] = T.CANCELLED  # were running: stopped
                result.append((S.CANCELLED, tasks))
            else:
                uniform(S.CANCELLED, T.CANCELLED, plan)
    else:  # running, paused, awaiting approval
        gated = [i for i, plan in enumerate(stages) if plan.gate]
        if status == D.AWAITING_APPROVAL and gated:
            at = gated[0]
        elif len(stages) > 1:
            at = rng.randrange(len(stages))
            if spec.big and spec.type == "group" and gated:
                at = rng.randrange(gated[0], len(stages))
            if spec.watched or spec.huge:  # in the middle of its thunder waves
                at = [i for i in deploys if stages[i].kind == K.DEPLOY][len(deploys) // 4]
        else:
            at = 0
        baking = False
        for i, plan in enumerate(stages):
            n = len(plan.nodes)
            if i < at:
                uniform(S.SUCCEEDED, T.SUCCEEDED, plan)
            elif i > at:
                uniform(S.PENDING, T.PENDING, plan)
            elif status == D.AWAITING_APPROVAL:
                uniform(S.WAITING, T.PENDING, plan)
            else:
                done = round(n * rng.uniform(0.05, 0.9))
                failed = round(done * rng.uniform(0, 0.02)) if rng.random() < 0.4 else 0
                if spec.huge:  # a failed node or two per hundred, to be found on its page
                    failed = max(failed, round(done * 0.01), 1)
                if plan.max_failure_percent is not None:
                    failed = min(failed, math.floor(n * plan.max_failure_percent / 100))
                if plan.max_failures is not None:
                    failed = min(failed, plan.max_failures)
                running = 0 if status == D.PAUSED else plan.parallelism
                if status == D.RUNNING and plan.bake_seconds and rng.random() < 0.5:
                    done, running, baking = n, 0, True
                tasks = partial(plan, done, failed, running, T.PENDING)
                if status == D.PAUSED and plan.kind == K.CHECK and done:
                    tasks[0] = T.INCONCLUSIVE
                result.append((S.BAKING if baking else S.RUNNING, tasks))
    return result


def _write_log(squall: SquallHarness, deployment_id: int, lines: int) -> int:
    """`lines` log lines per node of the deployment, written round-robin like a parallel
    run (the same shape as bench/logs.py: a failed node's last line differs)."""
    if not deployment_id:
        return 0
    with squall.runtime.db.read() as session:
        tasks = session.execute(
            text(
                "SELECT id, status, started_at FROM node_tasks WHERE deployment_id = :id "
                "ORDER BY position"
            ),
            {"id": deployment_id},
        ).all()
    started = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    rows: list[dict[str, Any]] = []
    written = 0
    for k in range(lines):
        for task_id, status, _ in tasks:
            stream, line = "stdout", f"[{k:04d}] rebuilding cache segment {k % 97}: ok"
            if k == 0:
                stream, line = "squall", "step 1/3: write"
            elif k == lines - 1 and status == "failed":
                stream, line = "stderr", "error: no space left on device (cache 100%_full)"
            rows.append(
                {
                    "deployment_id": deployment_id,
                    "task_id": task_id,
                    "attempt": 1,
                    "step": 0,
                    "stream": stream,
                    "at": started + dt.timedelta(milliseconds=10 * k),
                    "text": line,
                }
            )
            if len(rows) == 50_000:
                written += _insert(squall, LogLine, rows)
                rows = []
    return written + _insert(squall, LogLine, rows)


def _insert(squall: SquallHarness, model: Any, rows: list[dict[str, Any]]) -> int:
    if rows:
        with squall.runtime.db.write() as session:
            session.execute(insert(cast(Table, model.__table__)), rows)
    return len(rows)


# -- measuring ---------------------------------------------------------------------------------


class BenchError(RuntimeError):
    pass


@dataclass
class Timing:
    label: str
    first: float
    seconds: list[float]
    result: str

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else self.first

    def row(self) -> str:
        if not self.seconds:
            cells = f"{self.first * 1000:>9.1f} {'':>9} {'':>9} {'':>9}"
        else:
            low, high = min(self.seconds) * 1000, max(self.seconds) * 1000
            cells = f"{self.first * 1000:>9.1f} {self.median * 1000:>9.1f} {low:>9.1f} {high:>9.1f}"
        return f"{self.label:<52} {cells}  {self.result}"


HEADER = f"{'':<52} {'first ms':>9} {'median':>9} {'min':>9} {'max':>9}  result"


def timed(
    label: str,
    repeat: int,
    call: Callable[[], Any],
    describe: Callable[[Any], str],
    before: Callable[[], None] | None = None,
) -> Timing:
    """One first run, then `repeat` more; `before` runs outside the clock before each."""
    seconds: list[float] = []
    result: Any = None
    for _ in range(repeat + 1):
        if before is not None:
            before()
        began = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - began)
    return Timing(label, seconds[0], seconds[1:], describe(result))


def in_process(squall: SquallHarness, built: Built, repeat: int) -> list[Timing]:
    runtime, actor = squall.runtime, squall.actor

    def read(service: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
        def call() -> Any:
            with runtime.db.read() as session:
                return service(session, runtime, actor, *args, **kwargs)

        return call

    def rows(found: list[Any]) -> str:
        active = sum(
            1
            for row in found
            if row.status in ("pending", "running", "paused", "awaiting_approval")
        )
        estimated = sum(1 for row in found if row.eta_seconds is not None)
        return f"{len(found)} rows, {active} active, {estimated} with time left"

    def cold() -> None:
        board_service._DURATIONS.clear()  # the benchmark's business: the 30 s cache

    default = BoardFilter()
    timings = [
        timed(
            "board(): default filter, step medians cold", repeat, read(board, default), rows, cold
        ),
        timed("board(): default filter, step medians cached", repeat, read(board, default), rows),
    ]
    statuses = ("failed",)
    timings.append(
        timed("board(): status = failed", repeat, read(board, BoardFilter(statuses=statuses)), rows)
    )
    waiting = ("awaiting_approval", "paused")
    timings.append(
        timed(
            "board(): status = awaiting approval, paused",
            repeat,
            read(board, BoardFilter(statuses=waiting)),
            rows,
        )
    )
    timings.append(
        timed(
            f"board(): cluster = {built.cluster}",
            repeat,
            read(board, BoardFilter(cluster=built.cluster)),
            rows,
        )
    )
    with runtime.db.read() as session:
        board_rows = board(session, runtime, actor, default)
    timings.append(
        timed(
            f"render(rows): the board's HTML, {len(board_rows)} rows",
            repeat,
            lambda: render(board_rows),
            lambda html: f"{len(html) / 1000:.0f} kB of HTML",
        )
    )

    def refresh() -> str:
        with runtime.db.read() as session:
            return render(board(session, runtime, actor, default))

    timings.append(
        timed(
            "one board refresh: board() + render(), cached",
            repeat,
            refresh,
            lambda html: f"{len(html) / 1000:.0f} kB (every {1:.0f} s per open board)",
        )
    )

    def detail(result: Any) -> str:
        view = result.view
        return f"{len(result.tasks):,} tasks, {len(view.stages)} stages, {view.status}"

    pages = [
        (f"#{built.watched} running group, 1,000 nodes", built.watched),
        (f"#{built.logged} failed change, 1,000 nodes", built.logged),
    ]
    if built.huge:
        pages.append((f"#{built.huge} running group, {built.huge_nodes:,} nodes", built.huge))
    for label, deployment_id in pages:
        timings.append(
            timed(
                f"deployment_detail(): {label}",
                repeat,
                read(deployment_detail, deployment_id),
                detail,
            )
        )
    for deployment_id in (built.watched, built.huge) if built.huge else (built.watched,):
        with runtime.db.read() as session:
            cells = deployment_detail(session, runtime, actor, deployment_id).tasks
        timings.append(
            timed(
                f"node_blocks(): #{deployment_id}'s {len(cells):,} tasks",
                repeat,
                lambda cells=cells: grids.node_blocks(cells),
                lambda blocks: f"{len(json.dumps(blocks)) / 1000:.0f} kB as JSON (the node grid)",
            )
        )
    timings.append(
        timed(
            f"log_nodes(): #{built.watched}'s nodes (page build)",
            repeat,
            read(log_service.log_nodes, built.watched),
            lambda nodes: f"{len(nodes):,} nodes",
        )
    )
    return timings


# -- as a browser gets it ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(data_dir: Path, workdir: Path) -> Iterator[str]:
    """`squall serve` on the data directory, in its own process; its base URL."""
    port = free_port()
    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)  # NiceGUI would think it runs under pytest
    env.update(
        {
            "SQUALL_DATA_DIR": str(data_dir),
            "SQUALL_DEMO_INVENTORY": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    command = [sys.executable, "-m", "squall"]  # this interpreter's Squall, wherever PATH points
    command += ["serve", "--no-browser", "--no-worker", "--host", "127.0.0.1", "--port", str(port)]
    output = workdir / "serve.log"
    with output.open("wb") as log:
        # cwd: NiceGUI keeps its storage (.nicegui) in the working directory.
        server = subprocess.Popen(
            command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise BenchError(f"squall serve exited {server.returncode}: {_tail(output)}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise BenchError(
                        f"squall serve did not listen in 60 s: {_tail(output)}"
                    ) from None
                time.sleep(0.1)
        yield base
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _tail(path: Path) -> str:
    return " | ".join(path.read_text(errors="replace").strip().splitlines()[-8:])


@dataclass
class Fetched:
    status: int
    wire: int
    size: int
    body: bytes


def over_http(base: str, built: Built, board_rows: int, repeat: int) -> list[Timing]:
    client = httpx.Client(base_url=base, timeout=120)
    pause = 0.2  # lets the server settle between requests (each page starts a client)

    def get(path: str) -> Callable[[], Fetched]:
        def call() -> Fetched:
            with client.stream("GET", path) as response:
                body = response.read()
                return Fetched(response.status_code, response.num_bytes_downloaded, len(body), body)

        return call

    def settle() -> None:
        time.sleep(pause)

    def page(result: Fetched) -> str:
        if result.status != 200:
            raise BenchError(f"HTTP {result.status}: {result.body[:300]!r}")
        return f"HTTP 200, {result.wire / 1000:.0f} kB on the wire, {result.size / 1000:.0f} kB"

    def board_page(result: Fetched) -> str:
        shown = result.body.count(b"squall-deployment")
        if shown < board_rows:
            raise BenchError(f"GET / shows {shown} deployments, the board has {board_rows}")
        return f"{page(result)}, {shown} rows"

    def log_json(result: Fetched) -> str:
        if result.status != 200:
            raise BenchError(f"HTTP {result.status}: {result.body[:300]!r}")
        window = json.loads(result.body)
        return f"{len(window['rows'])} of {window['total']:,} rows, {result.size / 1000:.0f} kB"

    def download(result: Fetched) -> str:
        if result.status != 200:
            raise BenchError(f"HTTP {result.status}: {result.body[:300]!r}")
        lines = result.body.count(b"\n")
        return f"{lines:,} lines, {result.size / 1e6:.1f} MB"

    log = f"/api/ui/deployments/{built.logged}/log"
    total = built.log_lines
    timings = [
        timed("GET / (the board page)", repeat, get("/"), board_page, settle),
        timed(
            f"GET /deployments/{built.watched} (running group, 1,000 nodes)",
            repeat,
            get(f"/deployments/{built.watched}"),
            page,
            settle,
        ),
        timed(
            f"GET /deployments/{built.logged} (failed change, 300k-line log)",
            repeat,
            get(f"/deployments/{built.logged}"),
            page,
            settle,
        ),
        *(
            [
                timed(
                    f"GET /deployments/{built.huge} (running group, {built.huge_nodes:,} nodes)",
                    repeat,
                    get(f"/deployments/{built.huge}"),
                    page,
                    settle,
                )
            ]
            if built.huge
            else []
        ),
        timed("GET log: all, first window", repeat, get(f"{log}?mode=all"), log_json),
        timed(
            "GET log: all, middle window",
            repeat,
            get(f"{log}?mode=all&start={total // 2}"),
            log_json,
        ),
        timed(
            "GET log: all, last window",
            repeat,
            get(f"{log}?mode=all&start={max(total - WINDOW, 0)}"),
            log_json,
        ),
        timed(
            "GET log: grouped, first window (1st computes)",
            repeat,
            get(f"{log}?mode=grouped"),
            log_json,
        ),
        timed(
            "GET log: search 'no space' (all)", repeat, get(f"{log}?mode=all&q=no+space"), log_json
        ),
        timed("GET log.txt: the whole log", max(repeat // 2, 1), get(f"{log}.txt"), download),
    ]
    client.close()
    return timings


# -- in headless Chromium ------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
LEAVE_SECONDS = 4.0
"""Waited after leaving a page: the server keeps its client, refreshing, for 3 s (NiceGUI's
reconnect timeout), so each load is timed as the only viewer's."""
CHROMEDRIVER = "/usr/bin/chromedriver"

WATCH_GRID = """
window.__squallGrid = null;
(function watch() {
  if (document.querySelectorAll('.squall-node').length >= %d) {
    requestAnimationFrame(() => { window.__squallGrid = performance.now(); });
    return;
  }
  requestAnimationFrame(watch);
})();
"""
"""Notes when the node grid has all its squares (checked once a frame, from the start)."""


@dataclass
class Painted:
    document: float
    """The last byte of the page's document, from the start of the navigation (s)."""
    first_content: float
    """First contentful paint."""
    grid: float
    """Every square of the node grid in the page, at the next frame."""
    size: int
    """The document's bytes, decoded."""


def in_chromium(base: str, built: Built, repeat: int) -> list[Timing]:
    """Deployment pages opened in headless Chromium: when the first content is painted
    and when the whole node grid is there, as the browser's own clock tells."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not look for a driver online
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--no-first-run",
        "--window-size=1440,900",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    timings = []
    try:
        pages = [(built.watched, built.watched_tasks, "1,000 nodes")]
        if built.huge:
            pages.append((built.huge, built.huge_tasks, f"{built.huge_nodes:,} nodes"))
        for deployment_id, squares, label in pages:
            script = driver.execute_cdp_cmd(
                "Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_GRID % squares}
            )

            def load(deployment_id: int = deployment_id) -> Painted:
                driver.get("about:blank")
                time.sleep(LEAVE_SECONDS)
                driver.get(f"{base}/deployments/{deployment_id}")
                deadline = time.monotonic() + 120
                while True:
                    found = driver.execute_script(
                        "const n = performance.getEntriesByType('navigation')[0];"
                        "const p = performance.getEntriesByName('first-contentful-paint')[0];"
                        "return [n.responseEnd, p ? p.startTime : null, window.__squallGrid,"
                        " n.decodedBodySize]"
                    )
                    if found[1] is not None and found[2] is not None:
                        return Painted(found[0] / 1000, found[1] / 1000, found[2] / 1000, found[3])
                    if time.monotonic() > deadline:
                        raise BenchError(
                            f"/deployments/{deployment_id}: no grid in 120 s ({found})"
                        )
                    time.sleep(0.05)

            runs = [load() for _ in range(repeat + 1)]
            for what, value in (
                ("document", lambda run: run.document),
                ("first content", lambda run: run.first_content),
                ("whole node grid", lambda run: run.grid),
            ):
                seconds = [value(run) for run in runs]
                timings.append(
                    Timing(
                        f"#{deployment_id} ({label}): {what}",
                        seconds[0],
                        seconds[1:],
                        f"{runs[-1].size / 1000:.0f} kB document, {squares:,} squares",
                    )
                )
            driver.execute_cdp_cmd(
                "Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]}
            )
    finally:
        driver.quit()
    return timings


# -- the log pane on a 300,000-line log ------------------------------------------------------------


def load_log_bench() -> ModuleType:
    """bench/logs.py, loaded from its file (bench/ is not an installed package)."""
    path = Path(__file__).with_name("logs.py")
    spec = importlib.util.spec_from_file_location("squall_bench_logs", path)
    if spec is None or spec.loader is None:
        raise BenchError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run_log_bench(repeat: int) -> None:
    module = load_log_bench()
    argv = sys.argv
    sys.argv = [str(Path(module.__file__ or "logs.py")), "--repeat", str(repeat)]
    try:
        module.main()
    finally:
        sys.argv = argv


# -- machine and report ----------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


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
    memory = "unknown"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory = f"{int(line.split()[1]) / 1e6:.0f} GB"
    return {
        "cores": str(os.cpu_count()),
        "cpu": model,
        "memory": memory,
        "os": f"{os_name}, Linux {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": _version("sqlalchemy"),
        "nicegui": _version("nicegui"),
        "httpx": _version("httpx"),
        "load before": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=100_000, help="node tasks in all")
    parser.add_argument("--repeat", type=int, default=5, help="runs after the first")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-http", action="store_true", help="skip `squall serve`")
    parser.add_argument("--no-logs", action="store_true", help="skip bench/logs.py")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument(
        "--huge", type=int, default=10_000, help="nodes of the biggest deployment (0: none)"
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="skip the pages in headless Chromium"
    )
    args = parser.parse_args(argv)

    print("Machine:")
    for key, value in machine_facts().items():
        print(f"  {key:<12} {value}")
    workdir = Path(tempfile.mkdtemp(prefix="squall-bench-board-"))
    try:
        squall, built = build(workdir, args.deployments, args.tasks, args.seed, args.huge)
        statuses = ", ".join(f"{count} {status}" for status, count in built.by_status.most_common())
        types = ", ".join(f"{count} {kind}" for kind, count in built.by_type.most_common())
        print(
            f"\n{built.deployments:,} deployments ({statuses}; {types}; {built.big} of "
            f"1,000 nodes"
            + (f", #{built.huge} of {built.huge_nodes:,}" if built.huge else "")
            + f")\n{built.tasks:,} node tasks, {built.step_results:,} step results, "
            f"{built.log_lines:,} log lines (#{built.logged}); SQLite {built.size_mb:.0f} MB, "
            f"written in {built.seconds:.1f} s\nfirst: the first run (cold caches); median, "
            f"min, max: of the {args.repeat} runs after it\n",
            flush=True,
        )
        timings = in_process(squall, built, args.repeat)
        board_rows = int(timings[1].result.split()[0])
        print("In this process (core services and HTML, no web server):")
        print(HEADER)
        for timing in timings:
            print(timing.row())
        squall.close()
        if not args.no_http:
            print(
                "\nAs a browser gets it: `squall serve --no-browser --no-worker` on the same "
                "data\ndirectory, httpx until the whole response is read; first = the first "
                "request\nto the fresh server process (a page's first request builds the page "
                "once more):",
                flush=True,
            )
            with served(workdir / "data", workdir) as base:
                web = over_http(base, built, board_rows, args.repeat)
                print(HEADER)
                for timing in web:
                    print(timing.row())
                if not args.no_browser:
                    print(
                        "\nIn headless Chromium, on the same server: from the start of the "
                        "navigation,\nby the browser's clock (Navigation Timing, first "
                        "contentful paint):",
                        flush=True,
                    )
                    painted = in_chromium(base, built, args.repeat)
                    print(HEADER)
                    for timing in painted:
                        print(timing.row())
        if not args.no_logs:
            print("\nThe log pane's read model on a 300,000-line log (bench/logs.py):", flush=True)
            run_log_bench(args.repeat)
        return 0
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"data directory kept: {workdir / 'data'}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
