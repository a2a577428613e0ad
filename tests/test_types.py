"""Every built-in deployment type, end to end on the fleet's real sshd nodes."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from squall.core.errors import PlanError, ValidationError
from squall.core.models import Base, Deployment
from squall.core.reporting import ReportSection
from squall.plugins.noop import FACTS, PROBE
from squall.testing.fleet import Fleet
from squall.testing.harness import SquallHarness


def deployment_count(harness: SquallHarness) -> int:
    with harness.runtime.db.read() as session:
        return session.scalar(select(func.count()).select_from(Deployment)) or 0


def stored_rows(harness: SquallHarness) -> str:
    """Every row of every table, as text: what anyone reading the database would see."""
    with harness.runtime.db.read() as session:
        return "\n".join(
            repr(tuple(row))
            for table in Base.metadata.sorted_tables
            for row in session.execute(table.select())
        )


def report(harness: SquallHarness, deployment_id: int, title: str) -> ReportSection:
    sections = harness.runtime.plugins.hook.squall_report_sections(
        deployment=harness.summary(deployment_id)
    )
    (section,) = [found for group in sections for found in group or () if found.title == title]
    return section


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def roots(fleet: Fleet, *names: str) -> Iterator[tuple[str, Path]]:
    for node in fleet.nodes:
        if not names or node.name in names:
            yield node.name, node.root


# --- noop -------------------------------------------------------------------------------


def test_noop_prints_its_message_verbatim_on_every_node_and_records_facts(
    squall: SquallHarness, fleet: Fleet
) -> None:
    message = r"-n rolling out C:\new\tab at 100% \c done"
    result = squall.deploy("noop", params={"message": message})
    assert result.status == "succeeded"
    assert result.counts == {"succeeded": len(fleet.nodes)}
    facts = squall.facts(result.id, "probe")
    assert set(facts) == {node.name for node in fleet.nodes}
    for node in fleet.nodes:
        log = squall.logs(result.id, node=node.name)
        assert log[log.index("step 1/2: message") + 1] == message
        # The nodes run on this machine: the probe must find what it finds here.
        found = facts[node.name]
        assert found["user"] == node.user
        assert found["hostname"] == os.uname().nodename
        assert found["kernel"] == f"{os.uname().sysname} {os.uname().release}"
        assert len([float(figure) for figure in found["load"].split()]) == 3
        disk = os.statvfs(node.root)
        free_kib = disk.f_bavail * disk.f_frsize // 1024
        assert abs(int(found["disk_free_kib"]) - free_kib) < 100 * 1024  # others write too


def test_the_noop_probe_reads_the_load_from_uptime_where_proc_is_missing(
    tmp_path: Path,
) -> None:
    command = PROBE.text.replace("/proc/loadavg", str(tmp_path / "absent"))
    assert command != PROBE.text
    done = subprocess.run(
        ["sh", "-c", command], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    found = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert tuple(found) == FACTS
    assert "load average" in found["load"]
    assert done.stderr == ""


# --- config_change ----------------------------------------------------------------------


def test_config_change_writes_the_content_with_its_mode_to_a_relative_path_on_every_node(
    squall: SquallHarness, fleet: Fleet
) -> None:
    content = "listen 8080\nworkers 4\n"
    result = squall.deploy(
        "config_change", params={"path": "etc/app/app.conf", "content": content, "mode": "0640"}
    )
    assert result.status == "succeeded", result.failures
    for _, root in roots(fleet):
        written = root / "etc" / "app" / "app.conf"
        assert written.read_text() == content
        assert mode_of(written) == 0o640
        # Nothing beside it: the mark that it is new is in the backup folder.
        assert sorted(path.name for path in (root / "etc" / "app").iterdir()) == ["app.conf"]
        assert (root / f".squall/backups/{result.id}/app.conf.did-not-exist").is_file()
    assert {data["created"] for data in squall.facts(result.id, "write").values()} == {True}
    section = report(squall, result.id, "Files written")
    assert (
        section.text
        == f"etc/app/app.conf: {len(fleet.nodes)} of {len(fleet.nodes)} node(s) changed"
    )
    assert section.headers == ("node", "change", "lines", "backup")
    assert sorted(section.rows) == [(name, "created", "+2 -0", "") for name, _ in roots(fleet)]


def test_config_change_backs_up_the_previous_file_privately_and_logs_the_diff(
    squall: SquallHarness, fleet: Fleet
) -> None:
    nodes = ("node-01", "node-02", "node-03")
    for _, root in roots(fleet, *nodes):
        (root / "app.conf").write_text("keep\nold\n")
        os.chmod(root / "app.conf", 0o600)
    params = {"path": "app.conf", "content": "keep\nnew\n"}
    first = squall.deploy("config_change", target="host:node-0[1-3]", params=params)
    assert first.status == "succeeded", first.failures
    backup = f".squall/backups/{first.id}/app.conf"
    for name, root in roots(fleet, *nodes):
        assert (root / "app.conf").read_text() == "keep\nnew\n"
        assert mode_of(root / "app.conf") == 0o600  # no mode given: the old one is kept
        assert (root / backup).read_text() == "keep\nold\n"
        assert mode_of(root / backup) == 0o600  # a copy of a private file stays private
        assert mode_of(root / ".squall/backups" / str(first.id)) == 0o700
        assert [path.name for path in root.glob("app.conf*")] == ["app.conf"]
        log = squall.logs(first.id, node=name)
        assert "-old" in log and "+new" in log and " keep" in log
        assert f"kept the previous content in {backup}" in log
    facts = squall.facts(first.id, "write")
    assert facts["node-01"] == {
        "changed": True,
        "created": False,
        "added": 1,
        "removed": 1,
        "backup": backup,
        "diff": [
            "--- app.conf (before)",
            "+++ app.conf (after)",
            "@@ -1,2 +1,2 @@",
            " keep",
            "-old",
            "+new",
        ],
        "diff_lines": 6,
    }
    section = report(squall, first.id, "Files written")
    assert section.text == "app.conf: 3 of 3 node(s) changed"
    assert sorted(section.rows) == [(name, "changed", "+1 -1", backup) for name in nodes]
    diffs = report(squall, first.id, "File diffs").text.splitlines()
    assert diffs[0] == "diff 1, 3 node(s): node-01, node-02, node-03"
    assert diffs[1:] == facts["node-01"]["diff"]  # the same diff everywhere, shown once

    before = {name: (root / "app.conf").stat() for name, root in roots(fleet, *nodes)}
    again = squall.deploy("config_change", target="host:node-0[1-3]", params=params)
    assert again.status == "succeeded", again.failures
    for name, root in roots(fleet, *nodes):
        after = (root / "app.conf").stat()
        assert (after.st_ino, after.st_mtime_ns) == (before[name].st_ino, before[name].st_mtime_ns)
        assert not (root / f".squall/backups/{again.id}").exists()
        assert "app.conf already has the wanted content; nothing written" in squall.logs(
            again.id, node=name
        )
    assert {data["changed"] for data in squall.facts(again.id, "write").values()} == {False}
    unchanged = report(squall, again.id, "Files written")
    assert unchanged.text == "app.conf: 0 of 3 node(s) changed"
    assert {row[1] for row in unchanged.rows} == {"unchanged"}

    # The same content with a mode: only the mode changes.
    tightened = squall.deploy(
        "config_change", target="host:node-0[1-3]", params={**params, "mode": "0400"}
    )
    assert tightened.status == "succeeded", tightened.failures
    for name, root in roots(fleet, *nodes):
        assert mode_of(root / "app.conf") == 0o400
        assert (root / "app.conf").stat().st_ino == before[name].st_ino
    assert {data["mode_changed"] for data in squall.facts(tightened.id, "write").values()} == {True}
    assert {row[1] for row in report(squall, tightened.id, "Files written").rows} == {
        "mode changed"
    }


def test_a_failed_validation_puts_the_previous_file_back_and_skips_the_reload(
    squall: SquallHarness, fleet: Fleet
) -> None:
    # node-01 and node-03 have the file; only node-03 and node-04 pass validation.
    for _, root in roots(fleet, "node-01", "node-03"):
        (root / "app.conf").write_text("old\n")
        os.chmod(root / "app.conf", 0o600)
    for _, root in roots(fleet, "node-03", "node-04"):
        (root / "valid-here").touch()
    result = squall.deploy(
        "config_change",
        target="host:node-0[1-4]",
        params={
            "path": "app.conf",
            "content": "new\n",
            "mode": "0644",
            "validate_command": [
                "sh",
                "-c",
                'echo validate >> steps; test -e valid-here && grep -qx new "$1"',
                "validate",
                "{path}",
            ],
            "reload_command": ["sh", "-c", "echo reload >> steps"],
        },
    )
    assert result.status == "failed"
    assert result.counts == {"succeeded": 2, "failed": 2}
    failures = {failure.node: failure for failure in result.failures}
    assert set(failures) == {"node-01", "node-02"}
    assert {(failure.stage, failure.step, failure.exit_code) for failure in failures.values()} == {
        ("change", "validate", 1)
    }
    root = {name: path for name, path in roots(fleet)}
    # node-01: the old content, and the old mode, are back.
    assert "restored the previous content" in (failures["node-01"].error or "")
    assert (root["node-01"] / "app.conf").read_text() == "old\n"
    assert mode_of(root["node-01"] / "app.conf") == 0o600
    # node-02: the file did not exist before, so it is gone again.
    assert "removed app.conf, which did not exist before" in (failures["node-02"].error or "")
    assert not (root["node-02"] / "app.conf").exists()
    # Nothing of the change is left on node-02; node-01 keeps its backup, as the report says.
    assert sorted(path.name for path in root["node-02"].glob("app.conf*")) == []
    assert not (root["node-02"] / ".squall/backups" / str(result.id)).exists()
    assert sorted(path.name for path in root["node-01"].glob("app.conf*")) == ["app.conf"]
    assert (root["node-01"] / f".squall/backups/{result.id}/app.conf").read_text() == "old\n"
    for name in ("node-01", "node-02"):
        assert (root[name] / "steps").read_text() == "validate\n"  # never reloaded
    for name in ("node-03", "node-04"):
        assert (root[name] / "app.conf").read_text() == "new\n"
        assert mode_of(root[name] / "app.conf") == 0o644
        assert (root[name] / "steps").read_text() == "validate\nreload\n"
    section = report(squall, result.id, "Files written")
    assert section.text == "app.conf: 2 of 4 node(s) changed"
    assert sorted(row[:2] for row in section.rows) == [
        ("node-01", "rolled back"),
        ("node-02", "rolled back"),
        ("node-03", "changed"),
        ("node-04", "created"),
    ]
    # Each diff shows what was written, and on which of its nodes it was not kept.
    diffs = report(squall, result.id, "File diffs").text.splitlines()
    headers = sorted(line.split(", ", 1)[1] for line in diffs if line.startswith("diff "))
    assert headers == [
        "2 node(s): node-01, node-03; rolled back on 1, whose validation failed: node-01",
        "2 node(s): node-02, node-04; rolled back on 1, whose validation failed: node-02",
    ]


def test_config_change_fills_its_template_and_never_shows_or_stores_a_secret_in_clear(
    squall: SquallHarness, fleet: Fleet
) -> None:
    password = "hunter2-Zq8"
    key = (
        "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSjAgEAAoIB\n-----END KEY-----"
    )
    template = (
        "node=${node}\ncluster=${cluster}\nport=${port}\npassword=${password}\n${key}\ncost=$$5\n"
    )
    result = squall.deploy(
        "config_change",
        params={
            "path": "app.conf",
            "template": template,
            "values": {"port": "8080"},
            "secrets": {"password": password, "key": key},
            "validate_command": ["sh", "-c", 'grep "^password=" "$1"', "validate", "{path}"],
        },
    )
    assert result.status == "succeeded", result.failures
    written = {}
    for node in fleet.nodes:
        written[node.name] = (
            f"node={node.name}\ncluster={node.cluster}\nport=8080\n"
            f"password={password}\n{key}\ncost=$5\n"
        )
        assert (node.root / "app.conf").read_text() == written[node.name]

    lines = squall.logs(result.id)
    assert "+node=node-01" in lines
    assert "+password=***" in lines  # the diff, redacted
    assert "password=***" in lines  # what the validate command printed, redacted
    assert lines.count("+***") == len(fleet.nodes) * len(key.splitlines())
    logs = "\n".join(lines)
    stored = stored_rows(squall)
    for text in (logs, stored):
        assert password not in text
        for line in key.splitlines():
            assert line not in text
        for content in written.values():
            assert base64.b64encode(content.encode()).decode() not in text
    assert squall.summary(result.id).params["secrets"] == {"password": "***", "key": "***"}


BAD_CONFIG_CHANGES: list[tuple[dict[str, Any], str]] = [
    ({"path": "a.conf", "content": "x", "template": "y"}, "exactly one of content and template"),
    ({"path": "a.conf"}, "exactly one of content and template"),
    ({"path": "a.conf", "template": "port=${port}"}, "placeholders without a value: port"),
    ({"path": "a.conf", "template": "cost: $5"}, "starts no placeholder"),
    ({"path": "a.conf", "content": "x", "mode": "0999"}, "octal file mode"),
    ({"path": "a.conf", "content": "x", "mode": "rw-r--r--"}, "octal file mode"),
    ({"path": "a.conf", "content": "x", "mode": "17777"}, "octal file mode"),
    ({"path": "a.conf", "content": "x", "mode": ""}, "octal file mode"),
    ({"path": "conf/", "content": "x"}, "must name a file"),
    ({"path": "conf/..", "content": "x"}, "must name a file"),
    ({"path": "a\nb", "content": "x"}, "NUL or newline"),
    ({"path": "a.conf", "content": "x", "backup_dir": " "}, "must name a folder"),
    ({"path": "a.conf", "content": "x", "backup_dir": "b\0"}, "NUL or newline"),
    ({"path": "a.conf", "content": "x", "secrets": {"pw": "ab"}}, "at least 3 characters"),
]


def test_config_change_refuses_bad_parameters_and_creates_nothing(squall: SquallHarness) -> None:
    for params, problem in BAD_CONFIG_CHANGES:
        with pytest.raises(ValidationError, match=problem):
            squall.create("config_change", params=params)
    assert deployment_count(squall) == 0


def test_a_folder_that_reads_every_file_in_it_never_sees_a_backup(
    squall: SquallHarness, fleet: Fleet
) -> None:
    """Like logrotate with /etc/logrotate.d, the validation reads every file in the folder
    and refuses a line found twice: a backup of the file beside it would fail it."""
    from squall.core.services import actions

    nodes = ("node-01", "node-02")
    for _, root in roots(fleet, *nodes):
        (root / "conf.d").mkdir()
        (root / "conf.d" / "app.conf").write_text("/var/log/app.log\nrotate 7\n")
        (root / "conf.d" / "web.conf").write_text("/var/log/web.log\n")
    reads_the_folder = ["sh", "-c", "! cat conf.d/* | sort | uniq -d | grep -q ."]
    params = {
        "path": "conf.d/app.conf",
        "content": "/var/log/app.log\nrotate 14\n",
        "validate_command": reads_the_folder,
        "reload_command": reads_the_folder,
        "backup_dir": "state/config backups",
    }
    result = squall.deploy("config_change", target="host:node-0[12]", params=params)
    assert result.status == "succeeded", result.failures
    backup = f"state/config backups/{result.id}/app.conf"
    for name, root in roots(fleet, *nodes):
        assert sorted(path.name for path in (root / "conf.d").iterdir()) == ["app.conf", "web.conf"]
        assert (root / "conf.d" / "app.conf").read_text() == "/var/log/app.log\nrotate 14\n"
        assert (root / backup).read_text() == "/var/log/app.log\nrotate 7\n"
        assert f"kept the previous content in {backup}" in squall.logs(result.id, node=name)
    assert {data["backup"] for data in squall.facts(result.id, "write").values()} == {backup}
    assert {row[3] for row in report(squall, result.id, "Files written").rows} == {backup}

    squall.act(actions.rollback, result.id)
    undone = squall.run(result.id)
    assert undone.status == "rolled_back", undone.failures
    for name, root in roots(fleet, *nodes):
        assert sorted(path.name for path in (root / "conf.d").iterdir()) == ["app.conf", "web.conf"]
        assert (root / "conf.d" / "app.conf").read_text() == "/var/log/app.log\nrotate 7\n"
        assert (root / backup).is_file()  # the report names it: it stays
        assert f"restored the previous content from {backup}" in squall.logs(result.id, node=name)


def test_a_rollback_finds_what_an_earlier_squall_kept_beside_the_file(
    squall: SquallHarness, fleet: Fleet
) -> None:
    """Deployments made before the backup folder kept the previous file (or the mark of a
    new one) beside the file: rolled back today, they still put it back."""
    from squall.core.services import actions

    old, new = fleet.node("node-03").root, fleet.node("node-04").root
    (old / "app.conf").write_text("before\n")
    result = squall.deploy(
        "config_change", target="host:node-0[34]", params={"path": "app.conf", "content": "x\n"}
    )
    assert result.status == "succeeded", result.failures
    # Where the earlier layout had them, and only there.
    folder = f".squall/backups/{result.id}"
    os.rename(old / folder / "app.conf", old / f"app.conf.squall-backup-{result.id}")
    os.rename(new / folder / "app.conf.did-not-exist", new / f"app.conf.squall-created-{result.id}")
    (old / folder).rmdir()
    (new / folder).rmdir()

    squall.act(actions.rollback, result.id)
    undone = squall.run(result.id)
    assert undone.status == "rolled_back", undone.failures
    assert (old / "app.conf").read_text() == "before\n"
    assert not (new / "app.conf").exists()
    assert sorted(path.name for path in old.glob("app.conf*")) == [
        "app.conf",
        f"app.conf.squall-backup-{result.id}",
    ]
    assert list(new.glob("app.conf*")) == []
    logs = {name: squall.logs(result.id, node=name) for name in ("node-03", "node-04")}
    assert (
        f"restored the previous content from app.conf.squall-backup-{result.id}" in logs["node-03"]
    )
    assert "removed app.conf, which did not exist before" in logs["node-04"]


# --- cache_rebuild ----------------------------------------------------------------------


def test_cache_rebuild_retries_verify_until_it_passes_or_its_attempts_run_out(
    squall: SquallHarness, fleet: Fleet
) -> None:
    (fleet.node("node-10").root / "broken").touch()
    result = squall.deploy(
        "cache_rebuild",
        params={
            "rebuild_command": ["sh", "-c", "echo built > cache"],
            # Passes on its third try, except where the cache is broken.
            "verify_command": [
                "sh",
                "-c",
                'echo try >> tries; test ! -e broken && [ "$(wc -l < tries)" -ge 3 ]',
            ],
            "verify_attempts": 4,
            "verify_interval": 0,
        },
    )
    assert result.counts == {"succeeded": len(fleet.nodes) - 1, "failed": 1}
    (failure,) = result.failures
    assert (failure.node, failure.step, failure.exit_code) == ("node-10", "verify", 1)
    for name, root in roots(fleet):
        assert (root / "cache").read_text() == "built\n"
        tries = 4 if name == "node-10" else 3
        assert (root / "tries").read_text() == "try\n" * tries
        log = squall.logs(result.id, node=name)
        assert [line for line in log if line.startswith("attempt ")] == [
            f"attempt {n}/4 exited with status 1; next in 0s" for n in range(1, tries)
        ]


# --- single_instance --------------------------------------------------------------------


def test_single_instance_refuses_a_target_of_several_nodes_and_creates_nothing(
    squall: SquallHarness, fleet: Fleet
) -> None:
    with pytest.raises(
        PlanError, match=f"exactly one node; the target selects {len(fleet.nodes)}:"
    ):
        squall.create("single_instance", params={"version": "1.0"})
    with pytest.raises(PlanError, match=r"the target selects 2: node-01, node-02$"):
        squall.create("single_instance", target="host:node-0[12]", params={"version": "1.0"})
    assert deployment_count(squall) == 0


def test_single_instance_refuses_a_version_that_is_not_a_plain_folder_name(
    squall: SquallHarness,
) -> None:
    for version in ("../x", "a/b", "", ".", "..", "-1", "1.0\n", "1 0", "$(id)"):
        with pytest.raises(ValidationError, match=r"version: .*names a folder"):
            squall.create("single_instance", target="host:node-01", params={"version": version})
    assert deployment_count(squall) == 0


def test_single_instance_switches_the_current_link_from_one_release_to_the_next(
    squall: SquallHarness, fleet: Fleet
) -> None:
    def step(name: str) -> list[str]:
        return ["sh", "-c", f'echo {name} >> "$HOME/order"']

    params = {
        "drain_command": step("drain"),
        "stop_command": step("stop"),
        "install_command": ["sh", "-c", 'echo install >> "$HOME/order"; pwd > installed'],
        "start_command": step("start"),
        "health_command": ["sh", "-c", "echo health >> order; test -e app/current/installed"],
    }
    first = squall.deploy(
        "single_instance", target="host:node-01", params={**params, "version": "1.0"}
    )
    second = squall.deploy(
        "single_instance", target="host:node-01", params={**params, "version": "2.0"}
    )
    assert (first.status, second.status) == ("succeeded", "succeeded"), second.failures
    root = fleet.node("node-01").root
    assert os.readlink(root / "app" / "current") == "releases/2.0"
    for version in ("1.0", "2.0"):
        installed = root / "app" / "releases" / version / "installed"
        assert Path(installed.read_text().strip()).samefile(installed.parent)
    one_run = ["drain", "stop", "install", "start", "health"]
    assert (root / "order").read_text().split() == one_run * 2
    assert squall.facts(first.id, "switch") == {"node-01": {"previous": "", "current": "1.0"}}
    assert squall.facts(second.id, "switch") == {"node-01": {"previous": "1.0", "current": "2.0"}}
    assert report(squall, first.id, "Versions").rows == (("node-01", "(none)", "1.0"),)
    versions = report(squall, second.id, "Versions")
    assert versions.headers == ("node", "before", "after")
    assert versions.rows == (("node-01", "1.0", "2.0"),)


def test_a_health_check_that_never_passes_fails_the_node_at_health(
    squall: SquallHarness, fleet: Fleet
) -> None:
    result = squall.deploy(
        "single_instance",
        target="host:node-02",
        params={
            "version": "3.1",
            "health_command": ["sh", "-c", "echo check >> checks; exit 7"],
            "health_attempts": 3,
            "health_interval": 0,
        },
    )
    assert result.status == "failed"
    (failure,) = result.failures
    assert (failure.node, failure.stage, failure.step) == ("node-02", "deploy", "health")
    assert (failure.exit_code, failure.error) == (
        7,
        "health check failed (exited with status 7); no release ran before: removed app/current",
    )
    root = fleet.node("node-02").root
    assert (root / "checks").read_text() == "check\n" * 3
    assert (root / "app" / "releases" / "3.1").is_dir()
    assert not os.path.lexists(root / "app" / "current")  # the unhealthy release is not live


def test_a_failed_health_check_switches_back_to_the_previous_release_and_rollback_is_allowed(
    squall: SquallHarness, fleet: Fleet
) -> None:
    from squall.core.services import actions

    root = fleet.node("node-03").root
    params = {
        "stop_command": ["sh", "-c", "echo stop >> events"],
        "start_command": ["sh", "-c", 'echo "start $(readlink app/current)" >> events'],
        "health_command": ["test", "-e", "app/current/healthy"],
        "health_attempts": 2,
        "health_interval": 0,
    }
    first = squall.deploy(
        "single_instance",
        target="host:node-03",
        params={**params, "version": "1.0", "install_command": ["touch", "healthy"]},
    )
    assert first.status == "succeeded", first.failures
    second = squall.deploy(
        "single_instance", target="host:node-03", params={**params, "version": "2.0"}
    )
    assert second.status == "failed"
    (failure,) = second.failures
    assert (failure.step, failure.exit_code) == ("health", 1)
    assert failure.error == (
        "health check failed (exited with status 1); restored app/current to releases/1.0"
    )
    assert os.readlink(root / "app" / "current") == "releases/1.0"
    assert not os.path.lexists(root / "app" / "current.squall-previous")
    # 2.0 was stopped and 1.0 started again once the check had failed.
    assert (root / "events").read_text().splitlines() == [
        "stop",
        "start releases/1.0",
        "stop",
        "start releases/2.0",
        "stop",
        "start releases/1.0",
    ]
    with squall.runtime.db.read() as session:
        offered = actions.available(session, squall.runtime, squall.actor, second.id)
    assert "rollback" in offered
    assert squall.act(actions.rollback, second.id) == 1
    undone = squall.run(second.id)
    assert undone.status == "rolled_back", undone.failures
    assert os.readlink(root / "app" / "current") == "releases/1.0"
    assert (root / "events").read_text().splitlines()[-2:] == ["stop", "start releases/1.0"]


def test_single_instance_rolls_back_to_the_release_it_ran_before(
    squall: SquallHarness, fleet: Fleet
) -> None:
    from squall.core.services import actions

    root = fleet.node("node-04").root
    steps = {"start_command": ["sh", "-c", "readlink app/current >> started"]}
    first = squall.deploy(
        "single_instance", target="host:node-04", params={"version": "1.0", **steps}
    )
    second = squall.deploy(
        "single_instance", target="host:node-04", params={"version": "2.0", **steps}
    )
    assert os.readlink(root / "app" / "current") == "releases/2.0"
    squall.act(actions.rollback, second.id)
    undone = squall.run(second.id)
    assert undone.status == "rolled_back", undone.failures
    assert os.readlink(root / "app" / "current") == "releases/1.0"
    # Started after each switch, the last time on the release it went back to.
    assert (root / "started").read_text().splitlines() == [
        "releases/1.0",
        "releases/2.0",
        "releases/1.0",
    ]
    assert squall.facts(second.id, "switch")["node-04"] == {"previous": "2.0", "current": "1.0"}
    with pytest.raises(PlanError, match=r"ran no release before 1\.0"):
        squall.act(actions.rollback, first.id)
