"""The record tells what happened: attempts kept after retries, outcomes named for what
happened (cancelled, not started, succeeded with exclusions, rolled back), nodes counted
as nodes. On a fleet of real sshd nodes."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader
from rich.console import Console

from squall.app import DEFAULT_PLUGINS
from squall.core.engine.worker import Engine
from squall.core.services import actions, board, reports, views
from squall.integrations.common import counts_text
from squall.testing.fleet import Fleet
from squall.testing.harness import SquallHarness
from squall.ui.components import phase_bar
from squall.ui.console import failed_cell, print_view

FAIL_IF_MARKED = ["sh", "-c", 'echo "rebuilding $(hostname)"; test ! -e fail || exit 7']


@pytest.fixture(scope="module")
def six(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with Fleet(tmp_path_factory.mktemp("record"), 6, clusters=2) as fleet:
        yield fleet


@pytest.fixture
def fleet6(six: Fleet) -> Iterator[Fleet]:
    six.reset()
    yield six
    six.heal()


@pytest.fixture
def squall(tmp_path: Path, fleet6: Fleet) -> Iterator[SquallHarness]:
    with SquallHarness(tmp_path / "squall", DEFAULT_PLUGINS, fleet=fleet6) as harness:
        yield harness


def read(squall: SquallHarness, service: object, *args: object) -> object:
    with squall.runtime.db.read() as session:
        return service(session, squall.runtime, squall.actor, *args)  # type: ignore[operator]


def pdf_text(content: bytes) -> list[str]:
    return [
        " ".join((page.extract_text() or "").split())
        for page in PdfReader(io.BytesIO(content)).pages
    ]


def test_a_retry_adds_an_attempt_and_keeps_the_failures_of_the_first(
    squall: SquallHarness, fleet6: Fleet
) -> None:
    for name in ("node-02", "node-05"):
        (fleet6.node(name).root / "fail").write_text("")
    first = squall.deploy("cache_rebuild", params={"rebuild_command": FAIL_IF_MARKED})
    assert first.status == "failed"
    (fleet6.node("node-02").root / "fail").unlink()
    (fleet6.node("node-05").root / "fail").unlink()
    squall.act(actions.retry, first.id)
    second = squall.run(first.id)
    assert second.status == "succeeded" and second.failures == ()

    one, two = second.attempts
    assert (one.number, two.number) == (1, 2)
    assert one.started_by == squall.actor.name and two.started_by == squall.actor.name
    assert one.counts == {"succeeded": 4, "failed": 2}
    assert two.counts == {"succeeded": 2} and two.nodes == ("node-02", "node-05")
    failed = {run.node: run for run in one.failures}
    assert set(failed) == {"node-02", "node-05"}
    assert failed["node-05"].exit_code == 7
    assert failed["node-05"].failure_point == "failed at step rebuild, exit code 7"
    assert failed["node-05"].last_lines[-1].startswith("rebuilding ")

    # The report: every attempt, with attempt 1's failure points, in PDF, CSV and JSON.
    report = read(squall, reports.deployment_report, first.id)
    assert report.had_failures  # type: ignore[attr-defined]
    pages = pdf_text(reports.render_pdf(squall.runtime, squall.actor, report))  # type: ignore[arg-type]
    assert "2 attempts: 2 node run(s) failed before the last attempt" in pages[0]
    text = " ".join(pages)
    assert "Failure points of every attempt" in text
    assert "1 node-05 rebuild failed at step rebuild, exit code 7" in text
    exported = json.loads(reports.render_json(squall.runtime, squall.actor, report))  # type: ignore[arg-type]
    rows = exported["tables"]["attempt_failures"]["rows"]
    assert sorted((row[0], row[1], row[6]) for row in rows) == [
        (1, "node-02", 7),
        (1, "node-05", 7),
    ]
    assert [row[:4] for row in exported["tables"]["attempts"]["rows"]] == [
        [1, squall.actor.name, rows and exported["tables"]["attempts"]["rows"][0][2], 6],
        [2, squall.actor.name, exported["tables"]["attempts"]["rows"][1][2], 2],
    ]

    # Cluster and node reports count the failed first attempt, although it was retried.
    cluster = read(
        squall, reports.cluster_report, "node-cluster-b", first.created_at.replace(year=2000)
    )
    assert cluster.succeeded == 1 and cluster.with_failures == 1  # type: ignore[attr-defined]
    assert [(f.name, f.failures) for f in cluster.failures_by_node] == [("node-05", 1)]  # type: ignore[attr-defined]
    node = read(squall, reports.node_report, "node-05")
    assert node.failure_rate == 0.5  # type: ignore[attr-defined]
    assert [failure.exit_code for failure in node.last_failures] == [7]  # type: ignore[attr-defined]


WAIT_FOR_GO = ["sh", "-c", "test -e go || sleep 30"]
"""Sleeps until told: a node with a file `go` finishes at once."""


def test_a_cancelled_deployment_shows_its_nodes_as_not_started_never_done(
    squall: SquallHarness, fleet6: Fleet
) -> None:
    deployment_id = squall.create(
        "cache_rebuild", params={"rebuild_command": WAIT_FOR_GO}, parallelism=2
    )
    engine = Engine(squall.runtime).start()
    try:
        deadline = time.monotonic() + 30
        while squall.view(deployment_id).counts.get("running", 0) < 2:
            assert time.monotonic() < deadline, "two nodes never started"
            time.sleep(0.05)
        squall.act(actions.cancel, deployment_id)
        deadline = time.monotonic() + 30
        while squall.view(deployment_id).counts.get("running", 0):
            assert time.monotonic() < deadline, "the running steps were never stopped"
            time.sleep(0.05)
    finally:
        engine.stop()
    view = squall.view(deployment_id)
    assert view.status == "cancelled"
    assert view.counts == {"cancelled": 2, "not_started": 4}
    assert (view.nodes_done, view.nodes_never_ran, view.node_count) == (2, 4, 6)
    assert view.stages[0].remaining == 0
    (row,) = read(squall, board.board)  # type: ignore[misc]
    assert (row.done, row.never_ran, row.remaining) == (2, 4, 0)
    assert all(segment.succeeded == 0 for segment in row.segments)  # no green in the bar
    detail = read(squall, views.deployment_detail, deployment_id)
    assert detail.nodes == {"cancelled": 2, "not_started": 4}  # type: ignore[attr-defined]
    assert counts_text(detail.nodes) == "2 cancelled, 4 not started"  # type: ignore[attr-defined]
    assert "retry" in detail.actions  # type: ignore[attr-defined]
    report = read(squall, reports.deployment_report, deployment_id)
    pages = pdf_text(reports.render_pdf(squall.runtime, squall.actor, report))  # type: ignore[arg-type]
    assert "CANCELLED" in pages[0] and "4 node(s) never started" in pages[0]
    assert "Succeeded 0 Failed 0 Excluded 0 Never ran 4" in pages[0]

    # Retrying a cancelled deployment runs what was cut short and what never started.
    for node in fleet6.nodes:
        (fleet6.node(node.name).root / "go").write_text("")
    squall.act(actions.retry, deployment_id)
    done = squall.run(deployment_id)
    assert done.status == "succeeded" and done.counts == {"succeeded": 6}
    one, two = done.attempts
    assert one.counts == {"cancelled": 2} and len(two.nodes) == 6


def test_a_node_set_aside_stays_a_failure_everywhere_with_its_own_duration(
    squall: SquallHarness, fleet6: Fleet
) -> None:
    from squall.api import schemas

    (fleet6.node("node-04").root / "fail").write_text("")
    failed = squall.deploy("cache_rebuild", params={"rebuild_command": FAIL_IF_MARKED})
    assert failed.status == "failed"
    time.sleep(1.5)  # the operator looks before setting the node aside
    assert squall.act(actions.exclude_failed, failed.id) == ["node-04"]
    done = squall.run(failed.id)
    assert done.status == "succeeded_with_exclusions"
    # The board and `squall status` count it apart from the failures, never as none.
    (row,) = read(squall, board.board)  # type: ignore[misc]
    assert (row.done, row.failed, row.excluded, row.remaining) == (6, 0, 1, 0)
    assert row.failure is not None
    assert row.failure.startswith("node-04 (excluded) at rebuild (exit 7)")
    assert failed_cell(done) == "0 +1 excl."
    (stage,) = done.stages
    assert (stage.status, stage.outcome) == ("succeeded", "succeeded_with_exclusions")
    shown = Console(width=140, record=True)
    print_view(shown, done)
    assert re.search(r"rebuild\s+succeeded with exclusions\s+6\s+6", shown.export_text())
    answer = schemas.Deployment.model_validate(done).model_dump(mode="json")
    assert (answer["nodes_done"], answer["nodes_excluded"]) == (6, 1)
    # Its run took what the failing command took, not until someone set it aside.
    report = read(squall, reports.deployment_report, failed.id)
    (line,) = [n for n in report.nodes if n.node == "node-04"]  # type: ignore[attr-defined]
    assert line.status == "excluded" and line.exit_code == 7
    assert line.duration is not None and line.duration < 1.5


def test_a_health_check_does_not_count_its_nodes_twice(squall: SquallHarness) -> None:
    result = squall.deploy(
        "group",
        params={
            "inner_type": "cache_rebuild",
            "inner_params": {"rebuild_command": "true"},
            "lightning": {"health_command": "true"},
            "thunder": {"gate": "auto"},
        },
    )
    assert result.status == "succeeded"
    detail = read(squall, views.deployment_detail, result.id)
    assert sum(result.counts.values()) > 6  # deploy tasks, plus health check tasks
    assert detail.nodes == {"succeeded": 6}  # type: ignore[attr-defined]


def test_what_noop_collects_is_shown_in_status_api_and_reports(
    squall: SquallHarness, fleet6: Fleet
) -> None:
    result = squall.deploy("noop", target="cluster:node-cluster-a")
    assert result.status == "succeeded"
    (facts,) = read(squall, views.report_sections, result.id)  # type: ignore[misc]
    assert facts.title == "Facts"
    assert facts.headers == ("node", "hostname", "kernel", "user", "load", "disk_free_kib")
    by_node = {row[0]: row for row in facts.rows}
    assert set(by_node) == {"node-01", "node-02", "node-03"}
    for row in by_node.values():
        assert row[2].startswith("Linux ") and row[3] and int(row[5]) > 0
    report = read(squall, reports.deployment_report, result.id)
    exported = json.loads(reports.render_json(squall.runtime, squall.actor, report))  # type: ignore[arg-type]
    assert [row[0] for row in exported["tables"]["facts"]["rows"]] == list(by_node)
    text = " ".join(pdf_text(reports.render_pdf(squall.runtime, squall.actor, report)))  # type: ignore[arg-type]
    assert "Facts" in text and by_node["node-02"][2] in text


def test_the_api_answers_every_attempt_in_its_own_schema(
    squall: SquallHarness, fleet6: Fleet
) -> None:
    from squall.api import schemas

    (fleet6.node("node-03").root / "fail").write_text("")
    first = squall.deploy("cache_rebuild", params={"rebuild_command": FAIL_IF_MARKED})
    (fleet6.node("node-03").root / "fail").unlink()
    squall.act(actions.retry, first.id)
    answer = schemas.Deployment.model_validate(squall.run(first.id)).model_dump(mode="json")
    assert answer["status"] == "succeeded" and answer["nodes_done"] == 6
    one, two = answer["attempts"]
    assert [run["node"] for run in one["failures"]] == ["node-03"]
    assert one["failures"][0]["failure_point"] == "failed at step rebuild, exit code 7"
    assert two["nodes"] == ["node-03"] and two["counts"] == {"succeeded": 1}


def test_a_rolled_back_deployments_report_leads_with_the_rollback(
    squall: SquallHarness, fleet6: Fleet
) -> None:
    done = squall.deploy(
        "config_change",
        target="cluster:node-cluster-a",
        params={"path": "app.conf", "content": "new\n"},
    )
    assert done.status == "succeeded"
    squall.act(actions.rollback, done.id)
    assert squall.run(done.id).status == "rolled_back"
    report = read(squall, reports.deployment_report, done.id)
    first = pdf_text(reports.render_pdf(squall.runtime, squall.actor, report))[0]  # type: ignore[arg-type]
    lead = f"Rolled back by {squall.actor.name} at "
    assert lead in first and "3 of 3 node(s) restored to what they ran before" in first
    assert first.index(lead) < first.index("Status rolled back")  # before the figures
    assert "Restored 3 of 3" in first and "Succeeded" not in first
    # On the board, the undoing is not green: the deployment's bar reads "done, then undone".
    (row,) = read(squall, board.board)  # type: ignore[misc]
    bar = phase_bar(row.segments)  # type: ignore[attr-defined]
    assert bar.count('class="sq-succeeded"') == 1 and bar.count('class="sq-rolled_back"') == 1
