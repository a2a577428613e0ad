"""The log pane: its JSON and text routes, and the pane with its controls on a page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from nicegui import app, ui
from nicegui.testing import User

from squall.app import DEFAULT_PLUGINS
from squall.core.auth import Actor
from squall.core.services.logs import log_text
from squall.testing.harness import SquallHarness
from squall.ui.context import Console
from squall.ui.log_pane import LogPane, log_view

LOG_ROUTE = "/api/ui/deployments/{deployment_id}/log"
SCRIPTS = {
    "lab-db-1": "echo hello; echo world",
    "lab-db-2": "echo hello; sleep 0.2; echo 'boom: 100%_gone' >&2; exit 3",
    "lab-db-3": "echo hello; echo world",
}


@pytest.fixture
def squall(console_env: Path) -> Iterator[SquallHarness]:
    with SquallHarness(console_env, DEFAULT_PLUGINS) as harness:
        yield harness


@pytest.fixture
def console(squall: SquallHarness, user: User) -> Console:
    """A console on the test app's data (the app registered the log routes)."""
    assert any(getattr(route, "path", None) == LOG_ROUTE for route in app.routes)
    return Console(squall.runtime)


@pytest.fixture
def rebuild(squall: SquallHarness, console_env: Path) -> int:
    """A cache rebuild of lab-db, one node after the other; lab-db-2 fails."""
    for node, script in SCRIPTS.items():
        root = console_env.parent / "nodes" / node
        root.mkdir(parents=True, exist_ok=True)
        (root / "run.sh").write_text(script + "\n")
    view = squall.deploy(
        "cache_rebuild",
        target="cluster:lab-db",
        params={"rebuild_command": "sh run.sh"},
        parallelism=1,
    )
    assert view.status == "failed"
    return view.id


@pytest.fixture
async def client(console: Console) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_the_log_route_answers_a_window_of_each_view(
    squall: SquallHarness, rebuild: int, client: httpx.AsyncClient
) -> None:
    url = f"/api/ui/deployments/{rebuild}/log"

    grouped = (await client.get(url, params={"mode": "grouped"})).json()
    assert [(row["kind"], row["text"], row["nodes"], row["status"]) for row in grouped["rows"]] == [
        ("header", "1 node · failed: lab-db-2", ["lab-db-2"], "failed"),
        ("line", "hello", [], None),
        ("line", "boom: 100%_gone", [], None),
        (
            "header",
            "2 nodes · succeeded: lab-db-1, lab-db-3",
            ["lab-db-1", "lab-db-3"],
            "succeeded",
        ),
        ("line", "hello", [], None),
        ("line", "world", [], None),
    ]
    assert grouped["total"] == 6

    entries = squall.logs(rebuild)
    everything = (await client.get(url, params={"mode": "all", "count": 2000})).json()
    assert [row["text"] for row in everything["rows"]] == entries
    assert everything["total"] == len(entries)
    assert everything["rows"][0]["at"].endswith("+00:00")

    window = (await client.get(url, params={"mode": "all", "start": 3, "count": 2})).json()
    assert window["rows"] == everything["rows"][3:5]
    assert (window["start"], window["total"]) == (3, len(entries))
    assert window["last_line_id"] == everything["last_line_id"] > 0

    one = (await client.get(url, params={"mode": "node", "node": "lab-db-2", "q": "%_"})).json()
    found = [(row["number"], row["node"], row["stream"], row["text"]) for row in one["rows"]]
    assert found[0] == (0, "lab-db-2", "stderr", "boom: 100%_gone")
    # Squall's note of the step failing is known by that line too.
    assert found[1][1:3] == ("lab-db-2", "squall") and "failed: boom: 100%_gone" in found[1][3]
    assert len(found) == 2


async def test_the_log_route_refuses_with_a_reason(
    rebuild: int, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"/api/ui/deployments/{rebuild}/log"
    refusals: list[tuple[str, dict[str, str | int], int, str]] = [
        ("/api/ui/deployments/999/log", {}, 404, "no deployment 999"),
        (url, {"mode": "node", "node": "web-9"}, 404, f"deployment {rebuild} has no node web-9"),
        (url, {"mode": "tree"}, 422, "unknown log view 'tree'"),
        (url, {"count": 5000}, 422, "a log window holds 1 to 2000 rows, not 5000"),
        (url + ".txt", {"node": "web-9"}, 404, f"deployment {rebuild} has no node web-9"),
    ]
    for path, params, status, message in refusals:
        response = await client.get(path, params=params)
        assert response.status_code == status, path
        assert response.json()["detail"].startswith(message)

    stranger = Actor("stranger", roles=frozenset(), source="sso")
    monkeypatch.setattr(Console, "actor", lambda _self, _request=None: stranger)
    for path in (url, url + ".txt"):  # what they may not see answers like a missing one
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json()["detail"] == f"no deployment {rebuild}"


async def test_the_log_downloads_as_a_text_file(
    squall: SquallHarness, rebuild: int, client: httpx.AsyncClient
) -> None:
    with squall.runtime.db.read() as session:
        expected = "".join(log_text(session, squall.runtime, squall.actor, rebuild))

    response = await client.get(f"/api/ui/deployments/{rebuild}/log.txt")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f"attachment; filename=deployment-{rebuild}.log"
    )
    assert response.text == expected
    assert len(response.text.splitlines()) == len(squall.logs(rebuild))

    one = await client.get(f"/api/ui/deployments/{rebuild}/log.txt", params={"node": "lab-db-2"})
    assert one.headers["content-disposition"] == (
        f"attachment; filename=deployment-{rebuild}-lab-db-2.log"
    )
    assert [line.split(" ", 3)[1:] for line in one.text.splitlines() if " squall " not in line] == [
        ["lab-db-2", "stdout", "hello"],
        ["lab-db-2", "stderr", "boom: 100%_gone"],
    ]


async def test_the_log_pane_and_its_controls_are_on_a_page(
    console: Console, rebuild: int, user: User
) -> None:
    panes: list[LogPane] = []

    @ui.page("/logtest/{deployment_id}")
    async def log_test_page(deployment_id: int) -> None:
        panes.append(await log_view(console, deployment_id))

    await user.open(f"/logtest/{rebuild}")
    for marker in ("log-pane", "log-mode", "log-node", "log-search", "log-follow", "log-download"):
        await user.should_see(marker=marker)
    pane = panes[0]
    assert pane.props["url"] == f"/api/ui/deployments/{rebuild}/log"
    assert (pane.mode, pane.node, pane.search, pane.follow) == ("all", None, "", False)
    node_choice = user.find(marker="log-node").elements.pop()
    assert isinstance(node_choice, ui.select)
    assert list(node_choice.options) == ["lab-db-2", "lab-db-1", "lab-db-3"]  # failed first

    user.find(marker="log-node").click()
    user.find("lab-db-3 · succeeded").click()
    assert (pane.mode, pane.node) == ("node", "lab-db-3")
    download = user.find(marker="log-download").elements.pop()
    assert download.props["href"] == f"/api/ui/deployments/{rebuild}/log.txt?node=lab-db-3"

    user.find(marker="log-search").type("boom")
    assert pane.search == "boom"
    user.find(marker="log-follow").click()
    assert pane.follow
    user.find(marker="log-pane").trigger("unfollow")  # the operator scrolled up
    assert not pane.follow
    assert user.find(marker="log-follow").elements.pop().value is False

    mode_toggle = user.find(marker="log-mode").elements.pop()
    with user.client:
        mode_toggle.value = "grouped"
    assert pane.mode == "grouped"
    assert download.props["href"] == f"/api/ui/deployments/{rebuild}/log.txt"

    with user.client:
        pane.show_node("lab-db-2")  # as a click on the node grid does
    assert (mode_toggle.value, node_choice.value) == ("node", "lab-db-2")
    assert download.props["href"] == f"/api/ui/deployments/{rebuild}/log.txt?node=lab-db-2"
