"""Every `squall` command that reads or changes state says the same, with the same exit
code, whether it works on this machine's database or on a served Squall (`--server`).

Two installations start from one copy of the same data: the commands run on one of them
here, straight on its database, and on the other over HTTP, in the same order, so both
stay alike. Only what must differ is normalised: the folders files are written to, and the
times of what the commands themselves do."""

from __future__ import annotations

import getpass
import json
import re
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
import typer
import yaml
from rich.console import Console
from served import Installation, installation
from sqlalchemy import select
from typer.testing import CliRunner

from squall import app
from squall.app import add_plugin_commands, cli
from squall.core.auth import Actor, Grant
from squall.core.models import Delivery, Event, utcnow
from squall.core.services import access

add_plugin_commands()  # `jira drift` and the other plugins' commands, as `squall` has them

JIRA = {"SQUALL_JIRA__URL": "http://127.0.0.1:9/never-asked", "SQUALL_JIRA__TOKEN": "not-used"}
"""JIRA configured (for `jira drift`), never reached: no process here delivers."""
ME = Actor(getpass.getuser(), source="sso", grants=(Grant("admin"),))
"""The token's owner: the same person the CLI acts as on the server's own machine."""


@dataclass
class Ran:
    code: int
    out: str
    err: str


@dataclass
class Pair:
    here: Installation
    there: Installation
    url: str
    token: str
    root: Path

    def run(self, args: tuple[str, ...], *, remote: bool) -> Ran:
        """The command in this process (the server it talks to is a real one)."""
        side = "remote" if remote else "local"
        out = self.root / f"out-{side}"
        out.mkdir(exist_ok=True)
        args = tuple(arg.replace("{out}", str(out)) for arg in args)
        if remote:
            env = self.there.env(SQUALL_SERVER=self.url, SQUALL_TOKEN=self.token)
        else:
            env = self.here.env(SQUALL_SERVER="")
        wide = {"width": 200, "color_system": None, "highlight": False, "markup": False}
        with (
            patch.object(app, "console", Console(soft_wrap=True, **wide)),
            patch.object(app, "errors", Console(stderr=True, soft_wrap=True, **wide)),
        ):
            done = CliRunner().invoke(cli, list(args), env=env)
        if done.exception and not isinstance(done.exception, SystemExit):
            raise done.exception
        assert self.token not in done.stdout + done.stderr
        return Ran(done.exit_code, _normal(done.stdout, out), _normal(done.stderr, out))


def _normal(shown: str, out: Path) -> str:
    shown = shown.replace(str(out), "OUT")
    return re.sub(r"\(([\d,]+) bytes\)", "(N bytes)", shown)


def _when(shown: str) -> str:
    """For what the commands themselves do (records, copies, an abort): when, and how
    long after the copy was made, differ by seconds."""
    moment = r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:\d\d|Z)?"
    shown = re.sub(moment, "TIME", shown)
    return re.sub(r"\b(\d+m)?\d+(\.\d+)?s\b", "DURATION", shown)


def _audited(shown: str) -> str:
    """The audit log says how each action came: over the API (`via=token`) or here; the
    report copies each side issued hash their own generation times."""
    return re.sub(r"\b[0-9a-f]{64}\b", "HASH", _when(shown).replace("via=token", "via=local"))


def _chained(shown: str) -> str:
    """The audit chain's head hashes those times and ways too."""
    return re.sub(r"\b[0-9a-f]{64}\b", "HASH", _when(shown))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("parity")
    database = root / "a" / "squall.db"
    with installation(root / "a", f"sqlite:///{database}", settings=JIRA) as here:
        token = _prepare(here, root)
        copy = root / "b"
        copy.mkdir()
        with sqlite3.connect(database) as source, sqlite3.connect(copy / "squall.db") as to:
            source.backup(to)
        shutil.copy(root / "a" / "secret.key", copy / "secret.key")
        with installation(copy, f"sqlite:///{copy / 'squall.db'}", settings=JIRA) as there:
            url = there.serve()
            yield Pair(here, there, url, token, root)


def _prepare(squall: Installation, root: Path) -> str:
    """Deployments that succeeded, failed, wait; a role binding, tokens, a failed delivery."""
    nodes = root / "nodes"
    clusters = {
        name: {
            "environment": environment,
            "defaults": {"transport": "local"},
            "nodes": [{"name": f"{name}-{i}", "root": str(nodes / f"{name}-{i}")} for i in (1, 2)],
        }
        for name, environment in (("web", "production"), ("db", "staging"))
    }
    (root / "inventory.yaml").write_text(yaml.safe_dump({"clusters": clusters}))
    squall.harness.import_inventory(root / "inventory.yaml")
    harness = squall.harness
    harness.run(harness.create("noop"))  # 1: succeeded
    harness.run(harness.create("cache_rebuild", params={"rebuild_command": "false"}))  # 2: failed
    harness.create("noop", target="cluster:db")  # 3: pending, for pause and abort
    runtime = harness.runtime
    with runtime.db.write() as session:
        access.grant_role(session, runtime, harness.actor, "group:sre", "operator")
        access.create_token(session, runtime, ME, name="to-revoke")
        event = session.scalars(select(Event.id).where(Event.deployment_id == 2)).first()
        session.add(
            Delivery(
                destination="jira",
                deployment_id=2,
                event_id=event,
                action="comment",
                status="failed",
                attempts=5,
                last_error="401 Unauthorized",
                next_attempt_at=utcnow(),
                created_at=utcnow(),
            )
        )
    (root / "more.yaml").write_text(
        yaml.safe_dump({"clusters": {"cache": {"nodes": [{"name": "cache-1", "host": "c1"}]}}})
    )
    (root / "broken.yaml").write_text("clusters:\n  web:\n    nodes: [{name: }]\n")
    return squall.token(ME)


# Each entry: the command (with {out} for the folder it writes to, {root} the test's own
# files), and how to compare: as printed, or with the times of new records normalised.
Same = Callable[[str], str]
AS_IS: Same = str
COMMANDS: list[tuple[tuple[str, ...], Same]] = [
    (("types",), AS_IS),
    (("inventory", "list"), AS_IS),
    (("inventory", "list", "--target", "tag:none"), AS_IS),
    (("status", "2"), AS_IS),
    (("status", "2", "--json"), AS_IS),
    (("status", "--json", "--limit", "2"), AS_IS),
    (("status", "4242"), AS_IS),
    (("logs", "1"), AS_IS),
    (("logs", "2", "--node", "web-1"), AS_IS),
    (("deploy", "noop", "--target", "cluster:web", "--dry-run"), AS_IS),
    (("deploy", "noop", "--target", "cluster:nowhere", "--dry-run"), AS_IS),
    (("roles",), AS_IS),
    (("roles", "--markdown"), AS_IS),
    (("role", "list"), AS_IS),
    (("token", "list"), AS_IS),
    (("token", "list", "--all"), AS_IS),
    (("audit", "list"), AS_IS),
    (("audit", "list", "--action", "role.", "--csv", "{out}/audit.csv"), AS_IS),
    (("audit", "verify"), AS_IS),
    (("audit", "verify", "--head", "0" * 64), AS_IS),
    (("report", "deployment", "2"), AS_IS),
    (("report", "deployment", "1", "--csv", "{out}/d1.csv", "--json", "{out}/d1.json"), AS_IS),
    (("report", "deployment", "2", "--pdf", "{out}/d2.pdf", "--table", "stages"), AS_IS),
    (("report", "deployment", "2", "--pdf", "{out}/d2.pdf"), AS_IS),
    (("report", "deployment", "4242"), AS_IS),
    (("report", "cluster", "web", "--since", "2020-01-01", "--until", "2099-01-01"), AS_IS),
    (("report", "node", "db-1", "--json", "{out}/db-1.json"), AS_IS),
    (("report", "node", "nowhere"), AS_IS),
    (("report", "verify", "{out}/d2.pdf"), _when),
    (("report", "verify", "{out}/d1.json"), _when),
    (("report", "verify", "{root}/inventory.yaml"), AS_IS),
    (("jira", "drift"), AS_IS),
    # changes, the same on both sides
    (("inventory", "import", "{root}/more.yaml"), AS_IS),
    (("inventory", "import", "{root}/broken.yaml"), AS_IS),
    (("inventory", "import", "{root}/missing.yaml"), AS_IS),
    (("inventory", "remove", "cache"), AS_IS),
    (("inventory", "remove", "nowhere"), AS_IS),
    (("role", "grant", "user:alice", "deployer@env:staging"), AS_IS),
    (("role", "grant", "user:alice", "deployer@env:staging"), AS_IS),
    (("role", "grant", "user:bob", "wizard"), AS_IS),
    (("role", "revoke", "1"), AS_IS),
    (("role", "revoke", "1"), AS_IS),
    (("token", "revoke", "1"), AS_IS),
    (("token", "revoke", "99"), AS_IS),
    (("deliveries", "give-up", "2"), AS_IS),
    (("deliveries", "give-up", "2"), AS_IS),
    (("deliveries", "retry", "2"), AS_IS),
    (("pause", "3"), AS_IS),
    (("abort", "3"), AS_IS),
    (("abort", "3"), AS_IS),
    (("status",), _when),
    (("token", "list", "--all"), AS_IS),
    (("role", "list"), _when),
    (("audit", "list", "--limit", "12"), _audited),
    (("audit", "verify"), _chained),
]


@pytest.mark.parametrize(
    ("command", "same"), COMMANDS, ids=[" ".join(command) for command, _ in COMMANDS]
)
def test_a_command_says_the_same_here_and_over_http(
    pair: Pair, command: tuple[str, ...], same: Same
) -> None:
    command = tuple(arg.replace("{root}", str(pair.root)) for arg in command)
    over_http = pair.run(command, remote=True)
    here = pair.run(command, remote=False)
    assert (over_http.code, same(over_http.out)) == (here.code, same(here.out))
    assert same(over_http.err) == same(here.err)
    assert here.out or here.err


# The tests below read the files the commands above wrote: this file runs whole and in order
# (scripts/test keeps each file in one worker).


def test_the_files_written_over_http_are_the_ones_written_here(pair: Pair) -> None:
    remote, local = pair.root / "out-remote", pair.root / "out-local"
    assert (remote / "audit.csv").read_text() == (local / "audit.csv").read_text()
    over_http, here = ((folder / "d1.csv").read_text().split("\n", 1) for folder in (remote, local))
    assert over_http[1] == here[1]  # every row; the first line names the copy
    claims = [json.loads(line.removeprefix("#squall ")) for line in (over_http[0], here[0])]
    assert (
        claims[0]["sha256"] == claims[1]["sha256"] and claims[0]["request"] == claims[1]["request"]
    )
    assert (remote / "d1.csv").read_text().count("\n") == 6  # claims, a header, four nodes
    for name in ("d1.json", "db-1.json"):
        over_http, here = (json.loads((folder / name).read_text()) for folder in (remote, local))
        assert over_http["generated"]["by"] == here["generated"]["by"] == ME.name
        if name == "d1.json":
            assert over_http["sha256"] == here["sha256"] and over_http["data"] == here["data"]
        else:  # a node's history runs up to when it was asked for
            assert over_http["data"].pop("until") != here["data"].pop("until")
            assert over_http["data"] == here["data"]
    assert (remote / "d2.pdf").read_bytes().startswith(b"%PDF")


def test_a_token_cannot_make_tokens_over_http(pair: Pair) -> None:
    """The one command that acts differently: a token making tokens would let a leaked
    one outlive its expiry, so the server refuses it, with the reason, exit 2."""
    refused = pair.run(("token", "create", "ci"), remote=True)
    assert refused.code == 2 and "a token cannot make tokens" in refused.err
    assert refused.out == ""
    made = pair.run(("token", "create", "ci"), remote=False)
    assert made.code == 0 and "sq_" in made.out


def test_verifying_a_copy_over_http_finds_what_a_local_check_finds(pair: Pair) -> None:
    export = pair.root / "out-local" / "d1.json"
    edited = pair.root / "edited.json"
    document = json.loads(export.read_text())
    document["data"]["status"] = "failed"
    edited.write_text(json.dumps(document))
    over_http = pair.run(("report", "verify", str(edited)), remote=True)
    here = pair.run(("report", "verify", str(edited)), remote=False)
    assert (over_http.code, over_http.out, over_http.err) == (here.code, here.out, here.err)
    assert here.code == 1 and "NOT VERIFIED" in here.err


LOCAL_BY_NATURE = {
    "serve": "serves this machine's database",
    "worker": "runs this machine's node tasks",
}
NEEDS_NO_SQUALL = {
    "plugin new": "writes a package into a folder here",
    "roles": "prints the built-in permission matrix",
}
RUNS_DEPLOYMENTS = {"deploy", "retry", "exclude", "promote", "resume", "rollback", "cancel"}
"""Commands that run or follow a deployment: over HTTP in tests/test_cli_remote.py."""


def _command_paths(group: Any, prefix: str = "") -> set[str]:
    found = set()
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if hasattr(command, "commands"):
            found |= _command_paths(command, f"{path} ")
        else:
            found.add(path)
    return found


def test_every_command_is_either_checked_over_http_or_local_by_nature() -> None:
    commands = _command_paths(typer.main.get_command(cli))
    checked = {
        " ".join(word for word in command[:2] if not word.isdigit() and not word.startswith("-"))
        for command, _ in COMMANDS
    }
    checked = {path if path in commands else path.split()[0] for path in checked}
    covered = checked | RUNS_DEPLOYMENTS | {"token create"} | set(NEEDS_NO_SQUALL)
    assert commands - covered == set(LOCAL_BY_NATURE)
    assert len(commands) >= 32


@pytest.mark.parametrize("command", sorted(LOCAL_BY_NATURE))
def test_a_command_of_this_machine_refuses_a_server_and_says_so(pair: Pair, command: str) -> None:
    refused = pair.run((command,), remote=True)
    assert refused.code == 2
    assert refused.err.strip() == (
        f"error: `squall {command}` works on this machine's Squall only; drop --server"
    )


def test_help_says_which_commands_work_on_this_machine_only() -> None:
    shown = CliRunner().invoke(cli, ["--help"], env={"COLUMNS": "200"}).output
    assert "--server" in shown and "serve" in shown and "worker" in shown
    for command in LOCAL_BY_NATURE:
        help_text = CliRunner().invoke(cli, [command, "--help"], env={"COLUMNS": "200"}).output
        assert "this machine only" in help_text, command


def test_help_reads_as_sentences_not_as_the_source_lines() -> None:
    # Docstrings are wrapped in the source; help reflows them to the terminal's width.
    shown = CliRunner().invoke(cli, ["--help"], env={"COLUMNS": "200"}).output
    assert (
        "(Ctrl-C cancels it). With --server, the server's workers run it and this follows it."
        in shown
    )
    token = CliRunner().invoke(cli, ["token", "create", "--help"], env={"COLUMNS": "200"}).output
    assert "it is shown this once" in token, token
