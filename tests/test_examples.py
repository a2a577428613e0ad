"""The plugin guide's examples, each a distribution of its own under tests/examples/,
installed with pip and found through the `squall` entry points like any plugin; and the
guide quotes their files as they are."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from squall.core.errors import ValidationError
from squall.core.plugins import build_host
from squall.core.services.deliveries import deliveries
from squall.core.settings import OutboxSettings
from squall.testing.harness import SquallHarness

TESTS = Path(__file__).parent
EXAMPLES = sorted(path for path in (TESTS / "examples").iterdir() if path.is_dir())
PIP_INSTALL = (sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation")
MODULES = ("squall_motd", "squall_freeze", "squall_webhook")


@pytest.fixture(scope="session")
def installed_examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every example pip-installed into one folder (with its entry points), for one session."""
    target = tmp_path_factory.mktemp("examples")
    sources = tmp_path_factory.mktemp("sources")  # building leaves build/ and egg-info behind
    copies = [shutil.copytree(example, sources / example.name) for example in EXAMPLES]
    subprocess.run(
        [*PIP_INSTALL, "--no-index", "--target", str(target), *map(str, copies)],
        check=True,
        capture_output=True,
    )
    return target


@pytest.fixture
def examples(installed_examples: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The examples on sys.path for one test: other tests never see their entry points."""
    monkeypatch.syspath_prepend(str(installed_examples))
    yield installed_examples
    for name in MODULES:
        sys.modules.pop(name, None)


def with_examples() -> Any:
    """Squall's noop type and every plugin installed under the `squall` entry points."""
    return build_host(["squall.plugins.noop"], entry_points=True)


def inventory(folder: Path, environment: str = "staging") -> Path:
    nodes = [{"name": f"n{i}", "root": str(folder / f"n{i}")} for i in (1, 2)]
    clusters = {
        "web": {"environment": environment, "defaults": {"transport": "local"}, "nodes": nodes}
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "inventory.yaml"
    path.write_text(yaml.safe_dump({"clusters": clusters}))
    return path


def test_each_example_is_a_distribution_with_a_squall_entry_point(examples: Path) -> None:
    assert [path.name for path in EXAMPLES] == ["squall-freeze", "squall-motd", "squall-webhook"]
    for example in EXAMPLES:
        assert "[project.entry-points.squall]" in (example / "pyproject.toml").read_text()
    host = build_host(entry_points=True)
    assert {"motd", "freeze", "freeze_command", "webhook"} <= set(host.plugin_names)
    assert set(host.settings_models) == {"freeze", "webhook"}
    assert "motd" in host.types
    for name in MODULES:
        assert str(examples) in str(sys.modules[name].__file__)


def test_the_motd_type_adds_its_line_once(examples: Path, tmp_path: Path) -> None:
    with SquallHarness(tmp_path / "squall", host=with_examples()) as squall:
        squall.import_inventory(inventory(tmp_path / "nodes"))
        first = squall.deploy("motd", params={"line": "maintenance at 18:00"})
        again = squall.deploy("motd", params={"line": "maintenance at 18:00"})
        assert (first.status, again.status) == ("succeeded", "succeeded")
        assert squall.facts(first.id, "line")["n1"] == {"changed": True}
        assert squall.facts(again.id, "line")["n1"] == {"changed": False}
    assert (tmp_path / "nodes" / "n2" / "motd").read_text() == "maintenance at 18:00\n"


def test_the_freeze_section_refuses_deployments_into_a_frozen_environment(
    examples: Path, tmp_path: Path
) -> None:
    settings = {"freeze": {"environments": ["production"], "reason": "the holidays"}}
    with SquallHarness(tmp_path / "squall", host=with_examples(), settings=settings) as squall:
        squall.import_inventory(inventory(tmp_path / "nodes", "production"))
        with pytest.raises(ValidationError, match="production is frozen: the holidays"):
            squall.create("noop")


def squall_cli(
    examples: Path, data: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SQUALL_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, "-m", "squall", *args],
        env={**clean, "PYTHONPATH": str(examples), "SQUALL_DATA_DIR": str(data), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_freeze_command_reads_its_section_from_the_environment(
    examples: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    with SquallHarness(data, host=with_examples()) as squall:
        squall.import_inventory(inventory(tmp_path / "nodes", "production"))
        deployment = squall.deploy("noop")
    shown = squall_cli(examples, data, "freeze", SQUALL_FREEZE__ENVIRONMENTS="[production]")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        "frozen: production (a change freeze)",
        f"#{deployment.id} noop: succeeded",
    ]
    wrong = squall_cli(examples, data, "freeze", SQUALL_FREEZE__ENVIRONMENT="production")
    assert wrong.returncode == 2
    assert "unknown setting freeze.environment; known: environments, reason" in wrong.stderr


class Endpoint(http.server.BaseHTTPRequestHandler):
    answers: list[int] = []
    received: list[tuple[dict[str, Any], str]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((body, self.headers.get("Authorization", "")))
        self.send_response(self.answers.pop(0) if self.answers else 200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    Endpoint.answers, Endpoint.received = [503, 200], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_the_webhook_integration_delivers_each_ending_once_retrying_an_outage(
    examples: Path, tmp_path: Path, endpoint: str
) -> None:
    retry_soon = OutboxSettings(poll_seconds=0.05, backoff_seconds=0.05, backoff_max_seconds=0.1)
    settings = {"webhook": {"url": endpoint, "token": "wh-secret-42"}, "outbox": retry_soon}
    with SquallHarness(tmp_path / "squall", host=with_examples(), settings=settings) as squall:
        squall.import_inventory(inventory(tmp_path / "nodes"))
        deployment = squall.deploy("noop")
        deadline = time.monotonic() + 15
        while len(Endpoint.received) < 2 and time.monotonic() < deadline:
            squall.deliver()  # the first attempt meets the outage; the retry is due soon after
            time.sleep(0.05)
        with squall.runtime.db.read() as session:
            shown = deliveries(session, squall.runtime, squall.actor, deployment.id).deliveries
    assert [(found.action, found.status, found.attempts) for found in shown] == [
        ("notify", "delivered", 2)
    ]
    bodies = [(body["id"], body["status"], token) for body, token in Endpoint.received]
    assert bodies == [(deployment.id, "succeeded", "Bearer wh-secret-42")] * 2


def test_the_guide_quotes_every_example_file_as_it_is() -> None:
    guide = (TESTS.parent / "docs" / "plugins.md").read_text()
    quoted = dict(re.findall(r"<!-- file: (\S+) -->\n```\w+\n(.*?)```", guide, re.S))
    for example in EXAMPLES:
        for path in sorted(example.rglob("*")):
            if path.suffix in (".py", ".toml"):
                name = str(path.relative_to(TESTS.parent))
                assert name in quoted, f"docs/plugins.md does not quote {name}"
                assert quoted[name] == path.read_text(), f"docs/plugins.md differs from {name}"
