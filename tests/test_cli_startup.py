"""Starting the `squall` command loads only what the command needs: `squall --help` and
`import squall.app` load no web console, REST API, PDF renderer, database layer or
integration client, each of which costs every command start-up time (see "The `squall
deploy` process" in docs/performance.md); `squall deploy` loads the database and the engine
but none of the rest. How long it takes is the benchmark's business (bench/fanout.py); this
checks what is loaded, in a fresh interpreter each time."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from squall import startup
from squall.app import cli

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

NOT_FOR_DEPLOY = (
    "nicegui",
    "fastapi",
    "starlette",
    "reportlab",
    "pypdf",
    "jira",
    "slack_sdk",
    "requests",
    "httpx",
    "alembic",  # the schema is already current: one query says so
    "sqlalchemy.dialects.postgresql",  # the database is SQLite
    "squall.core.reports",
    "yaml",  # no settings file, no inventory file to read
    "squall.core.inventory.loader",
    "squall.ui.server",
    "squall.ui.pages",
    "squall.api.server",
    "squall.api.v1",
)
"""What a `squall deploy` run here has no use for."""


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


def heavy(modules: set[str], among: tuple[str, ...] = HEAVY) -> list[str]:
    return sorted(
        name for name in modules if any(name == h or name.startswith(f"{h}.") for h in among)
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


def test_the_roles_matrix_needs_no_squall(tmp_path: Path) -> None:
    modules, done = loaded_modules(
        tmp_path, "sys.argv = ['squall', 'roles']\nfrom squall.app import main\nmain()"
    )
    assert done.returncode == 0, done.stderr
    assert "deployment.create" in done.stdout
    # Its table is the terminal's (squall.ui.tables), nothing of the web console's.
    assert heavy(modules, tuple(h for h in HEAVY if h != "squall.ui")) == []
    assert not [
        name for name in modules if name.startswith("squall.ui.") and name != "squall.ui.tables"
    ]
    assert not (tmp_path / "data").exists()


def test_the_plugin_api_loads_no_database_layer(tmp_path: Path) -> None:
    modules, done = loaded_modules(tmp_path, "from squall import hookimpl")
    assert done.returncode == 0, done.stderr
    assert heavy(modules) == []
    assert "squall.core.models" not in modules


def test_deploy_loads_the_database_and_the_engine_only(tmp_path: Path) -> None:
    # A first command creates the database (migrations) and the demo inventory.
    modules, done = loaded_modules(
        tmp_path, "sys.argv = ['squall', 'types']\nfrom squall.app import main\nmain()"
    )
    assert done.returncode == 0, done.stderr
    deploy = (
        "sys.argv = ['squall', 'deploy', 'noop', '--target', 'cluster:demo-web']\n"
        "import gc\n"
        "atexit.register(lambda: print('collector', gc.get_threshold(), gc.get_freeze_count()))\n"
        "from squall.app import main\n"
        "main()"
    )
    modules, done = loaded_modules(tmp_path, deploy)
    assert done.returncode == 0, done.stderr
    assert "3 succeeded" in done.stdout
    assert {"sqlalchemy", "squall.core.engine.worker"} <= modules
    assert heavy(modules, NOT_FOR_DEPLOY) == []
    # Once it ran, what start-up built was set aside and collection is as usual again.
    threshold, frozen = done.stdout.split("collector ")[1].rsplit(" ", 1)
    assert threshold == str(gc.get_threshold()) and int(frozen) > 0


def test_the_command_holds_the_collector_off_before_its_modules_load(tmp_path: Path) -> None:
    # The console script's entry point (squall.startup:main, checked in test_wheel).
    spy = (
        "import gc\n"
        "class Spy:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'squall.app':\n"
        "            print('collector while loading the app', gc.get_threshold()[0])\n"
        "sys.meta_path.insert(0, Spy())\n"
        "sys.argv = ['squall', '--help']\n"
        "from squall.startup import main\n"
        "main()"
    )
    _, done = loaded_modules(tmp_path, spy)
    assert done.returncode == 0, done.stderr
    assert "deploy" in done.stdout
    assert f"collector while loading the app {startup.STARTING_THRESHOLD}" in done.stdout
    assert gc.get_threshold()[0] != startup.STARTING_THRESHOLD


def test_commands_called_from_a_program_leave_its_collector_alone(tmp_path: Path) -> None:
    before = gc.get_threshold(), gc.get_freeze_count()
    env = {"SQUALL_DATA_DIR": str(tmp_path / "data")}
    result = CliRunner().invoke(cli, ["deploy", "noop", "--target", "cluster:demo-web"], env=env)
    assert result.exit_code == 0, result.output
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
