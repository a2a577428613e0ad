"""No parameter of a built-in deployment type ever reaches a node's shell as code.

Every parameter that can carry text, of every registered type, is found in the type's
pydantic model and given values full of shell metacharacters, each of which would create
a marker file if a shell interpreted it. All these deployments run at once on the fleet;
afterwards no marker exists, and every value that lands somewhere (a file's name or
content, a folder, a printed line) arrived there literally.
"""

from __future__ import annotations

import os
import shlex
import time
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from sqlalchemy import func, select

from squall.app import DEFAULT_PLUGINS
from squall.core.engine.worker import Engine
from squall.core.errors import SquallError
from squall.core.models import Deployment, NodeTask
from squall.core.plugins import build_host
from squall.core.status import TaskStatus
from squall.core.types import Argv, DeploymentType
from squall.core.values.views import DeploymentView
from squall.testing.fleet import Fleet
from squall.testing.harness import SquallHarness

MARKER = "@M@"
"""Stands for a case's own marker file: an absolute path outside every node's folder."""

PAYLOADS = (
    "$(touch @M@)",
    "`touch @M@`",
    "; touch @M@",
    "| touch @M@",
    "&& touch @M@",
    "|| touch @M@ #",
    "& touch @M@ &",
    "' ; touch @M@ ; '",
    '" ; touch @M@ ; "',
    "'\"'\"'; touch @M@; '\"'\"'",  # how shlex.quote escapes a quote, to close it early
    "\ntouch @M@",
    "> @M@",
    "${IFS}touch${IFS}@M@",
    "$((1)) $HOME",
    "*",
    "\\",
    "%s \\t \\c",  # echo would turn these into a tab and a cut; printf formats into %s
)

ARGV_SPLITTER = get_args(Argv)[1]
"""The validator that makes a list[str] an Argv: one given as text is split like a shell."""


# --- which parameters carry text --------------------------------------------------------


def text_kind(annotation: Any, metadata: tuple[Any, ...] = ()) -> str | None:
    """How a parameter can carry text: `text`, `secret`, `words` (a list of str), `argv`
    (an Argv: words, or text split into words), `mapping` (str values), `secret_mapping`,
    `any`; None for numbers and flags."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        return text_kind(inner, (*metadata, *extra))
    if origin in (Union, types.UnionType):
        kinds = {text_kind(arg, metadata) for arg in get_args(annotation)} - {None}
        assert len(kinds) <= 1, f"{annotation} mixes kinds of text: {kinds}"
        return kinds.pop() if kinds else None
    if annotation is Any:
        return "any"
    if annotation is str:
        return "text"
    if annotation is SecretStr:
        return "secret"
    if origin is list and text_kind(get_args(annotation)[0]) == "text":
        return "argv" if ARGV_SPLITTER in metadata else "words"
    if origin is dict:
        value_kind = text_kind(get_args(annotation)[1])
        if value_kind is not None:
            return {"text": "mapping", "secret": "secret_mapping"}.get(value_kind, "any")
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model"
    if origin in (list, dict, tuple, set) or annotation in (bytes, object):
        raise AssertionError(f"teach text_kind about {annotation}")
    return None


def field_kind(info: FieldInfo) -> str | None:
    return text_kind(info.annotation, tuple(info.metadata))


def text_fields(types: Mapping[str, DeploymentType[Any]]) -> dict[tuple[str, str], str]:
    """Every text-carrying parameter of every type, with its kind."""
    return {
        (name, field_name): kind
        for name, deployment_type in types.items()
        for field_name, info in deployment_type.parameters.model_fields.items()
        if (kind := field_kind(info)) is not None
    }


# --- where each parameter's value goes ------------------------------------------------


@dataclass(frozen=True)
class Landed:
    """What a case left behind: its deployment, its node's folder and log, and the file it
    wrote (a configuration change)."""

    view: DeploymentView
    root: Path
    log: str
    written: Path | None

    def succeeded(self) -> None:
        assert self.view.status == "succeeded", self.view.failures

    def failed_at(self, step: str) -> int | None:
        (failure,) = self.view.failures
        assert failure.step == step, f"failed at {failure.step}, not {step}: {failure.error}"
        return failure.exit_code


Check = Callable[[Any, Landed], None]


def printed(value: Any, landed: Landed) -> None:
    """A message as it is; a command `printf '%s\\n' …` (words or text): each later word
    on a line of its own."""
    if isinstance(value, str) and value.startswith("printf "):
        value = shlex.split(value)
    block = "\n".join(value[2:] if isinstance(value, list) else [value])
    landed.succeeded()
    assert f"\n{block}\n" in landed.log, f"{block!r} not printed verbatim"


def names_the_file(value: Any, landed: Landed) -> None:
    landed.succeeded()
    assert (landed.root / value).read_text() == "ok\n"


def is_the_content(value: Any, landed: Landed) -> None:
    landed.succeeded()
    assert landed.written is not None and landed.written.read_text() == value


def is_the_template(value: Any, landed: Landed) -> None:
    landed.succeeded()
    assert landed.written is not None
    assert landed.written.read_text() == value.replace("$$", "$")


def fills_the_template(value: Any, landed: Landed) -> None:
    landed.succeeded()
    expected = "".join(f"<{item}>\n" for item in value.values())
    assert landed.written is not None and landed.written.read_text() == expected


def keeps_the_mark_there(value: Any, landed: Landed) -> None:
    """The file was new: the mark that says so is in the backup folder named."""
    landed.succeeded()
    assert landed.written is not None and landed.written.read_text() == "ok\n"
    folder = landed.root / value / str(landed.view.id)
    assert (folder / f"{landed.written.name}.did-not-exist").is_file()


def names_the_folder(value: Any, landed: Landed) -> None:
    landed.succeeded()
    assert os.readlink(landed.root / value / "current") == "releases/1.0"
    assert (landed.root / value / "releases" / "1.0").is_dir()


def runs_as_one_command_name(step: str) -> Check:
    """The whole payload named a command, which the shell did not find (exit 127)."""

    def check(value: Any, landed: Landed) -> None:
        assert landed.failed_at(step) == 127

    return check


def never(value: str) -> bool:
    return False


def as_is(payload: str) -> str:
    return payload


@dataclass(frozen=True)
class Use:
    """How a type uses one of its text parameters.

    `base`: the other parameters of a run that gets as far as this one. `lands`: where an
    accepted value must arrive literally, or None when validation must refuse every value.
    `refuses`: the values validation must refuse. `step`: for a command, the step running it.
    `form`: how a payload becomes a value (cases share nodes, and their files must not clash).
    `joined`: all payloads in one value, for text that only ever becomes a file's content
    (any shell that saw it would still run one of them); otherwise a case per payload.
    """

    base: Mapping[str, Any]
    lands: Check | None
    refuses: Callable[[str], bool] = never
    step: str | None = None
    form: Callable[[str], str] = as_is
    joined: bool = False
    inside: str | None = None
    """For a nested model: its command field that gets the payloads."""


CONFIG_BASE = {"path": "app.conf", "content": "ok\n"}
TEMPLATE_BASE = {"path": "app.conf", "content": None}
REBUILD_BASE = {"rebuild_command": ["true"], "verify_attempts": 1}
RELEASE_BASE = {"version": "1.0", "health_attempts": 1}
GROUP_BASE: dict[str, Any] = {"inner_type": "noop", "thunder": {"gate": "auto"}}
HEALTH_CHECKED: dict[str, Any] = {**GROUP_BASE, "lightning_size": "1"}


def has_newline(value: str) -> bool:
    return "\n" in value


def has_placeholder(value: str) -> bool:
    return "$" in value.replace("$$", "")


USES: dict[tuple[str, str], Use] = {
    ("noop", "message"): Use({}, printed),
    ("config_change", "path"): Use(
        {**CONFIG_BASE, "validate_command": ["test", "-f", "{path}"]},
        names_the_file,
        has_newline,
        form=lambda payload: f"{payload}.conf",  # not the name of an app_dir case's folder
    ),
    ("config_change", "content"): Use(CONFIG_BASE, is_the_content, joined=True),
    ("config_change", "template"): Use(
        TEMPLATE_BASE, is_the_template, has_placeholder, joined=True
    ),
    ("config_change", "values"): Use(TEMPLATE_BASE, fills_the_template),
    ("config_change", "secrets"): Use(TEMPLATE_BASE, fills_the_template),
    ("config_change", "mode"): Use(CONFIG_BASE, None),
    ("config_change", "backup_dir"): Use(CONFIG_BASE, keeps_the_mark_there, has_newline),
    ("config_change", "validate_command"): Use(CONFIG_BASE, printed, step="validate"),
    ("config_change", "reload_command"): Use(CONFIG_BASE, printed, step="reload"),
    ("cache_rebuild", "rebuild_command"): Use(REBUILD_BASE, printed, step="rebuild"),
    ("cache_rebuild", "verify_command"): Use(REBUILD_BASE, printed, step="verify"),
    ("single_instance", "version"): Use(RELEASE_BASE, None),
    ("single_instance", "app_dir"): Use(RELEASE_BASE, names_the_folder, has_newline),
    ("single_instance", "install_command"): Use(RELEASE_BASE, printed, step="prepare"),
    ("single_instance", "drain_command"): Use(RELEASE_BASE, printed, step="drain"),
    ("single_instance", "stop_command"): Use(RELEASE_BASE, printed, step="stop"),
    ("single_instance", "start_command"): Use(RELEASE_BASE, printed, step="start"),
    ("single_instance", "health_command"): Use(RELEASE_BASE, printed, step="health"),
    ("group", "inner_type"): Use(GROUP_BASE, None),
    ("group", "lightning_size"): Use(GROUP_BASE, None),
    ("group", "wave_size"): Use(GROUP_BASE, None),
    # Names that are no cluster or node of the target.
    ("group", "lightning_clusters"): Use(GROUP_BASE, None),
    ("group", "lightning_nodes"): Use(GROUP_BASE, None),
    # A phase's health command runs on its nodes, after them.
    ("group", "lightning"): Use(HEALTH_CHECKED, printed, step="health", inside="health_command"),
    ("group", "thunder"): Use(HEALTH_CHECKED, printed, step="health", inside="health_command"),
    # The wrapped type's own parameters: a cache rebuild's command, on every node.
    ("group", "inner_params"): Use({**GROUP_BASE, "inner_type": "cache_rebuild"}, printed),
}


# --- cases ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    type: str
    field: str
    label: str
    params: dict[str, Any]
    expected: Any
    """What the check looks for: the value itself, unless it is wrapped in others."""
    refused: bool
    check: Check | None
    everywhere: bool = False
    """True: on every node of the fleet; False: on one node."""


def as_secret(value: str) -> str:
    # Core refuses secrets shorter than 3 characters (they could not be redacted safely).
    return value if len(value) >= 3 else f"[{value}]"


class Cases:
    """Builds the cases of every text parameter from its kind; each case its own marker."""

    def __init__(self, markers: Path) -> None:
        self._markers = markers
        self._count = 0
        self._files = 0
        self._command_names = 0
        self.owners: dict[str, str] = {}
        """Marker file name → the parameter whose payloads name it."""

    def payloads(self, owner: str) -> list[str]:
        self._count += 1
        marker = self._markers / f"m{self._count:03d}"
        self.owners[marker.name] = owner
        return [payload.replace(MARKER, str(marker)) for payload in PAYLOADS]

    def of(self, type_name: str, field_name: str, kind: str) -> list[Case]:
        use = USES[type_name, field_name]
        owner = f"{type_name}.{field_name}"

        def case(
            label: str,
            value: Any,
            check: Check | None = use.lands,
            *,
            expected: Any = None,
            also: Mapping[str, Any] | None = None,
            everywhere: bool = False,
        ) -> Case:
            refused = use.lands is None or (isinstance(value, str) and use.refuses(value))
            params = {**use.base, field_name: value, **(also or {})}
            if type_name == "config_change" and field_name != "path":
                # Cases share nodes: each writes a file of its own.
                self._files += 1
                params["path"] = f"conf/{self._files}.conf"
            return Case(
                type_name,
                field_name,
                f"{owner} {label}",
                params,
                value if expected is None else expected,
                refused,
                check,
                everywhere,
            )

        if kind in ("text", "secret"):
            found = []
            values = self.payloads(owner)
            if use.joined:
                values = ["\n".join(values)]
            for index, payload in enumerate(values):
                value = use.form(as_secret(payload) if kind == "secret" else payload)
                found.append(case(f"#{index} {value!r}", value))
                escaped = value.replace("$", "$$")
                if use.refuses(value) and not use.refuses(escaped):  # a template's `$`
                    found.append(case(f"#{index} {value!r} escaped", escaped))
            return found
        if kind == "words" and use.lands is None:
            return [case("as names", self.payloads(owner))]
        if kind == "model":
            assert use.inside is not None, f"{type_name}.{field_name}: name its command field"
            words = ["printf", "%s\n", *self.payloads(owner)]
            # Every phase prints, so whichever phase a node lands in, its log shows them.
            health = {"health_command": words}
            value = {**use.base.get(field_name, {}), use.inside: words}
            others = {"lightning": health, "thunder": {"gate": "auto", **health}}
            also = {key: phase for key, phase in others.items() if key != field_name}
            return [case("as a health command", value, expected=words, also=also, everywhere=True)]
        if kind in ("words", "argv"):
            assert use.step is not None, f"{type_name}.{field_name}: name the step running it"
            words = ["printf", "%s\n", *self.payloads(owner)]
            found = [case("as words", words)]
            if kind == "argv":
                found.append(case("as text", shlex.join(words)))
            # One payload as the command's name, a different one for each parameter.
            name = self.payloads(owner)[self._command_names % len(PAYLOADS)]
            self._command_names += 1
            found.append(case(f"named {name!r}", [name, "x"], runs_as_one_command_name(use.step)))
            return found
        if kind in ("mapping", "secret_mapping"):
            values = self.payloads(owner)
            if kind == "secret_mapping":
                values = [as_secret(value) for value in values]
            mapping = {f"v{index}": value for index, value in enumerate(values)}
            template = "".join(f"<${{{name}}}>\n" for name in mapping)
            return [case("as template values", mapping, also={"template": template})]
        if kind == "any":
            words = ["printf", "%s\n", *self.payloads(owner)]
            inner = {"rebuild_command": words}
            return [case("as inner parameters", inner, expected=words, everywhere=True)]
        raise AssertionError(f"{type_name}.{field_name}: no cases for parameters of kind {kind}")


# --- running --------------------------------------------------------------------------


def run_together(harness: SquallHarness, ids: list[int], timeout: float = 120) -> None:
    """Run deployments at once (each node works on one at a time) until all have settled."""
    deadline = time.monotonic() + timeout
    with Engine(harness.runtime) as engine:
        while True:
            with harness.runtime.db.read() as session:
                statuses = set(
                    session.scalars(select(Deployment.status).where(Deployment.id.in_(ids)))
                )
                running = session.scalar(
                    select(func.count()).where(
                        NodeTask.deployment_id.in_(ids), NodeTask.status == TaskStatus.RUNNING
                    )
                )
            if all(status.is_final for status in statuses) and not running:
                engine.recorder.drain()
                return
            assert time.monotonic() < deadline, f"deployments still running after {timeout}s"
            time.sleep(0.05)


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    """Where a payload that some shell ran would leave its marker: outside every node."""
    folder = tmp_path / "markers"
    folder.mkdir()
    return folder


# --- tests ----------------------------------------------------------------------------


def test_every_text_parameter_of_every_type_says_where_its_value_goes() -> None:
    fields = text_fields(build_host(DEFAULT_PLUGINS).types)
    assert {"noop", "config_change", "cache_rebuild", "single_instance"} <= {
        name for name, _ in fields
    }
    missing = sorted(set(fields) - set(USES))
    assert not missing, f"say in USES how these parameters are used: {missing}"
    assert not set(USES) - set(fields), "USES names parameters that no longer exist"
    assert fields["config_change", "validate_command"] == "argv"
    assert fields["cache_rebuild", "rebuild_command"] == "argv"
    assert fields["config_change", "secrets"] == "secret_mapping"
    assert ("cache_rebuild", "verify_attempts") not in fields


def test_no_parameter_value_ever_runs_as_shell_code(
    squall: SquallHarness, fleet: Fleet, markers: Path
) -> None:
    fields = text_fields(squall.runtime.plugins.types)
    builder = Cases(markers)
    cases = [
        case
        for (type_name, field_name), kind in sorted(fields.items())
        for case in builder.of(type_name, field_name, kind)
    ]
    assert {(case.type, case.field) for case in cases} == set(fields)

    problems: list[str] = []
    started: list[tuple[Case, int, list[str]]] = []
    names = [node.name for node in fleet.nodes]
    for index, case in enumerate(cases):
        nodes = names if case.everywhere else [names[index % len(names)]]
        target = "all" if case.everywhere else f"host:{nodes[0]}"
        try:
            deployment_id = squall.create(case.type, target=target, params=case.params)
        except SquallError as error:
            if not case.refused:
                problems.append(f"{case.label}: refused ({error})")
            continue
        if case.refused:
            problems.append(f"{case.label}: accepted, but must be refused")
        started.append((case, deployment_id, nodes))
    run_together(squall, [deployment_id for _, deployment_id, _ in started])

    fired = sorted({builder.owners[path.name] for path in markers.iterdir()})
    assert not fired, f"a shell ran a payload of {', '.join(fired)}"
    for case, deployment_id, nodes in started:
        view = squall.view(deployment_id)
        for name in nodes:
            log = "\n".join(squall.logs(deployment_id, node=name))
            root = fleet.node(name).root
            path = case.params.get("path") if case.type == "config_change" else None
            landed = Landed(view, root, f"\n{log}\n", root / path if path else None)
            try:
                assert case.check is not None
                case.check(case.expected, landed)
            except AssertionError as error:
                problems.append(f"{case.label} on {name}: {error}")
    assert not problems, "\n".join(problems)
    assert len(started) == sum(1 for case in cases if not case.refused) > 80


def test_values_starting_with_a_dash_are_never_taken_as_options(
    squall: SquallHarness, fleet: Fleet
) -> None:
    message = squall.create("noop", target="host:node-01", params={"message": "-n"})
    release = squall.create(
        "single_instance",
        target="host:node-02",
        params={"version": "1.0", "app_dir": "-x", "install_command": ["touch", "--", "-y"]},
    )
    run_together(squall, [message, release])
    assert squall.view(message).status == "succeeded"
    assert "-n" in squall.logs(message, node="node-01")
    assert squall.view(release).status == "succeeded", squall.view(release).failures
    app = fleet.node("node-02").root / "-x"
    assert os.readlink(app / "current") == "releases/1.0"
    assert (app / "releases" / "1.0" / "-y").exists()


def test_a_config_path_starting_with_a_dash_is_written_literally(
    squall: SquallHarness, fleet: Fleet
) -> None:
    result = squall.deploy(
        "config_change", target="host:node-01", params={"path": "-x/app.conf", "content": "ok\n"}
    )
    assert result.status == "succeeded", result.failures
    assert (fleet.node("node-01").root / "-x" / "app.conf").read_text() == "ok\n"
    again = squall.deploy(
        "config_change",
        target="host:node-01",
        params={"path": "-x/app.conf", "content": "changed\n", "mode": "0600"},
    )
    assert again.status == "succeeded", again.failures
    written = fleet.node("node-01").root / "-x" / "app.conf"
    assert written.read_text() == "changed\n" and written.stat().st_mode & 0o777 == 0o600
