"""The page of a 10,000-node group deployment in headless Chromium: `squall serve
--no-worker` over a database where a group deployment with a health check after each phase
(20,000 node tasks in 40 clusters) is half-way through a thunder wave, a dozen of its nodes
failed. The page stays under its size budget and still shows every node by wave and
cluster, each failed node findable. Screenshots land in /tmp/squall-console/.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import select, update
from test_e2e import field_input, serving, shown, wait_for
from test_e2e_console import SERVE, SHOTS, no_horizontal_scroll, serve_env

from squall.app import DEFAULT_PLUGINS
from squall.core.models import Deployment, NodeTask, Stage
from squall.core.status import DeploymentStatus, StageStatus, TaskStatus
from squall.testing.harness import SquallHarness

CLUSTERS, PER_CLUSTER = 40, 250
NODES = CLUSTERS * PER_CLUSTER
PAGE_BUDGET = 500_000
"""Bytes of the page's document, the element tree it carries included."""
ERROR = "connect to {node}: connection refused"


@dataclass
class Big:
    url: str
    deployment: int
    stages: list[str]
    failed: list[str]
    """Nodes that failed in the current wave, in the order of the wave."""


def _seed(data: Path, root: Path) -> tuple[int, list[str], list[str]]:
    clusters = {
        f"edge-{c:02d}": {
            "environment": "test",
            "defaults": {"transport": "local"},
            "nodes": [
                {"name": f"edge-{c:02d}-{n:03d}", "root": str(root / "nodes")}
                for n in range(1, PER_CLUSTER + 1)
            ],
        }
        for c in range(1, CLUSTERS + 1)
    }
    inventory = root / "inventory.yaml"
    inventory.write_text(yaml.safe_dump({"clusters": clusters}))
    health = {"health_command": ["true"], "gate": "auto"}
    with SquallHarness(data, DEFAULT_PLUGINS) as squall:
        squall.import_inventory(inventory)
        deployment = squall.create(
            "group",
            target="cluster:edge-*",
            params={"inner_type": "noop", "lightning": health, "thunder": health},
        )
        with squall.runtime.db.write() as session:
            stages = session.scalars(
                select(Stage).where(Stage.deployment_id == deployment).order_by(Stage.position)
            ).all()
            current = 4  # lightning and its check, thunder 1 and its check are done
            for stage in stages[:current]:
                stage.status = StageStatus.SUCCEEDED
            stages[current].status = StageStatus.RUNNING
            session.execute(
                update(NodeTask)
                .where(NodeTask.stage_id.in_([stage.id for stage in stages[:current]]))
                .values(status=TaskStatus.SUCCEEDED)
            )
            wave = session.scalars(
                select(NodeTask)
                .where(NodeTask.stage_id == stages[current].id)
                .order_by(NodeTask.position)
            ).all()
            failed = []
            for position, task in enumerate(wave[: len(wave) // 2]):
                task.status = TaskStatus.SUCCEEDED
                if position % 97 == 5:
                    task.status = TaskStatus.FAILED
                    task.error = ERROR.format(node=task.node_name)
                    failed.append(task.node_name)
            for task in wave[len(wave) // 2 : len(wave) // 2 + 50]:
                task.status = TaskStatus.RUNNING
            session.execute(
                update(Deployment)
                .where(Deployment.id == deployment)
                .values(status=DeploymentStatus.RUNNING)
            )
            names = [stage.name for stage in stages]
    return deployment, names, failed


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Big]:
    root = tmp_path_factory.mktemp("big")
    data = root / "data"
    deployment, stages, failed = _seed(data, root)
    with serving(SERVE, serve_env(data), root / "serve.log") as url:
        SHOTS.mkdir(parents=True, exist_ok=True)
        yield Big(url, deployment, stages, failed)


def test_the_page_of_ten_thousand_nodes_stays_under_its_budget(
    big: Big, browser: WebDriver
) -> None:
    with urllib.request.urlopen(f"{big.url}/deployments/{big.deployment}", timeout=60) as page:
        body = page.read()
    assert len(body) < PAGE_BUDGET, len(body)
    browser.set_window_size(1440, 900)
    browser.get(f"{big.url}/deployments/{big.deployment}")
    received = browser.execute_script(
        "return performance.getEntriesByType('navigation')[0].decodedBodySize"
    )
    assert 0 < received < PAGE_BUDGET, received
    # Every node task has its square, though the page carries no element per square.
    wait_for(
        browser,
        "20,000 squares",
        lambda d: (
            d.execute_script("return document.querySelectorAll('.squall-node').length") == 2 * NODES
        ),
        timeout=60,
    )


@pytest.mark.parametrize("width,height", [(1440, 900), (390, 844)])
def test_every_wave_shows_its_nodes_by_cluster_and_fits_the_window(
    big: Big, browser: WebDriver, width: int, height: int
) -> None:
    browser.set_window_size(width, height)
    browser.get(f"{big.url}/deployments/{big.deployment}")
    wait_for(
        browser,
        "the node grid",
        lambda d: (
            d.execute_script("return document.querySelectorAll('.squall-node').length") == 2 * NODES
        ),
        timeout=60,
    )
    shown = browser.execute_script(
        "return [...document.querySelectorAll('[data-node-grid] > *')].map(stage => ["
        "  stage.querySelector(':scope > .sq-stage b').textContent,"
        "  [...stage.querySelectorAll('.sq-cluster')].map(c => ["
        "    c.dataset.cluster, c.querySelectorAll('.squall-node').length,"
        "    c.querySelector('.sq-stage').textContent])])"
    )
    assert [stage for stage, _ in shown] == big.stages
    for _, clusters in shown:
        for cluster, squares, label in clusters:
            assert label == f"{cluster} · {squares}", (cluster, squares, label)
    # A wave's clusters: all 40 of them when the wave is big enough, each node once.
    waves = {stage: clusters for stage, clusters in shown}
    assert sorted(cluster for cluster, _, _ in waves["thunder 2"]) == [
        f"edge-{c:02d}" for c in range(1, CLUSTERS + 1)
    ]
    assert sum(squares for _, clusters in shown for _, squares, _ in clusters) == 2 * NODES
    assert no_horizontal_scroll(browser), browser.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]"
    )
    browser.save_screenshot(str(SHOTS / f"7-big-grid-{width}.png"))


def test_each_failed_node_is_findable_and_opens_its_log(big: Big, browser: WebDriver) -> None:
    browser.set_window_size(1440, 900)
    browser.get(f"{big.url}/deployments/{big.deployment}")
    wait_for(
        browser,
        "the failed squares",
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, ".squall-node.sq-failed")) == len(big.failed)
        ),
        timeout=60,
    )
    failed = browser.execute_script(
        "return [...document.querySelectorAll('.squall-node.sq-failed')]"
        ".map(s => [s.dataset.node, s.title, s.closest('.sq-cluster').dataset.cluster])"
    )
    assert sorted(node for node, _, _ in failed) == sorted(big.failed)  # by cluster
    for node, title, cluster in failed:
        assert node.startswith(cluster + "-"), (node, cluster)
        assert title == f"{node} [{cluster}] failed · {ERROR.format(node=node)}", title
    # Each error names its node: each failed node has a signature of its own.
    for node in big.failed:
        wait_for(
            browser,
            f"{node}'s error signature",
            lambda d, node=node: shown(
                d,
                "//div[starts-with(normalize-space(), "
                f"'1 node(s) failed at connect: {ERROR.format(node=node)}')]",
            ),
        )
    # A click on a failed square opens that node's log.
    node = big.failed[3]
    square = browser.find_element(By.CSS_SELECTOR, f".squall-node[data-node='{node}']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", square)
    square.click()
    choice = shown(browser, field_input("Node"))
    assert choice is not None
    wait_for(browser, "the node choice", lambda d: node in (choice.get_attribute("value") or ""))
    browser.save_screenshot(str(SHOTS / "7-big-failed-node.png"))


def test_the_step_grid_of_ten_thousand_nodes_comes_when_asked_for(
    big: Big, browser: WebDriver
) -> None:
    browser.set_window_size(1440, 900)
    browser.get(f"{big.url}/deployments/{big.deployment}")
    button = wait_for(
        browser,
        "the step grid's button",
        lambda d: d.find_elements(By.CSS_SELECTOR, ".sq-show-steps"),
        timeout=60,
    )[0]
    assert "20,000 node tasks" in button.text, button.text
    assert not browser.find_elements(By.CSS_SELECTOR, ".sq-step")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    rows = wait_for(
        browser,
        "the step rows",
        lambda d: d.execute_script(
            "return [...document.querySelectorAll('.sq-step')]"
            ".map(r => [r.dataset.step, r.querySelectorAll('.sq-cells i').length])"
        ),
        timeout=60,
    )
    # Two thousand node tasks at a time; the arrows move along.
    assert rows and all(cells == 2_000 for _, cells in rows), rows
    pages = browser.find_element(By.CSS_SELECTOR, ".sq-step-pages")
    assert "node tasks 1 to 2,000 of 20,000" in pages.text, pages.text
    pages.find_elements(By.TAG_NAME, "button")[1].click()
    wait_for(browser, "the next page", lambda d: "2,001 to 4,000 of 20,000" in pages.text)
    cell = browser.find_elements(By.CSS_SELECTOR, ".sq-step .sq-cells i")[0]
    browser.execute_script(
        "arguments[0].dispatchEvent(new MouseEvent('mouseover', {bubbles: true}))", cell
    )
    title = cell.get_attribute("title") or ""
    assert re.fullmatch(rf"edge-\d\d-\d\d\d · {rows[0][0]}: not reached", title), title
