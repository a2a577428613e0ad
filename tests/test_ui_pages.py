"""The console's pages and actions, through NiceGUI's simulated user."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from crashes import crashed_mid_step
from nicegui import ui
from nicegui.elements.upload_files import SmallFileUpload
from nicegui.testing import User
from sqlalchemy import select

from squall.app import DEFAULT_PLUGINS
from squall.core.auth import Actor
from squall.core.models import AuditRecord
from squall.core.services import actions, inventory
from squall.core.services.views import StepRow, TaskCell
from squall.testing.harness import SquallHarness
from squall.ui import grids

BOB = Actor("bob", frozenset({"approver", "deployer"}), "sso")
BOB_ADMIN = Actor("bob", frozenset({"admin"}), "sso")
"""Bob, allowed to deploy to the console's local nodes (which needs node.local)."""


@pytest.fixture
def squall(console_env: Path) -> SquallHarness:
    harness = SquallHarness(console_env, DEFAULT_PLUGINS)
    yield harness
    harness.close()


def decoded(coded: str) -> list[str]:
    """Front-coded names back as node_grid.js reads them."""
    names: list[str] = []
    previous = ""
    for item in coded.split(" ") if coded else []:
        previous = previous[: grids.SHARED.index(item[0])] + item[1:]
        names.append(previous)
    return names


def squares(grid: ui.element) -> list[tuple[str, str, str, str]]:
    """(stage, cluster, node, status) of every square in a page's node grid."""
    found = []
    for stage in grid.default_slot.children:
        props = stage.props
        for cluster, names, letters in props["clusters"]:
            for name, letter in zip(decoded(names), letters, strict=True):
                found.append((props["stage"], cluster, name, props["states"][ord(letter) - 97]))
    return found


def step_cells(grid: ui.element) -> dict[str, list[str]]:
    """Each step's row of statuses in a page's step grid."""
    states = grid.props["states"]
    return {step: [states[ord(c) - 97] for c in letters] for step, letters in grid.props["steps"]}


async def eventually(check: object, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_the_catalogue_lists_every_installed_type_with_its_parameters(
    console_env: Path, user: User
) -> None:
    await user.open("/catalogue")
    for name in ("noop", "config_change", "cache_rebuild", "single_instance", "group"):
        await user.should_see(marker=f"type-{name}")
    rebuild = user.find(marker="params-cache_rebuild").elements.pop()
    assert [row["name"] for row in rebuild.rows][:2] == ["rebuild_command", "verify_command"]
    assert rebuild.rows[0]["default"] == "required" and rebuild.rows[0]["type"] == "command"
    assert rebuild.rows[2] == {
        "name": "verify_attempts",
        "type": "integer from 1 to 100",
        "default": "3",
        "description": "How often the verify command is tried.",
    }
    group = {row["name"]: row for row in user.find(marker="params-group").elements.pop().rows}
    assert (group["thunder.gate"]["type"], group["thunder.gate"]["default"]) == (
        "one of auto, manual",
        "manual",
    )
    await user.should_see("can roll back")
    user.find(marker="deploy-cache_rebuild").click()
    await user.should_see(marker="wizard")


async def test_an_empty_inventory_says_so_in_words_not_with_a_warning(
    console_env: Path, user: User, squall: SquallHarness
) -> None:
    with squall.runtime.db.write() as session:
        inventory.remove(session, squall.runtime, squall.actor, ["lab-web", "lab-db"])
    await user.open("/inventory")
    for marker, said in (("clusters", "No clusters yet: import"), ("nodes", "No nodes yet.")):
        (table,) = user.find(marker=marker).elements
        assert isinstance(table, ui.table) and table.rows == []
        assert table.props["no-data-label"].startswith(said)
        # Quasar's own empty row has a warning sign; this one is plain text.
        assert "props.message" in table.slots["no-data"].template


async def test_the_inventory_shows_nodes_with_their_last_deployment_and_imports_files(
    console_env: Path, user: User, squall: SquallHarness, tmp_path: Path
) -> None:
    squall.deploy("noop", target="host:lab-web-2")
    waiting = squall.deploy(
        "group",
        target="host:lab-web-[13]",
        params={"inner_type": "noop", "lightning_nodes": ["lab-web-1"]},
    )
    squall.act(actions.cancel, waiting.id)
    await user.open("/inventory")
    nodes = user.find(marker="nodes").elements.pop()
    rows = {row["node"]: row for row in nodes.rows}
    assert set(rows) == {f"lab-{c}-{i}" for c in ("web", "db") for i in (1, 2, 3)}
    assert (
        rows["lab-web-2"]["last deployment"] == "#1 noop"
        and rows["lab-web-2"]["status"] == "succeeded"
    )
    # Statuses read as words, as everywhere else.
    assert (rows["lab-web-3"]["last deployment"], rows["lab-web-3"]["status"]) == (
        f"#{waiting.id} group",
        "not started",
    )
    assert rows["lab-db-1"]["status"] == ""
    upload = user.find(marker="import").elements.pop()
    assert isinstance(upload, ui.upload)
    await upload.handle_uploads(
        [SmallFileUpload("hosts.ini", "text/plain", b"[cache]\ncache1 ansible_host=10.0.0.5\n")]
    )
    await user.should_see("imported 1 cluster(s): 1 added")
    assert "cache1" in {row["node"] for row in nodes.rows}
    await upload.handle_uploads(
        [SmallFileUpload("bad.ini", "text/plain", b"[x]\nh ansible_port=nope\n")]
    )
    await user.should_see("bad.ini:2:")


async def test_a_deployment_page_shows_stages_nodes_and_error_signatures(
    console_env: Path, user: User, squall: SquallHarness
) -> None:
    failed = squall.deploy(
        "cache_rebuild",
        target="all",
        params={
            "rebuild_command": [
                "sh",
                "-c",
                "case $NODE_ROOT in *db*) echo no disk >&2; exit 7;; esac",
            ]
        },
    )
    await user.open(f"/deployments/{failed.id}")
    await user.should_see(marker="node-grid")
    await user.should_see("Cache rebuild on 6 nodes of 2 clusters")
    await user.should_see("3 node(s) failed at rebuild: no disk")
    await user.should_see("lab-db-1, lab-db-2, lab-db-3")
    grid = user.find(marker="node-grid").elements.pop()
    shown = squares(grid)
    assert len(shown) == 6, shown
    assert {
        (cluster, node, status) for _, cluster, node, status in shown if status == "failed"
    } == {("lab-db", f"lab-db-{n}", "failed") for n in (1, 2, 3)}
    matrix = user.find(marker="step-matrix").elements.pop()
    assert "lab-db" in matrix.content
    for name in ("retry", "exclude"):
        await user.should_see(marker=f"action-{name}")
    await user.should_not_see(marker="action-pause")

    # Every node failed: nothing to go on with, so no "exclude failed and continue".
    everywhere = squall.deploy(
        "cache_rebuild", target="cluster:lab-db", params={"rebuild_command": ["false"]}
    )
    await user.open(f"/deployments/{everywhere.id}")
    await user.should_see(marker="action-retry")
    await user.should_not_see(marker="action-exclude")


async def test_retry_these_nodes_reruns_only_that_signature(
    console_env: Path, user: User, squall: SquallHarness
) -> None:
    failed = squall.deploy(
        "cache_rebuild", target="all", params={"rebuild_command": ["sh", "-c", "test -e ok"]}
    )
    for node in ("lab-db-1", "lab-db-2", "lab-db-3", "lab-web-1", "lab-web-2", "lab-web-3"):
        (console_env.parent / "nodes" / node / "ok").touch()
    await user.open(f"/deployments/{failed.id}")
    user.find(marker="retry-signature").click()
    await user.should_see("Attempt 2 started")
    await eventually(lambda: squall.view(failed.id).status == "succeeded")
    await user.should_see("No failure.", retries=30)
    # Attempt 1's failures stay on the page, with who started each attempt.
    await user.should_see(marker="attempts", retries=30)
    attempts = user.find(marker="attempts").elements.pop()
    assert "Attempt 1</b> by " in attempts.content and "Attempt 2</b> by " in attempts.content
    assert "6 failed run(s)" in attempts.content
    assert "lab-db-1</b> [rebuild] failed at step rebuild, exit code 1" in attempts.content


async def test_a_noop_page_shows_the_facts_each_node_reported(
    console_env: Path, user: User, squall: SquallHarness
) -> None:
    done = squall.deploy("noop", target="cluster:lab-web")
    await user.open(f"/deployments/{done.id}")
    await user.should_see(marker="type-sections")
    sections = user.find(marker="type-sections").elements.pop()
    assert "Facts" in sections.content and "disk_free_kib" in sections.content
    assert sections.content.count("<tr>") == 4  # the header and one row per node


async def test_actions_go_through_the_core_services_and_show_their_refusals(
    console_env: Path, user: User, squall: SquallHarness
) -> None:
    waiting = squall.deploy("group", params={"inner_type": "noop"})
    assert waiting.status == "awaiting_approval"
    await user.open(f"/deployments/{waiting.id}")
    await user.should_see("Waiting for approval of the gate before thunder 1")
    # The requester sees no promote button; the core refuses anyway when asked.
    await user.should_not_see(marker="action-promote")
    user.find(marker="action-pause").click()
    await user.should_see("Paused")
    await eventually(lambda: squall.view(waiting.id).status == "paused")
    await user.should_see(marker="action-resume", retries=20)
    user.find(marker="action-resume").click()
    await eventually(lambda: squall.view(waiting.id).status == "awaiting_approval")
    squall.act(actions.promote, waiting.id, actor=BOB)
    await eventually(lambda: squall.view(waiting.id).status == "succeeded")
    await user.should_see("thunder 1: bob at", retries=30)


async def test_cancel_asks_first_then_cancels(
    console_env: Path, user: User, squall: SquallHarness
) -> None:
    waiting = squall.deploy("group", params={"inner_type": "noop"})
    await user.open(f"/deployments/{waiting.id}")
    user.find(marker="action-cancel").click()
    await user.should_see(marker="confirm-no")
    user.find(marker="confirm-no").click()
    assert squall.view(waiting.id).status == "awaiting_approval"
    user.find(marker="action-cancel").click()
    await user.should_see(marker="confirm-yes")
    user.find(marker="confirm-yes").click()
    await eventually(lambda: squall.view(waiting.id).status == "cancelled")
    # What is left to run again after a cancel did not fail: the button says so.
    await user.should_see(marker="action-retry", retries=30)
    (retry,) = user.find(marker="action-retry").elements
    assert retry.props["label"] == "Retry unfinished"


async def test_an_unknown_deployment_says_so(console_env: Path, user: User) -> None:
    response = await user.http_client.get("/deployments/999")
    assert response.status_code == 404
    assert (
        "No such deployment. There is no deployment 999: it may be gone, or the link is wrong."
        in response.text
    )


async def test_exclude_and_rollback_buttons_act_through_the_core(
    console_env: Path, user: User, squall: SquallHarness
) -> None:
    nodes = console_env.parent / "nodes"
    (nodes / "lab-db-2").mkdir(parents=True, exist_ok=True)
    (nodes / "lab-db-2" / "app.conf").write_text("old\n")
    params = {
        "inner_type": "config_change",
        "inner_params": {
            "path": "app.conf",
            "content": "new\n",
            "validate_command": ["sh", "-c", "test ! -e $HOME/broken"],
        },
        "lightning_nodes": ["lab-db-1", "lab-web-1"],
        "lightning": {"max_fail": "0"},
        "thunder": {"gate": "auto"},
    }
    (nodes / "lab-web-1").mkdir(parents=True, exist_ok=True)
    (nodes / "lab-web-1" / "broken").touch()
    halted = squall.deploy("group", params=params)
    assert halted.status == "failed"
    await user.open(f"/deployments/{halted.id}")
    grid = user.find(marker="step-grid").elements.pop()
    failed = [
        (step, index)
        for step, row in step_cells(grid).items()
        for index, s in enumerate(row)
        if s == "failed"
    ]
    assert len(failed) == 1 and failed[0][0] == "validate", failed  # lab-web-1 at validate
    assert decoded(grid.props["names"])[failed[0][1]] == "lab-web-1"
    user.find(marker="action-exclude").click()
    await user.should_see(marker="confirm-yes")
    user.find(marker="confirm-yes").click()
    await user.should_see("Set aside: lab-web-1")
    await eventually(lambda: squall.view(halted.id).status == "succeeded_with_exclusions")
    assert (nodes / "lab-db-2" / "app.conf").read_text() == "new\n"
    await user.should_see(marker="action-rollback", retries=30)
    await user.should_see("Retry excluded")  # once lab-web-1 is fixed
    user.find(marker="action-rollback").click()
    await user.should_see(marker="confirm-yes")
    user.find(marker="confirm-yes").click()
    await eventually(lambda: squall.view(halted.id).status == "rolled_back")
    assert (nodes / "lab-db-2" / "app.conf").read_text() == "old\n"


async def test_promote_shows_for_an_approver_who_did_not_request_it(
    console_env: Path, user: User, squall: SquallHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting = squall.deploy("group", params={"inner_type": "noop"}, actor=BOB_ADMIN)
    assert waiting.status == "awaiting_approval"
    await user.open(f"/deployments/{waiting.id}")
    user.find(marker="action-promote").click()
    await user.should_see(marker="promote-confirm")
    user.find(marker="promote-confirm").click()  # without a comment
    await user.should_see("Approved the gate before thunder 1", retries=30)
    await eventually(lambda: squall.view(waiting.id).status == "succeeded")
    (approval,) = squall.view(waiting.id).approvals
    assert approval.actor == squall.actor.name


async def test_the_timeline_gives_a_bake_its_end_only_while_it_bakes(
    console_env: Path, user: User, squall: SquallHarness
) -> None:
    done = squall.deploy(
        "group",
        params={"inner_type": "noop", "thunder": {"gate": "auto", "bake_seconds": 0.2}},
        actor=BOB_ADMIN,
    )
    assert done.status == "succeeded"
    await user.open(f"/deployments/{done.id}")
    timeline = user.find(marker="timeline").elements.pop().content
    assert "bake 0.2s" in timeline
    assert "until" not in timeline  # the bake is over: no time that reads as still to come


async def test_the_timeline_names_the_nodes_set_aside_in_a_stage_that_succeeded(
    console_env: Path, user: User, squall: SquallHarness
) -> None:
    nodes = console_env.parent / "nodes"
    (nodes / "lab-web-2").mkdir(parents=True, exist_ok=True)
    (nodes / "lab-web-2" / "broken").touch()
    failed = squall.deploy(
        "config_change",
        target="cluster:lab-web",
        params={
            "path": "app.conf",
            "content": "new\n",
            "validate_command": ["sh", "-c", "test ! -e $HOME/broken"],
        },
    )
    assert failed.status == "failed"
    squall.act(actions.exclude_failed, failed.id)
    done = squall.run(failed.id)
    assert done.status == "succeeded_with_exclusions"
    (stage,) = done.stages
    assert stage.status == "succeeded" and stage.counts["excluded"] == 1
    await user.open(f"/deployments/{done.id}")
    timeline = user.find(marker="timeline").elements.pop().content
    # Neither the stage's status nor its line reads as if every node got the change.
    assert "succeeded with exclusions</span>" in timeline
    assert f"{stage.total}/{stage.total} · 0 failed · 0 running · 0 left · 1 excluded" in timeline
    green = f"width:{100 * (stage.total - 1) / stage.total:.1f}%"
    assert green in timeline  # only the nodes that got it are green


async def test_the_timeline_says_which_step_may_have_run_twice_after_a_crash(
    console_env: Path, user: User, squall: SquallHarness
) -> None:
    deployment_id = crashed_mid_step(
        squall, "cache_rebuild", "host:lab-web-1", {"rebuild_command": ["true"]}
    )
    # The console's own engine takes the orphaned deployment up and runs the step again.
    await eventually(lambda: squall.view(deployment_id).status == "succeeded")
    await user.open(f"/deployments/{deployment_id}")
    timeline = user.find(marker="timeline").elements.pop()
    assert "data-rerun" in timeline.content
    assert (
        "lab-web-1: step rebuild (attempt 1) was running when its worker stopped"
        in timeline.content
    )
    assert "this step may have run twice" in timeline.content


async def test_the_failed_nodes_panel_shows_each_node_with_its_last_lines(
    console_env: Path, user: User, squall: SquallHarness
) -> None:
    failed = squall.deploy(
        "cache_rebuild",
        target="all",
        params={
            "rebuild_command": [
                "sh",
                "-c",
                "echo compiling $NODE_ROOT; case $NODE_ROOT in *db*) echo no disk >&2; exit 7;; esac",
            ]
        },
    )
    await user.open(f"/deployments/{failed.id}")
    await user.should_see("3 node(s) failed at rebuild: no disk")
    (panel,) = user.find(marker="failed-nodes").elements
    content = panel.content
    for node in ("lab-db-1", "lab-db-2", "lab-db-3"):
        assert f"<b>{node}</b> [lab-db] failed at step rebuild, exit code 7" in content, content
        assert f"compiling {console_env.parent / 'nodes' / node}" in content, content
    assert "lab-web-1" not in content
    await user.should_see(marker="retry-signature")


async def test_parameters_are_a_readable_table_with_secrets_masked(
    console_env: Path, user: User, squall: SquallHarness
) -> None:
    deployment = squall.create(
        "config_change",
        target="cluster:lab-web",
        params={
            "path": "etc/app.conf",
            "template": "password=${db_password}",
            "secrets": {"db_password": "hunter2-not-shown"},
            "reload_command": ["systemctl", "reload", "my app"],
        },
    )
    await user.open(f"/deployments/{deployment}")
    (table,) = user.find(marker="params").elements
    assert "<td>path</td><td>etc/app.conf</td>" in table.content, table.content
    assert "<td>secrets.db_password</td><td>***</td>" in table.content, table.content
    assert "<td>reload_command</td><td>systemctl reload &#x27;my app&#x27;</td>" in table.content
    assert "&#x27;secrets&#x27;" not in table.content  # not a Python repr
    await user.should_not_see("hunter2-not-shown")
    (shown,) = user.find(ui.expansion).elements
    # The defaults it was planned with are part of the record too.
    assert "<td>backup_dir</td><td>.squall/backups</td>" in table.content
    assert shown.text == "Parameters (6)" and shown.value  # a few: open

    group = squall.create("group", params={"inner_type": "noop"}, actor=BOB_ADMIN)
    await user.open(f"/deployments/{group}")
    (folded,) = user.find(ui.expansion).elements
    # A group's sixteen phase settings start folded, so the stages stay in view.
    assert folded.text.startswith("Parameters (") and not folded.value
    await user.should_see("lightning")


async def test_promote_asks_for_a_comment_that_lands_in_the_audit_log(
    console_env: Path, user: User, squall: SquallHarness
) -> None:
    waiting = squall.deploy("group", params={"inner_type": "noop"}, actor=BOB_ADMIN)
    await user.open(f"/deployments/{waiting.id}")
    user.find(marker="action-promote").click()
    await user.should_see(marker="promote-comment")
    user.find(marker="promote-comment").type("canaries look fine")
    user.find(marker="promote-confirm").click()
    await user.should_see("Approved the gate before thunder 1", retries=30)
    (approval,) = squall.view(waiting.id).approvals
    assert approval.comment == "canaries look fine"
    with squall.runtime.db.read() as session:
        details = session.scalars(
            select(AuditRecord.details).where(AuditRecord.action == "deployment.promote")
        ).all()
    assert [detail["comment"] for detail in details] == ["canaries look fine"]


def test_the_grids_of_ten_thousand_nodes_stay_small() -> None:
    """A 10,000-node group deployment with a health check after each wave: 20,000 squares
    in 40 clusters; each a few bytes, the names front-coded and read back exactly."""
    tasks = tuple(
        TaskCell(
            f"edge-{n // 250:02d}-{n % 250:03d}",
            f"edge-{n // 250:02d}",
            stage,
            "deploy",
            "failed" if n % 997 == 0 else "succeeded",
            1,
            None,
            "reload" if n % 997 == 0 else None,
            "exit 1" if n % 997 == 0 else None,
        )
        for stage in ("thunder 1", "thunder 1 health")
        for n in range(10_000)
    )
    blocks = grids.node_blocks(tasks)
    sent = len(json.dumps(blocks))
    assert sent < 20_000 * 6, sent
    assert [block["stage"] for block in blocks] == ["thunder 1", "thunder 1 health"]
    first = blocks[0]
    assert len(first["clusters"]) == 40 and first["small"]
    names = [name for _, coded, _ in first["clusters"] for name in decoded(coded)]
    assert names == [task.node for task in tasks[:10_000]]
    letters = "".join(row[2] for row in first["clusters"])
    failed = [i for i, c in enumerate(letters) if first["states"][ord(c) - 97] == "failed"]
    assert failed == list(range(0, 10_000, 997))
    assert first["notes"]["997"] == "reload: exit 1"
    steps = tuple(
        StepRow(name, {}, {}, tuple("succeeded" for _ in tasks)) for name in ("fetch", "switch")
    )
    props = grids.step_props(tasks, steps)
    assert len(json.dumps(props)) < 2 * 20_000 + 20_000 * 5, len(json.dumps(props))
    assert decoded(props["names"]) == [task.node for task in tasks]
