"""Reports of deployments run on real sshd nodes: the PDF's text and pages, CSV and JSON,
secrets, authorization, and checking a copy against Squall."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from squall.app import DEFAULT_PLUGINS
from squall.core.auth import Actor, grants_of
from squall.core.errors import NotFound, PermissionDenied, ValidationError
from squall.core.models import utcnow
from squall.core.reports.exports import csv_body
from squall.core.reports.fingerprint import fingerprint
from squall.core.services import actions, reports
from squall.testing.fleet import Fleet
from squall.testing.harness import SquallHarness

FAIL_IF_MARKED = ["sh", "-c", 'echo "rebuilding $(hostname) in $HOME"; test ! -e fail || exit 7']
"""Each node says what it does; a node with a file `fail` exits 7."""


@pytest.fixture(scope="module")
def two_clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """6 real sshd nodes: node-1…3 in node-cluster-a, node-4…6 in node-cluster-b."""
    with Fleet(tmp_path_factory.mktemp("reports"), 6, clusters=2) as fleet:
        yield fleet


@pytest.fixture
def fleet6(two_clusters: Fleet) -> Iterator[Fleet]:
    two_clusters.reset()
    yield two_clusters
    two_clusters.heal()


@pytest.fixture
def squall(tmp_path: Path, fleet6: Fleet) -> Iterator[SquallHarness]:
    with SquallHarness(tmp_path / "squall", DEFAULT_PLUGINS, fleet=fleet6) as harness:
        yield harness


@pytest.fixture
def failed_on_node_05(squall: SquallHarness, fleet6: Fleet) -> int:
    """A cache rebuild on all 6 nodes: 5 succeed, node-05 fails at `rebuild` with exit 7."""
    (fleet6.node("node-05").root / "fail").write_text("")
    result = squall.deploy("cache_rebuild", params={"rebuild_command": FAIL_IF_MARKED})
    assert result.status == "failed"
    assert result.counts == {"succeeded": 5, "failed": 1}
    return result.id


def read(squall: SquallHarness, service: Callable[..., object], *args: object, **kw: object):  # type: ignore[no-untyped-def]
    with squall.runtime.db.read() as session:
        return service(session, squall.runtime, squall.actor, *args, **kw)


def pdf_pages(content: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


def one_line(text: str) -> str:
    return " ".join(text.split())


def render_pages(content: bytes, folder: Path) -> list[Path]:
    """Every page through poppler's pdftoppm, as a user's viewer would draw it."""
    folder.mkdir(exist_ok=True)
    (folder / "report.pdf").write_bytes(content)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", str(folder / "report.pdf"), str(folder / "page")],
        check=True,
        capture_output=True,
    )
    return sorted(folder.glob("page-*.png"))


def test_the_pdf_states_the_known_outcome_per_cluster_node_and_step(
    squall: SquallHarness, failed_on_node_05: int, fleet6: Fleet, tmp_path: Path
) -> None:
    report = read(squall, reports.deployment_report, failed_on_node_05)
    content = reports.render_pdf(squall.runtime, squall.actor, report)
    pages = pdf_pages(content)
    summary = one_line(pages[0])
    assert f"Deployment #{failed_on_node_05}: Cache rebuild on 6 nodes of 2 clusters" in summary
    assert "FAILED cache_rebuild · target all · requested by" in summary
    assert "Nodes 6 Succeeded 5 Failed 1 Excluded 0 Never ran 0" in summary
    assert "node-cluster-a 3/3 ok" in summary and "node-cluster-b 2/3 ok, 1 failed" in summary
    text = one_line("\n".join(pages))
    assert "node-cluster-a 3 3 0 0 0" in text  # per cluster: nodes, succeeded, failed, …
    assert "node-cluster-b 3 2 1 0 0" in text
    assert (
        "node-05 (node-cluster-b, stage rebuild, attempt 1): failed at step rebuild, exit code 7"
        in text
    )
    assert f"rebuilding {_hostname()} in {fleet6.node('node-05').root}" in text  # last lines
    assert "1 rebuild exited with status 7 node-05" in text  # the error signature
    assert re.search(r"node-05 node-cluster-b rebuild failed 1 rebuild=7 rebuild 7", text)
    for name in ("node-01", "node-02", "node-03", "node-04", "node-06"):
        assert re.search(rf"{name} node-cluster-\w rebuild succeeded 1 rebuild=0", text)
    sha = fingerprint(report)
    for number, page in enumerate(pages, start=1):
        assert f"page {number} of {len(pages)}" in page
        assert f"SHA-256 of the report data: {sha}" in page
    images = render_pages(content, tmp_path / "pages")
    assert len(images) == len(pages)
    assert all(image.stat().st_size > 2000 for image in images)  # drawn, not blank


def test_csv_and_json_hold_the_same_figures_as_the_pdf(
    squall: SquallHarness, failed_on_node_05: int
) -> None:
    report = read(squall, reports.deployment_report, failed_on_node_05)
    rows = {
        row["node"]: row
        for row in csv.DictReader(
            io.StringIO(csv_body(reports.render_csv(squall.runtime, squall.actor, report)))
        )
    }
    assert set(rows) == {f"node-0{i}" for i in range(1, 7)}
    failed = rows["node-05"]
    assert (failed["status"], failed["failed_step"], failed["exit_code"]) == (
        "failed",
        "rebuild",
        "7",
    )
    assert failed["last_lines"].startswith("rebuilding ")
    assert {rows[n]["status"] for n in rows if n != "node-05"} == {"succeeded"}
    clusters = list(
        csv.DictReader(
            io.StringIO(
                csv_body(reports.render_csv(squall.runtime, squall.actor, report, "clusters"))
            )
        )
    )
    assert [(c["cluster"], c["succeeded"], c["failed"]) for c in clusters] == [
        ("node-cluster-a", "3", "0"),
        ("node-cluster-b", "2", "1"),
    ]
    exported = json.loads(reports.render_json(squall.runtime, squall.actor, report))
    assert exported["sha256"] == fingerprint(report)
    assert exported["request"] == {"kind": "deployment", "deployment_id": failed_on_node_05}
    assert exported["data"]["status"] == "failed"
    assert exported["tables"]["signatures"]["rows"] == [
        ["rebuild", "exited with status 7", 1, "node-05"]
    ]
    with pytest.raises(ValidationError, match=r"no table 'nope'.*tables: nodes, clusters"):
        reports.render_csv(squall.runtime, squall.actor, report, "nope")


def test_stages_waves_and_approvals_of_a_group_deployment_are_reported(
    squall: SquallHarness,
) -> None:
    bob = Actor("bob", frozenset({"approver"}), "sso")
    created = squall.create(
        "group",
        params={
            "inner_type": "cache_rebuild",
            "inner_params": {"rebuild_command": FAIL_IF_MARKED},
            "lightning_size": "2",
            "wave_size": "2",
        },
    )
    squall.run(created)
    time.sleep(1.5)  # the gate waits for bob
    squall.act(actions.promote, created, actor=bob)
    assert squall.run(created).status == "succeeded"
    report = read(squall, reports.deployment_report, created)
    assert [(s.name, s.nodes, s.succeeded) for s in report.stages] == [
        ("lightning", 2, 2),
        ("thunder 1", 2, 2),
        ("thunder 2", 2, 2),
    ]
    ((approval),) = report.approvals
    assert (approval.stage, approval.approver) == ("thunder 1", "bob")
    text = one_line("\n".join(pdf_pages(reports.render_pdf(squall.runtime, squall.actor, report))))
    assert "thunder 1 bob" in text  # the approvals table: stage, approver, time
    assert re.search(r"2 thunder 1 deploy succeeded 2 2 0 0 0 \d+ 10% 1 approval\(s\)", text)
    assert "gate.approved bob" in text  # the timeline
    # The stage timeline draws the wait for bob, not a slow thunder 1 (and no wait elsewhere),
    # as long as it was: from the end of lightning to the start of thunder 1.
    lightning, thunder_1 = report.stages[:2]
    assert lightning.finished_at is not None and thunder_1.started_at is not None
    waited = (thunder_1.started_at - lightning.finished_at).total_seconds()
    assert waited >= 1.5
    assert re.findall(r"waited for the gate (\d+) s", text) == [f"{waited:.0f}"], text
    assert text.count("waited") == 1, text


def test_secret_parameters_never_appear_in_any_format(squall: SquallHarness, fleet6: Fleet) -> None:
    password = "hunter2-Sup3r-s3cret"
    (fleet6.node("node-02").root / "fail").write_text("")
    result = squall.deploy(
        "config_change",
        target="cluster:node-cluster-a",
        params={
            "path": "app.conf",
            "template": "user=app\npassword=${password}\n",
            "secrets": {"password": password},
            # Prints the secret, then fails on the node holding `fail`.
            "validate_command": ["sh", "-c", 'cat "$1"; test ! -e fail', "validate", "{path}"],
        },
    )
    assert result.status == "failed" and result.counts == {"succeeded": 2, "failed": 1}
    report = read(squall, reports.deployment_report, result.id)
    pdf = reports.render_pdf(squall.runtime, squall.actor, report)
    exports = {
        "pdf": "\n".join(pdf_pages(pdf)) + str(PdfReader(io.BytesIO(pdf)).metadata),
        "csv": reports.render_csv(squall.runtime, squall.actor, report),
        "json": reports.render_json(squall.runtime, squall.actor, report),
    }
    for name, text in exports.items():
        assert password not in text, name
    assert "password=***" in exports["csv"]  # node-02's last lines, masked
    assert "+password=***" in exports["pdf"]  # the file diff config_change adds
    assert json.loads(exports["json"])["data"]["params"]["secrets"] == {"password": "***"}
    assert "Files written" in exports["pdf"] and "rolled back" in exports["pdf"]


def test_single_instance_adds_the_versions_before_and_after(squall: SquallHarness) -> None:
    params = {"start_command": ["true"]}
    squall.deploy("single_instance", target="host:node-01", params={**params, "version": "1.0"})
    second = squall.deploy(
        "single_instance", target="host:node-01", params={**params, "version": "2.0"}
    )
    report = read(squall, reports.deployment_report, second.id)
    text = one_line("\n".join(pdf_pages(reports.render_pdf(squall.runtime, squall.actor, report))))
    assert "Versions node before after node-01 1.0 2.0" in text
    assert "What changed single_instance: version 2.0" in text
    node = read(squall, reports.node_report, "node-01")
    assert node.last_deployed.deployment_id == second.id and node.last_deployed.version == "2.0"
    assert (node.version, node.version_deployment) == ("2.0", second.id)
    # A later deployment of another type is the last one, but the node still runs 2.0.
    squall.deploy("noop", target="host:node-01")
    node = read(squall, reports.node_report, "node-01")
    assert node.last_deployed.type == "noop" and node.version == "2.0"
    first = one_line(pdf_pages(reports.render_pdf(squall.runtime, squall.actor, node))[0])
    assert f"Version 2.0 (#{second.id})" in first
    assert "Deployment history # type title version" in first  # history on page 1
    assert re.search(rf"{second.id} single_instance .* 2.0 ", first)
    squall.act(actions.rollback, second.id)
    squall.run(second.id)
    node = read(squall, reports.node_report, "node-01")
    assert node.version == "1.0"  # switched back


def test_a_cluster_report_counts_deployments_failures_by_node_and_step(
    squall: SquallHarness, fleet6: Fleet
) -> None:
    started = utcnow()
    (fleet6.node("node-05").root / "fail").write_text("")
    failed = squall.deploy("cache_rebuild", params={"rebuild_command": FAIL_IF_MARKED})
    (fleet6.node("node-05").root / "fail").unlink()
    squall.deploy("cache_rebuild", params={"rebuild_command": FAIL_IF_MARKED})
    squall.deploy("noop", target="cluster:node-cluster-a")  # another cluster: not counted
    report = read(
        squall, reports.cluster_report, "node-cluster-b", started - dt.timedelta(minutes=1)
    )
    assert [line.deployment_id for line in report.deployments] == [failed.id, failed.id + 1]
    assert (report.succeeded, report.failed, report.success_rate) == (1, 1, 0.5)
    assert (report.node_tasks, report.node_failures) == (6, 1)
    assert [(f.name, f.failures, f.tasks, f.runs) for f in report.failures_by_node] == [
        ("node-05", 1, 2, 2)
    ]
    assert [(f.name, f.failures) for f in report.failures_by_step] == [("rebuild", 1)]
    assert report.task_durations.count == 6 and report.deployment_durations.count == 2
    text = one_line("\n".join(pdf_pages(reports.render_pdf(squall.runtime, squall.actor, report))))
    assert (
        "Deployments 2 Succeeded 1 Succeeded with exclusions 0 Failed 1 Cancelled 0 Rolled back 0"
        " Unfinished 0 Had failures 1 Success rate 50.0%" in text
    )
    assert "node-05 1 2 50%" in text  # the nodes that fail most
    # Charts: both deployments fall on one day's bar; and how long deployments took.
    assert "Deployments over the period" in text and "one bar per day; at most 2 a bar" in text
    assert "Deployment durations (seconds)" in text
    # Setting the failed node aside: the deployment is named for that, not counted as failed.
    squall.act(actions.exclude_failed, failed.id)
    assert squall.run(failed.id).status == "succeeded_with_exclusions"
    later = read(
        squall, reports.cluster_report, "node-cluster-b", started - dt.timedelta(minutes=1)
    )
    text = one_line("\n".join(pdf_pages(reports.render_pdf(squall.runtime, squall.actor, later))))
    assert "Succeeded 1 Succeeded with exclusions 1 Failed 0 Cancelled 0" in text
    # The chart's legend names each outcome too: a cancel or a rollback is not red.
    assert "succeeded with exclusions failed cancelled rolled back unfinished" in text
    assert re.search(rf"{failed.id} cache_rebuild .* succeeded with exclusions ", text)
    quarter = read(squall, reports.cluster_report, "node-cluster-b", started - dt.timedelta(90))
    assert "one bar per week; at most 2 a bar" in one_line(
        "\n".join(pdf_pages(reports.render_pdf(squall.runtime, squall.actor, quarter)))
    )
    for days_back, unit in ((1000, "month"), (10 * 365, "year"), (400 * 365, "7 years")):
        long_ago = read(
            squall, reports.cluster_report, "node-cluster-b", started - dt.timedelta(days_back)
        )
        assert f"one bar per {unit}; at most 2 a bar" in one_line(
            pdf_pages(reports.render_pdf(squall.runtime, squall.actor, long_ago))[0]
        )
    earlier = read(
        squall,
        reports.cluster_report,
        "node-cluster-b",
        started - dt.timedelta(days=2),
        started - dt.timedelta(days=1),
    )
    assert earlier.deployments == () and earlier.success_rate is None
    with pytest.raises(ValidationError, match=r"starts .* after it ends"):
        read(squall, reports.cluster_report, "node-cluster-b", utcnow(), started)
    with pytest.raises(NotFound, match="no cluster 'web'"):
        read(squall, reports.cluster_report, "web", started)


def test_a_node_report_gives_its_history_failure_rate_and_last_failures(
    squall: SquallHarness, fleet6: Fleet
) -> None:
    (fleet6.node("node-05").root / "fail").write_text("")
    failed = squall.deploy("cache_rebuild", params={"rebuild_command": FAIL_IF_MARKED})
    (fleet6.node("node-05").root / "fail").unlink()
    fixed = squall.deploy(
        "cache_rebuild", target="host:node-05", params={"rebuild_command": FAIL_IF_MARKED}
    )
    report = read(squall, reports.node_report, "node-05")
    assert [(h.deployment_id, h.status) for h in report.history] == [
        (fixed.id, "succeeded"),
        (failed.id, "failed"),
    ]
    assert report.failure_rate == 0.5 and report.cluster == "node-cluster-b"
    assert report.last_deployed is not None and report.last_deployed.deployment_id == fixed.id
    ((failure),) = report.last_failures
    assert (failure.deployment_id, failure.step, failure.exit_code) == (failed.id, "rebuild", 7)
    text = one_line("\n".join(pdf_pages(reports.render_pdf(squall.runtime, squall.actor, report))))
    assert f"deployment #{failed.id}" in text and "failed at step rebuild, exit code 7" in text
    assert f"Last deployed #{fixed.id} cache_rebuild" in text
    with pytest.raises(NotFound, match="no node 'node-99'"):
        read(squall, reports.node_report, "node-99")


def test_a_node_fails_as_often_in_its_clusters_report_as_in_its_own(
    squall: SquallHarness, fleet6: Fleet
) -> None:
    started = utcnow()
    (fleet6.node("node-05").root / "fail").write_text("")
    rebuild = {"rebuild_command": FAIL_IF_MARKED}
    assert squall.deploy("cache_rebuild", params=rebuild).status == "failed"
    (fleet6.node("node-05").root / "fail").unlink()
    # A group cancelled at its thunder gate: node-05's task never ran, so it has no run.
    waiting = squall.deploy(
        "group",
        target="cluster:node-cluster-b",
        params={
            "inner_type": "cache_rebuild",
            "inner_params": rebuild,
            "lightning_nodes": ["node-04"],
        },
    )
    assert waiting.status == "awaiting_approval"
    squall.act(actions.cancel, waiting.id)
    assert squall.run(waiting.id).status == "cancelled"
    assert squall.deploy("cache_rebuild", target="host:node-05", params=rebuild).status == (
        "succeeded"
    )
    node = read(squall, reports.node_report, "node-05")
    cluster = read(
        squall, reports.cluster_report, "node-cluster-b", started - dt.timedelta(minutes=1)
    )
    (counted,) = [f for f in cluster.failures_by_node if f.name == "node-05"]
    assert (counted.failures, counted.tasks, counted.runs) == (1, 3, 2)
    assert (node.failure_rate, node.runs) == (0.5, 2)
    assert [h.status for h in node.history if h.deployment_id == waiting.id] == ["not_started"]
    cluster_pdf = one_line(
        "\n".join(pdf_pages(reports.render_pdf(squall.runtime, squall.actor, cluster)))
    )
    node_pdf = one_line(
        "\n".join(pdf_pages(reports.render_pdf(squall.runtime, squall.actor, node)))
    )
    assert "node failures runs failure rate node-05 1 2 50%" in cluster_pdf
    assert "Failure rate 50.0% of 2 runs" in node_pdf


def test_reports_need_view_on_what_they_cover(
    squall: SquallHarness, failed_on_node_05: int
) -> None:
    alice = Actor("alice", source="sso", grants=grants_of(["viewer@cluster:node-cluster-a"]))

    def as_alice(service: Callable[..., object], *args: object) -> object:
        with squall.runtime.db.read() as session:
            return service(session, squall.runtime, alice, *args)

    since = utcnow() - dt.timedelta(hours=1)
    assert as_alice(reports.cluster_report, "node-cluster-a", since)
    assert as_alice(reports.node_report, "node-02")
    with pytest.raises(PermissionDenied):
        as_alice(reports.cluster_report, "node-cluster-b", since)
    with pytest.raises(PermissionDenied):
        as_alice(reports.node_report, "node-05")
    # The deployment touched node-cluster-b too: to her, it is as if it did not exist.
    with pytest.raises(NotFound, match=f"no deployment {failed_on_node_05}"):
        as_alice(reports.deployment_report, failed_on_node_05)
    with pytest.raises(NotFound, match="no deployment 999"):
        read(squall, reports.deployment_report, 999)


def test_integrations_get_the_pdf_as_the_system(
    squall: SquallHarness, failed_on_node_05: int
) -> None:
    content = reports.deployment_pdf(squall.runtime, failed_on_node_05)
    assert "generated" in pdf_pages(content)[0] and "by Squall (system)" in pdf_pages(content)[0]
    name = reports.deployment_pdf_name(squall.runtime, failed_on_node_05)
    assert name == f"squall-deployment-{failed_on_node_05}.pdf"
    with pytest.raises(NotFound):
        reports.deployment_pdf(squall.runtime, 999)


# --- verification ------------------------------------------------------------------------


def verify(squall: SquallHarness, content: bytes) -> reports.verify.Verification:
    return read(squall, reports.verify_copy, content)


def edited(content: bytes, page: int, old: bytes, new: bytes) -> bytes:
    """The PDF with one page's drawing instructions edited, as a forger would."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(content)))
    stream = writer.pages[page].get_contents()
    assert stream is not None
    data = stream.get_data()
    assert old in data, f"{old!r} is not drawn on page {page + 1}"
    stream.set_data(data.replace(old, new))
    writer.pages[page].replace_contents(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_an_untouched_copy_verifies_and_an_altered_one_does_not(
    squall: SquallHarness, failed_on_node_05: int
) -> None:
    report = read(squall, reports.deployment_report, failed_on_node_05)
    pdf = reports.render_pdf(squall.runtime, squall.actor, report)
    intact = verify(squall, pdf)
    assert intact.verified, intact.problems
    assert intact.sha256 == fingerprint(report)
    assert len(intact.checks) == 3

    # node-05's exit code in the node table becomes 0; footers and metadata still agree.
    page, needle = _page_drawing(pdf, b"rebuild=7")
    hidden = verify(squall, edited(pdf, page, needle, needle.replace(b"rebuild=7", b"rebuild=0")))
    assert not hidden.verified
    assert any(f"page {page + 1} shows other content" in p for p in hidden.problems)

    sha = fingerprint(report).encode()
    other = b"0" * 64
    footer = verify(squall, edited(pdf, 0, sha, other))
    assert not footer.verified
    assert any("page 1: its footer shows fingerprint 000" in p for p in footer.problems)

    exported = json.loads(reports.render_json(squall.runtime, squall.actor, report))
    exported["data"]["nodes"][4]["status"] = "succeeded"
    assert not verify(squall, json.dumps(exported).encode()).verified
    exported["sha256"] = reports.verify.digest(exported["data"])  # consistent, but not Squall's
    consistent = verify(squall, json.dumps(exported).encode())
    assert not consistent.verified
    assert "nodes: differs from Squall's data" in consistent.problems

    tables = json.loads(reports.render_json(squall.runtime, squall.actor, report))
    tables["tables"]["nodes"]["rows"][4][3] = "succeeded"  # data and fingerprint untouched
    edited_table = verify(squall, json.dumps(tables, indent=1, ensure_ascii=False).encode())
    assert not edited_table.verified
    assert "differs from every copy Squall issued" in edited_table.problems[0]
    generated = json.loads(reports.render_json(squall.runtime, squall.actor, report))
    generated["generated"]["by"] = "someone-else"
    assert not verify(squall, json.dumps(generated, indent=1, ensure_ascii=False).encode()).verified

    exported_csv = reports.render_csv(squall.runtime, squall.actor, report)
    assert (
        exported_csv.startswith("#squall ")
        and f'"deployment_id": {failed_on_node_05}' in exported_csv
    )
    assert verify(squall, exported_csv.encode()).verified
    tampered = re.sub(
        r"(node-05,node-cluster-b,[^,]*,rebuild,)failed", r"\1succeeded", exported_csv
    )
    assert tampered != exported_csv and not verify(squall, tampered.encode()).verified

    json_copy = reports.render_json(squall.runtime, squall.actor, report).encode()
    squall.act(actions.retry, failed_on_node_05)  # the record moves on after the copies were made
    squall.run(failed_on_node_05)
    for copy in (pdf, json_copy, exported_csv.encode()):
        later = verify(squall, copy)
        assert later.verified, later.problems  # as of the moment it was made
        assert (
            later.subject
            == f'deployment {failed_on_node_05} "Cache rebuild on 6 nodes of 2 clusters"'
        )
        assert later.as_of is not None and later.as_of <= report.generation.at
        assert [change.split(" at ")[0] for change in later.newer] == ["attempt 2 started by root"]
        assert "Squall computes the same data from its database now" not in later.checks

    with pytest.raises(ValidationError, match="not a Squall report"):
        verify(squall, b"%PDF-1.4 garbage")
    with pytest.raises(ValidationError, match="not a Squall report"):
        verify(squall, b'{"format": "other"}')


def _page_drawing(pdf: bytes, text: bytes) -> tuple[int, bytes]:
    """The first page drawing `text`, and the drawing instruction holding it."""
    for index, page in enumerate(PdfReader(io.BytesIO(pdf)).pages):
        data = page.get_contents().get_data()
        found = re.search(rb"\([^()]*" + re.escape(text) + rb"[^()]*\) Tj", data)
        if found:
            return index, found.group(0)
    raise AssertionError(f"{text!r} is drawn on no page")


def _hostname() -> str:
    return subprocess.run(["hostname"], capture_output=True, text=True, check=True).stdout.strip()


def test_a_group_of_config_change_says_what_changed_per_wave_and_what_was_restored(
    squall: SquallHarness, fleet6: Fleet, tmp_path: Path
) -> None:
    """Two distinct diffs (two old contents), one of 70 lines: the PDF abbreviates it
    with a pointer, the JSON export has it whole, and the rollback's files."""
    long_old = "".join(f"old line {n}\n" for n in range(70))
    for number, node in enumerate(fleet6.nodes):
        old = long_old if node.name == "node-03" else f"old {number % 2}\n"
        (fleet6.node(node.name).root / "app.conf").write_text(old)
    created = squall.create(
        "group",
        params={
            "inner_type": "config_change",
            "inner_params": {"path": "app.conf", "content": "new +63 -43\n"},
            "lightning_size": "2",
            "wave_size": "2",
            "thunder": {"gate": "auto"},
        },
    )
    assert squall.run(created).status == "succeeded"
    squall.act(actions.rollback, created)
    assert squall.run(created).status == "rolled_back"
    report = read(squall, reports.deployment_report, created)
    pdf = reports.render_pdf(squall.runtime, squall.actor, report)
    text = one_line("\n".join(pdf_pages(pdf)))
    assert "Files written app.conf: 6 of 6 node(s) changed" in text
    assert "lightning: 2 of 2" in text and "thunder 2: 2 of 2" in text
    assert re.search(
        rf"node-03 thunder \d changed \+1 -70 \.squall/backups/{created}/app\.conf", text
    )
    assert "File diffs diff 1, 3 node(s)" in text
    assert "old line 55" in text and "old line 69" not in text
    assert "more line(s): see the JSON export (table file_diffs)" in text
    assert "Files restored app.conf: restored on 6 of 6 node(s)" in text
    # Its status per cluster names the nodes undone, not as successes that still stand.
    undone = re.findall(r"(\d+)/(\d+) deployed, (\d+) undone", text)
    assert undone and sum(int(restored) for _, _, restored in undone) == 6, text
    assert not re.search(r"\d+/\d+ ok", text)
    assert "undone succeeded failed skipped other" in text  # the chart's legend
    (tmp_path / "group.pdf").write_bytes(pdf)
    assert f"restored the previous content from .squall/backups/{created}/app.conf" in text
    document = json.loads(reports.render_json(squall.runtime, squall.actor, report))
    written = document["tables"]["files_written"]
    assert written["headers"] == ["node", "stage", "change", "lines", "backup"]
    assert len(written["rows"]) == 6 and {row[1] for row in written["rows"]} == {
        "lightning",
        "thunder 1",
        "thunder 2",
    }
    diffs = document["tables"]["file_diffs"]["rows"]
    assert sorted(int(row[1]) for row in diffs) == [1, 2, 3]  # every distinct diff
    whole = next(row[3] for row in diffs if row[2] == "node-03")
    assert "-old line 69" in whole and "+new +63 -43" in whole
    restored = document["tables"]["files_restored"]["rows"]
    assert {row[2] for row in restored} == {"restored"} and len(restored) == 6
    images = render_pages(pdf, tmp_path / "pages")
    assert len(images) == len(pdf_pages(pdf))


def test_exports_carry_node_times_addresses_zones_and_facts_unaltered(
    squall: SquallHarness, fleet6: Fleet
) -> None:
    result = squall.deploy("noop")
    report = read(squall, reports.deployment_report, result.id)
    table = reports.render_csv(squall.runtime, squall.actor, report)
    claims = json.loads(table.split("\n", 1)[0].removeprefix("#squall "))
    assert "drop the first ' of any cell starting with '" in claims["formula_guard"]
    rows = list(csv.DictReader(io.StringIO(csv_body(table))))
    node = fleet6.node("node-04")
    (row,) = [r for r in rows if r["node"] == "node-04"]
    assert row["address"] == f"{node.host}:{node.port}"
    started = dt.datetime.fromisoformat(row["started_at"])
    finished = dt.datetime.fromisoformat(row["finished_at"])
    assert started.utcoffset() == dt.timedelta(0) and started <= finished
    assert row["started_at"].endswith("+00:00")
    document = json.loads(reports.render_json(squall.runtime, squall.actor, report))
    nodes = document["tables"]["nodes"]
    assert "address" in nodes["headers"] and "finished_at" in nodes["headers"]
    facts = document["tables"]["facts"]
    assert len(facts["rows"]) == 6 and facts["headers"][0] == "node"
    assert "facts" in reports.render_csv(squall.runtime, squall.actor, report, "facts")


def test_the_formula_guard_is_reversible() -> None:
    from squall.core.reports.exports import _safe, unguarded

    for cell in ("+63 -43", "=SUM(A1)", "'quoted", "plain", "-bash: x"):
        guarded = _safe(cell)
        assert isinstance(guarded, str) and unguarded(guarded) == cell
        assert not guarded.startswith(("=", "+", "-", "@"))


def test_the_first_page_is_what_an_approver_signs_off_on(
    squall: SquallHarness, fleet6: Fleet, tmp_path: Path
) -> None:
    """A gated group of config_change: who approved (by name), the file, where it failed,
    how long; the first page filled, its headings never left at a page's foot."""
    (fleet6.node("node-05").root / "fail").write_text("")
    bob = Actor("bob", frozenset({"approver"}), "sso")
    created = squall.create(
        "group",
        params={
            "inner_type": "config_change",
            "inner_params": {
                "path": "app.conf",
                "content": "x=1\n",
                "validate_command": ["sh", "-c", "test ! -e fail || exit 3"],
            },
            "lightning_size": "2",
            "wave_size": "4",
            "thunder": {"gate": "manual", "max_fail": "5"},
        },
    )
    squall.run(created)
    squall.act(actions.promote, created, actor=bob)
    squall.run(created)
    report = read(squall, reports.deployment_report, created)
    pdf = reports.render_pdf(squall.runtime, squall.actor, report)
    first = one_line(pdf_pages(pdf)[0])
    assert re.search(r"Approved by bob \(thunder 1, [\d-]+ [\d:]+ UTC\)", first), first
    assert "Environment" in first and "Requested by" in first
    assert "What changed group of config_change: file app.conf" in first
    assert "Failure points 1 node(s) at validate: validation failed (exited with status 3)" in first
    assert re.search(r"Duration [\d.]+ s \(", first)
    _headings_have_rows_under_them(pdf)
    (tmp_path / "r.pdf").write_bytes(pdf)


def _headings_have_rows_under_them(pdf: bytes) -> None:
    """No heading is the last thing on its page."""
    headings = ("Parameters", "Options", "Approvals", "Per cluster", "Nodes", "Timeline")
    for page in pdf_pages(pdf):
        lines = [line.strip() for line in page.splitlines() if line.strip()]
        body = [line for line in lines if not line.startswith(("Squall ·", "SHA-256", "page "))]
        assert body and body[-1] not in headings, body[-3:]


def test_pages_look_finished(squall: SquallHarness, fleet6: Fleet, tmp_path: Path) -> None:
    """Alike failures grouped, in natural order; non-Latin text drawn in embedded fonts."""
    for name in ("node-02", "node-04", "node-05", "node-06"):
        (fleet6.node(name).root / "fail").write_text("")
    command = ["sh", "-c", 'echo "缓存重建失败 Überprüfung $(hostname)"; test ! -e fail || exit 7']
    created = squall.deploy("cache_rebuild", params={"rebuild_command": command})
    report = read(squall, reports.deployment_report, created.id)
    pdf = reports.render_pdf(squall.runtime, squall.actor, report)
    text = one_line("\n".join(pdf_pages(pdf)))
    assert "缓存重建失败 Überprüfung" in text
    assert "4 nodes, same output" in text and "node-02, node-04, node-05, node-06" in text
    (tmp_path / "r.pdf").write_bytes(pdf)
    listed = subprocess.run(
        ["pdffonts", str(tmp_path / "r.pdf")], capture_output=True, check=True, text=True
    ).stdout
    rows = [line.split() for line in listed.splitlines()[2:]]
    assert rows and all(row[-5] == "yes" for row in rows), listed  # every font embedded
    names = " ".join(row[0] for row in rows)
    assert "DejaVuSans" in names and "MicroHei" in names, listed
    images = render_pages(pdf, tmp_path / "pages")
    assert len(images) == len(pdf_pages(pdf))


def test_names_sort_naturally_and_stage_names_wrap_whole(tmp_path: Path) -> None:
    from reportlab.platypus import SimpleDocTemplate

    from squall.core.reports import pdf as layout
    from squall.core.reports.stats import natural

    assert sorted(["web-10", "web-2", "web-1", "db-3"], key=natural) == [
        "db-3",
        "web-1",
        "web-2",
        "web-10",
    ]
    stage = "rebuild the shared caches of the whole estate, then reload every front server"
    table = layout._table(("#", "stage"), [("1", stage)], (0.05, 0.1), wrap=(1,))
    SimpleDocTemplate(str(tmp_path / "t.pdf"), pagesize=layout.PAGE).build([table])
    assert stage in one_line(PdfReader(tmp_path / "t.pdf").pages[0].extract_text())
