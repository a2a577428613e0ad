"""The reports page, its downloads and the deployment page's PDF button, through NiceGUI's
simulated user and the console's own routes."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from nicegui import app, ui
from nicegui.testing import User
from nicegui.testing.user_interaction import UserInteraction
from pypdf import PdfReader

from squall.app import DEFAULT_PLUGINS
from squall.core.reports.exports import csv_body
from squall.testing.harness import SquallHarness

FAIL_IF_MARKED = ["sh", "-c", "echo rebuilding; test ! -e fail || exit 7"]


@pytest.fixture
def squall(console_env: Path) -> Iterator[SquallHarness]:
    with SquallHarness(console_env, DEFAULT_PLUGINS) as harness:
        yield harness


@pytest.fixture
async def client(user: User) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http


@pytest.fixture
def failed_on_lab_db_2(squall: SquallHarness, console_env: Path) -> int:
    """All 6 local nodes rebuild; lab-db-2 exits 7."""
    root = console_env.parent / "nodes" / "lab-db-2"
    root.mkdir(parents=True, exist_ok=True)
    (root / "fail").write_text("")
    result = squall.deploy("cache_rebuild", params={"rebuild_command": FAIL_IF_MARKED})
    assert result.counts == {"succeeded": 5, "failed": 1}
    return result.id


def choose(user: User, marker: str, label: str) -> None:
    user.find(marker=marker).click()
    UserInteraction(user, user.find(marker=marker).elements, label).click()


def href(user: User, marker: str) -> str:
    link = user.find(marker=marker).elements.pop()
    assert isinstance(link, ui.link)
    return str(link.props["href"])


async def test_the_page_shows_a_deployment_report_and_offers_its_downloads(
    console_env: Path, user: User, failed_on_lab_db_2: int, client: httpx.AsyncClient
) -> None:
    await user.open("/reports")
    await user.should_see(marker="nav-/reports")
    choose(
        user,
        "report-deployment",
        f"#{failed_on_lab_db_2} Cache rebuild on 6 nodes of 2 clusters (failed)",
    )
    await user.should_see(
        f"deployment {failed_on_lab_db_2} Cache rebuild on 6 nodes of 2 clusters: failed (1 failed, 5 succeeded)",
        retries=30,
    )
    table = user.find(marker="report-table").elements.pop()
    assert isinstance(table, ui.table)
    rows = {row["node"]: row for row in table.rows}
    assert (rows["lab-db-2"]["status"], rows["lab-db-2"]["exit_code"]) == ("failed", "7")
    assert href(user, "download-pdf") == f"/reports/deployment/{failed_on_lab_db_2}.pdf"

    pdf = await client.get(href(user, "download-pdf"))
    assert pdf.headers["content-type"] == "application/pdf"
    assert "squall-deployment-1.pdf" in pdf.headers["content-disposition"]
    text = " ".join(
        " ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(pdf.content)).pages
    )
    assert (
        "lab-db-2 (lab-db, stage rebuild, attempt 1): failed at step rebuild, exit code 7" in text
    )
    exported = await client.get(href(user, "download-csv"))
    by_node = {row["node"]: row for row in csv.DictReader(io.StringIO(csv_body(exported.text)))}
    assert by_node["lab-db-2"]["exit_code"] == "7" and len(by_node) == 6


async def test_cluster_and_node_reports_and_their_refusals(
    console_env: Path, user: User, failed_on_lab_db_2: int, client: httpx.AsyncClient
) -> None:
    await user.open("/reports")
    choose(user, "report-cluster", "lab-db")
    user.find(marker="report-cluster-show").click()
    await user.should_see("cluster lab-db from", retries=30)
    await user.should_see("1 deployment(s), success rate 0%, 1 node failure(s)")
    assert href(user, "download-csv") == "/reports/cluster/lab-db.csv?since=7d"
    choose(user, "report-node", "lab-db-2")
    await user.should_see("node lab-db-2 (lab-db): 1 node task(s), failure rate 100%", retries=30)

    cluster = await client.get("/reports/cluster/lab-db.json", params={"since": "1d"})
    assert cluster.json()["data"]["failures_by_node"][0]["name"] == "lab-db-2"
    bad = await client.get("/reports/cluster/lab-db.pdf", params={"since": "last tuesday"})
    assert bad.status_code == 422 and "invalid time 'last tuesday'" in bad.json()["detail"]
    missing = await client.get("/reports/node/nowhere.pdf")
    assert missing.status_code == 404 and "no node 'nowhere'" in missing.json()["detail"]
    gone = await client.get("/reports/deployment/99.csv")
    assert gone.status_code == 404


async def test_each_deployment_page_links_its_pdf_report(
    console_env: Path, user: User, failed_on_lab_db_2: int
) -> None:
    await user.open(f"/deployments/{failed_on_lab_db_2}")
    await user.should_see(marker="pdf-report")
    assert href(user, "pdf-report") == f"/reports/deployment/{failed_on_lab_db_2}.pdf"


async def test_the_query_chooses_the_report_shown_first(
    console_env: Path, user: User, failed_on_lab_db_2: int
) -> None:
    await user.open(f"/reports?deployment={failed_on_lab_db_2}")
    await user.should_see(marker="report-table", retries=30)
    assert href(user, "download-json") == f"/reports/deployment/{failed_on_lab_db_2}.json"
    await user.open("/reports?node=lab-web-1")
    await user.should_see("node lab-web-1 (lab-web): 1 node task(s), failure rate 0%", retries=30)
    await user.open("/reports?deployment=77")
    await user.should_see("no deployment 77", retries=30)
