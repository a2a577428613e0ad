"""Plugins own their settings: a section declared by `squall_settings_model`, reached by
`SQUALL_<PLUGIN>__KEY` and the settings file, checked like core settings, secrets hidden."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from squall import (
    Action,
    DeliveryContext,
    DeliveryFailed,
    DeploymentInfo,
    Destination,
    EventInfo,
    Settings,
    hookimpl,
)
from squall.core.errors import ConfigError, PluginError
from squall.core.plugins import build_host
from squall.core.runtime import Runtime
from squall.core.services.deliveries import deliveries
from squall.core.settings import bind_sections, load_settings
from squall.integrations.jira.settings import JiraSettings
from squall.testing.harness import SquallHarness

TOKEN = "pd-token-7f3a9c"


class Routing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_service: str = "ops"
    services: dict[str, str] = {}


class PagerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    token: SecretStr | None = None
    timeout: float = Field(5.0, gt=0)
    routing: Routing = Routing()


class Pager:
    @hookimpl
    def squall_settings_model(self) -> tuple[str, type[BaseModel]]:
        return "pager", PagerSettings


def loaded(environ: dict[str, str], *plugins: object) -> Settings:
    """Settings as `squall` reads them, checked against the plugins' sections."""
    host = build_host(plugins)
    return bind_sections(load_settings(environ), host.settings_models)


def test_environment_variables_and_the_settings_file_reach_a_plugins_model(
    tmp_path: Path,
) -> None:
    config = tmp_path / "squall.yaml"
    config.write_text(
        "pager:\n  url: https://pager.example.com\n  routing:\n    default_service: web\n"
    )
    settings = loaded(
        {
            "SQUALL_CONFIG": str(config),
            "SQUALL_DATA_DIR": str(tmp_path),
            "SQUALL_PAGER__TOKEN": TOKEN,
            "SQUALL_PAGER__TIMEOUT": "2.5",
            "SQUALL_PAGER__ROUTING__SERVICES": "{db: dba-oncall}",
        },
        Pager(),
    )
    pager = settings.section("pager", PagerSettings)
    assert pager.url == "https://pager.example.com"
    assert pager.timeout == 2.5
    assert pager.routing == Routing(default_service="web", services={"db": "dba-oncall"})
    assert pager.token is not None and pager.token.get_secret_value() == TOKEN
    assert settings.secret_values() == [TOKEN]
    assert TOKEN not in repr(settings) and TOKEN not in repr(pager)


def test_a_plugin_section_nobody_configures_has_the_models_defaults(tmp_path: Path) -> None:
    settings = loaded({"SQUALL_DATA_DIR": str(tmp_path)}, Pager())
    assert settings.section("pager", PagerSettings) == PagerSettings()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"SQUALL_PAGER__TOKN": "x"},
            "unknown setting pager.tokn; known: url, token, timeout, routing",
        ),
        (
            {"SQUALL_PAGER__ROUTING__DEFAULT": "x"},
            "unknown setting pager.routing.default; known: default_service, services",
        ),
        ({"SQUALL_PAGER__TIMEOUT": "soon"}, "setting pager.timeout: 'soon' is not a valid float"),
        ({"SQUALL_PAGER__TIMEOUT": "0"}, "setting pager.timeout: Input should be greater than 0"),
        ({"SQUALL_PAGER__ROUTING__SERVICES": "[a, b]"}, "setting pager.routing.services: "),
        ({"SQUALL_PAGER": "on"}, "setting pager must be a mapping"),
        ({"SQUALL_PAGERDUTY__TOKEN": "x"}, "unknown setting pagerduty; known: approvals, "),
    ],
)
def test_a_bad_plugin_setting_is_refused_naming_it_like_a_core_setting(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        loaded(environ, Pager())
    assert str(refused.value).startswith(message)


def test_plugin_and_core_settings_fail_with_the_same_words() -> None:
    with pytest.raises(ConfigError) as core:
        loaded({"SQUALL_ENGINE__WORKERS": "many", "SQUALL_ENGINE__WORKRES": "1"}, Pager())
    with pytest.raises(ConfigError) as plugin:
        loaded({"SQUALL_PAGER__TIMEOUT": "many"}, Pager())
    assert str(core.value).startswith("unknown setting engine.workres; known: ")
    assert str(plugin.value) == "setting pager.timeout: 'many' is not a valid float"
    with pytest.raises(ConfigError) as core_type:
        loaded({"SQUALL_ENGINE__WORKERS": "many"}, Pager())
    assert str(core_type.value) == "setting engine.workers: 'many' is not a valid int"


def test_a_bad_secret_is_never_repeated_in_the_error() -> None:
    class Strict(BaseModel):
        token: SecretStr = Field(min_length=40)

    class StrictPlugin:
        @hookimpl
        def squall_settings_model(self) -> tuple[str, type[BaseModel]]:
            return "strict", Strict

    with pytest.raises(ConfigError) as refused:
        loaded({"SQUALL_STRICT__TOKEN": TOKEN}, StrictPlugin())
    assert "setting strict.token" in str(refused.value)
    assert TOKEN not in str(refused.value)


def test_squall_refuses_to_start_on_an_unknown_section_and_creates_nothing(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    settings = load_settings({"SQUALL_DATA_DIR": str(data), "SQUALL_PAGERDUTY__TOKEN": TOKEN})
    with pytest.raises(ConfigError, match="unknown setting pagerduty"):
        Runtime.open(settings, build_host([Pager()]))
    assert not data.exists()


def test_two_plugins_cannot_declare_one_section_nor_take_a_core_name() -> None:
    class Engine:
        @hookimpl
        def squall_settings_model(self) -> tuple[str, type[BaseModel]]:
            return "engine", PagerSettings

    with pytest.raises(PluginError, match="settings 'pager'"):
        build_host([Pager(), Pager()])
    with pytest.raises(PluginError, match="settings 'engine'"):
        build_host([Engine()])


def test_jira_keeps_its_documented_names_and_its_token_is_a_secret(tmp_path: Path) -> None:
    settings = loaded(
        {
            "SQUALL_DATA_DIR": str(tmp_path),
            "SQUALL_JIRA__URL": "https://jira.example.com",
            "SQUALL_JIRA__TOKEN": TOKEN,
            "SQUALL_JIRA__TRANSITIONS": "{started: Start, succeeded: Done}",
            "SQUALL_SLACK__TOKEN": "xoxb-slack-token",
        },
        "squall.integrations.jira",
        "squall.integrations.slack",
    )
    jira = settings.section("jira", JiraSettings)
    assert jira.transitions == {"started": "Start", "succeeded": "Done"}
    assert sorted(settings.secret_values()) == sorted([TOKEN, "xoxb-slack-token"])
    with pytest.raises(ConfigError, match=r"unknown setting jira\.tokn; known: url, token"):
        loaded({"SQUALL_JIRA__TOKN": "x"}, "squall.integrations.jira")


def test_an_environments_override_of_an_integration_is_checked_at_start(
    tmp_path: Path,
) -> None:
    config = tmp_path / "squall.yaml"
    config.write_text(
        "jira:\n  url: https://jira.example.com\n  environments:\n"
        "    production: {require_tiket: true}\n"
    )
    settings = load_settings({"SQUALL_CONFIG": str(config), "SQUALL_DATA_DIR": str(tmp_path)})
    with (
        pytest.raises(
            ConfigError, match=r"unknown setting jira\.environments\.production\.require_tiket"
        ),
        SquallHarness(
            tmp_path / "squall", ["squall.integrations.jira"], settings=settings.sections
        ) as squall,
    ):
        squall.deliver()


class Rejecting:
    """A destination whose service echoes the token back in its error."""

    name = "pager"
    title = "Pager"

    def __init__(self, settings: PagerSettings) -> None:
        self.settings = settings

    def actions(self, event: EventInfo, deployment: DeploymentInfo) -> list[Action]:
        return [Action("page")] if event.kind == "deployment.created" else []

    def send(self, context: DeliveryContext) -> None:
        assert self.settings.token is not None
        raise DeliveryFailed(f"token {self.settings.token.get_secret_value()} was rejected")


class PagerDestination(Pager):
    @hookimpl
    def squall_register_destinations(self, register: Any, settings: Settings) -> None:
        destination: Destination = Rejecting(settings.section("pager", PagerSettings))
        register(destination)


def test_a_plugins_secret_never_reaches_a_stored_delivery_error(tmp_path: Path) -> None:
    from test_plugins import Registering, echo_type, local_inventory

    with SquallHarness(
        tmp_path / "squall",
        [Registering(echo_type("echo")), PagerDestination()],
        settings={"pager": {"token": TOKEN}},
    ) as squall:
        squall.import_inventory(local_inventory(tmp_path / "nodes"))
        deployment_id = squall.create("echo")
        squall.deliver()
        with squall.runtime.db.read() as session:
            (shown,) = deliveries(session, squall.runtime, squall.actor, deployment_id).deliveries
    assert shown.status == "failed"
    assert shown.error == "token *** was rejected"
