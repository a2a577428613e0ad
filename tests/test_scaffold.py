"""`squall plugin new`: the package it creates declares its entry point and passes its own tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from squall.app import cli
from squall.core.errors import ValidationError
from squall.core.plugins import build_host
from squall.testing.scaffold import scaffold

GENERATED_TESTS = 8


def plugin_new(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["plugin", "new", *args])
    return result.exit_code, result.output


def test_a_new_plugin_passes_its_own_tests_on_real_nodes(tmp_path: Path) -> None:
    package = tmp_path / "squall-hello-world"
    exit_code, output = plugin_new("hello_world", "--directory", str(package))
    assert exit_code == 0, output
    assert f"created {package}" in " ".join(output.split())  # the console wraps long lines
    # A clean pytest: nothing of this run's state, the generated package importable as is.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(package), os.environ.get("PYTHONPATH")])
    )
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--basetemp={tmp_path / 'basetemp'}",
        ],
        cwd=package,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = finished.stdout + finished.stderr
    assert finished.returncode == 0, report
    assert re.search(rf"\b{GENERATED_TESTS} passed\b", report), report
    assert not re.search(r"\b(failed|errors?|skipped)\b", report.splitlines()[-1]), report


def test_a_new_plugin_declares_its_entry_point_and_registers_its_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = scaffold("hello_world", tmp_path / "plugin")
    project = tomllib.loads((package / "pyproject.toml").read_text())
    assert project["project"]["name"] == "squall-hello-world"
    assert "squall" in project["project"]["dependencies"]
    assert project["project"]["entry-points"]["squall"] == {"hello_world": "squall_hello_world"}
    assert project["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]
    monkeypatch.syspath_prepend(str(package))
    try:
        host = build_host(["squall_hello_world"])
        assert host.type("hello_world").title == "Hello world"
    finally:
        sys.modules.pop("squall_hello_world", None)


def test_a_new_plugin_holds_the_package_its_readme_and_tests(tmp_path: Path) -> None:
    package = scaffold("nginx_reload", tmp_path / "plugin")
    assert sorted(
        str(path.relative_to(package)) for path in package.rglob("*") if path.is_file()
    ) == [
        "README.md",
        "pyproject.toml",
        "squall_nginx_reload/__init__.py",
        "tests/conftest.py",
        "tests/test_nginx_reload.py",
    ]
    assert "squall deploy nginx_reload --target" in (package / "README.md").read_text()
    assert '"squall_nginx_reload"' in (package / "tests" / "conftest.py").read_text()
    assert (
        "class NginxReloadParams(BaseModel)"
        in (package / "squall_nginx_reload" / "__init__.py").read_text()
    )


def test_the_folder_defaults_to_squall_and_the_name_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert scaffold("nginx_reload") == tmp_path / "squall-nginx-reload"
    assert (tmp_path / "squall-nginx-reload" / "pyproject.toml").is_file()


def test_an_existing_empty_folder_is_used(tmp_path: Path) -> None:
    (tmp_path / "plugin").mkdir()
    assert (scaffold("nginx_reload", tmp_path / "plugin") / "pyproject.toml").is_file()


@pytest.mark.parametrize(
    "name",
    ["NginxReload", "nginx-reload", "2nginx", "_nginx", "nginx_", "nginx__reload", "", "class"],
)
def test_a_name_that_is_not_a_snake_case_identifier_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValidationError, match=r"invalid deployment type name .*snake_case"):
        scaffold(name, tmp_path / "plugin")
    assert not (tmp_path / "plugin").exists()


@pytest.mark.parametrize(
    "name", ["noop", "config_change", "cache_rebuild", "single_instance", "group"]
)
def test_the_name_of_a_built_in_type_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValidationError, match=f"'{name}' is a deployment type built into Squall"):
        scaffold(name, tmp_path / "plugin")


def test_a_folder_that_is_not_empty_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "notes.txt").write_text("mine")
    with pytest.raises(ValidationError, match="is not empty"):
        scaffold("nginx_reload", tmp_path / "plugin")
    assert [path.name for path in (tmp_path / "plugin").iterdir()] == ["notes.txt"]
    (tmp_path / "file").write_text("")
    with pytest.raises(ValidationError, match="exists and is not a folder"):
        scaffold("nginx_reload", tmp_path / "file")


def test_the_command_reports_a_bad_name_as_an_error(tmp_path: Path) -> None:
    exit_code, output = plugin_new("Nginx-Reload", "--directory", str(tmp_path / "plugin"))
    assert exit_code == 2
    assert "error: invalid deployment type name 'Nginx-Reload'" in output
    assert not (tmp_path / "plugin").exists()
