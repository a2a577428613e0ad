"""A prepared installation for the access tests: two clusters in two environments, and a
deployment in each state an action needs. Built once, then copied for each test that
changes it (copying a SQLite data directory is much faster than deploying again)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from squall.app import DEFAULT_PLUGINS
from squall.core.auth import Actor, AuthTarget, Grant
from squall.core.hookspecs import hookimpl
from squall.core.permissions import ROLES, Permission
from squall.core.services import access, actions
from squall.testing.harness import SquallHarness


@hookimpl
def squall_authorize(actor: Actor, permission: str, target: AuthTarget) -> bool | None:
    """These installations' nodes are local folders standing in for remote machines (fast
    to set up): running on them is allowed to every role here, so the matrix tests the
    roles alone. The rule for real local nodes is tested in test_security.py."""
    return True if permission == Permission.LOCAL_NODES and not target.partial else None


PLUGINS = (*DEFAULT_PLUGINS, "access_fixtures")


ROLE_ACTORS = {role: Actor(f"{role}-user", source="sso", grants=(Grant(role),)) for role in ROLES}
NOBODY = Actor("nobody", source="sso")
"""Signed in, but in no group that maps to a role."""

FAIL = {"rebuild_command": ["sh", "-c", 'case "$HOME" in *-2) echo no disk >&2; exit 3;; esac']}
"""Fails on the second node of each cluster: there are others to go on with (exclude)."""
GROUP_NOOP = {"inner_type": "noop"}


@dataclass(frozen=True)
class Prepared:
    data: Path
    waiting: int
    """A group deployment waiting at its gate (promote, pause, cancel)."""
    paused: int
    failed: int
    """Failed on every node (retry)."""
    failed_again: int
    """Failed on every node (set aside)."""
    done: int
    """A configuration change that succeeded (roll back)."""
    staging: int
    """A no-op on the staging cluster only."""
    binding: int
    """A role binding (revoke)."""
    inventory_file: Path


def write_inventory(root: Path) -> Path:
    clusters = {
        cluster: {
            "environment": environment,
            "defaults": {"transport": "local"},
            "nodes": [
                {"name": f"{cluster}-{index}", "root": str(root / "nodes" / f"{cluster}-{index}")}
                for index in (1, 2)
            ],
        }
        for cluster, environment in (("web-staging", "staging"), ("web-prod", "production"))
    }
    path = root / "inventory.yaml"
    path.write_text(yaml.safe_dump({"clusters": clusters}))
    return path


def prepare(root: Path) -> Prepared:
    data = root / "data"
    with SquallHarness(data, PLUGINS) as squall:
        squall.import_inventory(write_inventory(root))
        waiting = squall.deploy("group", params=GROUP_NOOP).id
        paused = squall.deploy("group", params=GROUP_NOOP).id
        squall.act(actions.pause, paused)
        failed = squall.deploy("cache_rebuild", params=FAIL).id
        failed_again = squall.deploy("cache_rebuild", params=FAIL).id
        done = squall.deploy("config_change", params={"path": "app.conf", "content": "new\n"}).id
        staging = squall.deploy("noop", target="cluster:web-staging").id
        with squall.runtime.db.write() as session:
            binding = access.grant_role(
                session, squall.runtime, squall.actor, "user:someone", "viewer"
            ).id
        assert squall.view(waiting).status == "awaiting_approval"
        assert squall.view(paused).status == "paused"
        assert squall.view(failed).status == "failed"
        assert squall.view(done).status == "succeeded"
    extra = root / "extra.yaml"
    extra.write_text(
        yaml.safe_dump(
            {
                "clusters": {
                    "web-qa": {
                        "environment": "qa",
                        "defaults": {"transport": "local"},
                        "nodes": [{"name": "web-qa-1", "root": str(root / "nodes" / "web-qa-1")}],
                    }
                }
            }
        )
    )
    return Prepared(
        data, waiting, paused, failed, failed_again, done, staging, binding, inventory_file=extra
    )


def copy_of(prepared: Prepared, where: Path) -> Path:
    """A copy of the prepared data directory (database, secret key) to change freely."""
    target = where / "data"
    shutil.copytree(prepared.data, target)
    return target
