"""`squall report …`, run as a user runs it: a separate process on a fresh data directory
whose demo inventory of local nodes really deploys."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter
from test_cli import demo_node, env_for, squall

from squall.core.reports.exports import csv_body


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache rebuild on the three demo-api nodes; demo-api-2 exits 5."""
    data_dir = tmp_path_factory.mktemp("reports-cli") / "data"
    assert squall(data_dir, "inventory", "list").returncode == 0  # creates the demo nodes
    demo_node(data_dir, "demo-api-2").mkdir(parents=True, exist_ok=True)
    (demo_node(data_dir, "demo-api-2") / "fail").write_text("")
    result = squall(
        data_dir,
        "deploy",
        "cache_rebuild",
        "-t",
        "cluster:demo-api",
        "-p",
        "rebuild_command=sh -c 'echo rebuilt; test ! -e fail || exit 5'",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    return data_dir


def test_a_deployment_report_is_printed_or_written_as_pdf_csv_and_json(
    deployed: Path, tmp_path: Path
) -> None:
    shown = squall(deployed, "report", "deployment", "1")
    assert shown.returncode == 0, shown.stderr
    assert (
        "deployment 1 Cache rebuild on 3 nodes of demo-api: failed (1 failed, 2 succeeded)"
        in shown.stdout
    )
    pdf, table, data = tmp_path / "r.pdf", tmp_path / "r.csv", tmp_path / "r.json"
    written = squall(
        deployed,
        "report",
        "deployment",
        "1",
        "--pdf",
        str(pdf),
        "--csv",
        str(table),
        "--json",
        str(data),
    )
    assert written.returncode == 0, written.stderr
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(pdf).pages)
    assert (
        "demo-api-2 (demo-api, stage rebuild, attempt 1): failed at step rebuild, exit code 5"
        in text
    )
    rows = {row["node"]: row for row in csv.DictReader(io.StringIO(csv_body(table.read_text())))}
    assert rows["demo-api-2"]["exit_code"] == "5" and rows["demo-api-1"]["status"] == "succeeded"
    assert json.loads(data.read_text())["data"]["deployment_id"] == 1
    clusters = tmp_path / "clusters.csv"
    assert (
        squall(
            deployed, "report", "deployment", "1", "--csv", str(clusters), "--table", "clusters"
        ).returncode
        == 0
    )
    assert clusters.read_text().splitlines()[2].startswith("demo-api,3,2,1,0,0,")


def test_cluster_and_node_reports(deployed: Path, tmp_path: Path) -> None:
    cluster = squall(deployed, "report", "cluster", "demo-api", "--since", "1d")
    assert cluster.returncode == 0, cluster.stderr
    assert "1 deployment(s), success rate 0%, 1 node failure(s)" in cluster.stdout
    node = squall(deployed, "report", "node", "demo-api-2", "--pdf", str(tmp_path / "n.pdf"))
    assert node.returncode == 0, node.stderr
    assert "Failure rate 100.0%" in " ".join(
        PdfReader(tmp_path / "n.pdf").pages[0].extract_text().split()
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["deployment", "42"], "no deployment 42"),
        (["cluster", "nowhere", "--since", "7d"], "no cluster 'nowhere'"),
        (["cluster", "demo-api", "--since", "last week"], "invalid time 'last week'"),
        (["cluster", "demo-api", "--since", "99999999d"], "too long ago"),
        (["cluster", "demo-api", "--since", "1d", "--until", "2d"], "starts"),
        (["node", "nobody"], "no node 'nobody'"),
        (["deployment", "1", "--csv", "{tmp}/x.csv", "--table", "nope"], "no table 'nope'"),
    ],
)
def test_bad_requests_exit_2_and_write_nothing(
    deployed: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    pdf = tmp_path / "out.pdf"
    args = [arg.format(tmp=tmp_path) for arg in args]
    result = squall(deployed, "report", *args, "--pdf", str(pdf))
    assert result.returncode == 2
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []  # neither the PDF nor the CSV


def test_verify_exits_0_for_a_true_copy_and_1_for_an_altered_one(
    deployed: Path, tmp_path: Path
) -> None:
    pdf = tmp_path / "r.pdf"
    assert squall(deployed, "report", "deployment", "1", "--pdf", str(pdf)).returncode == 0
    good = squall(deployed, "report", "verify", str(pdf))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "verified: this copy matches Squall's data" in good.stdout
    writer = PdfWriter(clone_from=PdfReader(pdf))
    stream = writer.pages[0].get_contents()
    assert stream is not None and b"(FAILED) Tj" in stream.get_data()
    stream.set_data(stream.get_data().replace(b"(FAILED) Tj", b"(SUCCEEDED) Tj"))
    writer.pages[0].replace_contents(stream)
    forged = tmp_path / "forged.pdf"
    with forged.open("wb") as out:
        writer.write(out)
    bad = squall(deployed, "report", "verify", str(forged))
    assert bad.returncode == 1
    assert "page 1 shows other content than Squall renders" in bad.stderr
    assert "NOT VERIFIED" in bad.stderr
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"hello")
    assert squall(deployed, "report", "verify", str(junk)).returncode == 2


def _whole_report(deployed: Path, *outputs: str) -> subprocess.CompletedProcess[str]:
    return squall(deployed, "report", "deployment", "1", *outputs)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("{tmp}", "it is a folder"),
        ("/proc/squall-report.pdf", "cannot write /proc/squall-report.pdf: "),
        ("{tmp}/readonly.pdf", "the file is read-only"),
        ("/dev/null", "it is not a regular file"),
        ("{tmp}/missing/r.pdf", "there is no folder"),
    ],
)
def test_an_unwritable_path_exits_2_in_one_line_and_writes_nothing(
    deployed: Path, tmp_path: Path, target: str, message: str
) -> None:
    readonly = tmp_path / "readonly.pdf"
    readonly.write_bytes(b"kept")
    readonly.chmod(0o444)
    json_file = tmp_path / "r.json"
    result = _whole_report(deployed, "--json", str(json_file), "--pdf", target.format(tmp=tmp_path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["readonly.pdf"]
    assert readonly.read_bytes() == b"kept"


def test_two_outputs_naming_one_file_are_refused(deployed: Path, tmp_path: Path) -> None:
    same = tmp_path / "r.out"
    result = _whole_report(deployed, "--json", str(same), "--csv", str(tmp_path / "." / "r.out"))
    assert result.returncode == 2
    assert "are the same file" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_leaves_no_partial_file_and_the_old_one_whole(
    deployed: Path, tmp_path: Path
) -> None:
    """An 8 KiB tmpfs, mounted in a private mount namespace: the CSV fits, the JSON does
    not; neither is written, and the JSON already there stays as it was."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    disk = tmp_path / "disk"
    disk.mkdir()
    probe = subprocess.run(
        ["unshare", "-rm", "mount", "-t", "tmpfs", "tmpfs", str(disk)], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip("no private mount namespace here")
    script = (
        f"mount -t tmpfs -o size=8k tmpfs {disk} && echo old > {disk}/r.json && "
        f"{sys.executable} -m squall report deployment 1 --csv {disk}/r.csv "
        f"--json {disk}/r.json --pdf {disk}/r.pdf; echo exit=$?; ls -A {disk}; cat {disk}/r.json"
    )
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        env=env_for(deployed),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "exit=2" in result.stdout, result.stdout + result.stderr
    assert "No space left on device" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout.split("exit=2\n")[1] == "r.json\nold\n"


def test_verify_names_what_it_checked_and_a_damaged_file_is_one_line(
    deployed: Path, tmp_path: Path
) -> None:
    paths = {form: tmp_path / f"r.{form}" for form in ("pdf", "csv", "json")}
    assert _whole_report(deployed, *(f"--{f}={p}" for f, p in paths.items())).returncode == 0
    for form, path in paths.items():
        good = squall(deployed, "report", "verify", str(path))
        assert good.returncode == 0, good.stderr
        assert f'{form.upper()} of the report on deployment 1 "Cache rebuild on 3 nodes' in (
            good.stdout
        )
        assert re.search(r"as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", good.stdout)
        damaged = tmp_path / f"cut.{form}"
        damaged.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])
        bad = squall(deployed, "report", "verify", str(damaged))
        assert bad.returncode in (1, 2), bad.stdout + bad.stderr
        if bad.returncode == 2:
            assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
            assert "not a Squall report" in bad.stderr
        else:
            assert "NOT VERIFIED" in bad.stderr and "Traceback" not in bad.stderr
    assert (
        "the JSON is damaged or cut short"
        in squall(deployed, "report", "verify", str(tmp_path / "cut.json")).stderr
    )
