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

from core.errors import ConfigError


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
        if not name.startswith("SQUALL_") or name == "SQUALL_CONFIG":
            continue
        path = name.removeprefix("SQUALL_").lower().split("__")
        target = values
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    settings: Settings = _build(Settings, values, "")
    return settings


def _build(cls: type[Any], values: dict[str, Any], prefix: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown setting {prefix}{unknown[0]}; known: {', '.join(sorted(known))}"
        )
    kwargs: dict[str, Any] = {}
    defaults = cls()
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
