"""Forms generated from parameter models, through NiceGUI's simulated user.

A test-only page shows the form of one type and a "check" button that validates the
form's values with the real plugin host, as the new-deployment wizard does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import pytest
from nicegui import ui
from nicegui.testing import User
from nicegui.testing.user_interaction import UserInteraction
from pydantic import BaseModel, Field, SecretStr

from squall.app import DEFAULT_PLUGINS
from squall.core.errors import ValidationError
from squall.core.plugins import PluginHost, build_host
from squall.ui.forms import JSON_HINT, ParamsForm

# No console: the page below is the whole app.
pytestmark = pytest.mark.nicegui_main_file("")

HOST = build_host(DEFAULT_PLUGINS)


class FormPage:
    """What the page built, for the tests to look at: the forms and the parsed parameters."""

    def __init__(self) -> None:
        self.forms: dict[str, ParamsForm] = {}
        self.checked: dict[str, BaseModel] = {}


@pytest.fixture
def form_page(user: User) -> Iterator[FormPage]:
    """The `user` fixture starts by resetting NiceGUI's routes: register the page after it."""
    page = FormPage()
    register_form_page(HOST, page)
    yield page


def register_form_page(host: PluginHost, page: FormPage) -> None:
    @ui.page("/formtest/{type_name}")
    def form_test(type_name: str) -> None:
        form = ParamsForm(host.type(type_name).parameters, types=host.types)
        page.forms[type_name] = form
        result = ui.label().mark("result")

        def check() -> None:
            try:
                params = host.parse_params(type_name, form.values())
            except ValidationError as exc:
                form.show_errors(exc.fields)
                result.text = "rejected"
            else:
                form.clear_errors()
                page.checked[type_name] = params
                result.text = f"valid {params.model_dump_json()}"

        ui.button("Check", on_click=check).mark("check")


def field_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        paths.append(path)
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            paths.extend(field_paths(field.annotation, f"{path}."))
    return paths


def choose(user: User, marker: str, label: str) -> None:
    """Open a select and pick the option shown as `label`."""
    user.find(marker=marker).click()
    select = user.find(marker=marker).elements
    UserInteraction(user, select, label).click()


def replace(user: User, marker: str, text: str) -> None:
    user.find(marker=marker).clear().type(text)


async def check(user: User, expected: str) -> None:
    user.find(marker="check").click()
    await user.should_see(marker="result", content=expected)


async def should_see_error(user: User, marker: str, message: str) -> None:
    await user.should_see(marker=marker, content=message)


@pytest.mark.parametrize("type_name", list(HOST.types))
async def test_every_field_of_every_type_has_a_proper_input(
    form_page: FormPage, user: User, type_name: str
) -> None:
    await user.open(f"/formtest/{type_name}")
    if type_name == "group":
        choose(user, "param-inner_type", "Configuration change")
    model = HOST.type(type_name).parameters
    paths = field_paths(model)
    if type_name == "group":
        paths += [
            f"inner_params.{path}" for path in field_paths(HOST.type("config_change").parameters)
        ]
    for path in paths:
        await user.should_see(marker=f"param-{path}")
    hints = [str(element.props.get("hint", "")) for element in user.current_layout.descendants()]
    assert not [hint for hint in hints if JSON_HINT in hint], "a field fell back to JSON"
    # A hint is plain text: a description's `backquotes` (code in the help) would show as such.
    assert not [hint for hint in hints if "`" in hint]


async def test_a_noop_form_checks_its_message(form_page: FormPage, user: User) -> None:
    await user.open("/formtest/noop")
    user.find(marker="param-message").type("why: testing")
    await check(user, "valid")
    assert form_page.checked["noop"].model_dump() == {"message": "why: testing"}


async def test_a_config_change_form_takes_commands_values_and_secrets(
    form_page: FormPage, user: User
) -> None:
    await user.open("/formtest/config_change")
    user.find(marker="param-path").type("etc/app.conf")
    user.find(marker="param-template").type("greeting=${greeting}\ntoken=${token}\n")
    user.find(marker="param-values-add").click()
    user.find(marker="param-values-name-0").type("greeting")
    user.find(marker="param-values-value-0").type("hello world")
    user.find(marker="param-secrets-add").click()
    user.find(marker="param-secrets-name-0").type("token")
    user.find(marker="param-secrets-value-0").type("s3cret")
    user.find(marker="param-mode").type("0640")
    user.find(marker="param-validate_command").type("app check --config {path}")
    user.find(marker="param-reload_command").type("systemctl reload 'my app'")
    replace(user, "param-timeout", "30")

    await check(user, "valid")

    params: Any = form_page.checked["config_change"]
    assert params.path == "etc/app.conf"
    assert params.content is None
    assert params.template == "greeting=${greeting}\ntoken=${token}\n"
    assert params.values == {"greeting": "hello world"}
    assert params.secrets["token"].get_secret_value() == "s3cret"
    assert params.mode == "0640"
    assert params.validate_command == ["app", "check", "--config", "{path}"]
    assert params.reload_command == ["systemctl", "reload", "my app"]
    assert params.timeout == 30
    await user.should_not_see(marker="result", content="s3cret")


async def test_a_cache_rebuild_form_keeps_defaults_of_empty_fields(
    form_page: FormPage, user: User
) -> None:
    await user.open("/formtest/cache_rebuild")
    user.find(marker="param-rebuild_command").type("app-cache rebuild --all")
    replace(user, "param-verify_attempts", "5")
    await check(user, "valid")
    assert form_page.checked["cache_rebuild"].model_dump() == {
        "rebuild_command": ["app-cache", "rebuild", "--all"],
        "verify_command": None,
        "verify_attempts": 5,
        "verify_interval": 5.0,
        "timeout": 1800,
    }


async def test_a_single_instance_form_checks_its_version(form_page: FormPage, user: User) -> None:
    await user.open("/formtest/single_instance")
    user.find(marker="param-version").type("2.4.1")
    user.find(marker="param-health_command").type("curl -fsS http://localhost/health")
    await check(user, "valid")
    params: Any = form_page.checked["single_instance"]
    assert (params.version, params.app_dir, params.health_attempts) == ("2.4.1", "app", 10)
    assert params.health_command == ["curl", "-fsS", "http://localhost/health"]


async def test_a_group_form_nests_phases_and_the_inner_types_form(
    form_page: FormPage, user: User
) -> None:
    await user.open("/formtest/group")
    choose(user, "param-inner_type", "Configuration change")
    user.find(marker="param-inner_params.path").type("etc/app.conf")
    user.find(marker="param-inner_params.content").type("level=debug\n")
    user.find(marker="param-inner_params.reload_command").type("systemctl reload app")
    user.find(marker="param-lightning_nodes").type("lab-web-1, lab-db-1")
    replace(user, "param-lightning.parallelism", "2")
    user.find(marker="param-thunder.health_command").type("app health")
    choose(user, "param-thunder.gate", "auto")
    replace(user, "param-approvals", "2")

    await check(user, "valid")

    params: Any = form_page.checked["group"]
    assert params.inner_type == "config_change"
    assert params.inner_params.path == "etc/app.conf"
    assert params.inner_params.content == "level=debug\n"
    assert params.inner_params.reload_command == ["systemctl", "reload", "app"]
    assert params.lightning_nodes == ["lab-web-1", "lab-db-1"]
    assert params.lightning.parallelism == 2
    assert params.lightning.gate == "auto"
    assert params.thunder.gate == "auto"
    assert params.thunder.health_command == ["app", "health"]
    assert params.approvals == 2


async def test_a_group_form_starts_with_the_models_defaults(
    form_page: FormPage, user: User
) -> None:
    await user.open("/formtest/group")
    choose(user, "param-inner_type", "No-op")
    await check(user, "valid")
    params: Any = form_page.checked["group"]
    defaults: Any = HOST.parse_params("group", {"inner_type": "noop"})
    assert params.model_dump() == defaults.model_dump()
    assert params.thunder.gate == "manual"


async def test_messages_land_next_to_their_fields(form_page: FormPage, user: User) -> None:
    await user.open("/formtest/config_change")
    user.find(marker="param-path").type("etc/")
    user.find(marker="param-content").type("x")
    user.find(marker="param-mode").type("999")
    await check(user, "rejected")
    await should_see_error(user, "param-path", "must name a file")
    await should_see_error(user, "param-mode", "must be an octal file mode such as 0644")
    await user.should_not_see(marker="form-errors")

    user.find(marker="param-path").type("app.conf")
    await user.should_not_see(marker="param-path", content="must name a file")

    replace(user, "param-mode", "0644")
    user.find(marker="param-template").type("x")
    await check(user, "rejected")
    await should_see_error(user, "form-errors", "give exactly one of content and template")
    await user.should_not_see(marker="param-mode", content="octal")


async def test_a_missing_required_field_is_reported_on_it(form_page: FormPage, user: User) -> None:
    await user.open("/formtest/cache_rebuild")
    await check(user, "rejected")
    await should_see_error(user, "param-rebuild_command", "Field required")


async def test_a_nested_phase_setting_gets_its_message(form_page: FormPage, user: User) -> None:
    await user.open("/formtest/group")
    choose(user, "param-inner_type", "No-op")
    replace(user, "param-lightning.max_fail", "lots")
    await check(user, "rejected")
    await should_see_error(user, "param-lightning.max_fail", "invalid failure threshold 'lots'")
    await user.should_not_see(marker="param-thunder.max_fail", content="invalid")


async def test_errors_in_the_inner_parameters_land_on_the_inner_inputs(
    form_page: FormPage, user: User
) -> None:
    await user.open("/formtest/group")
    choose(user, "param-inner_type", "Configuration change")
    user.find(marker="param-inner_params.path").type("etc/")
    user.find(marker="param-inner_params.content").type("x")
    await check(user, "rejected")
    await should_see_error(user, "param-inner_params.path", "must name a file")

    replace(user, "param-inner_params.path", "etc/app.conf")
    user.find(marker="param-inner_params.template").type("y")
    await check(user, "rejected")
    await should_see_error(
        user, "form-errors-inner_params", "give exactly one of content and template"
    )
    await user.should_not_see(marker="form-errors")


async def test_dotted_paths_into_the_inner_parameters_are_understood(
    form_page: FormPage, user: User
) -> None:
    """The shape errors would have if the group's model reported inner fields with their
    `inner_params.` prefix."""
    await user.open("/formtest/group")
    choose(user, "param-inner_type", "Configuration change")
    with user:
        form_page.forms["group"].show_errors(
            {
                "inner_params.path": "must name a file",
                "inner_params.secrets.token": "too short",
                "lightning.max_fail": "invalid failure threshold",
                "wave_size": "a wave has at least one node",
            }
        )
    await should_see_error(user, "param-inner_params.path", "must name a file")
    with user.scope(marker="param-inner_params.secrets"):
        await user.should_see("token: too short")
    await should_see_error(user, "param-lightning.max_fail", "invalid failure threshold")
    await should_see_error(user, "param-wave_size", "a wave has at least one node")
    with user:
        form_page.forms["group"].clear_errors()
    await user.should_not_see(marker="param-inner_params.path", content="must name a file")


async def test_switching_the_inner_type_rebuilds_the_inner_form(
    form_page: FormPage, user: User
) -> None:
    await user.open("/formtest/group")
    await user.should_not_see(marker="param-inner_params.path")
    choose(user, "param-inner_type", "Configuration change")
    await user.should_see(marker="param-inner_params.path")
    user.find(marker="param-inner_params.path").type("etc/app.conf")

    choose(user, "param-inner_type", "Cache rebuild")
    await user.should_not_see(marker="param-inner_params.path")
    await user.should_see(marker="param-inner_params.verify_attempts")
    user.find(marker="param-inner_params.rebuild_command").type("app-cache rebuild")
    await check(user, "valid")
    params: Any = form_page.checked["group"]
    assert params.inner_type == "cache_rebuild"
    assert params.inner_params.rebuild_command == ["app-cache", "rebuild"]


async def test_the_inner_type_select_offers_every_type_but_group(
    form_page: FormPage, user: User
) -> None:
    await user.open("/formtest/group")
    (select,) = user.find(marker="param-inner_type").elements
    assert isinstance(select, ui.select)
    assert set(select.options) == set(HOST.types) - {"group"}


async def test_given_values_fill_the_form_but_never_a_secret(
    form_page: FormPage, user: User
) -> None:
    @ui.page("/formtest-values")
    def with_values() -> None:
        form_page.forms["values"] = ParamsForm(
            HOST.type("group").parameters,
            types=HOST.types,
            values={
                "inner_type": "config_change",
                "inner_params": {
                    "path": "etc/app.conf",
                    "template": "${token}",
                    "secrets": {"token": "s3cret"},
                    "reload_command": ["systemctl", "reload", "my app"],
                },
                "lightning_clusters": ["lab-web"],
                "thunder": {"gate": "auto", "max_fail": "2"},
            },
        )

    await user.open("/formtest-values")
    await user.should_see(marker="param-inner_params.path", content="etc/app.conf")
    await user.should_see(marker="param-inner_params.secrets-name-0", content="token")
    (secret,) = user.find(marker="param-inner_params.secrets-value-0").elements
    assert isinstance(secret, ui.input)
    assert secret.value == ""
    assert secret.props.get("type") == "password"
    values = form_page.forms["values"].values()
    assert values["inner_params"]["reload_command"] == "systemctl reload 'my app'"
    assert "secrets" not in values["inner_params"]
    assert values["lightning_clusters"] == ["lab-web"]
    assert values["thunder"]["gate"] == "auto"
    assert values["thunder"]["max_fail"] == "2"


class OtherParams(BaseModel):
    """Annotations no built-in type uses (yet)."""

    dry_run: bool = Field(False, description="Only pretend.")
    token: SecretStr
    level: Literal["low", "high"] | None = None
    window: tuple[int, int] = (1, 5)


async def test_other_annotations_get_a_switch_a_password_a_select_or_json(
    form_page: FormPage, user: User
) -> None:
    @ui.page("/formtest-other")
    def other() -> None:
        form_page.forms["other"] = ParamsForm(OtherParams, values={"token": "old"})

    await user.open("/formtest-other")
    (token,) = user.find(marker="param-token").elements
    assert isinstance(token, ui.input)
    assert (token.value, token.props.get("type")) == ("", "password")
    user.find(marker="param-dry_run").click()
    user.find(marker="param-token").type("s3cret")
    choose(user, "param-level", "high")
    (window,) = user.find(marker="param-window").elements
    assert JSON_HINT in window.props["hint"]
    replace(user, "param-window", "[2, 3]")

    form = form_page.forms["other"]
    params = OtherParams.model_validate(form.values())
    assert params.dry_run is True
    assert params.token.get_secret_value() == "s3cret"
    assert (params.level, params.window) == ("high", (2, 3))

    with user:
        form.show_errors({"dry_run": "not today", "window.0": "too small"})
    await user.should_see("not today")
    await should_see_error(user, "param-window", "too small")
