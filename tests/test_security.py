"""Attacks on Squall that must fail: secrets leaking through diffs, local nodes as a back
door to the Squall host, and the smaller holes found while trying it as an attacker would."""

from __future__ import annotations

import secrets
from pathlib import Path

from squall.core.services import reports
from squall.testing.fleet import Fleet
from squall.testing.harness import SquallHarness

# --- secrets never leak through diffs ---------------------------------------------------


def test_rotating_a_secret_masks_the_old_and_the_new_value_everywhere(
    squall: SquallHarness, fleet: Fleet, tmp_path: Path
) -> None:
    old, new = f"old-{secrets.token_hex(8)}", f"new-{secrets.token_hex(8)}"
    params = {
        "path": "app.conf",
        "template": "user=app\npassword=${db_password}\nport=5432\n",
        "secrets": {"db_password": old},
    }
    first = squall.deploy("config_change", target="host:node-01", params=params)
    assert first.status == "succeeded", first.failures
    rotated = {**params, "secrets": {"db_password": new}}
    second = squall.deploy("config_change", target="host:node-01", params=rotated)
    assert second.status == "succeeded", second.failures
    node = next(n for n in fleet.nodes if n.name == "node-01")
    assert f"password={new}" in (node.root / "app.conf").read_text()

    lines = squall.logs(second.id)
    assert "-password=***" in lines and "+password=***" in lines  # both sides masked
    diff = squall.facts(second.id, "write")["node-01"]["diff"]
    assert "-password=***" in diff and "+password=***" in diff
    with squall.runtime.db.read() as session:
        report = reports.deployment_report(session, squall.runtime, squall.actor, second.id)
    shown = [
        "\n".join(squall.logs(first.id) + lines),
        repr(squall.summary(second.id)),
        reports.render_json(report),
    ]
    sections = squall.runtime.plugins.hook.squall_report_sections(
        deployment=squall.summary(second.id)
    )
    shown.append(repr(sections))
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(reports.render_pdf(report))
    for text in shown:
        assert old not in text and new not in text
    database = squall.runtime.settings.data_dir / "squall.db"
    files = [database, Path(f"{database}-wal")]
    assert files[1].exists()  # the write-ahead log holds the recent writes
    for path in files:
        content = path.read_bytes()
        assert old.encode() not in content and new.encode() not in content, path
