"""Parameters and planner of the configuration change: pure, no I/O."""

from __future__ import annotations

import posixpath
import re
import string
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from squall import (
    Argv,
    NodeInfo,
    NodePlan,
    Plan,
    PlanError,
    PlanRequest,
    StagePlan,
    Step,
    argv,
    run,
)
from squall.plugins.config_change.steps import restore_step, validate_step, write_step

DEFAULT_BACKUP_DIR = ".squall/backups"


class ConfigChangeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        description="File to write; relative paths start in the node's home folder. On "
        "local nodes the path must stay inside the node's folder.",
    )
    content: str | None = Field(None, description="The file's whole new content.")
    template: str | None = Field(
        None,
        description="New content with ${name} placeholders, filled from `values`, `secrets` "
        "and the node's own ${node}, ${cluster} and ${host}.",
    )
    values: dict[str, str] = Field(default_factory=dict, description="Values for the template.")
    secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Secret values for the template (never shown or stored in clear).",
    )
    mode: str | None = Field(
        None, description="Octal file mode, e.g. 0640; default: keep the old file's."
    )
    validate_command: Argv | None = Field(
        None,
        description="Checks the new file; a word {path} stands for the file. "
        "On failure the old file is put back.",
    )
    reload_command: Argv | None = Field(
        None, description="Run after a successful write, e.g. systemctl reload nginx."
    )
    backup_dir: str = Field(
        DEFAULT_BACKUP_DIR,
        description="Folder on the node that keeps the previous file, in a subfolder per "
        "deployment (never beside the file, where a folder of configuration files would "
        "read it too); relative paths start in the node's home folder. On local nodes it "
        "must stay inside the node's folder.",
    )
    timeout: float = Field(60, gt=0, description="Seconds each command may take.")

    @field_validator("path")
    @classmethod
    def _usable_path(cls, value: str) -> str:
        if not value.strip() or value.endswith("/") or posixpath.basename(value) in (".", ".."):
            raise ValueError("must name a file")
        return _no_control_characters(value)

    @field_validator("backup_dir")
    @classmethod
    def _usable_folder(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a folder")
        return _no_control_characters(value)

    @field_validator("mode")
    @classmethod
    def _octal(cls, value: str | None) -> str | None:
        if value is not None and (
            not value or any(c not in "01234567" for c in value) or int(value, 8) > 0o7777
        ):
            raise ValueError("must be an octal file mode such as 0644")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.content is None) == (self.template is None):
            raise ValueError("give exactly one of content and template")
        if self.template is not None:
            matches = list(string.Template.pattern.finditer(self.template))
            invalid = [match for match in matches if match.group("invalid") is not None]
            if invalid:
                # Found here, not by substitute() while planning, which would raise ValueError.
                line = self.template.count("\n", 0, invalid[0].start()) + 1
                raise ValueError(
                    f"template has a '$' that starts no placeholder (line {line}); "
                    "write $$ for a literal $"
                )
            fields = {
                match.group("named") or match.group("braced")
                for match in matches
                if match.group("named") or match.group("braced")
            }
            known = set(self.values) | set(self.secrets) | {"node", "cluster", "host"}
            missing = sorted(fields - known)
            if missing:
                raise ValueError(f"template placeholders without a value: {', '.join(missing)}")
        return self


def _no_control_characters(value: str) -> str:
    if any(character in value for character in "\0\n"):
        raise ValueError("must not contain NUL or newline characters")
    return value


def render(params: ConfigChangeParams, node: NodeInfo) -> str:
    if params.content is not None:
        return params.content
    assert params.template is not None
    values = {
        **params.values,
        **{name: secret.get_secret_value() for name, secret in params.secrets.items()},
        "node": node.name,
        "cluster": node.cluster,
        "host": node.host,
    }
    return string.Template(params.template).substitute(values)


def secret_lines(params: ConfigChangeParams, node: NodeInfo) -> tuple[str, ...]:
    """For each template line holding a secret, a pattern matching that line with any value
    where the secret goes (a regex whose groups are the secrets). The diff masks the
    secrets of lines matching one, on both sides: the file's previous line may hold an
    older secret that nothing else knows of. A line holding nothing but a secret has no
    shape to recognise: its new value is masked like any secret, its old one is not."""
    if params.template is None or not params.secrets:
        return ()
    values = {**params.values, "node": node.name, "cluster": node.cluster, "host": node.host}
    patterns = []
    for line in params.template.splitlines():
        parts, position, secret, literal = [], 0, False, ""
        for match in string.Template.pattern.finditer(line):
            literal += line[position : match.start()]
            parts.append(re.escape(line[position : match.start()]))
            name = match.group("named") or match.group("braced")
            if name in params.secrets:
                parts.append("(.*?)")
                secret = True
            elif name is not None:
                parts.append(re.escape(values[name]))
            else:  # $$, a literal $
                parts.append(re.escape("$"))
            position = match.end()
        parts.append(re.escape(line[position:]))
        if secret and (literal + line[position:]).strip():
            patterns.append("".join(parts))
    return tuple(patterns)


def plan(request: PlanRequest[ConfigChangeParams]) -> Plan:
    params = request.params
    backup_tag = "preview" if request.deployment_id is None else str(request.deployment_id)
    mode = int(params.mode, 8) if params.mode else None
    nodes = []
    for node in request.targets:
        if node.transport == "local":
            _inside_local_node("path", params.path, node)
            _inside_local_node("backup_dir", params.backup_dir, node)
        steps: list[Step] = [
            write_step(
                params.path,
                render(params, node),
                mode=mode,
                tag=backup_tag,
                backup_dir=params.backup_dir,
                timeout=params.timeout,
                secret_lines=secret_lines(params, node),
            )
        ]
        if params.validate_command:
            words = [params.path if word == "{path}" else word for word in params.validate_command]
            steps.append(
                validate_step(
                    params.path,
                    argv(words),
                    tag=backup_tag,
                    backup_dir=params.backup_dir,
                    timeout=params.timeout,
                )
            )
        if params.reload_command:
            steps.append(run("reload", argv(params.reload_command), timeout=params.timeout))
        nodes.append(NodePlan(node, tuple(steps)))
    if not nodes:
        raise PlanError("no target node")
    return Plan((StagePlan("change", tuple(nodes)),))


def _inside_local_node(parameter: str, path: str, node: NodeInfo) -> None:
    """A local node is a folder on the Squall host: its files (and backups) stay inside that
    folder (on SSH nodes an absolute path is fine, the node is its own machine)."""
    normal = posixpath.normpath(path)
    if posixpath.isabs(path) or normal == ".." or normal.startswith("../"):
        raise PlanError(
            f"{parameter} {path!r} leaves the folder of local node {node.name}: on local nodes "
            "give a path relative to the node's folder, without '..'"
        )


def rollback(request: PlanRequest[ConfigChangeParams]) -> Plan:
    """Each node gets its previous file back (or loses a file it did not have), then the
    reload command runs again so the service reads it."""
    params = request.params
    if request.deployment_id is None:
        raise PlanError("only a deployment that ran can be rolled back")
    steps: list[Step] = [
        restore_step(
            params.path,
            str(request.deployment_id),
            backup_dir=params.backup_dir,
            timeout=params.timeout,
        )
    ]
    if params.reload_command:
        steps.append(run("reload", argv(params.reload_command), timeout=params.timeout))
    return Plan(
        (StagePlan("restore", tuple(NodePlan(node, tuple(steps)) for node in request.targets)),)
    )
