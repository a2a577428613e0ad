"""End to end: `squall serve` as a user starts it, driven by headless Chromium, deploying to
real sshd nodes on loopback.

One journey, a test per step, in order (each later step uses the deployment the first
started): start a cache rebuild through the wizard with one node set up to fail, watch it
fail on the board, open the failed node's log from the node grid, retry it to success.
A screenshot of every step lands in a temporary folder and in /tmp/squall-e2e/.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from squall.testing.fleet import Fleet

SHOTS_COPY = Path("/tmp/squall-e2e")
FAILING_NODE = "node-03"
# Words, not a shell line: Squall quotes each word for the node's shell, and `sh -c` then
# looks for the marker in the node's own folder ($HOME of its SSH sessions).
REBUILD_COMMAND = """sh -c 'test ! -e "$HOME/fail"'"""
WAIT = 20.0  # seconds for anything the pages update in the background (they refresh every 1 s)


# --- the server, the nodes and the browser -------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_served(
    url: str, process: subprocess.Popen[Any], log: Path, *, timeout: float
) -> None:
    """Until `squall serve` answers its console page; its log is shown if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass  # not listening yet
        assert process.poll() is None, f"squall serve exited:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"squall serve did not answer:\n{log.read_text()}"
        time.sleep(0.2)


@contextlib.contextmanager
def serving(
    command: list[str],
    env: dict[str, str],
    log: Path,
    *,
    cwd: Path | None = None,
    timeout: float = 60,
) -> Iterator[str]:
    """`squall serve` (`command`, given a free port) until the block ends: its address.
    Its output goes to `log`, shown if it never answers; it is stopped as Ctrl-C would."""
    port = free_port()
    with log.open("w") as output:
        process = subprocess.Popen(
            [*command, f"--port={port}"], env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_served(url, process, log, timeout=timeout)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Six sshd nodes in two clusters, for this module alone."""
    with Fleet(tmp_path_factory.mktemp("e2e-fleet"), 6, clusters=2) as fleet:
        yield fleet


@dataclass
class Server:
    url: str


@pytest.fixture(scope="module")
def server(nodes: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`squall serve --no-browser` on its own data directory, with the fleet imported."""
    folder = tmp_path_factory.mktemp("e2e-squall")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SQUALL_", "PYTEST_"))  # a NiceGUI child dies on PYTEST_*
    }
    env.update(
        SQUALL_DATA_DIR=str(folder / "data"),
        SQUALL_DEMO_INVENTORY="false",
        SQUALL_SSH__KEY_FILE=str(nodes.client_key),
        SQUALL_SSH__KNOWN_HOSTS=str(nodes.known_hosts),
        SQUALL_ENGINE__POLL_SECONDS="0.1",
        NO_COLOR="1",
    )
    imported = subprocess.run(
        [
            sys.executable,
            "-m",
            "squall",
            "inventory",
            "import",
            str(nodes.write_inventory(folder / "inventory.yaml")),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert f"{len(nodes.nodes)} node(s) added" in imported.stdout

    serve = [sys.executable, "-m", "squall", "serve", "--host", "127.0.0.1", "--no-browser"]
    with serving(serve, env, folder / "serve.log", timeout=30) as url:
        yield Server(url)


@dataclass
class Journey:
    """What one step hands the next."""

    shots: Path
    deployment: int | None = None
    windows: dict[str, str] = field(default_factory=dict)

    def deployment_id(self) -> int:
        if self.deployment is None:
            pytest.skip("needs the deployment the wizard test starts")
        return self.deployment


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Journey:
    shutil.rmtree(SHOTS_COPY, ignore_errors=True)
    SHOTS_COPY.mkdir(parents=True, exist_ok=True)
    return Journey(tmp_path_factory.mktemp("e2e-screenshots"))


# --- helpers -------------------------------------------------------------------------------


def screenshot(driver: WebDriver, journey: Journey, name: str) -> Path:
    """What the window shows, saved and copied to SHOTS_COPY for people to look at."""
    path = journey.shots / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"no screenshot {name}"
    shutil.copy(path, SHOTS_COPY / path.name)
    return path


def wait_for(
    driver: WebDriver, what: str, condition: Callable[[WebDriver], Any], timeout: float = WAIT
) -> Any:
    """`condition`'s first truthy answer; stale elements (the pages redraw) mean "not yet"."""

    def attempt(d: WebDriver) -> Any:
        try:
            return condition(d)
        except StaleElementReferenceException:
            return None

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        attempt, f"timed out waiting for {what}"
    )


def shown(driver: WebDriver, xpath: str) -> WebElement | None:
    """The first displayed element matching `xpath` (the wizard keeps other steps' buttons)."""
    for element in driver.find_elements(By.XPATH, xpath):
        try:
            if element.is_displayed():
                return element
        except StaleElementReferenceException:
            continue  # redrawn meanwhile
    return None


def steady(driver: WebDriver, what: str, xpath: str) -> WebElement:
    """The first displayed element matching `xpath` once it stands still: a click while a
    dialog opens (it grows from its centre) or a step slides in can press beside it and be
    lost."""
    seen: list[dict[str, float]] = []

    def still(d: WebDriver) -> WebElement | None:
        element = shown(d, xpath)
        if element is None:
            return None
        seen.append(element.rect)
        return element if seen[-2:-1] == seen[-1:] else None

    found: WebElement = wait_for(driver, what, still)
    return found


def click(driver: WebDriver, what: str, xpath: str) -> None:
    steady(driver, what, xpath).click()


def button(label: str) -> str:
    return f"//button[.//span[normalize-space()='{label}']]"


def field_input(label: str) -> str:
    """The input of the Quasar field labelled `label`."""
    return f"//label[contains(@class,'q-field')][.//div[contains(@class,'q-field__label')][normalize-space()='{label}']]//input"


def text_of(driver: WebDriver, css: str) -> str:
    return " ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, css))


def mark_page(driver: WebDriver) -> None:
    """Leave a note in the page's JavaScript: it is gone if the page is reloaded."""
    driver.execute_script("window.squallE2e = 'still the same page'")


def same_page(driver: WebDriver) -> bool:
    return driver.execute_script("return window.squallE2e") == "still the same page"


def board_row(driver: WebDriver, deployment: int) -> WebElement | None:
    found = driver.find_elements(
        By.XPATH, f"//tr[td/a[contains(@class,'squall-deployment')][@data-id='{deployment}']]"
    )
    return found[0] if found else None


def header_status(driver: WebDriver, deployment: int) -> str:
    """The status chip next to the deployment's title in the page's header block."""
    chips = driver.find_elements(
        By.XPATH,
        f"//div[normalize-space(text())='Deployment {deployment}']/following-sibling::div[1]//span",
    )
    return chips[0].text.strip() if chips else ""


def log_rows(driver: WebDriver) -> list[str]:
    return [
        row.text
        for row in driver.find_elements(
            By.CSS_SELECTOR, ".squall-log-pane div[style*='position: absolute'] > div"
        )
    ]


# --- the journey ---------------------------------------------------------------------------


def test_a_deployment_is_started_through_the_wizard(
    server: Server, browser: WebDriver, nodes: Fleet, journey: Journey
) -> None:
    (nodes.node(FAILING_NODE).root / "fail").write_text("this node's rebuild fails\n")
    # The board is open in a tab of its own before the deployment exists: the next test
    # watches the row appear there without the page being loaded again.
    journey.windows["wizard"] = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(f"{server.url}/")
    wait_for(browser, "the board", lambda d: "0 deployment(s)" in text_of(d, "body"))
    assert "No deployments yet." in text_of(browser, "body")
    mark_page(browser)
    journey.windows["board"] = browser.current_window_handle
    browser.switch_to.window(journey.windows["wizard"])

    browser.get(f"{server.url}/new")
    click(browser, "the Cache rebuild type", "//div[@role='radio'][contains(., 'Cache rebuild')]")
    click(browser, "Next after the type", button("Next"))

    command = wait_for(
        browser, "the rebuild command field", lambda d: shown(d, field_input("Rebuild command *"))
    )
    command.send_keys(REBUILD_COMMAND)
    wait_for(
        browser, "the typed command", lambda d: command.get_attribute("value") == REBUILD_COMMAND
    )
    screenshot(browser, journey, "1a-wizard-parameters")
    click(browser, "Next after the parameters", button("Next"))

    total = len(nodes.nodes)
    count = wait_for(
        browser,
        "the live count of matching nodes",
        lambda d: shown(d, f"//div[starts-with(normalize-space(), '{total} node(s) match')]"),
    )
    assert "node-cluster-a 3" in count.text and "node-cluster-b 3" in count.text, count.text
    screenshot(browser, journey, "1b-wizard-targets")
    click(browser, "Next after the targets", button("Next"))

    preview = wait_for(
        browser,
        "the plan preview",
        lambda d: shown(d, f"//div[normalize-space()='{total} node task(s) in 1 stage(s)']/.."),
    )
    assert "1. rebuild" in preview.text, preview.text
    assert f"{total} node(s)" in preview.text, preview.text
    assert "test ! -e" in preview.text, preview.text  # the step shows the command it runs
    screenshot(browser, journey, "1c-wizard-plan")

    click(browser, "Start", button("Start"))
    wait_for(
        browser, "the deployment page", lambda d: re.search(r"/deployments/\d+$", d.current_url)
    )
    journey.deployment = int(browser.current_url.rsplit("/", 1)[1])
    wait_for(
        browser,
        "the deployment's title",
        lambda d: shown(d, f"//div[normalize-space(text())='Deployment {journey.deployment}']"),
    )
    screenshot(browser, journey, "1d-deployment-started")


def test_the_board_shows_it_fail_at_the_failed_node_without_a_reload(
    server: Server, browser: WebDriver, journey: Journey
) -> None:
    deployment = journey.deployment_id()
    browser.switch_to.window(journey.windows["board"])
    wait_for(browser, f"deployment {deployment}'s row", lambda d: board_row(d, deployment))

    def failed_row(d: WebDriver) -> WebElement | None:
        row = board_row(d, deployment)
        return (
            row
            if row is not None
            and row.find_elements(By.XPATH, "td[2]//span[normalize-space()='failed']")
            else None
        )

    row = wait_for(browser, "the row's status to become failed", failed_row)
    cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
    assert "Cache rebuild" in cells[2] or "cache_rebuild" in cells[2], cells
    failure_point = cells[8]
    assert failure_point.startswith(f"{FAILING_NODE} at rebuild (exit 1)"), cells
    assert "5/6" not in cells[7] and "6/6" in cells[7], cells  # every node is done, one failed
    assert same_page(browser), "the board was loaded again"
    screenshot(browser, journey, "2-board-failed")
    browser.close()
    browser.switch_to.window(journey.windows["wizard"])


def test_the_failed_nodes_log_opens_from_the_node_grid(
    server: Server, browser: WebDriver, nodes: Fleet, journey: Journey
) -> None:
    deployment = journey.deployment_id()
    browser.get(f"{server.url}/deployments/{deployment}")
    wait_for(browser, "the failed status", lambda d: header_status(d, deployment) == "failed")
    signature = wait_for(
        browser,
        "the error signature",
        lambda d: shown(d, "//div[starts-with(normalize-space(), '1 node(s) failed at rebuild')]"),
    )
    assert "exited with status 1" in signature.text, signature.text
    # Before the click the pane shows every node's lines, each with its node's name.
    wait_for(browser, "every node's lines", lambda d: any("node-01" in row for row in log_rows(d)))

    square = browser.find_element(By.CSS_SELECTOR, f".squall-node[data-node='{FAILING_NODE}']")
    assert "failed" in (square.get_attribute("title") or "")
    square.click()

    def node_log(d: WebDriver) -> list[str] | None:
        rows = log_rows(d)
        texts = " | ".join(rows)
        if "step 1/1: rebuild" in texts and "step rebuild: failed" in texts:
            return rows
        return None

    rows = wait_for(browser, f"{FAILING_NODE}'s log in the pane", node_log)
    texts = " | ".join(rows)
    assert "exited with status 1" in texts, rows
    assert "step rebuild: ok" not in texts, rows
    assert f"connecting to {FAILING_NODE}" in texts, rows
    others = {node.name for node in nodes.nodes} - {FAILING_NODE}
    assert not any(other in texts for other in others), rows  # no other node's lines
    screenshot(browser, journey, "3-failed-node-log")
    # The controls above the pane say what it shows.
    choice = shown(browser, field_input("Node"))
    assert choice is not None
    wait_for(
        browser, "the node choice", lambda d: FAILING_NODE in (choice.get_attribute("value") or "")
    )


def test_retrying_the_failed_node_succeeds_without_a_reload(
    server: Server, browser: WebDriver, nodes: Fleet, journey: Journey
) -> None:
    deployment = journey.deployment_id()
    if not re.search(rf"/deployments/{deployment}$", browser.current_url):
        browser.get(f"{server.url}/deployments/{deployment}")
        square = f".squall-node[data-node='{FAILING_NODE}']"
        wait_for(browser, "the node grid", lambda d: d.find_elements(By.CSS_SELECTOR, square))
        browser.find_element(By.CSS_SELECTOR, square).click()
    wait_for(browser, "the failed status", lambda d: header_status(d, deployment) == "failed")
    (nodes.node(FAILING_NODE).root / "fail").unlink()
    mark_page(browser)
    # Follow the log, as someone watching the retry would.
    follow = "//div[@role='switch'][contains(., 'Follow')]"
    click(browser, "the Follow switch", follow)
    wait_for(
        browser, "following", lambda d: shown(d, follow).get_attribute("aria-checked") == "true"
    )

    click(browser, "Retry failed", button("Retry failed"))
    wait_for(browser, "the succeeded status", lambda d: header_status(d, deployment) == "succeeded")
    header = browser.find_element(
        By.XPATH,
        f"//div[normalize-space(text())='Deployment {deployment}']/following-sibling::div[1]",
    )
    assert "attempt 2" in header.text and "6/6 nodes done" in header.text, header.text
    wait_for(
        browser,
        f"{FAILING_NODE}'s square to turn succeeded",
        lambda d: (
            "succeeded"
            in (
                d.find_element(
                    By.CSS_SELECTOR, f".squall-node[data-node='{FAILING_NODE}']"
                ).get_attribute("title")
                or ""
            )
        ),
    )
    wait_for(
        browser,
        "the error signatures to clear",
        lambda d: shown(d, "//div[normalize-space()='No failure.']"),
    )
    assert shown(browser, button("Retry failed")) is None  # nothing left to retry

    def second_attempt(d: WebDriver) -> str | None:
        texts = " | ".join(log_rows(d))
        return texts if "(attempt 2)" in texts and "step rebuild: ok" in texts else None

    texts = wait_for(
        browser, f"{FAILING_NODE}'s second attempt in the followed log", second_attempt
    )
    assert texts.index("step rebuild: failed") < texts.index("(attempt 2)"), (
        texts
    )  # both attempts, in order
    assert same_page(browser), "the deployment page was loaded again"
    screenshot(browser, journey, "4-retried-succeeded")
