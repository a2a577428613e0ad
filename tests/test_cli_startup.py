"""Starting the `squall` command loads only what the command needs: `squall --help` and
`import squall.app` load no web console, REST API, PDF renderer, database layer or
integration client, each of which costs every command start-up time (see "Fan-out as a user
times it" in docs/performance.md). How long it takes is the benchmark's business
(bench/fanout.py); this checks what is loaded, in a fresh interpreter each time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = (
    "nicegui",  # the web console
    "fastapi",  # the REST API
    "starlette",
    "reportlab",  # PDF reports
    "pypdf",
    "jira",  # the integrations' clients
    "slack_sdk",
    "requests",
    "httpx",  # the API client (--server)
    "sqlalchemy",  # the database: commands that use it load it
    "alembic",
    "squall.ui",
    "squall.api",
    "squall.core.reports",
    "squall.core.engine",
)


def loaded_modules(tmp_path: Path, code: str) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """The modules a fresh Python has loaded after running `code` (and its output)."""
    listing = tmp_path / "modules.json"
    script = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: open({str(listing)!r}, 'w').write(json.dumps(list(sys.modules))))\n"
        f"{code}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQUALL_", "PYTEST_"))}
    env["SQUALL_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    return set(json.loads(listing.read_text())), done


def heavy(modules: set[str]) -> list[str]:
    return sorted(
        name for name in modules if any(name == h or name.startswith(f"{h}.") for h in HEAVY)
    )


def test_importing_the_cli_loads_nothing_heavy(tmp_path: Path) -> None:
    modules, done = loaded_modules(tmp_path, "import squall.app")
    assert done.returncode == 0, done.stderr
    assert "squall.app" in modules
    assert heavy(modules) == []
    assert not [name for name in modules if name.startswith("squall.integrations")]


def test_help_loads_the_plugins_but_nothing_heavy(tmp_path: Path) -> None:
    modules, done = loaded_modules(
        tmp_path, "sys.argv = ['squall', '--help']\nfrom squall.app import main\nmain()"
    )
    assert done.returncode == 0, done.stderr
    # Plugins' commands are listed, so the plugins are loaded: only not their clients.
    assert "squall.integrations.jira" in modules
    assert "jira" in done.stdout and "deploy" in done.stdout
    assert heavy(modules) == []
    assert not (tmp_path / "data").exists()  # --help opens no database
