"""Shared fixtures: databases (SQLite and a throw-away PostgreSQL database), harnesses."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from squall.app import DEFAULT_PLUGINS
from squall.testing.fleet import Fleet
from squall.testing.harness import SquallHarness

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
POSTGRES_ADMIN_URL = os.environ.get(
    "SQUALL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[str]:
    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is needed at {POSTGRES_ADMIN_URL} (set SQUALL_TEST_POSTGRES_URL): {exc}"
        )
    yield POSTGRES_ADMIN_URL
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_admin: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    name = f"squall_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres_admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each engine test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'squall.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def squall_plugins() -> tuple[str, ...]:
    """The `squall` fixture (from Squall's pytest plugin) loads every built-in type."""
    return DEFAULT_PLUGINS


@pytest.fixture
def squall_on_each_database(
    tmp_path: Path, fleet: Fleet, database_url: str
) -> Iterator[SquallHarness]:
    """Squall with every built-in type and the fleet, once on SQLite and once on PostgreSQL."""
    with SquallHarness(
        tmp_path / "squall", DEFAULT_PLUGINS, fleet=fleet, database_url=database_url
    ) as harness:
        yield harness


@pytest.fixture
def console_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory with an inventory of 6 local nodes in 2 clusters, for the console
    tests: the `user` fixture's app (tests/ui_main.py) reads it from the environment.
    Request it before `user`."""
    data = tmp_path / "data"
    monkeypatch.setenv("SQUALL_DATA_DIR", str(data))
    monkeypatch.setenv("SQUALL_DEMO_INVENTORY", "false")
    monkeypatch.setenv("SQUALL_ENGINE__POLL_SECONDS", "0.1")
    for name in [
        name
        for name in os.environ
        if name.startswith("SQUALL_")
        and name
        not in (
            "SQUALL_DATA_DIR",
            "SQUALL_DEMO_INVENTORY",
            "SQUALL_ENGINE__POLL_SECONDS",
            "SQUALL_TEST_POSTGRES_URL",
        )
    ]:
        monkeypatch.delenv(name)
    clusters = {
        cluster: {
            "environment": "test",
            "defaults": {"transport": "local", "tags": [cluster.removeprefix("lab-")]},
            "nodes": [
                {
                    "name": f"{cluster}-{index}",
                    "root": str(tmp_path / "nodes" / f"{cluster}-{index}"),
                }
                for index in range(1, 4)
            ],
        }
        for cluster in ("lab-web", "lab-db")
    }
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump({"clusters": clusters}))
    with SquallHarness(data, DEFAULT_PLUGINS) as harness:
        harness.import_inventory(inventory)
    return data


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """Headless Chromium through Debian's chromedriver; nothing is downloaded."""
    for needed in (CHROMIUM, CHROMEDRIVER):
        if not Path(needed).exists():
            pytest.fail(f"{needed} is missing: apt-get install -y chromium chromium-driver")
    previous = os.environ.get("SE_OFFLINE")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not look for a driver online
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()
        if previous is None:
            os.environ.pop("SE_OFFLINE", None)
        else:
            os.environ["SE_OFFLINE"] = previous
