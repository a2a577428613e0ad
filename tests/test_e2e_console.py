"""The console at fleet scale, in headless Chromium: `squall serve --no-worker` over a
database seeded with a busy board (100 running deployments, some waiting for a person, some
failed) and a real failed deployment on local nodes. Screenshots land in /tmp/squall-console/.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import update
from test_e2e import serving, wait_for

from squall.app import DEFAULT_PLUGINS
from squall.core.models import Deployment, DeploymentHold
from squall.core.services import actions
from squall.core.status import DeploymentStatus
from squall.testing.harness import SquallHarness

SHOTS = Path("/tmp/squall-console")
LONG_TARGET = "cluster:lab-web&!host:lab-web-1," + ",".join(f"host:lab-db-{i}" for i in range(1, 4))
SERVE = [sys.executable, "-m", "squall", "serve", "--host=127.0.0.1", "--no-browser", "--no-worker"]
LONG_TICKET = "OPS-1234567890123456789"


@dataclass
class Seeded:
    url: str
    failed: int
    """A cache rebuild that really failed on lab-db's three nodes."""
    waiting: int
    paused: int
    held: int
    big: int
    """A no-op on 1,000 nodes of 20 clusters, cancelled before it started."""


def _inventory(root: Path) -> Path:
    clusters = {
        cluster: {
            "environment": "test",
            "defaults": {"transport": "local"},
            "nodes": [
                {"name": f"{cluster}-{index}", "root": str(root / "nodes" / f"{cluster}-{index}")}
                for index in range(1, size + 1)
            ],
        }
        for cluster, size in [("lab-web", 3), ("lab-db", 3)]
        + [(f"big-{number:02d}", 50) for number in range(20)]
    }
    path = root / "inventory.yaml"
    path.write_text(yaml.safe_dump({"clusters": clusters}))
    return path


def _seed(data: Path, root: Path) -> dict[str, int]:
    with SquallHarness(data, DEFAULT_PLUGINS) as squall:
        squall.import_inventory(_inventory(root))
        failed = squall.create(
            "cache_rebuild",
            target="cluster:lab-db",
            params={"rebuild_command": ["sh", "-c", "echo warming up; echo no disk >&2; exit 7"]},
        )
        squall.run(failed)
        running = [squall.create("noop", target=LONG_TARGET) for _ in range(100)]
        waiting, paused, held = (squall.create("noop", target="cluster:lab-web") for _ in "abc")
        big = squall.create("noop", target="cluster:big-*")
        squall.act(actions.cancel, big)
        now = dt.datetime.now(dt.UTC)
        with squall.runtime.db.write() as session:
            session.execute(
                update(Deployment)
                .where(Deployment.id.in_(running))
                .values(status=DeploymentStatus.RUNNING, started_at=now, ticket=LONG_TICKET)
            )
            for deployment, status in (
                (waiting, DeploymentStatus.AWAITING_APPROVAL),
                (paused, DeploymentStatus.PAUSED),
            ):
                session.execute(
                    update(Deployment).where(Deployment.id == deployment).values(status=status)
                )
            session.add(
                DeploymentHold(
                    deployment_id=held, gate="jira", reason="OPS-7 is not approved", created_at=now
                )
            )
    return {"failed": failed, "waiting": waiting, "paused": paused, "held": held, "big": big}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    root = tmp_path_factory.mktemp("console")
    data = root / "data"
    ids = _seed(data, root)
    with serving(SERVE, serve_env(data), root / "serve.log", timeout=30) as url:
        shutil.rmtree(SHOTS, ignore_errors=True)
        SHOTS.mkdir(parents=True)
        yield Seeded(url, **ids)


def serve_env(data: Path) -> dict[str, str]:
    """This environment without Squall's or pytest's variables, serving `data`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SQUALL_", "PYTEST_"))  # a NiceGUI child dies on PYTEST_*
    }
    env.update(SQUALL_DATA_DIR=str(data), SQUALL_DEMO_INVENTORY="false", NO_COLOR="1")
    return env


def shot(browser: WebDriver, name: str) -> None:
    browser.save_screenshot(str(SHOTS / f"{name}.png"))


def board_ids(browser: WebDriver) -> list[int]:
    # In one script: the board redraws every second (elapsed times move).
    ids: list[int] = browser.execute_script(
        "return [...document.querySelectorAll('a.squall-deployment')].map(a => +a.dataset.id)"
    )
    return ids


def no_horizontal_scroll(browser: WebDriver) -> bool:
    return bool(
        browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    )


# --- 1. the board ranks what needs a person ---------------------------------------------


def test_the_board_pins_what_waits_for_a_person_then_running_then_failed(
    seeded: Seeded, browser: WebDriver
) -> None:
    browser.set_window_size(1440, 900)
    browser.get(f"{seeded.url}/")
    ids = wait_for(browser, "the board's rows", lambda d: len(board_ids(d)) > 100 and board_ids(d))
    assert set(ids[:3]) == {seeded.waiting, seeded.paused, seeded.held}, ids[:5]
    assert ids.index(seeded.failed) > 100, ids.index(seeded.failed)  # after 100 running ones
    assert ids.index(seeded.failed) < ids.index(seeded.big), ids
    strip = browser.find_element(By.CSS_SELECTOR, "[data-summary]").text
    for words in ("101 running", "1 awaiting approval", "1 paused", "1 held", "1 failed"):
        assert words in strip, strip
    assert "awaiting_approval" not in browser.find_element(By.TAG_NAME, "body").text
    shot(browser, "1a-board")


def test_twenty_rows_fit_a_laptop_screen_and_long_cells_do_not_wrap(
    seeded: Seeded, browser: WebDriver
) -> None:
    browser.set_window_size(1440, 900)
    browser.get(f"{seeded.url}/")
    wait_for(browser, "the board's rows", lambda d: len(board_ids(d)) > 100)
    visible = browser.execute_script(
        "return [...document.querySelectorAll('table.sq-table tbody tr')]"
        ".filter(r => { const b = r.getBoundingClientRect(); "
        "return b.top >= 0 && b.bottom <= window.innerHeight }).length"
    )
    assert visible >= 20, visible
    cell = browser.find_element(By.XPATH, f"//td[@title='{LONG_TARGET}']")
    assert cell.size["height"] < 30, cell.size
    ticket = browser.find_element(By.XPATH, f"//td[@title='{LONG_TICKET}']")
    assert ticket.size["height"] < 30, ticket.size
    assert no_horizontal_scroll(browser)


def test_filters_and_sort_live_in_the_url_and_survive_a_reload(
    seeded: Seeded, browser: WebDriver
) -> None:
    browser.set_window_size(1440, 900)
    browser.get(f"{seeded.url}/?status=failed&sort=newest")
    wait_for(browser, "only the failed row", lambda d: board_ids(d) == [seeded.failed])
    browser.get(f"{seeded.url}/")
    wait_for(browser, "the board", lambda d: len(board_ids(d)) > 100)
    # Choosing a status from the summary strip filters and writes it into the address.
    browser.find_element(By.CSS_SELECTOR, "[data-summary] a[data-status='paused']").click()
    wait_for(browser, "the address", lambda d: "status=paused" in d.current_url)
    wait_for(browser, "the paused row", lambda d: board_ids(d) == [seeded.paused])
    browser.refresh()
    wait_for(browser, "the paused row again", lambda d: board_ids(d) == [seeded.paused])
    status = browser.find_element(
        By.XPATH, "//label[contains(@class,'q-field')][.//div[normalize-space()='Status']]"
    )
    assert "paused" in status.text, status.text


# --- 2. the deployment page: failed nodes, the grid by cluster ---------------------------


def test_failed_nodes_open_with_their_output_per_error_signature(
    seeded: Seeded, browser: WebDriver
) -> None:
    browser.set_window_size(1440, 900)
    browser.get(f"{seeded.url}/deployments/{seeded.failed}")
    group = wait_for(
        browser,
        "the signature's group",
        lambda d: d.find_element(
            By.XPATH,
            "//div[contains(@class,'q-expansion-item')][.//*[contains(text(),'lab-db-1')]]",
        ),
    )
    group.find_element(By.CSS_SELECTOR, ".q-item").click()
    # The panel's list is drawn while it opens: wait until both nodes of the group are in it.
    panel = wait_for(
        browser,
        "the failed nodes",
        lambda d: [
            e
            for e in d.find_elements(By.CSS_SELECTOR, "ul.sq-failures")
            if e.is_displayed() and "lab-db-2" in e.text
        ],
    )[0]
    assert "lab-db-1 [lab-db] failed at step rebuild, exit code 7" in panel.text, panel.text
    assert "lab-db-2 [lab-db] failed at step rebuild, exit code 7" in panel.text, panel.text
    assert "warming up" in panel.text and "no disk" in panel.text, panel.text
    assert browser.find_elements(
        By.XPATH, "//button[.//span[normalize-space()='Retry these nodes']]"
    )
    shot(browser, "2a-failed-nodes")


@pytest.mark.parametrize("width,height", [(1440, 900), (390, 844)])
def test_a_thousand_node_grid_is_labelled_by_cluster_and_fits_the_window(
    seeded: Seeded, browser: WebDriver, width: int, height: int
) -> None:
    browser.set_window_size(width, height)
    browser.get(f"{seeded.url}/deployments/{seeded.big}")
    wait_for(
        browser,
        "the node grid",
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".squall-node")) == 1000,
    )
    clusters = browser.execute_script(
        "return [...document.querySelectorAll('.sq-cluster')].map(c => c.dataset.cluster)"
    )
    assert clusters == [f"big-{number:02d}" for number in range(20)], clusters
    assert "big-07 · 50" in browser.find_element(By.CSS_SELECTOR, "[data-cluster='big-07']").text
    assert no_horizontal_scroll(browser), browser.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]"
    )
    shot(browser, f"2b-grid-{width}")


# --- 5. error pages -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/deployments/999999", "/deployments/abc", "/deployments/-1"])
def test_an_unknown_or_malformed_deployment_gets_a_friendly_404(
    seeded: Seeded, browser: WebDriver, path: str
) -> None:
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(f"{seeded.url}{path}", timeout=10)
    assert answer.value.code == 404
    assert "text/html" in answer.value.headers["content-type"]
    browser.set_window_size(1440, 900)
    browser.get(f"{seeded.url}{path}")
    found = wait_for(
        browser, "the page", lambda d: d.find_elements(By.CSS_SELECTOR, "[data-not-found]")
    )
    assert "No such deployment" in found[0].text, found[0].text
    assert browser.find_element(By.LINK_TEXT, "Back to the board")
    shot(browser, f"5-not-found-{path.rsplit('/', 1)[1]}")


# --- 6. phone and dark ----------------------------------------------------------------------


def test_on_a_phone_the_navigation_is_a_menu_and_pages_do_not_scroll_sideways(
    seeded: Seeded, browser: WebDriver
) -> None:
    browser.set_window_size(390, 844)
    try:
        browser.get(f"{seeded.url}/")
        wait_for(browser, "the board", lambda d: len(board_ids(d)) > 100)
        inventory = browser.find_element(By.XPATH, "//header//a[normalize-space()='Inventory']")
        assert not inventory.is_displayed()
        assert no_horizontal_scroll(browser)
        shot(browser, "6a-phone-board")
        browser.find_element(By.CSS_SELECTOR, "header [data-menu]").click()
        item = wait_for(
            browser,
            "the menu",
            lambda d: [
                e
                for e in d.find_elements(By.XPATH, "//div[contains(@class,'q-menu')]//a")
                if e.is_displayed() and e.text.strip() == "Inventory"
            ],
        )[0]
        shot(browser, "6b-phone-menu")
        item.click()
        wait_for(browser, "the inventory page", lambda d: d.current_url.endswith("/inventory"))
        browser.get(f"{seeded.url}/deployments/{seeded.failed}")
        wait_for(
            browser, "the node grid", lambda d: d.find_elements(By.CSS_SELECTOR, ".squall-node")
        )
        assert no_horizontal_scroll(browser), browser.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        shot(browser, "6c-phone-deployment")
    finally:
        browser.set_window_size(1440, 900)


def test_the_console_is_dark_when_the_system_is(seeded: Seeded, browser: WebDriver) -> None:
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    try:
        browser.get(f"{seeded.url}/deployments/{seeded.failed}")
        wait_for(
            browser, "the node grid", lambda d: d.find_elements(By.CSS_SELECTOR, ".squall-node")
        )
        # Light text on a dark page (a light page has none: its body is transparent).
        text, background = browser.execute_script(
            "const s = getComputedStyle(document.body); return [s.color, s.backgroundColor]"
        )
        assert min(_rgb(text)) > 180 and max(_rgb(background)) < 64, (text, background)
        shot(browser, "6d-dark-deployment")
        browser.get(f"{seeded.url}/")
        wait_for(browser, "the board", lambda d: len(board_ids(d)) > 100)
        shot(browser, "6e-dark-board")
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def _rgb(css: str) -> tuple[int, ...]:
    """`rgb(1, 2, 3)` or `rgba(1, 2, 3, 0.5)` → (1, 2, 3); transparent is white."""
    parts = css[css.index("(") + 1 : -1].split(",")
    if len(parts) == 4 and float(parts[3]) == 0:
        return (255, 255, 255)
    return tuple(int(float(part)) for part in parts[:3])


# --- 7. inventory upload --------------------------------------------------------------------


def test_a_refused_inventory_file_says_so_next_to_it(
    seeded: Seeded, browser: WebDriver, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.ini"
    bad.write_text("[x]\nh ansible_port=nope\n")
    browser.set_window_size(1440, 900)
    browser.get(f"{seeded.url}/inventory")
    chooser = wait_for(
        browser, "the upload", lambda d: d.find_elements(By.CSS_SELECTOR, "input[type=file]")
    )
    chooser[0].send_keys(str(bad))
    result = wait_for(
        browser,
        "the refusal",
        lambda d: [
            e
            for e in d.find_elements(By.CSS_SELECTOR, "[data-import-result]")
            if "bad.ini" in e.text
        ],
    )[0]
    assert "refused" in result.text and "bad.ini:2:" in result.text, result.text
    time.sleep(0.5)
    uploaded = browser.find_elements(By.CSS_SELECTOR, ".q-uploader__file--uploaded")
    assert not uploaded, [e.text for e in uploaded]  # no green "100%" on a refused file
    shot(browser, "7-refused-upload")


def test_the_audit_log_reads_each_time_and_action_on_one_line(
    seeded: Seeded, browser: WebDriver
) -> None:
    browser.set_window_size(900, 900)  # a laptop's half screen: long details must wrap
    browser.get(f"{seeded.url}/audit")
    cells = wait_for(
        browser,
        "the audit rows",
        lambda d: d.execute_script(
            # Each cell's text and the lines it takes (a line box per line of one text).
            "return [...document.querySelectorAll('table.q-table tbody tr')].map(r => "
            "[...r.children].map(c => { const range = document.createRange(); "
            "range.selectNodeContents(c); return [c.innerText, range.getClientRects().length] }))"
        ),
    )
    assert len(cells) >= 50, len(cells)
    assert any(lines > 1 for *_, (_, lines) in cells)  # the long details do wrap
    for _, (at, at_lines), _, (action, action_lines), *_ in cells:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", at), at
        assert action.startswith(("deployment.", "inventory.")), action
        assert (at_lines, action_lines) == (1, 1), (at, at_lines, action, action_lines)
    shot(browser, "8-audit")


def test_the_navigation_stays_one_line_and_folds_into_a_menu_when_it_would_not(
    seeded: Seeded, browser: WebDriver
) -> None:
    try:
        for width, folded in ((1280, False), (1024, False), (900, True)):
            browser.set_window_size(width, 800)
            browser.get(f"{seeded.url}/audit")
            header = wait_for(
                browser, "the header", lambda d: d.find_elements(By.TAG_NAME, "header")
            )
            link = browser.find_element(
                By.XPATH, "//header//a[normalize-space()='Who can do what']"
            )
            menu = browser.find_element(By.CSS_SELECTOR, "header [data-menu]")
            assert (link.is_displayed(), menu.is_displayed()) == (not folded, folded), width
            assert header[0].size["height"] < 70, (width, header[0].size)  # one line of links
            if not folded:
                assert link.size["height"] < 30, (width, link.size)  # not broken over lines
            assert no_horizontal_scroll(browser), width
    finally:
        browser.set_window_size(1440, 900)


def test_backquoted_words_in_descriptions_show_as_code(seeded: Seeded, browser: WebDriver) -> None:
    """Descriptions are written for the help and the docs, which show `values` as code; the
    console's tables do so too, with no backquote left in sight."""
    browser.set_window_size(1400, 900)
    for page, row, code in (
        ("catalogue", "template", ["values", "secrets"]),  # config_change's parameter
        ("roles", "node.local", ["local"]),  # the permissions' matrix
    ):
        browser.get(f"{seeded.url}/{page}")
        found = wait_for(
            browser,
            f"the {row} row on /{page}",
            lambda d, row=row: d.execute_script(
                "const rows = [...document.querySelectorAll('table.q-table tbody tr')]"
                ".filter(r => r.children[0].innerText.trim() === arguments[0]);"
                "return rows.length ? [rows[0].innerText, [...rows[0].querySelectorAll('code')]"
                ".map(c => c.innerText)] : null",
                row,
            ),
        )
        text, shown_as_code = found
        assert shown_as_code == code, (page, found)
        assert "`" not in text, (page, text)
