"""The engine on a fleet of real sshd nodes, with SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import invoke.config
import paramiko
import pytest
from sqlalchemy import event, select, update

from squall.app import DEFAULT_PLUGINS
from squall.core.engine import worker
from squall.core.engine.claims import ClaimedTask, claim_tasks
from squall.core.engine.progress import reap_expired
from squall.core.engine.worker import Engine
from squall.core.errors import InvalidTransition
from squall.core.models import Event, LogLine, NodeTask, utcnow
from squall.core.runtime import Runtime
from squall.core.services import actions
from squall.core.settings import EngineSettings, SSHSettings
from squall.testing.fleet import Fleet
from squall.testing.harness import SquallHarness


def events(harness: SquallHarness, deployment_id: int, kind: str | None = None) -> list[Event]:
    with harness.runtime.db.read() as session:
        query = select(Event).where(Event.deployment_id == deployment_id).order_by(Event.id)
        if kind:
            query = query.where(Event.kind == kind)
        return list(session.scalars(query))


def tasks(harness: SquallHarness, deployment_id: int) -> dict[str, NodeTask]:
    with harness.runtime.db.read() as session:
        return {
            task.node_name: task
            for task in session.scalars(
                select(NodeTask).where(NodeTask.deployment_id == deployment_id)
            )
        }


def remote_processes(command: str) -> list[str]:
    """Processes on this machine (where the fleet's nodes run) whose command line is `command`."""
    found = subprocess.run(["pgrep", "-xaf", command], capture_output=True, text=True)
    return found.stdout.splitlines()


# --- on both databases ------------------------------------------------------------------


def test_noop_reaches_every_node_and_records_its_facts(
    squall_on_each_database: SquallHarness, fleet: Fleet
) -> None:
    squall = squall_on_each_database
    result = squall.deploy("noop")
    assert result.status == "succeeded"
    assert result.counts == {"succeeded": len(fleet.nodes)}
    facts = squall.facts(result.id, "probe")
    assert set(facts) == {node.name for node in fleet.nodes}
    assert all(
        entry["user"] == fleet.nodes[0].user and int(entry["disk_free_kib"]) > 0
        for entry in facts.values()
    )
    kinds = [found.kind for found in events(squall, result.id)]
    assert kinds[:3] == ["deployment.created", "deployment.started", "stage.started"]
    assert kinds.count("task.started") == kinds.count("task.succeeded") == len(fleet.nodes)
    assert kinds[-2:] == ["stage.succeeded", "deployment.succeeded"]


def test_an_unreachable_node_fails_alone_with_its_failure_point(
    squall_on_each_database: SquallHarness, fleet: Fleet
) -> None:
    squall = squall_on_each_database
    fleet.stop_node("node-04")
    result = squall.deploy("noop")
    assert result.status == "failed"
    assert result.counts == {"succeeded": len(fleet.nodes) - 1, "failed": 1}
    (failure,) = result.failures
    assert (failure.node, failure.stage, failure.step) == ("node-04", "probe", "connect")
    assert "connection refused" in (failure.error or "")
    assert "node-04" not in squall.facts(result.id, "probe")


def test_a_stage_halts_once_its_failure_threshold_is_exceeded(
    squall_on_each_database: SquallHarness, fleet: Fleet
) -> None:
    squall = squall_on_each_database
    result = squall.deploy(
        "cache_rebuild",
        params={"rebuild_command": "sh -c 'echo cannot rebuild >&2; exit 3'"},
        parallelism=1,
        max_failures="1",
    )
    assert result.status == "failed"
    assert result.stages[0].status == "failed"
    # With one node at a time: the first failure is tolerated, the second halts the stage.
    assert result.counts == {"failed": 2, "skipped": len(fleet.nodes) - 2}
    ran = {failure.node for failure in result.failures}
    for node in fleet.nodes:
        if node.name not in ran:
            assert squall.logs(result.id, node=node.name) == []
    assert [found.data["failed"] for found in events(squall, result.id, "stage.halting")] == [2]
    assert all(
        failure.exit_code == 3 and "cannot rebuild" in failure.last_lines
        for failure in result.failures
    )


def test_retry_runs_only_the_failed_nodes_again(
    squall_on_each_database: SquallHarness, fleet: Fleet
) -> None:
    squall = squall_on_each_database
    fleet.stop_node("node-02")
    fleet.refuse_key("node-07")
    first = squall.deploy("noop")
    assert {failure.node for failure in first.failures} == {"node-02", "node-07"}
    fleet.heal()
    with squall.runtime.db.write() as session:
        attempt = actions.retry(session, squall.runtime, squall.actor, first.id)
    assert attempt == 2
    second = squall.run(first.id)
    assert second.status == "succeeded"
    assert second.attempt == 2
    by_node = tasks(squall, first.id)
    assert {name for name, task in by_node.items() if task.attempt == 2} == {"node-02", "node-07"}
    # Nodes that had succeeded were not touched again: one probe in their log.
    assert squall.logs(first.id, node="node-01").count("step 1/1: probe") == 1
    assert (
        squall.logs(first.id, node="node-02").count("step 1/1: probe") == 1
    )  # only attempt 2 got that far
    with pytest.raises(InvalidTransition), squall.runtime.db.write() as session:
        actions.retry(session, squall.runtime, squall.actor, first.id)


def test_cancel_interrupts_running_steps_on_the_nodes(
    squall_on_each_database: SquallHarness, fleet: Fleet
) -> None:
    squall = squall_on_each_database
    marker = f"sleep 417.{time.monotonic_ns() % 1000}"
    deployment_id = squall.create("cache_rebuild", params={"rebuild_command": marker})
    engine = Engine(squall.runtime).start()
    try:
        _wait_until(
            lambda: len(remote_processes(marker)) == len(fleet.nodes), "every node to run the step"
        )
        started = time.monotonic()
        with squall.runtime.db.write() as session:
            actions.cancel(session, squall.runtime, squall.actor, deployment_id)
        _wait_until(
            lambda: set(squall.view(deployment_id).counts) == {"cancelled"},
            "tasks to stop",
            timeout=15,
        )
        assert time.monotonic() - started < 10
    finally:
        engine.stop()
    assert remote_processes(marker) == []
    view = squall.view(deployment_id)
    assert view.status == "cancelled"
    assert {found.kind for found in events(squall, deployment_id)} >= {
        "deployment.cancelled",
        "task.cancelled",
    }


def test_two_deployments_never_work_on_one_node_at_once(
    squall_on_each_database: SquallHarness, fleet: Fleet
) -> None:
    squall = squall_on_each_database
    first = squall.create(
        "cache_rebuild", params={"rebuild_command": "sleep 1.5"}, target="host:node-0[1-5]"
    )
    second = squall.create("noop", target="host:node-0[3-8]")
    engine = Engine(squall.runtime).start()
    try:
        # Nodes 06-08 are free and done at once; 03-05 wait for the first deployment.
        _wait_until(
            lambda: squall.view(second).counts == {"queued": 3, "pending": 3, "succeeded": 3},
            "the shared nodes to queue while the free ones finish",
        )
        assert squall.view(first).counts.get("running") == 5
        _wait_until(
            lambda: squall.view(second).status == "succeeded", "the second deployment", timeout=30
        )
    finally:
        engine.stop()
    assert squall.view(first).status == "succeeded"
    first_tasks, second_tasks = tasks(squall, first), tasks(squall, second)
    for name in ("node-03", "node-04", "node-05"):
        assert second_tasks[name].started_at >= first_tasks[name].finished_at


def test_a_dead_workers_tasks_are_interrupted_then_resumed_by_policy(
    squall_on_each_database: SquallHarness, fleet: Fleet
) -> None:
    squall = squall_on_each_database
    deployment_id = squall.create("noop", params={"message": "hello"})
    with squall.runtime.db.write() as session:
        claimed = claim_tasks(
            session, worker="dead-worker", capacity=3, lease_seconds=30, box=squall.runtime.secrets
        )
        # The dead worker had finished the first step of its tasks.
        from squall.core.models import StepResult
        from squall.core.status import TaskStatus

        for task in claimed:
            session.add(
                StepResult(
                    task_id=task.id,
                    attempt=1,
                    position=0,
                    name="message",
                    status=TaskStatus.SUCCEEDED,
                )
            )
            session.execute(update(NodeTask).where(NodeTask.id == task.id).values(current_step=1))
    later = utcnow() + dt.timedelta(seconds=31)
    with squall.runtime.db.write() as session:
        assert len(reap_expired(session, now=later)) == 3
    interrupted = events(squall, deployment_id, "task.interrupted")
    requeued = events(squall, deployment_id, "task.requeued")
    assert len(interrupted) == len(requeued) == 3
    assert all("dead-worker" in found.data["error"] for found in interrupted)
    assert all(
        found.data["resume_from"] == 1 and "probe" in found.data["note"] for found in requeued
    )
    result = squall.run(deployment_id)
    assert result.status == "succeeded", result.failures
    resumed = claimed[0].node.name
    log = squall.logs(deployment_id, node=resumed)
    assert "hello" not in log  # the finished step did not run again
    assert any("resuming at step 2" in line for line in log)


# --- SQLite is enough for these -----------------------------------------------------------


def test_a_dead_workers_task_fails_when_its_type_cannot_run_twice(squall: SquallHarness) -> None:
    deployment_id = squall.create(
        "single_instance", target="host:node-01", params={"version": "1.0"}
    )
    with squall.runtime.db.write() as session:
        claim_tasks(
            session, worker="dead-worker", capacity=1, lease_seconds=1, box=squall.runtime.secrets
        )
    with squall.runtime.db.write() as session:
        reap_expired(session, now=utcnow() + dt.timedelta(seconds=2))
    view = squall.view(deployment_id)
    assert view.status == "failed"
    assert view.failures[0].status == "interrupted"
    assert events(squall, deployment_id, "task.requeued") == []


def test_an_auth_failure_names_the_user_and_host(squall: SquallHarness, fleet: Fleet) -> None:
    fleet.refuse_key("node-09")
    result = squall.deploy("noop", target="host:node-09")
    (failure,) = result.failures
    assert failure.step == "connect"
    assert (
        f"authentication failed for {fleet.node('node-09').user}@{fleet.node('node-09').host}"
        in (failure.error or "")
    )


def test_a_step_past_its_timeout_is_stopped_on_the_node(squall: SquallHarness) -> None:
    marker = f"sleep 93.{time.monotonic_ns() % 1000}"
    started = time.monotonic()
    result = squall.deploy(
        "cache_rebuild", target="host:node-0[12]", params={"rebuild_command": marker, "timeout": 1}
    )
    assert time.monotonic() - started < 15
    assert result.status == "failed"
    assert {failure.error for failure in result.failures} == {"timed out after 1s"}
    assert {failure.step for failure in result.failures} == {"rebuild"}
    assert remote_processes(marker) == []


def test_a_non_zero_exit_records_code_and_last_lines(squall: SquallHarness) -> None:
    script = "for i in $(seq 1 30); do echo line $i; done; echo fatal: disk full >&2; exit 42"
    result = squall.deploy(
        "cache_rebuild", target="host:node-03", params={"rebuild_command": ["sh", "-c", script]}
    )
    (failure,) = result.failures
    assert failure.exit_code == 42
    # The failure is known by the command's first complaint on stderr, not "status 42".
    assert failure.error == "fatal: disk full"
    assert failure.last_lines[-1] == "fatal: disk full"
    assert failure.last_lines[0] == "line 12"  # the last 20 lines are kept
    assert len(failure.last_lines) == 20


def test_a_silent_failure_is_known_by_its_exit_status(squall: SquallHarness) -> None:
    result = squall.deploy(
        "cache_rebuild", target="host:node-03", params={"rebuild_command": ["sh", "-c", "exit 3"]}
    )
    (failure,) = result.failures
    assert (failure.exit_code, failure.error) == (3, "exited with status 3")


def test_output_a_node_writes_after_its_command_exits_is_recorded(squall: SquallHarness) -> None:
    # sshd sends the exit status before output still on its way: the record waits for both.
    script = "echo early; (sleep 0.5; echo late=1) & exit 0"
    result = squall.deploy(
        "cache_rebuild", target="host:node-03", params={"rebuild_command": ["sh", "-c", script]}
    )
    assert result.status == "succeeded"
    assert [line for line in squall.logs(result.id) if line in ("early", "late=1")] == [
        "early",
        "late=1",
    ]


def test_output_that_is_huge_binary_or_one_long_line_is_kept_whole(
    squall_on_each_database: SquallHarness,
) -> None:
    squall = squall_on_each_database
    script = (
        "printf 'caf\\303\\251 \\377\\376 \\000 end\\n'; "
        "head -c 100000 /dev/zero | tr '\\0' x; echo; "
        "seq 1 20000"
    )
    commits = 0

    def count(_connection: object) -> None:
        nonlocal commits
        commits += 1

    event.listen(squall.runtime.db.engine, "commit", count)
    result = squall.deploy(
        "cache_rebuild", target="host:node-05", params={"rebuild_command": ["sh", "-c", script]}
    )
    event.remove(squall.runtime.db.engine, "commit", count)
    assert result.status == "succeeded"
    with squall.runtime.db.read() as session:
        lines = list(
            session.scalars(
                select(LogLine.text)
                .where(LogLine.deployment_id == result.id, LogLine.stream == "stdout")
                .order_by(LogLine.id)
            )
        )
    assert lines[0] == "café \ufffd\ufffd \ufffd end"
    long_parts = [line for line in lines if line and set(line) == {"x"}]
    assert "".join(long_parts) == "x" * 100000 and len(long_parts) > 1
    assert lines[-20000:] == [str(number) for number in range(1, 20001)]
    assert commits < 100, (
        f"{commits} commits for {len(lines)} lines: log lines must be written in batches"
    )


def test_one_connection_serves_all_steps_of_a_node_task(
    squall: SquallHarness, fleet: Fleet
) -> None:
    before = fleet.sshd_log("node-06").read_text().count("Accepted publickey")
    result = squall.deploy(
        "single_instance",
        target="host:node-06",
        params={
            "version": "2.0",
            "stop_command": "true",
            "start_command": "true",
            "health_command": "true",
        },
    )
    assert result.status == "succeeded"
    assert fleet.sshd_log("node-06").read_text().count("Accepted publickey") == before + 1


def test_the_ssh_key_is_loaded_once_for_all_connections(
    squall: SquallHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[Path] = []
    original = paramiko.PKey.from_path

    def counting(path: Path, passphrase: str | None = None) -> paramiko.PKey:
        loads.append(path)
        return original(path, passphrase)

    monkeypatch.setattr(paramiko.PKey, "from_path", staticmethod(counting))
    assert squall.deploy("noop").status == "succeeded"
    assert len(loads) <= 1


def test_connections_leave_the_shared_fabric_config_as_it_is(
    squall: SquallHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fabric's Connection stores a setting into the config it is given and merges all of
    it again; with one config shared by every connection, that was work for each node."""
    shared = squall.runtime.ssh._config  # made (and merged) before counting
    merged: list[object] = []
    original = invoke.config.Config.merge

    def counting(config: invoke.config.Config) -> None:
        merged.append(config)
        original(config)

    monkeypatch.setattr(invoke.config.Config, "merge", counting)
    result = squall.deploy("noop")
    assert result.status == "succeeded" and result.counts["succeeded"] >= 2
    assert not [config for config in merged if config is shared]


def _harness_with_ssh(tmp_path: Path, fleet: Fleet, **ssh: object) -> SquallHarness:
    return SquallHarness(
        tmp_path,
        DEFAULT_PLUGINS,
        fleet=fleet,
        ssh=SSHSettings(key_file=fleet.client_key, **ssh),  # type: ignore[arg-type]
    )


def test_an_unknown_host_key_is_refused_by_default(tmp_path: Path, fleet: Fleet) -> None:
    with _harness_with_ssh(tmp_path, fleet) as harness:
        result = harness.deploy("noop", target="host:node-01")
    assert "is not known" in (result.failures[0].error or "")


def test_trusting_unknown_host_keys_is_recorded(tmp_path: Path, fleet: Fleet) -> None:
    with _harness_with_ssh(tmp_path, fleet, trust_unknown_hosts=True) as harness:
        result = harness.deploy("noop", target="host:node-0[12]")
        assert result.status == "succeeded"
        learned = harness.runtime.settings.known_hosts_file.read_text().splitlines()
        trusted = events(harness, result.id, "host_key.trusted")
        assert len(learned) == 2 and len(trusted) == 2
        assert {found.data["node"] for found in trusted} == {"node-01", "node-02"}
        assert all(found.data["fingerprint"].startswith("SHA256:") for found in trusted)
        assert any("on first use" in line for line in harness.logs(result.id, node="node-01"))
        # Once recorded, the key is known: no new trust event on the next run.
        again = harness.deploy("noop", target="host:node-01")
        assert events(harness, again.id, "host_key.trusted") == []


def test_a_host_key_that_changed_is_refused(tmp_path: Path, fleet: Fleet) -> None:
    other = paramiko.Ed25519Key.from_private_key_file(
        str(fleet.client_key)
    )  # any other ed25519 key
    node = fleet.node("node-01")
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"[{node.host}]:{node.port} ssh-ed25519 {other.get_base64()}\n")
    with _harness_with_ssh(
        tmp_path / "s", fleet, known_hosts=wrong, trust_unknown_hosts=True
    ) as harness:
        result = harness.deploy("noop", target="host:node-01")
    assert "does not match known_hosts" in (result.failures[0].error or "")


def test_retry_refuses_a_deployment_without_failures(squall: SquallHarness) -> None:
    result = squall.deploy("noop", target="host:node-01")
    with pytest.raises(InvalidTransition), squall.runtime.db.write() as session:
        actions.retry(session, squall.runtime, squall.actor, result.id)
    with pytest.raises(InvalidTransition, match="not paused"), squall.runtime.db.write() as session:
        actions.resume(session, squall.runtime, squall.actor, result.id)


def _wait_until(condition: object, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_workers_in_separate_processes_share_work_within_the_stage_parallelism(
    squall_on_each_database: SquallHarness, fleet: Fleet
) -> None:
    squall = squall_on_each_database
    deployment_id = squall.create(
        "cache_rebuild", params={"rebuild_command": "sleep 0.4"}, parallelism=3
    )
    # A second runtime on the same database stands for a worker process elsewhere.
    other = Runtime.open(squall.runtime.settings, squall.runtime.plugins)
    # Two slots each: neither worker alone can fill the stage's three.
    engines = [
        Engine(squall.runtime, workers=2, name="worker-a").start(),
        Engine(other, workers=2, name="worker-b").start(),
    ]
    try:
        _wait_until(
            lambda: squall.view(deployment_id).status == "succeeded", "the deployment", timeout=60
        )
    finally:
        for engine in engines:
            engine.stop()
        other.close()
    ran = tasks(squall, deployment_id).values()
    assert {task.worker for task in ran} == {"worker-a", "worker-b"}
    moments = sorted(
        [(task.started_at, 1) for task in ran] + [(task.finished_at, -1) for task in ran]
    )
    running = peak = 0
    for _moment, change in moments:
        running += change
        peak = max(peak, running)
    assert peak == 3


def test_a_worker_shutting_down_hands_its_tasks_back_at_once(
    squall: SquallHarness, fleet: Fleet
) -> None:
    script = "if [ -e started ]; then exit 0; fi; touch started; sleep 60"
    deployment_id = squall.create(
        "cache_rebuild", target="host:node-0[1-4]", params={"rebuild_command": ["sh", "-c", script]}
    )
    engine = Engine(squall.runtime).start()
    _wait_until(
        lambda: all((fleet.node(f"node-0{i}").root / "started").exists() for i in range(1, 5)),
        "steps to start",
    )
    started = time.monotonic()
    engine.stop(grace=0.2)
    interrupted = events(squall, deployment_id, "task.interrupted")
    assert len(interrupted) == 4
    assert all("stopped before the task finished" in found.data["error"] for found in interrupted)
    assert len(events(squall, deployment_id, "task.requeued")) == 4
    result = squall.run(deployment_id)
    assert result.status == "succeeded"
    # Handed back, not left to expire: far sooner than a lease (10 s here) would allow.
    assert time.monotonic() - started < 8


def test_tasks_claimed_while_the_engine_stops_are_handed_back_not_stranded(
    squall: SquallHarness, fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    claiming = threading.Event()
    stopping = threading.Event()

    def slow_claim(*args: Any, **kwargs: Any) -> list[ClaimedTask]:
        claimed = claim_tasks(*args, **kwargs)
        if claimed:
            claiming.set()
            stopping.wait(5)  # stop() has begun while these are claimed, not yet launched
            time.sleep(0.2)
        return claimed

    monkeypatch.setattr(worker, "claim_tasks", slow_claim)
    deployment_id = squall.create("noop", target="host:node-0[1-3]")
    engine = Engine(squall.runtime).start()
    assert claiming.wait(10)
    stopper = threading.Thread(target=engine.stop, kwargs={"grace": 5.0})
    stopper.start()
    stopping.set()
    stopper.join(30)
    assert not stopper.is_alive()
    # Every claimed task ran (or was handed back) before the engine was gone.
    assert {task.status.value for task in tasks(squall, deployment_id).values()} <= {
        "succeeded",
        "pending",
    }
    started = time.monotonic()
    assert squall.run(deployment_id).status == "succeeded"
    assert time.monotonic() - started < 8  # no lease had to expire first


def test_work_that_arrives_while_the_dispatcher_claims_is_taken_at_once(
    tmp_path: Path, fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A poke (a task's end frees a slot, a stop is asked) that comes while the dispatcher
    is claiming must not be lost: the work it announces would wait a whole poll (30 s
    here), and so would stopping the engine once a deployment is done."""
    in_claim = threading.Event()
    go_on = threading.Event()
    claims = 0
    claim = Engine._claim

    def claim_then_linger(engine: Engine, free: int) -> list[ClaimedTask]:
        nonlocal claims
        claimed = claim(engine, free)  # committed: the database is free again
        claims += 1
        if claims == 2:  # the first claim after the engine was poked: nothing to claim yet
            in_claim.set()
            go_on.wait(10)
        return claimed

    monkeypatch.setattr(Engine, "_claim", claim_then_linger)
    engine_settings = EngineSettings(lease_seconds=10, poll_seconds=30)
    with SquallHarness(tmp_path, DEFAULT_PLUGINS, fleet=fleet, engine=engine_settings) as harness:
        engine = Engine(harness.runtime).start()
        try:
            engine.poke()
            assert in_claim.wait(10)
            deployment_id = harness.create("noop", target="host:node-0[1-2]")
            engine.poke()  # as a finished task does when it frees a slot
            go_on.set()
            _wait_until(
                lambda: (
                    {t.status.value for t in tasks(harness, deployment_id).values()}
                    == {"succeeded"}
                ),
                "the new deployment's tasks to run",
                timeout=10,
            )
        finally:
            started = time.monotonic()
            engine.stop()
        assert time.monotonic() - started < 5


@pytest.mark.parametrize("fails", [False, True], ids=["all-succeed", "one-fails"])
def test_outcomes_move_their_deployment_forward_without_waiting_for_a_poll(
    tmp_path: Path, fleet: Fleet, fails: bool
) -> None:
    """The transaction that records outcomes moves the deployment on (a stage halts on a
    failure, a finished stage ends it): with a 30 s poll, the scheduler's round cannot
    be what finishes these deployments within 10 s."""
    if fails:
        (fleet.node("node-02").root / "broken").touch()
    engine_settings = EngineSettings(lease_seconds=10, poll_seconds=30)
    with SquallHarness(tmp_path, DEFAULT_PLUGINS, fleet=fleet, engine=engine_settings) as harness:
        deployment_id = harness.create(
            "cache_rebuild",
            target="host:node-0[1-4]",
            params={"rebuild_command": ["sh", "-c", "if [ -e broken ]; then exit 3; fi"]},
            parallelism=2,
            max_failures="0",
        )
        result = harness.run(deployment_id, timeout=10)
    if fails:
        assert result.status == "failed"
        assert [failure.node for failure in result.failures] == ["node-02"]
    else:
        assert result.status == "succeeded"
        assert result.counts == {"succeeded": 4}


def test_an_idle_worker_claims_work_created_in_its_process_at_once_not_at_its_next_poll(
    tmp_path: Path, fleet: Fleet, database_url: str
) -> None:
    """As in `squall serve`: a deployment created through the console or the API is told
    to the engine of the same process, which runs it although its next poll is a minute off."""
    polls = EngineSettings(lease_seconds=10, poll_seconds=60)
    with SquallHarness(
        tmp_path / "squall", DEFAULT_PLUGINS, fleet=fleet, database_url=database_url, engine=polls
    ) as squall:
        engine = Engine(squall.runtime).start()
        try:
            time.sleep(1)  # its first look for work is over: the next is a minute off
            deployment_id = squall.create("noop")
            _wait_until(
                lambda: squall.view(deployment_id).status == "succeeded",
                "the deployment",
                timeout=30,
            )
        finally:
            engine.stop()
        assert {task.worker for task in tasks(squall, deployment_id).values()} == {engine.name}
