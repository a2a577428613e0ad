"""The plugin contract: every hook documented and exercised, plugins loading and failing loudly."""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from squall import (
    DeploymentSummary,
    DeploymentType,
    LogSink,
    NodeConnection,
    NodeInfo,
    NodePlan,
    Plan,
    PlanRequest,
    ReportSection,
    StagePlan,
    Step,
    StepOutcome,
    hookimpl,
    run,
    sh,
)
from squall.core import hookspecs
from squall.core.auth import Actor, AuthTarget
from squall.core.errors import PermissionDenied, PluginError, ValidationError
from squall.core.events import EventInfo
from squall.core.integration import Action, DeliveryContext, DeploymentInfo, RetryLater
from squall.core.models import utcnow
from squall.core.outbox.holds import check_holds
from squall.core.plugins import build_host
from squall.core.services import deployments
from squall.core.services.deliveries import deliveries
from squall.core.settings import Settings
from squall.core.values.deployments import DeploymentRequest
from squall.testing.harness import SquallHarness

TESTS = Path(__file__).parent
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("squall_"))


def local_inventory(path: Path, nodes: int = 3) -> Path:
    inventory = {
        "clusters": {
            "local": {
                "defaults": {"transport": "local"},
                "nodes": [
                    {"name": f"n{i}", "root": str(path / f"n{i}")} for i in range(1, nodes + 1)
                ],
            }
        }
    }
    path.mkdir(parents=True, exist_ok=True)
    file = path / "inventory.yaml"
    file.write_text(yaml.safe_dump(inventory))
    return file


@pytest.fixture
def harness_with(tmp_path: Path) -> Iterator[Callable[..., SquallHarness]]:
    made: list[SquallHarness] = []

    def make(*plugins: object) -> SquallHarness:
        harness = SquallHarness(tmp_path / f"squall{len(made)}", plugins)
        harness.import_inventory(local_inventory(tmp_path / f"nodes{len(made)}"))
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()


# --- the contract keeps itself honest ---------------------------------------------------


def test_every_hook_has_a_docstring_that_names_each_argument() -> None:
    for name in HOOKS:
        spec = getattr(hookspecs, name)
        doc = inspect.getdoc(spec) or ""
        assert len(doc) > 80, f"{name} needs a real docstring"
        for argument in inspect.signature(spec).parameters:
            assert f":param {argument}:" in doc, f"{name} does not document {argument}"


def test_every_hook_has_a_test_of_its_own() -> None:
    source = Path(__file__).read_text()
    for name in HOOKS:
        assert f"def test_hook_{name}" in source, f"no test_hook_{name}"


def signature_text(name: str) -> str:
    """`def squall_x(a: A, b: B) -> R` as the hookspec declares it, without whitespace."""
    signature = str(inspect.signature(getattr(hookspecs, name))).replace("'", "")
    return re.sub(r"\s+", "", f"def {name}{signature}")


def test_every_hook_is_documented_in_the_plugin_guide_with_its_exact_signature() -> None:
    guide = (TESTS.parent / "docs" / "plugins.md").read_text()
    blocks = [
        re.sub(r"\s+", "", block) for block in re.findall(r"```python\n(.*?)```", guide, re.S)
    ]
    blocks = [block.replace(",)", ")") for block in blocks]
    for name in HOOKS:
        assert f"### `{name}`" in guide, f"docs/plugins.md has no section on {name}"
        assert any(block.startswith(signature_text(name)) for block in blocks), (
            f"docs/plugins.md: the signature of {name} is not {signature_text(name)}"
        )
        for argument in inspect.signature(getattr(hookspecs, name)).parameters:
            assert f"- `{argument}` — " in guide.split(f"### `{name}`")[1].split("\n### ")[0], (
                f"docs/plugins.md: {name} does not describe {argument}"
            )


def test_every_built_in_plugin_loads_and_registers_its_type() -> None:
    host = build_host(
        (
            "squall.plugins.noop",
            "squall.plugins.config_change",
            "squall.plugins.cache_rebuild",
            "squall.plugins.single_instance",
            "squall.plugins.group_phases",
        )
    )
    assert set(host.types) == {"noop", "config_change", "cache_rebuild", "single_instance", "group"}
    for deployment_type in host.types.values():
        assert issubclass(deployment_type.parameters, BaseModel)
        assert deployment_type.description


def test_a_misspelled_hook_implementation_stops_start_up() -> None:
    class Misspelled:
        @hookimpl
        def squall_regster_types(self, register: Any) -> None:
            """A typo that would otherwise be silently ignored."""

    with pytest.raises(PluginError, match="squall_regster_types"):
        build_host([Misspelled()])


def test_a_hook_implementation_with_an_unknown_argument_stops_start_up() -> None:
    class WrongArgument:
        @hookimpl
        def squall_on_event(self, evnt: EventInfo) -> None:
            """`evnt` is not an argument of the hook."""

    with pytest.raises(PluginError):
        build_host([WrongArgument()])


def test_two_plugins_registering_one_type_name_stop_start_up() -> None:
    with pytest.raises(PluginError, match="two plugins register a deployment type named 'noop'"):
        build_host(["squall.plugins.noop", Registering(echo_type("noop"))])


def test_a_plugin_module_that_does_not_import_is_reported_by_name() -> None:
    with pytest.raises(PluginError, match="no_such_plugin_module"):
        build_host(["no_such_plugin_module"])


def test_plugins_load_from_the_squall_entry_point_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An out-of-tree package, installed as its metadata says, is found through its entry point."""
    site = tmp_path / "site"
    package = site / "outside_type"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(OUTSIDE_PLUGIN)
    dist_info = site / "outside_type-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: outside-type\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[squall]\noutside = outside_type\n")
    monkeypatch.syspath_prepend(str(site))
    host = build_host(entry_points=True)
    assert "outside" in host.types
    assert "outside" in host.plugin_names
    sys.modules.pop("outside_type", None)


OUTSIDE_PLUGIN = textwrap.dedent(
    """
    from pydantic import BaseModel
    from squall import DeploymentType, NodePlan, Plan, StagePlan, hookimpl, run, sh

    class Params(BaseModel):
        word: str = "outside"

    def plan(request):
        steps = (run("say", sh("echo {word}", word=request.params.word)),)
        return Plan((StagePlan("all", tuple(NodePlan(node, steps) for node in request.targets)),))

    @hookimpl
    def squall_register_types(register):
        register(DeploymentType("outside", "Outside", "A type from another package.", Params, plan))
    """
)


COMMAND_PLUGIN = textwrap.dedent(
    """
    import typer
    from pydantic import BaseModel
    from squall import hookimpl

    class Settings(BaseModel):
        greeting: str = "hello"

    @hookimpl
    def squall_settings_model():
        return "greeter", Settings

    @hookimpl
    def squall_register_commands(app, open_squall):
        @app.command("greet")
        def greet(name: str) -> None:
            \"\"\"Greet someone, and count the deployments they could see.\"\"\"
            with open_squall() as squall:
                settings = squall.settings.section("greeter", Settings)
                print(f"{settings.greeting}, {name}: {len(squall.deployments(10))} deployment(s)")
    """
)


def install_out_of_tree(site: Path, module: str, source: str) -> None:
    """A package as pip would leave it: the module and its `squall` entry point."""
    (site / module).mkdir(parents=True)
    (site / module / "__init__.py").write_text(source)
    dist_info = site / f"{module}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(f"[squall]\n{module} = {module}\n")


def test_hook_squall_register_commands(tmp_path: Path) -> None:
    install_out_of_tree(tmp_path / "site", "greeter", COMMAND_PLUGIN)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SQUALL_", "PYTEST_"))},
        "PYTHONPATH": str(tmp_path / "site"),
        "SQUALL_DATA_DIR": str(tmp_path / "data"),
        "SQUALL_GREETER__GREETING": "good morning",
    }
    squall = [sys.executable, "-m", "squall"]
    done = subprocess.run([*squall, "greet", "ops"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "good morning, ops: 0 deployment(s)"
    listed = subprocess.run([*squall, "--help"], env=env, capture_output=True, text=True)
    assert "Greet someone" in listed.stdout
    bad = subprocess.run(
        [*squall, "greet", "ops"],
        env={**env, "SQUALL_GREETER__GRETING": "hi"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "error: unknown setting greeter.greting; known: greeting" in bad.stderr


def test_an_out_of_tree_type_installed_by_entry_point_runs_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    (site / "outside_type").mkdir(parents=True)
    (site / "outside_type" / "__init__.py").write_text(OUTSIDE_PLUGIN)
    dist_info = site / "outside_type-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: outside-type\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[squall]\noutside = outside_type\n")
    monkeypatch.syspath_prepend(str(site))
    with SquallHarness(tmp_path / "squall", host=build_host(entry_points=True)) as harness:
        harness.import_inventory(local_inventory(tmp_path / "nodes"))
        result = harness.deploy("outside", params={"word": "hello from outside"})
        assert result.status == "succeeded"
        assert harness.logs(result.id, node="n2").count("hello from outside") == 1
    sys.modules.pop("outside_type", None)


# --- one test per hook ------------------------------------------------------------------


class EchoParams(BaseModel):
    word: str = "hi"


def echo_type(
    name: str, plan: Callable[[PlanRequest[EchoParams]], Plan] | None = None
) -> DeploymentType[EchoParams]:
    def default_plan(request: PlanRequest[EchoParams]) -> Plan:
        steps = (run("echo", sh("echo {word}", word=request.params.word)),)
        return Plan((StagePlan("all", tuple(NodePlan(node, steps) for node in request.targets)),))

    return DeploymentType(name, name.title(), "Echoes a word.", EchoParams, plan or default_plan)


class Registering:
    def __init__(self, *types: DeploymentType[Any]) -> None:
        self.types = types

    @hookimpl
    def squall_register_types(self, register: Callable[[DeploymentType[Any]], None]) -> None:
        for deployment_type in self.types:
            register(deployment_type)


def test_hook_squall_register_types(harness_with: Callable[..., SquallHarness]) -> None:
    harness = harness_with(Registering(echo_type("echo"), echo_type("shout")))
    assert {"echo", "shout"} <= set(harness.runtime.plugins.types)
    result = harness.deploy("shout", params={"word": "loud"})
    assert result.status == "succeeded"
    assert "loud" in harness.logs(result.id, node="n1")


def test_hook_squall_check_deployment(harness_with: Callable[..., SquallHarness]) -> None:
    seen: list[DeploymentInfo] = []

    class Outside:
        @hookimpl
        def squall_check_deployment(self, deployment: DeploymentInfo) -> None:
            seen.append(deployment)
            if deployment.ticket == "OPS-0":
                raise ValidationError("no such ticket", fields={"ticket": "unknown"})

    harness = harness_with(Registering(echo_type("echo")), Outside())
    request = DeploymentRequest("echo", {"word": "hi"}, "all", ticket="OPS-0")
    with pytest.raises(ValidationError, match="no such ticket"):
        deployments.check_outside(harness.runtime, harness.actor, request)
    assert seen[0].id == 0 and seen[0].type == "echo" and seen[0].ticket == "OPS-0"
    assert harness.deploy("echo", params={"word": "hi"}).status == "succeeded"
    assert seen[1].ticket is None  # every creation is checked


def test_hook_squall_settings_model(harness_with: Callable[..., SquallHarness]) -> None:
    class FreezeSettings(BaseModel):
        frozen: bool = False
        reason: str = "a change freeze"

    class Freeze:
        @hookimpl
        def squall_settings_model(self) -> tuple[str, type[BaseModel]]:
            return "freeze", FreezeSettings

        @hookimpl
        def squall_deployment_gates(self, deployment: DeploymentInfo, settings: Settings) -> None:
            freeze = settings.section("freeze", FreezeSettings)
            if freeze.frozen:
                raise ValidationError(f"no deployments during {freeze.reason}")

    harness = harness_with(Registering(echo_type("echo")), Freeze())
    assert harness.runtime.plugins.settings_models == {"freeze": FreezeSettings}
    assert harness.deploy("echo").status == "succeeded"
    with SquallHarness(
        harness.runtime.settings.data_dir.parent / "frozen",
        [Registering(echo_type("echo")), Freeze()],
        settings={"freeze": {"frozen": "yes", "reason": "the holidays"}},
    ) as frozen:
        frozen.import_inventory(local_inventory(frozen.runtime.settings.data_dir / "nodes"))
        with pytest.raises(ValidationError, match="no deployments during the holidays"):
            frozen.create("echo")


def test_hook_squall_authorize(harness_with: Callable[..., SquallHarness]) -> None:
    seen: list[tuple[str, str, str | None]] = []

    class NoEchoOnFridays:
        @hookimpl
        def squall_authorize(
            self, actor: Actor, permission: str, target: AuthTarget
        ) -> bool | None:
            seen.append((actor.name, permission, target.name))
            return False if target.name == "echo" else None

    harness = harness_with(Registering(echo_type("echo"), echo_type("other")), NoEchoOnFridays())
    with pytest.raises(
        PermissionDenied, match=r"missing permission 'deployment\.create' on deployment_type echo"
    ):
        harness.create("echo")
    assert harness.deploy("other").status == "succeeded"
    assert (harness.actor.name, "deployment.create", "echo") in seen
    # A viewer is allowed nothing but viewing by the built-in roles: no plugin says yes.
    with pytest.raises(PermissionDenied):
        harness.create("other", actor=Actor("val", frozenset({"viewer"})))


def test_hook_squall_plan(harness_with: Callable[..., SquallHarness]) -> None:
    class CanaryFirst:
        """Plans another plugin's type differently: one node first, then the rest."""

        @hookimpl(wrapper=True)
        def squall_plan(
            self, request: PlanRequest[Any], deployment_type: DeploymentType[Any]
        ) -> Iterator[None]:
            plan: Plan = yield
            if request.type != "echo":
                return plan
            nodes = plan.stages[0].nodes
            return Plan((StagePlan("canary", nodes[:1]), StagePlan("rest", nodes[1:])))

    harness = harness_with(Registering(echo_type("echo")), CanaryFirst())
    result = harness.deploy("echo")
    assert [(stage.name, stage.total, stage.status) for stage in result.stages] == [
        ("canary", 1, "succeeded"),
        ("rest", 2, "succeeded"),
    ]


def test_hook_squall_plan_output_is_checked_like_user_input(
    harness_with: Callable[..., SquallHarness],
) -> None:
    def rogue(request: PlanRequest[EchoParams]) -> Plan:
        stranger = NodeInfo("not-a-target", "x", "10.0.0.1")
        return Plan((StagePlan("all", (NodePlan(stranger, ()),)),))

    harness = harness_with(Registering(echo_type("rogue", rogue)))
    with pytest.raises(Exception, match="not-a-target"):
        harness.create("rogue")
    with harness.runtime.db.read() as session:
        from squall.core.models import Deployment

        assert session.query(Deployment).count() == 0


def test_hook_squall_execute_step(harness_with: Callable[..., SquallHarness]) -> None:
    class Stamp:
        """Adds a step kind: write the node's name into a file, through the connection."""

        @hookimpl
        def squall_execute_step(
            self, step: Step, node: NodeInfo, connection: NodeConnection, log: LogSink
        ) -> StepOutcome | None:
            if step.kind != "stamp":
                return None
            connection.write_file("stamp.txt", node.name.encode(), mode=0o600, timeout=5)
            log.write(f"stamped {node.name}")
            return StepOutcome.ok({"stamped": node.name})

    def plan(request: PlanRequest[EchoParams]) -> Plan:
        steps = (Step("stamp", "stamp", {}),)
        return Plan((StagePlan("all", tuple(NodePlan(node, steps) for node in request.targets)),))

    harness = harness_with(Registering(echo_type("stamper", plan)), Stamp())
    result = harness.deploy("stamper")
    assert result.status == "succeeded"
    root = harness.runtime.settings.data_dir.parent / "nodes0"
    assert (root / "n3" / "stamp.txt").read_text() == "n3"
    assert harness.facts(result.id, "stamp")["n1"] == {"stamped": "n1"}


def test_a_step_kind_no_plugin_executes_fails_with_a_clear_error(
    harness_with: Callable[..., SquallHarness],
) -> None:
    def plan(request: PlanRequest[EchoParams]) -> Plan:
        return Plan(
            (
                StagePlan(
                    "all",
                    tuple(NodePlan(node, (Step("x", "teleport", {}),)) for node in request.targets),
                ),
            )
        )

    harness = harness_with(Registering(echo_type("teleporter", plan)))
    result = harness.deploy("teleporter")
    assert result.status == "failed"
    assert {failure.error for failure in result.failures} == {
        "no plugin executes steps of kind 'teleport'"
    }


def test_hook_squall_report_sections(harness_with: Callable[..., SquallHarness]) -> None:
    class CountSucceeded:
        @hookimpl
        def squall_report_sections(
            self, deployment: DeploymentSummary
        ) -> list[ReportSection] | None:
            done = sum(1 for task in deployment.tasks if task.status == "succeeded")
            return [ReportSection("Echoes", text=f"{done} of {len(deployment.tasks)} nodes echoed")]

    harness = harness_with(Registering(echo_type("echo")), CountSucceeded())
    result = harness.deploy("echo")
    sections = harness.runtime.plugins.hook.squall_report_sections(
        deployment=harness.summary(result.id)
    )
    assert [section.text for found in sections for section in found] == ["3 of 3 nodes echoed"]


def test_hook_squall_on_event(harness_with: Callable[..., SquallHarness]) -> None:
    received: list[EventInfo] = []

    class Listener:
        @hookimpl
        def squall_on_event(self, event: EventInfo) -> None:
            received.append(event)

    class Broken:
        @hookimpl
        def squall_on_event(self, event: EventInfo) -> None:
            raise RuntimeError("this plugin is broken")

    harness = harness_with(Registering(echo_type("echo")), Broken(), Listener())
    result = harness.deploy("echo")
    harness.deliver_events()
    kinds = [event.kind for event in received if event.deployment_id == result.id]
    assert kinds[0] == "deployment.created"
    assert kinds[-1] == "deployment.succeeded"
    assert kinds.count("task.succeeded") == 3
    assert [event.id for event in received] == sorted({event.id for event in received})


class Recorder:
    """A destination that records what it is asked to do; fails its first attempts."""

    name = "recorder"
    title = "Recorder"

    def __init__(self, failures: int = 0) -> None:
        self.sent: list[tuple[str, str]] = []
        self.failures = failures

    def actions(self, event: EventInfo, deployment: DeploymentInfo) -> list[Action]:
        if event.kind in ("deployment.created", "deployment.succeeded"):
            return [Action(event.kind.removeprefix("deployment."))]
        return []

    def send(self, context: DeliveryContext) -> None:
        if self.failures:
            self.failures -= 1
            raise RetryLater("down for now", after=0.0)
        self.sent.append((context.action, context.deployment.status))


def test_hook_squall_register_destinations(
    harness_with: Callable[..., SquallHarness],
) -> None:
    recorder = Recorder(failures=2)

    class Registers:
        @hookimpl
        def squall_register_destinations(
            self, register: Callable[[Recorder], None], settings: Settings
        ) -> None:
            assert isinstance(settings, Settings)
            register(recorder)

    harness = harness_with(Registering(echo_type("echo")), Registers())
    result = harness.deploy("echo")
    harness.deliver()
    # Retried until it went through, in order; each attempt reads the deployment as it is
    # then (the first may go through while the deployment still runs).
    assert [action for action, _ in recorder.sent] == ["created", "succeeded"]
    assert recorder.sent[-1] == ("succeeded", "succeeded")
    with harness.runtime.db.read() as session:
        shown = deliveries(session, harness.runtime, harness.actor, result.id)
    assert [(found.action, found.status, found.attempts) for found in shown.deliveries] == [
        ("created", "delivered", 3),
        ("succeeded", "delivered", 1),
    ]


def test_hook_squall_deployment_gates(harness_with: Callable[..., SquallHarness]) -> None:
    class Refuses:
        @hookimpl
        def squall_deployment_gates(self, deployment: DeploymentInfo) -> list[str]:
            if deployment.ticket is None:
                raise ValidationError("a ticket is needed")
            return ["change-board"]

    harness = harness_with(Registering(echo_type("echo")), Refuses())
    with pytest.raises(ValidationError, match="a ticket is needed"):
        harness.create("echo")
    with harness.runtime.db.write() as session:
        deployment_id = deployments.create(
            session,
            harness.runtime,
            harness.actor,
            DeploymentRequest("echo", {}, "all", ticket="CAB-1"),
        )
    view = harness.view(deployment_id)
    assert (view.status, view.waiting_for) == ("pending", "checking change-board before it starts")


def test_hook_squall_gate_check(harness_with: Callable[..., SquallHarness]) -> None:
    board = {"open": False}

    class ChangeBoard:
        @hookimpl
        def squall_deployment_gates(self, deployment: DeploymentInfo) -> list[str]:
            return ["change-board"]

        @hookimpl
        def squall_gate_check(self, deployment: DeploymentInfo, gate: str) -> str | None:
            return None if board["open"] else "the change board to open"

    harness = harness_with(Registering(echo_type("echo")), ChangeBoard())
    deployment_id = harness.create("echo")
    assert check_holds(harness.runtime) == 0
    assert harness.view(deployment_id).waiting_for == "the change board to open"
    board["open"] = True
    assert check_holds(harness.runtime) == 0  # judged again only once its poll interval is up
    poll = dt.timedelta(seconds=harness.runtime.settings.outbox.gate_poll_seconds)
    assert check_holds(harness.runtime, now=utcnow() + poll) == 1
    assert harness.run(deployment_id).status == "succeeded"


def test_events_are_delivered_again_when_a_deliverer_dies_before_moving_on(
    harness_with: Callable[..., SquallHarness], monkeypatch: pytest.MonkeyPatch
) -> None:
    from squall.core.engine import dispatch

    received: list[int] = []

    class Listener:
        @hookimpl
        def squall_on_event(self, event: EventInfo) -> None:
            received.append(event.id)

    class Died(Exception):
        pass

    harness = harness_with(Registering(echo_type("echo")), Listener())
    harness.deliver_events()
    delivered_before = len(received)
    harness.create("echo")  # new events, not delivered yet
    real_write = harness.runtime.db.write
    transactions = 0

    @contextlib.contextmanager
    def dies_after_delivering() -> Iterator[Any]:
        nonlocal transactions
        transactions += 1
        if transactions == 2:  # the one that would move the cursor on
            raise Died
        with real_write() as session:
            yield session

    monkeypatch.setattr(dispatch, "LEASE", dt.timedelta(seconds=-1))  # its lease ends at once
    monkeypatch.setattr(harness.runtime.db, "write", dies_after_delivering)
    with pytest.raises(Died):
        dispatch.deliver_events(harness.runtime, holder="first")
    monkeypatch.setattr(harness.runtime.db, "write", real_write)
    first = received[delivered_before:]
    assert first, "the first deliverer handed the events over before dying"
    assert dispatch.deliver_events(harness.runtime, holder="second") == len(first)
    assert received[delivered_before:] == first + first
    assert dispatch.deliver_events(harness.runtime, holder="second") == 0


def test_a_connection_refuses_a_plain_string_command(tmp_path: Path) -> None:
    from squall.core.transports.local import LocalConnection

    connection = LocalConnection(NodeInfo("n", "c", "localhost", transport="local"), tmp_path)
    with pytest.raises(TypeError, match="never a plain string"):
        connection.run("rm -rf /", timeout=5, log=None)  # type: ignore[arg-type]
    assert connection.run(sh("echo {x}", x="ok"), timeout=5, log=None).stdout == b"ok\n"
