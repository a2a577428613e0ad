"""Group deployments on 30 real sshd nodes in 3 clusters: phases, waves, gates, bake time,
health checks, halts, exclusions, rollback, restarts."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from rich.console import Console
from sqlalchemy import select

from squall import DeploymentType, NodePlan, Plan, PlanRequest, StagePlan, hookimpl, run, sh
from squall.app import DEFAULT_PLUGINS
from squall.core.auth import Actor
from squall.core.engine.worker import Engine
from squall.core.errors import InvalidTransition, PermissionDenied, PlanError, ValidationError
from squall.core.models import Event, NodeTask
from squall.core.params import parse_assignments
from squall.core.services import actions, deployments, reports, views
from squall.core.values.deployments import DeploymentRequest
from squall.testing.fleet import Fleet
from squall.testing.harness import SquallHarness
from squall.ui.console import failed_cell, plan_table

BOB = Actor("bob", frozenset({"approver", "operator"}), "sso")
CAROL = Actor("carol", frozenset({"approver"}), "sso")
COUNT_RUNS = ["sh", "-c", "echo ran >> runs; test ! -e fail"]
"""Each run leaves a line in `runs`; a node with a file `fail` fails."""


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """30 nodes: node-01…10 in node-cluster-a, 11…20 in -b, 21…30 in -c."""
    with Fleet(tmp_path_factory.mktemp("clusters"), 30, clusters=3) as fleet:
        yield fleet


@pytest.fixture
def fleet30(clusters: Fleet) -> Iterator[Fleet]:
    clusters.reset()
    yield clusters
    clusters.heal()


@pytest.fixture
def squall(tmp_path: Path, fleet30: Fleet) -> Iterator[SquallHarness]:
    with SquallHarness(tmp_path / "squall", DEFAULT_PLUGINS, fleet=fleet30) as harness:
        yield harness


def group(inner: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
    return {
        "inner_type": "cache_rebuild",
        "inner_params": inner or {"rebuild_command": COUNT_RUNS},
        **params,
    }


def runs(fleet: Fleet, name: str) -> int:
    found = fleet.node(name).root / "runs"
    return len(found.read_text().splitlines()) if found.exists() else 0


def stage_of(squall: SquallHarness, deployment_id: int) -> dict[str, str]:
    """Node → the deploy stage (phase or wave) that deployed it."""
    return {
        task.node: task.stage
        for task in squall.summary(deployment_id).tasks
        if "health" not in task.stage and not task.stage.startswith("rollback")
    }


def finished_at(
    squall: SquallHarness, deployment_id: int, nodes: list[str]
) -> dict[str, dt.datetime | None]:
    """Node → when its (first) task finished."""
    with squall.runtime.db.read() as session:
        rows = session.execute(
            select(NodeTask.node_name, NodeTask.finished_at)
            .where(NodeTask.deployment_id == deployment_id, NodeTask.node_name.in_(nodes))
            .order_by(NodeTask.id.desc())
        )
        return {name: when for name, when in rows}


def kinds(squall: SquallHarness, deployment_id: int) -> list[str]:
    with squall.runtime.db.read() as session:
        return list(
            session.scalars(
                select(Event.kind).where(Event.deployment_id == deployment_id).order_by(Event.id)
            )
        )


def test_the_plan_spreads_lightning_over_clusters_and_cuts_thunder_into_waves(
    squall: SquallHarness, fleet30: Fleet
) -> None:
    with squall.runtime.db.read() as session:
        planned = deployments.preview(
            session,
            squall.runtime,
            squall.actor,
            DeploymentRequest("group", group(), "all"),
        )
    stages = planned.plan.stages
    assert [(stage.name, len(stage.nodes), stage.gate) for stage in stages] == [
        ("lightning", 2, False),  # min(5% of 30, 10), rounded up
        ("thunder 1", 6, True),  # 20% of the 28 left, rounded up; manual gate first
        ("thunder 2", 6, False),
        ("thunder 3", 6, False),
        ("thunder 4", 6, False),
        ("thunder 5", 4, False),
    ]
    assert [node.node.name for node in stages[0].nodes] == ["node-01", "node-11"]
    deployed = [node.node.name for stage in stages for node in stage.nodes]
    assert sorted(deployed) == sorted(node.name for node in fleet30.nodes)  # each node once
    assert all(str(stage.max_failures) == "10%" for stage in stages)
    console = Console(record=True, width=200)
    with squall.runtime.db.read() as session:
        shown = deployments.plan_preview(
            session,
            squall.runtime,
            squall.actor,
            DeploymentRequest("group", group(), "all"),
        )
    console.print(plan_table(shown, with_nodes=False, width=console.width))
    text = console.export_text()
    assert "Stage 1: lightning — 2 node(s): node-cluster-a 1, node-cluster-b 1" in text
    assert (
        "Stage 2: thunder 1 — 6 node(s): node-cluster-a 2, node-cluster-b 2, node-cluster-c 2"
        "  [manual gate (1 approval(s)), max-fail 10%]" in text
    )


def test_a_manual_gate_holds_thunder_until_someone_else_promotes_it(
    squall: SquallHarness, fleet30: Fleet
) -> None:
    first = squall.deploy("group", params=group())
    assert first.status == "awaiting_approval"
    assert first.waiting_for is not None and "thunder 1" in first.waiting_for
    assert [runs(fleet30, node.name) for node in fleet30.nodes].count(1) == 2
    with pytest.raises(PermissionDenied, match="never approves their own gate"):
        squall.act(actions.promote, first.id)
    with pytest.raises(PermissionDenied, match=r"deployment\.approve"):
        squall.act(actions.promote, first.id, actor=Actor("val", frozenset({"viewer"})))
    assert squall.act(actions.promote, first.id, "lightning looks fine", actor=BOB) == "thunder 1"
    done = squall.run(first.id)
    assert done.status == "succeeded", done.failures
    assert all(runs(fleet30, node.name) == 1 for node in fleet30.nodes)
    (approval,) = done.approvals
    assert (approval.stage, approval.actor, approval.comment) == (
        "thunder 1",
        "bob",
        "lightning looks fine",
    )
    waves = [stage for stage in done.stages if stage.name.startswith("thunder")]
    for earlier, later in itertools.pairwise(waves):
        assert earlier.finished_at is not None and later.started_at is not None
        assert earlier.finished_at <= later.started_at
    events = kinds(squall, first.id)
    assert (
        events.index("gate.waiting")
        < events.index("gate.approved")
        < events.index("deployment.succeeded")
    )


def test_a_gate_can_need_several_approvers(squall: SquallHarness) -> None:
    first = squall.deploy("group", params=group(approvals=2))
    squall.act(actions.promote, first.id, actor=BOB)
    assert squall.view(first.id).status == "awaiting_approval"
    with pytest.raises(ValidationError, match="already approved"):
        squall.act(actions.promote, first.id, actor=BOB)
    squall.act(actions.promote, first.id, actor=CAROL)
    assert squall.run(first.id).status == "succeeded"


def test_an_automatic_gate_waits_out_the_bake_time(squall: SquallHarness, fleet30: Fleet) -> None:
    result = squall.deploy(
        "group", params=group(lightning={"bake_seconds": 2}, thunder={"gate": "auto"})
    )
    assert result.status == "succeeded"
    lightning, first_wave = result.stages[0], result.stages[1]
    assert lightning.bake_until is not None and first_wave.started_at is not None
    assert first_wave.started_at >= lightning.bake_until
    assert lightning.bake_until - lightning.started_at >= dt.timedelta(seconds=2)  # type: ignore[operator]
    assert "stage.baking" in kinds(squall, result.id)


def test_a_failure_in_lightning_halts_the_group_before_thunder(
    squall: SquallHarness, fleet30: Fleet
) -> None:
    (fleet30.node("node-11").root / "fail").touch()
    result = squall.deploy("group", params=group(lightning={"max_fail": "0"}))
    assert result.status == "failed"
    assert [stage.status for stage in result.stages] == ["failed"] + ["skipped"] * 5
    (failure,) = result.failures
    assert (failure.node, failure.stage, failure.step) == ("node-11", "lightning", "rebuild")
    assert sum(runs(fleet30, node.name) for node in fleet30.nodes) == 2  # thunder never ran


def test_max_fail_exceeded_in_a_thunder_wave_halts_the_rest(
    squall: SquallHarness, fleet30: Fleet
) -> None:
    params = group(thunder={"gate": "auto", "max_fail": "1", "parallelism": 1})
    with squall.runtime.db.read() as session:
        planned = deployments.preview(
            session,
            squall.runtime,
            squall.actor,
            DeploymentRequest("group", params, "all"),
        )
    wave = [node.node.name for node in planned.plan.stages[2].nodes]  # thunder 2
    for name in wave[:3]:
        (fleet30.node(name).root / "fail").touch()
    result = squall.deploy("group", params=params)
    assert result.status == "failed"
    statuses = {stage.name: stage.status for stage in result.stages}
    assert statuses == {
        "lightning": "succeeded",
        "thunder 1": "succeeded",
        "thunder 2": "failed",
        "thunder 3": "skipped",
        "thunder 4": "skipped",
        "thunder 5": "skipped",
    }
    # One node at a time: the first failure is tolerated, the second halts the wave.
    assert sorted(failure.node for failure in result.failures) == sorted(wave[:2])
    later = [
        node
        for node, stage in stage_of(squall, result.id).items()
        if stage in ("thunder 3", "thunder 4", "thunder 5")
    ]
    assert all(runs(fleet30, name) == 0 for name in later)
    assert "stage.halting" in kinds(squall, result.id)


def test_excluding_the_failed_nodes_lets_the_group_go_on(
    squall: SquallHarness, fleet30: Fleet
) -> None:
    for name in ("node-02", "node-03"):
        (fleet30.node(name).root / "fail").touch()
    halted = squall.deploy(
        "group",
        params=group(
            lightning_nodes=["node-01", "node-02", "node-03"],
            lightning={"max_fail": "0"},
            thunder={"gate": "auto"},
        ),
    )
    assert halted.status == "failed"
    assert sorted(failure.node for failure in halted.failures) == ["node-02", "node-03"]
    failed_at = finished_at(squall, halted.id, ["node-02", "node-03"])
    assert None not in failed_at.values()
    time.sleep(0.05)
    assert squall.act(actions.exclude_failed, halted.id, actor=BOB) == ["node-02", "node-03"]
    # Setting a node aside does not rewrite when its run ended: its duration stays its own.
    assert finished_at(squall, halted.id, ["node-02", "node-03"]) == failed_at
    done = squall.run(halted.id)
    # Never plain green: the nodes set aside did not get the change.
    assert done.status == "succeeded_with_exclusions"
    assert done.counts["excluded"] == 2
    # The failures set aside stay visible, with their failure points.
    assert sorted((f.node, f.status) for f in done.failures) == [
        ("node-02", "excluded"),
        ("node-03", "excluded"),
    ]
    (first,) = done.attempts
    assert sorted(run.node for run in first.failures) == ["node-02", "node-03"]
    assert all(runs(fleet30, node.name) == 1 for node in fleet30.nodes)  # none ran twice
    assert kinds(squall, halted.id).count("task.excluded") == 2
    with pytest.raises(
        InvalidTransition, match="cannot continue a deployment that is succeeded with exclusions"
    ):
        squall.act(actions.exclude_failed, halted.id)


def test_nodes_set_aside_get_the_change_by_a_retry_once_they_are_fixed(
    squall: SquallHarness, fleet30: Fleet
) -> None:
    for name in ("node-02", "node-12"):
        (fleet30.node(name).root / "fail").touch()
    params = group(
        lightning_nodes=["node-01", "node-02"],
        lightning={"max_fail": "0", "health_command": ["sh", "-c", "echo ok >> checked"]},
        thunder={"gate": "auto", "max_fail": "0"},
        wave_size="100%",
    )
    halted = squall.deploy("group", params=params)
    assert [f.node for f in halted.failures] == ["node-02"]
    # While other nodes fail, a retry leaves the nodes set aside where they are.
    squall.act(actions.exclude_failed, halted.id)
    failed_again = squall.run(halted.id)
    assert failed_again.status == "failed"
    assert sorted(f.node for f in failed_again.failures) == ["node-02", "node-12"]
    (fleet30.node("node-12").root / "fail").unlink()
    squall.act(actions.retry, halted.id)
    aside = squall.run(halted.id)
    assert aside.status == "succeeded_with_exclusions"
    assert failed_cell(aside) == "0 +1 excl."  # one node, although its health check too
    # Its health check, set aside with it, never ran: no failure point, no signature of its own.
    assert [(f.node, f.stage) for f in aside.failures] == [("node-02", "lightning")]
    with squall.runtime.db.read() as session:
        detail = views.deployment_detail(session, squall.runtime, squall.actor, halted.id)
        report = reports.deployment_report(session, squall.runtime, squall.actor, halted.id)
    assert [(s.step, s.nodes) for s in detail.signatures] == [("rebuild", ("node-02",))]
    assert [(s.step, s.nodes) for s in report.signatures] == [("rebuild", ("node-02",))]
    assert runs(fleet30, "node-02") == 1 and runs(fleet30, "node-12") == 2
    with squall.runtime.db.read() as session:
        assert "retry" in actions.available(session, squall.runtime, squall.actor, halted.id)

    # Fixed, the node set aside gets the change (and its health check) as a new attempt.
    (fleet30.node("node-02").root / "fail").unlink()
    assert squall.act(actions.retry, halted.id) == 3
    done = squall.run(halted.id)
    assert done.status == "succeeded" and done.failures == ()
    assert done.counts.get("excluded", 0) == 0
    assert runs(fleet30, "node-02") == 2 and runs(fleet30, "node-01") == 1
    assert (fleet30.node("node-02").root / "checked").read_text() == "ok\n"
    one, two, three = done.attempts
    assert sorted(run.node for run in one.failures) == ["node-02", "node-12"]
    assert (
        two.nodes == ("node-12",)
        and three.nodes == ("node-02",)
        and three.counts == {"succeeded": 2}
    )  # deploy, check
    with squall.runtime.db.read() as session:
        assert "retry" not in actions.available(session, squall.runtime, squall.actor, halted.id)


def test_retrying_a_halted_group_reruns_only_the_failed_node_then_goes_on(
    squall: SquallHarness, fleet30: Fleet
) -> None:
    (fleet30.node("node-11").root / "fail").touch()
    halted = squall.deploy(
        "group", params=group(lightning={"max_fail": "0"}, thunder={"gate": "auto"})
    )
    assert halted.status == "failed"
    (fleet30.node("node-11").root / "fail").unlink()
    squall.act(actions.retry, halted.id)
    done = squall.run(halted.id)
    assert done.status == "succeeded"
    assert runs(fleet30, "node-11") == 2 and runs(fleet30, "node-01") == 1


def test_rolling_back_a_config_change_restores_every_nodes_previous_file(
    squall: SquallHarness, fleet30: Fleet
) -> None:
    for node in fleet30.nodes:
        (fleet30.node(node.name).root / "app.conf").write_text(f"old {node.name}\n")
    inner = {
        "path": "app.conf",
        "template": "new ${node}\n",
        "reload_command": ["sh", "-c", "echo reloaded >> reloads"],
    }
    result = squall.deploy(
        "group", params=group(inner, inner_type="config_change", thunder={"gate": "auto"})
    )
    assert result.status == "succeeded"
    assert (fleet30.node("node-17").root / "app.conf").read_text() == "new node-17\n"
    squall.act(actions.rollback, result.id)
    undone = squall.run(result.id)
    assert undone.status == "rolled_back", undone.failures
    for node in fleet30.nodes:
        root = fleet30.node(node.name).root
        assert (root / "app.conf").read_text() == f"old {node.name}\n"
        assert (
            root / "reloads"
        ).read_text() == "reloaded\nreloaded\n"  # after the change, after the undo
    rollbacks = [stage for stage in undone.stages if stage.kind == "rollback"]
    assert [stage.name for stage in rollbacks] == [
        f"rollback thunder {n}" for n in (5, 4, 3, 2, 1)
    ] + ["rollback lightning"]
    for earlier, later in itertools.pairwise(rollbacks):
        assert earlier.finished_at is not None and later.started_at is not None
        assert earlier.finished_at <= later.started_at
    assert (
        f"restored the previous content from .squall/backups/{result.id}/app.conf"
        in squall.logs(result.id, node="node-05")
    )
    with pytest.raises(InvalidTransition, match="rolled back"):
        squall.act(actions.rollback, result.id)


def test_rolling_back_midway_undoes_only_what_completed(
    squall: SquallHarness, fleet30: Fleet
) -> None:
    inner = {"path": "app.conf", "content": "new\n"}
    paused = squall.deploy("group", params=group(inner, inner_type="config_change"))
    assert paused.status == "awaiting_approval"
    squall.act(actions.rollback, paused.id)
    undone = squall.run(paused.id)
    assert undone.status == "rolled_back"
    assert [stage.status for stage in undone.stages if stage.kind == "deploy"] == ["succeeded"] + [
        "skipped"
    ] * 5
    # The file did not exist before: it is gone, and so is the marker that said so.
    assert not any(list(fleet30.node(node.name).root.glob("app.conf*")) for node in fleet30.nodes)


def test_a_type_without_rollback_cannot_be_rolled_back(squall: SquallHarness) -> None:
    result = squall.deploy(
        "group", params=group(inner_type="noop", inner_params={}, thunder={"gate": "auto"})
    )
    assert result.status == "succeeded"
    # The group could roll back what its inner type can undo; noop has nothing to undo, so
    # the action is not offered, and taken anyway it says why and changes nothing.
    with squall.runtime.db.read() as session:
        offered = actions.available(session, squall.runtime, squall.actor, result.id)
    assert "rollback" not in offered and "retry" not in offered
    with pytest.raises(PlanError, match=r"^deployments of type noop cannot be rolled back$"):
        squall.act(actions.rollback, result.id)
    after = squall.view(result.id)
    assert (after.status, after.stages) == (result.status, result.stages)


def test_a_group_offers_a_rollback_when_its_inner_type_has_one(squall: SquallHarness) -> None:
    result = squall.deploy(
        "group",
        params=group(
            inner_type="config_change",
            inner_params={"path": "offered.conf", "content": "x\n"},
            thunder={"gate": "auto"},
        ),
    )
    assert result.status == "succeeded", result.failures
    with squall.runtime.db.read() as session:
        offered = actions.available(session, squall.runtime, squall.actor, result.id)
    assert "rollback" in offered


def test_an_inconclusive_health_check_pauses_for_a_person(
    squall: SquallHarness, fleet30: Fleet
) -> None:
    check = ["sh", "-c", "test -e healthy && exit 0; exit 3"]
    params = group(lightning={"health_command": check}, thunder={"gate": "auto"})
    paused = squall.deploy("group", params=params)
    assert paused.status == "paused"
    assert (
        paused.waiting_for is not None
        and "inconclusive on 2 node(s) of lightning health" in paused.waiting_for
    )
    assert {failure.status for failure in paused.failures} == {"inconclusive"}
    assert sum(runs(fleet30, node.name) for node in fleet30.nodes) == 2
    squall.act(actions.resume, paused.id, actor=BOB)  # a person looked and accepts
    done = squall.run(paused.id)
    assert done.status == "succeeded"
    assert all(runs(fleet30, node.name) == 1 for node in fleet30.nodes)


def test_a_failing_health_check_halts_the_group(squall: SquallHarness, fleet30: Fleet) -> None:
    (fleet30.node("node-01").root / "sick").touch()
    check = ["sh", "-c", "test ! -e sick"]
    result = squall.deploy(
        "group", params=group(lightning={"health_command": check}, thunder={"gate": "auto"})
    )
    assert result.status == "failed"
    (failure,) = result.failures
    assert (failure.node, failure.stage, failure.step, failure.exit_code) == (
        "node-01",
        "lightning health",
        "health",
        1,
    )
    assert sum(runs(fleet30, node.name) for node in fleet30.nodes) == 2


def test_a_restart_during_bake_time_resumes_without_repeating_work(
    squall: SquallHarness, fleet30: Fleet
) -> None:
    params = group(lightning={"bake_seconds": 3}, thunder={"gate": "auto"})
    deployment_id = squall.create("group", params=params)
    engine = Engine(squall.runtime).start()
    deadline = time.monotonic() + 30
    while squall.view(deployment_id).stages[0].status != "baking":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    engine.stop()  # Squall stops in the middle of the bake time
    bake_until = squall.view(deployment_id).stages[0].bake_until
    with squall.restart() as again:
        done = again.run(deployment_id)
    assert done.status == "succeeded"
    assert done.stages[1].started_at is not None and bake_until is not None
    assert done.stages[1].started_at >= bake_until
    assert all(runs(fleet30, node.name) == 1 for node in fleet30.nodes)


def test_a_restart_while_waiting_at_a_gate_keeps_waiting_then_goes_on(
    squall: SquallHarness, fleet30: Fleet
) -> None:
    waiting = squall.deploy("group", params=group())
    assert waiting.status == "awaiting_approval"
    with squall.restart() as again:
        assert again.run(waiting.id).status == "awaiting_approval"
        again.act(actions.promote, waiting.id, actor=BOB)
        assert again.run(waiting.id).status == "succeeded"
    assert all(runs(fleet30, node.name) == 1 for node in fleet30.nodes)


def test_pause_stops_new_waves_and_resume_goes_on(squall: SquallHarness, fleet30: Fleet) -> None:
    deployment_id = squall.create(
        "group", params=group(thunder={"gate": "auto", "bake_seconds": 1})
    )
    engine = Engine(squall.runtime).start()
    try:
        deadline = time.monotonic() + 30
        while squall.view(deployment_id).stages[1].status != "baking":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        squall.act(actions.pause, deployment_id)
        time.sleep(2)  # the bake ends meanwhile; the next wave must not start
        view = squall.view(deployment_id)
        assert view.status == "paused" and view.stages[2].status == "pending"
        squall.act(actions.resume, deployment_id)
    finally:
        engine.stop()
    assert squall.run(deployment_id).status == "succeeded"


def test_phases_can_be_chosen_by_cluster(squall: SquallHarness) -> None:
    result = squall.deploy(
        "group",
        params=group(
            lightning_clusters=["node-cluster-c"], wave_size="10", thunder={"gate": "auto"}
        ),
    )
    placed = stage_of(squall, result.id)
    assert {node for node, stage in placed.items() if stage == "lightning"} == {
        f"node-{n}" for n in range(21, 31)
    }
    assert [stage.total for stage in result.stages] == [10, 10, 10]
    with pytest.raises(PlanError, match="not in the target: nowhere"):
        squall.create("group", params=group(lightning_clusters=["nowhere"]))


def test_setting_one_thunder_parameter_keeps_thunders_manual_gate(squall: SquallHarness) -> None:
    params = parse_assignments(
        [
            "inner_type=cache_rebuild",
            "inner_params.rebuild_command=sh -c 'echo ran >> runs'",
            "thunder.bake_seconds=5",
            "lightning.max_fail=0",
        ]
    )
    request = DeploymentRequest("group", params, "cluster:node-cluster-a")
    with squall.runtime.db.read() as session:
        shown = deployments.plan_preview(session, squall.runtime, squall.actor, request)
    thunder = shown.stages[1]
    assert (thunder.name, thunder.gate, thunder.bake_seconds) == ("thunder 1", True, 5)
    assert (shown.stages[0].gate, shown.stages[0].max_failures) == (False, "0")
    waiting = squall.deploy("group", target="cluster:node-cluster-a", params=params)
    assert waiting.status == "awaiting_approval"
    assert waiting.waiting_for is not None and "thunder 1" in waiting.waiting_for
    assert [stage.status for stage in waiting.stages][1:] == ["waiting"] + ["pending"] * 4


def test_group_parameters_are_checked_with_the_inner_types_own_model(squall: SquallHarness) -> None:
    with pytest.raises(ValidationError) as refused:
        squall.create("group", params={"inner_type": "cache_rebuild", "inner_params": {}})
    assert refused.value.fields == {"inner_params.rebuild_command": "Field required"}
    with pytest.raises(ValidationError, match="no deployment type named 'teleport'"):
        squall.create("group", params={"inner_type": "teleport"})
    with pytest.raises(ValidationError, match="cannot wrap another group"):
        squall.create("group", params={"inner_type": "group"})
    with pytest.raises(ValidationError, match="wave_size"):
        squall.create("group", params=group(wave_size="lots"))


def test_secrets_of_the_inner_type_stay_secret_in_a_group(
    squall: SquallHarness, fleet30: Fleet
) -> None:
    inner = {
        "path": "app.conf",
        "template": "password=${pw}\n",
        "secrets": {"pw": "s3cret-value"},
    }
    result = squall.deploy(
        "group",
        target="host:node-0[1-3]",
        params=group(inner, inner_type="config_change", thunder={"gate": "auto"}),
    )
    assert result.status == "succeeded"
    assert (fleet30.node("node-02").root / "app.conf").read_text() == "password=s3cret-value\n"
    with squall.runtime.db.read() as session:
        stored = session.scalars(
            select(NodeTask.steps).where(NodeTask.deployment_id == result.id)
        ).all()
    assert all(steps.startswith("sealed:") for steps in stored)
    assert result.params["inner_params"]["secrets"] == {"pw": "***"}
    assert not any("s3cret-value" in line for line in squall.logs(result.id))


class Greeting(BaseModel):
    greeting: str


def greet(request: PlanRequest[Greeting]) -> Plan:
    steps = (run("greet", sh("echo {greeting} >> greetings", greeting=request.params.greeting)),)
    return Plan((StagePlan("all", tuple(NodePlan(node, steps) for node in request.targets)),))


class ThirdParty:
    @hookimpl
    def squall_register_types(self, register: Any) -> None:
        register(DeploymentType("greet", "Greet", "A type from another package.", Greeting, greet))


def test_a_third_party_type_rolls_out_in_phases(tmp_path: Path, fleet30: Fleet) -> None:
    with SquallHarness(tmp_path / "s", (*DEFAULT_PLUGINS, ThirdParty()), fleet=fleet30) as squall:
        result = squall.deploy(
            "group",
            params={
                "inner_type": "greet",
                "inner_params": {"greeting": "hello"},
                "thunder": {"gate": "auto"},
            },
        )
    assert result.status == "succeeded"
    assert all(
        (fleet30.node(node.name).root / "greetings").read_text() == "hello\n"
        for node in fleet30.nodes
    )
