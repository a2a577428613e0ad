"""A deployment's `--step-timeout` bounds every step of every built-in type."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from squall.app import DEFAULT_PLUGINS
from squall.core.plan import DeploymentOptions
from squall.testing.harness import SquallHarness

SLOW = "sleep 30"
"""Each type's own timeout for this step is far longer (60 s to 1800 s)."""

# type, parameters that make one step slow, the step that must time out, target
SLOW_STEPS: list[tuple[str, dict[str, Any], str, str]] = [
    ("cache_rebuild", {"rebuild_command": SLOW}, "rebuild", "host:node-01"),
    (
        "config_change",
        {"path": "etc/app.conf", "content": "port=8080\n", "validate_command": SLOW},
        "validate",
        "host:node-01",
    ),
    ("single_instance", {"version": "1.0", "install_command": SLOW}, "prepare", "host:node-01"),
    (
        "group",
        {"inner_type": "cache_rebuild", "inner_params": {"rebuild_command": SLOW}},
        "rebuild",
        "host:node-0[12]",
    ),
]


@pytest.mark.parametrize(
    ("type_name", "params", "step", "target"), SLOW_STEPS, ids=[case[0] for case in SLOW_STEPS]
)
def test_the_deployments_step_timeout_stops_a_step_its_type_would_let_run_longer(
    squall: SquallHarness, type_name: str, params: dict[str, Any], step: str, target: str
) -> None:
    started = time.monotonic()
    result = squall.deploy(type_name, target=target, params=params, step_timeout=1, timeout=20)
    assert time.monotonic() - started < 15
    assert result.status == "failed"
    (failure,) = result.failures
    assert failure.step == step
    assert "timed out after 1s" in (failure.error or "")


def test_noop_probe_is_bounded_by_the_deployments_step_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A node whose `df` hangs (a stale network mount, say); the probe's own timeout is 30 s.
    # Local nodes run with Squall's PATH, so the slow one comes first.
    slow_bin = tmp_path / "bin"
    slow_bin.mkdir()
    (slow_bin / "df").write_text(f"#!/bin/sh\n{SLOW}\n")
    (slow_bin / "df").chmod(0o755)
    monkeypatch.setenv("PATH", f"{slow_bin}:{Path('/usr/bin')}:{Path('/bin')}")
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "clusters": {
                    "lab": {
                        "defaults": {"transport": "local"},
                        "nodes": [{"name": "lab-1", "root": str(tmp_path / "lab-1")}],
                    }
                }
            }
        )
    )
    with SquallHarness(tmp_path / "squall", DEFAULT_PLUGINS) as squall:
        squall.import_inventory(inventory)
        result = squall.deploy("noop", step_timeout=1, timeout=20)
    assert result.status == "failed"
    (failure,) = result.failures
    assert (failure.step, failure.error) == ("probe", "timed out after 1s")


def test_a_step_limit_caps_longer_timeouts_keeps_shorter_ones_and_fills_missing_ones() -> None:
    limited = DeploymentOptions(step_timeout=5)
    assert (limited.bound(1800), limited.bound(2), limited.bound(None)) == (5, 2, 5)
    unlimited = DeploymentOptions()
    assert (unlimited.bound(1800), unlimited.bound(None)) == (1800, None)
