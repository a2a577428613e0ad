"""Squall's configuration: environment variables first, then an optional YAML file.

Every setting has a `SQUALL_` environment variable (nested ones use `__`, e.g.
`SQUALL_SSH__KEY_FILE`). `SQUALL_CONFIG` names a YAML file with the same keys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from squall.core.errors import ConfigError


@dataclass(frozen=True)
class SSHSettings:
    """How Squall reaches `ssh` nodes."""

    key_file: Path | None = None
    """Private key for every node; default: the first of ~/.ssh/id_ed25519, id_ecdsa, id_rsa."""
    known_hosts: Path | None = None
    """Extra known_hosts file; ~/.ssh/known_hosts and Squall's own file are always read."""
    trust_unknown_hosts: bool = False
    """Accept and record the key of a host seen for the first time (trust on first use)."""
    connect_timeout: float = 10.0


@dataclass(frozen=True)
class EngineSettings:
    """How the engine schedules and runs node tasks."""

    workers: int = 50
    """Node tasks one process runs at once."""
    lease_seconds: float = 30.0
    """A running task's claim lasts this long unless its worker renews it."""
    poll_seconds: float = 0.5
    """How often an idle worker looks for work written by other processes."""
    step_timeout: float = 600.0
    """Default per-step timeout when a deployment type sets none."""


@dataclass(frozen=True)
class SSOSettings:
    """Single sign-on with an OpenID Connect provider; off while `issuer` is empty."""

    issuer: str | None = None
    """The provider's issuer URL (discovery: `<issuer>/.well-known/openid-configuration`)."""
    client_id: str | None = None
    client_secret: str | None = None
    scopes: str = "openid email profile groups"
    username_claim: str = "preferred_username"
    groups_claim: str = "groups"
    roles: dict[str, str] = field(default_factory=dict)
    """Provider group → Squall roles, re-read at every login: `admin`, or scoped
    `deployer@env:staging`, `deployer@cluster:web-*`; several separated by commas."""
    public_url: str | None = None
    """The console's address as browsers see it (https://squall.example.com); decides the
    callback URL and whether session cookies are Secure. Default: taken from requests."""
    session_hours: float = 12.0

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)


@dataclass(frozen=True)
class OutboxSettings:
    """How integrations (JIRA, Slack) are fed from the event table."""

    poll_seconds: float = 1.0
    """How often the delivery loop looks for new events and due retries."""
    backoff_seconds: float = 2.0
    """First wait after a failed attempt; doubled after each further one."""
    backoff_max_seconds: float = 300.0
    lease_seconds: float = 60.0
    """One process delivers for a destination at a time; a dead one's turn ends after this."""
    gate_poll_seconds: float = 30.0
    """How often a held deployment's outside condition (a ticket's status) is checked."""


@dataclass(frozen=True)
class JiraSettings:
    """The JIRA integration; off while `url` is empty. Every key but `url`, `token`,
    `environments` and `types` may be overridden per environment and per deployment type."""

    url: str | None = None
    token: str | None = None
    """A personal access token (sent as a Bearer token); never logged or stored."""
    timeout: float = 10.0
    enabled: bool = True
    """False in an environment's overrides keeps its deployments out of JIRA."""
    require_ticket: bool = False
    """Refuse a deployment without a ticket key unless `create_ticket` makes one."""
    create_ticket: bool = False
    """Create a ticket for a deployment that names none."""
    project: str | None = None
    issue_type: str = "Task"
    summary: str = "Deployment {id}: {title}"
    """Summary of a created ticket; fields: id, title, type, target, requester, environment."""
    labels: str = "squall"
    """Comma-separated labels of created tickets."""
    gate: str = ""
    """Comma-separated statuses the ticket must be in for the deployment to start and its
    gates to be promoted (e.g. "Approved, Implementing"); empty: no gate."""
    transitions: dict[str, str] = field(default_factory=dict)
    """Lifecycle moment → transition name: started, phase_done, succeeded, failed,
    cancelled, rolled_back. Moments not named are not transitioned."""
    comments: bool = True
    """A comment per finished stage (phase or wave) and at the end."""
    attach_report: bool = True
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    types: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def configured(self) -> bool:
        return bool(self.url)


@dataclass(frozen=True)
class SlackSettings:
    """The Slack integration; off while `token` is empty. Every key but `url`, `token`,
    `users` and `environments` may be overridden per environment."""

    url: str = "https://slack.com/api/"
    token: str | None = None
    """The bot token (xoxb-…); never logged or stored."""
    timeout: float = 10.0
    enabled: bool = True
    channel: str | None = None
    """Channel id (C…) the status cards go to."""
    card_seconds: float = 5.0
    """At most one edit of a deployment's status card this often."""
    temporary_channels: bool = False
    """Group deployments get a channel of their own, archived `archive_after` seconds
    after they end; the main channel gets a pointer to it."""
    archive_after: float = 86400.0
    invite: str = ""
    """Comma-separated Squall user names invited to a temporary channel besides the
    requester and the approvers."""
    users: dict[str, str] = field(default_factory=dict)
    """Squall user name → Slack user id (U…), to invite people to temporary channels."""
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def configured(self) -> bool:
        return bool(self.token)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: _default_data_dir())
    database_url: str | None = None
    """SQLAlchemy URL; default: SQLite in the data directory."""
    secret_key: str | None = None
    """Key that encrypts secret parameters at rest; default: `secret.key` in the data directory."""
    demo_inventory: bool = True
    """Create a demo inventory of local nodes on first run."""
    four_eyes: bool = True
    """The requester of a deployment never approves its gates."""
    approvals: dict[str, str] = field(default_factory=dict)
    """Approvals a gate needs, by `type`, `type@environment` or `*@environment`
    (the most specific rule wins; default 1): `{"group@production": 2}`."""
    ssh: SSHSettings = field(default_factory=SSHSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    sso: SSOSettings = field(default_factory=SSOSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    jira: JiraSettings = field(default_factory=JiraSettings)
    slack: SlackSettings = field(default_factory=SlackSettings)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'squall.db'}"

    @property
    def known_hosts_file(self) -> Path:
        """Squall's own known_hosts, where trusted-on-first-use keys are recorded."""
        return self.data_dir / "known_hosts"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "squall"


NOT_SETTINGS = frozenset({"SQUALL_CONFIG", "SQUALL_SERVER", "SQUALL_TOKEN"})
"""Variables that are not settings of this installation: the settings file, and the
remote Squall (and its token) the `squall` command may talk to instead."""


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from `SQUALL_CONFIG` (YAML) overlaid with `SQUALL_*` variables."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    config_path = env.get("SQUALL_CONFIG")
    if config_path:
        try:
            loaded = yaml.safe_load(Path(config_path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read SQUALL_CONFIG={config_path}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{config_path}: expected a mapping of settings")
        values.update(loaded)
    for name, value in env.items():
        if not name.startswith("SQUALL_") or name in NOT_SETTINGS:
            continue
        path = name.removeprefix("SQUALL_").lower().split("__")
        target = values
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    settings: Settings = _build(Settings, values, "")
    return settings


def overlay(current: Any, overrides: dict[str, Any], prefix: str) -> Any:
    """`current` (a settings dataclass) with `overrides` applied and checked like the file
    (per-environment overrides of an integration's settings)."""
    return _build(type(current), overrides, prefix, defaults=current)


def _build(cls: type[Any], values: dict[str, Any], prefix: str, *, defaults: Any = None) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown setting {prefix}{unknown[0]}; known: {', '.join(sorted(known))}"
        )
    kwargs: dict[str, Any] = {}
    defaults = cls() if defaults is None else defaults
    for name, value in values.items():
        current = getattr(defaults, name)
        key = f"{prefix}{name}"
        if hasattr(current, "__dataclass_fields__"):
            if not isinstance(value, dict):
                raise ConfigError(f"setting {key} must be a mapping")
            kwargs[name] = _build(type(current), value, f"{key}.")
        else:
            kwargs[name] = _coerce(key, value, known[name].type)
    return replace(defaults, **kwargs)


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    text = str(annotation)
    if value is None or value == "":
        if "None" in text:
            return None
        raise ConfigError(f"setting {key} may not be empty")
    try:
        if text.startswith("dict[str, dict"):  # overrides by name: kept as they are
            if isinstance(value, str):
                value = yaml.safe_load(value)
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                raise ValueError(value)
            return {str(name): dict(item) for name, item in value.items()}
        if text.startswith("dict"):
            if isinstance(value, str):  # from an environment variable: a YAML mapping
                value = yaml.safe_load(value)
            if not isinstance(value, dict):
                raise ValueError(value)
            return {str(name): str(item) for name, item in value.items()}
        if text.startswith("bool"):
            if isinstance(value, bool):
                return value
            lowered = str(value).strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if text.startswith("int"):
            return int(value)
        if text.startswith("float"):
            return float(value)
        if text.startswith("Path"):
            return Path(str(value)).expanduser()
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"setting {key}: {value!r} is not a valid {text.split(' ')[0]}") from exc
    return str(value)
