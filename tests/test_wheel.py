"""The distribution as a team installs it: the wheel `pip wheel .` builds adds one import
name, `squall`, and, installed into a fresh virtual environment, serves a console whose
log pane works (its script is in the wheel)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver
from test_e2e import log_rows, serving, wait_for

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path

    @property
    def squall(self) -> Path:
        return self.venv / "bin" / "squall"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel built from a copy of the source tree (building leaves build/ behind),
    installed with pip into a new virtual environment without system site-packages.
    Its dependencies are the test environment's, reached through a path file, so no
    download is needed; `squall` itself comes only from the wheel."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".*", "build", "dist", "*.egg-info", "__pycache__", "tests", "bench", "node_modules"
        ),
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "wheel", ".", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(work)],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (wheel,) = work.glob("squall-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # A path line adds the folder, but runs none of its .pth files: this checkout's
    # editable install of squall stays invisible.
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return Installed(wheel, venv)


def test_the_wheel_adds_exactly_one_import_name_and_carries_its_data(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = wheel.namelist()
        (dist_info,) = {name.split("/")[0] for name in names if ".dist-info/" in name}
        record = wheel.read(f"{dist_info}/RECORD").decode()
        top_level = wheel.read(f"{dist_info}/top_level.txt").decode()
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    recorded = [line.split(",")[0] for line in record.splitlines() if line]
    assert {name.split("/")[0] for name in recorded} - {dist_info} == {"squall"}
    assert top_level.split() == ["squall"]
    for needed in (
        "squall/ui/log_pane.js",
        "squall/core/migrations/script.py.mako",
        "squall/testing/scaffold/pyproject.toml.tmpl",
    ):
        assert needed in recorded, needed
    assert "squall = squall.startup:main" in entry_points
    assert "squall = squall.testing.pytest_plugin" in entry_points


def clean_env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQUALL_", "PYTEST_"))}
    env.pop("PYTHONPATH", None)
    return {**env, "SQUALL_DATA_DIR": str(data), "NO_COLOR": "1", "COLUMNS": "200"}


def test_squall_in_the_new_environment_is_the_wheels(installed: Installed) -> None:
    found = subprocess.run(
        [installed.venv / "bin" / "python", "-c", "import squall; print(squall.__file__)"],
        env=clean_env(installed.venv / "data"),
        cwd=installed.venv,
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.startswith(str(installed.venv / "lib")), found.stdout


@pytest.fixture
def served(installed: Installed, tmp_path: Path) -> Iterator[str]:
    """The wheel's `squall serve`, after a deployment to the demo nodes."""
    env = clean_env(tmp_path / "data")
    deployed = subprocess.run(
        [installed.squall, "deploy", "noop", "--target", "all"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    serve = [installed.squall, "serve", "--no-browser", "--no-worker"]
    with serving(serve, env, tmp_path / "serve.log", cwd=tmp_path) as url:
        yield url


def test_the_installed_wheel_serves_a_console_whose_log_pane_works(
    served: str, browser: WebDriver, tmp_path: Path
) -> None:
    browser.get(f"{served}/deployments/1")
    rows = wait_for(
        browser,
        "the log pane's lines",
        lambda d: (found := log_rows(d)) and any("hostname=" in row for row in found) and found,
    )
    assert any("demo-web-1" in row for row in rows), rows
    # What an operator reads when the console starts: where it listens, no library's notices.
    log = (tmp_path / "serve.log").read_text()
    assert "ready to go on http://" in log
    assert "Warning" not in log, log
