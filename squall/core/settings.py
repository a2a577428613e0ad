"""Squall's configuration: environment variables first, then an optional YAML file.

Every setting has a `SQUALL_` environment variable (nested ones use `__`, e.g.
`SQUALL_SSH__KEY_FILE`). `SQUALL_CONFIG` names a YAML file with the same keys.
"""

from __future__ import annotations

import os
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, SecretBytes, SecretStr
from pydantic import ValidationError as PydanticValidationError

from squall.core.errors import ConfigError

SectionT = TypeVar("SectionT", bound=BaseModel)


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
    """How often an idle worker looks for work written by other processes (work written
    in its own process wakes it at once)."""
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
    sections: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """Plugins' own sections (`jira:`, `slack:`, …) by name: as read from the file and the
    environment until Squall starts with its plugins (`bind_sections`), then each checked
    by the model its plugin declares in `squall_settings_model`. Not in the repr: until
    then, secrets in them are plain text."""

    def section(self, name: str, model: type[SectionT]) -> SectionT:
        """A plugin's section, checked by its model; the model's defaults when the file
        and the environment say nothing about it."""
        return validate_section(model, self.sections.get(name, {}), name)

    def secret_values(self) -> list[str]:
        """The clear values of every secret (`SecretStr`) in the plugins' sections, for
        redacting them from what is shown or stored."""
        found: list[str] = []
        _collect_secrets(list(self.sections.values()), found)
        return found

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


def _yaml(text: str) -> Any:
    """A value written in YAML; a ValueError saying why it is not valid. PyYAML is loaded
    only when a setting is written so (a settings file, a mapping in a variable)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from exc


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from `SQUALL_CONFIG` (YAML) overlaid with `SQUALL_*` variables."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    config_path = env.get("SQUALL_CONFIG")
    if config_path:
        try:
            loaded = _yaml(Path(config_path).read_text()) or {}
        except (OSError, ValueError) as exc:
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
    core = core_setting_names()
    sections = {name: values.pop(name) for name in list(values) if name not in core}
    settings: Settings = _build(Settings, values, "")
    return replace(settings, sections=sections)


def core_setting_names() -> frozenset[str]:
    """Names a plugin's section may not take."""
    return frozenset(f.name for f in fields(Settings)) - {"sections"}


def bind_sections(settings: Settings, models: Mapping[str, type[BaseModel]]) -> Settings:
    """`settings` with each plugin's section checked by the model the plugin declares. A
    section no plugin declares is refused like any unknown setting."""
    unknown = sorted(set(settings.sections) - set(models))
    if unknown:
        known = ", ".join(sorted(core_setting_names() | set(models)))
        raise ConfigError(f"unknown setting {unknown[0]}; known: {known}")
    bound = {name: settings.section(name, model) for name, model in models.items()}
    return replace(settings, sections=bound)


def validate_section(model: type[SectionT], values: Any, where: str) -> SectionT:
    """A plugin's section checked by its model, with the errors core settings give:
    `unknown setting jira.tokn; known: …`, `setting jira.timeout: 'soon' is not a valid
    float`. Text from environment variables is read as YAML where the model wants a
    mapping or a list; an empty text is None where None is allowed."""
    if isinstance(values, model):
        return values
    prepared = _prepare(model, values, where)
    try:
        return model.model_validate(prepared)
    except PydanticValidationError as exc:
        raise ConfigError(_problem(model, exc, where)) from None


def with_overrides(current: SectionT, overrides: Mapping[str, Any], where: str) -> SectionT:
    """`current` (a plugin's section) with `overrides` applied and checked like the file:
    an environment's own values of an integration's settings."""
    model = type(current)
    _prepare(model, overrides, where)  # unknown keys are named where they were written
    values = {name: getattr(current, name) for name in model.model_fields}
    return validate_section(model, {**values, **overrides}, where)


def _prepare(model: type[BaseModel], values: Any, where: str) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        raise ConfigError(f"setting {where} must be a mapping")
    known = model.model_fields
    unknown = sorted(str(name) for name in values if name not in known)
    if unknown:
        raise ConfigError(f"unknown setting {where}.{unknown[0]}; known: {', '.join(known)}")
    prepared: dict[str, Any] = {}
    for name, value in values.items():
        key, options = f"{where}.{name}", _options(known[name].annotation)
        nested = [option for option in options if _is_model(option)]
        if (value is None or value == "") and type(None) in options:
            value = None
        elif nested and isinstance(value, Mapping):
            value = _prepare(nested[0], value, key)
        elif isinstance(value, str) and any(
            get_origin(option) in (dict, list, tuple, set, Mapping) for option in options
        ):
            try:
                value = _yaml(value)
            except ValueError as exc:
                raise ConfigError(f"setting {key}: not valid YAML: {exc}") from None
        prepared[name] = value
    return prepared


def _options(annotation: Any) -> tuple[Any, ...]:
    """`int | None` → (int, NoneType); `int` → (int,)."""
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


_KINDS = {
    "int": "int",
    "float": "float",
    "bool": "bool",
    "dict": "mapping",
    "list": "list",
    "string": "str",
    "path": "path",
}


def _problem(model: type[BaseModel], exc: PydanticValidationError, where: str) -> str:
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    key = ".".join([where, *loc])
    if error["type"] == "missing":
        return f"setting {key} is required"
    shown = "***" if _is_secret(model, loc) else repr(error.get("input"))
    kind = _KINDS.get(error["type"].split("_")[0])
    if kind and error["type"].endswith(("_parsing", "_type")):
        return f"setting {key}: {shown} is not a valid {kind}"
    return f"setting {key}: {str(error['msg']).removeprefix('Value error, ')}"


def _is_secret(model: type[BaseModel], loc: list[str]) -> bool:
    """Whether the value at `loc` is (or is inside) a secret field: never echo it."""
    current: Any = model
    for part in loc:
        if not _is_model(current) or part not in current.model_fields:
            return False
        annotation = current.model_fields[part].annotation
        if "Secret" in str(annotation):
            return True
        current = next((o for o in _options(annotation) if _is_model(o)), None)
    return False


def _collect_secrets(value: Any, found: list[str]) -> None:
    if isinstance(value, SecretStr | SecretBytes):
        secret = value.get_secret_value()
        found.append(secret.decode() if isinstance(secret, bytes) else secret)
    elif isinstance(value, BaseModel):
        _collect_secrets([getattr(value, name) for name in type(value).model_fields], found)
    elif isinstance(value, Mapping):
        _collect_secrets(list(value.values()), found)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _collect_secrets(item, found)


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
        if text.startswith("dict"):
            if isinstance(value, str):  # from an environment variable: a YAML mapping
                value = _yaml(value)
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
    except ValueError as exc:
        raise ConfigError(f"setting {key}: {value!r} is not a valid {text.split(' ')[0]}") from exc
    return str(value)
