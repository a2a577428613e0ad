"""Pure pieces of core: shell quoting, thresholds, parameters, secrets, settings, status."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field, SecretStr

from squall.core.errors import ConfigError, InvalidTransition, ValidationError
from squall.core.hookspecs import hookimpl
from squall.core.params import parse_assignments
from squall.core.plan import DeploymentOptions, Plan, Step, Threshold, run, upload
from squall.core.plugins import build_host
from squall.core.secrets import (
    MASK,
    Redactor,
    SecretBox,
    redacted_params,
    seal_params,
    secret_values,
    unseal_params,
)
from squall.core.settings import bind_sections, load_settings
from squall.core.shell import Shell, argv, sh
from squall.core.status import DeploymentStatus, check_deployment
from squall.core.types import Argv, DeploymentType

NASTY = [
    "a b",
    "$(touch x)",
    "`touch x`",
    "; touch x",
    "' ; touch x; '",
    '" && touch x "',
    "\n touch x",
    "*",
    "~root",
    "",
]


@pytest.mark.parametrize("value", NASTY)
def test_sh_passes_each_value_to_the_shell_as_one_literal_word(value: str) -> None:
    command = sh("printf '%s' {value}", value=value)
    printed = subprocess.run(["sh", "-c", command.text], capture_output=True, check=True, text=True)
    assert printed.stdout == value


def test_argv_quotes_every_word_and_keeps_them_apart() -> None:
    words = ["printf", "%s|", "a b", "$(id)", ";"]
    printed = subprocess.run(
        ["sh", "-c", argv(words).text], capture_output=True, check=True, text=True
    )
    assert printed.stdout == "a b|$(id)|;|"


@pytest.mark.parametrize("template", ["echo {x!r}", "echo {x!s}", "echo {x:>20}"])
def test_sh_refuses_fields_that_would_change_a_value_after_quoting_it(template: str) -> None:
    with pytest.raises(ValidationError, match="may not convert or format"):
        sh(template, x="$(id -u)")


def test_a_shell_value_is_inserted_as_it_is_so_commands_compose() -> None:
    inner = argv(["printf", "%s|", "a b", "$(id)"])
    outer = sh("cd {dir} && {inner}", dir="/", inner=inner)
    printed = subprocess.run(["sh", "-c", outer.text], capture_output=True, check=True, text=True)
    assert printed.stdout == "a b|$(id)|"


def test_sh_refuses_a_template_field_without_value() -> None:
    with pytest.raises(ValidationError, match="needs values for: unit"):
        sh("systemctl reload {unit}")


def test_run_refuses_a_plain_string_command() -> None:
    with pytest.raises(TypeError, match="never a plain string"):
        run("x", "rm -rf /")  # type: ignore[arg-type]


def test_argv_parameter_splits_text_like_a_shell_but_runs_nothing() -> None:
    class Params(BaseModel):
        command: Argv

    quoted = """app rebuild --name 'a b; rm -rf /' --sep='|' a\\&b "it's > 1" '$(date)' \\$HOME '*' a~b price$ --color=#fff '# x'"""
    assert Params.model_validate({"command": quoted}).command == [
        "app",
        "rebuild",
        "--name",
        "a b; rm -rf /",
        "--sep=|",
        "a&b",
        "it's > 1",
        "$(date)",
        "$HOME",
        "*",
        "a~b",
        "price$",
        "--color=#fff",
        "# x",
    ]
    assert Params.model_validate({"command": ["x", "y | z", "$(date)"]}).command == [
        "x",
        "y | z",
        "$(date)",
    ]
    with pytest.raises(ValueError, match="cannot split"):
        Params.model_validate({"command": "unbalanced 'quote"})


@pytest.mark.parametrize(
    ("text", "acted_on"),
    [
        ("app-cache rebuild | tee /tmp/log", "'|'"),
        ("app rebuild --name 'a b'; rm -rf /", "';'"),
        ("app stop && app start", "'&&'"),
        ("curl http://repo/?a=1&b=2", "'&'"),
        ("app check 2>&1", "'>&'"),
        ("app check < input", "'<'"),
        ("app stop\napp start", "'\\n'"),
        ("app --since $(date +%s)", "'$(date'"),
        ('app --since "$(date +%s)"', "'$(date'"),
        ("app --since `date`", "'`date`'"),
        ("app-cache rebuild --dir $HOME/cache", "'$HOME/cache'"),
        ('app-cache rebuild --dir "${CACHE_DIR}"', "'${CACHE_DIR}'"),
        ("rm -rf /var/cache/app/*", "'/var/cache/app/*'"),
        ("app-cache rebuild --dir ~/cache", "'~/cache'"),
        ("app-cache rebuild --all # nightly", "'#'"),
        ("app-cache rebuild #--all", "'#--all'"),
    ],
)
def test_argv_text_a_shell_would_act_on_is_refused_not_run_as_words(
    text: str, acted_on: str
) -> None:
    """Run as words, `a | b` would pass `|` to `a`, and `rm /var/cache/app/*` would remove
    nothing, and either could succeed: refused instead, naming what a shell would act on."""

    class Params(BaseModel):
        command: Argv

    with pytest.raises(ValueError, match=re.escape(f"a shell would act on {acted_on}, ")):
        Params.model_validate({"command": text})


@pytest.mark.parametrize(
    ("text", "total", "allowed"),
    [("3", 100, 3), ("10%", 100, 10), ("10%", 9, 0), ("0", 5, 0), ("50%", 5, 2), ("2.5%", 200, 5)],
)
def test_threshold_tolerates_a_count_or_a_share_of_the_stage(
    text: str, total: int, allowed: int
) -> None:
    assert Threshold.parse(text).allowed(total) == allowed


@pytest.mark.parametrize("text", ["", "x", "-1", "1.5", "101%", "3 nodes"])
def test_threshold_rejects_what_is_neither_count_nor_percentage(text: str) -> None:
    with pytest.raises(ValidationError):
        Threshold.parse(text)


def test_deployment_options_reject_impossible_values() -> None:
    with pytest.raises(ValidationError):
        DeploymentOptions(parallelism=0)
    with pytest.raises(ValidationError):
        DeploymentOptions(step_timeout=0)


def test_steps_survive_a_round_trip_through_json() -> None:
    steps = [
        run("a", sh("echo {x}", x="1"), attempts=3, interval=1.5, timeout=9),
        upload("b", "f.txt", b"\x00\xff"),
    ]
    assert [Step.from_json(step.to_json()) for step in steps] == steps


def test_assignments_nest_repeat_and_read_files(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret!")
    parsed = parse_assignments(["a=1", "b.c=2", "b.d=3", "e=x", "e=y", f"p=@{secret}", "q=k=v"])
    assert parsed == {
        "a": "1",
        "b": {"c": "2", "d": "3"},
        "e": ["x", "y"],
        "p": "s3cret!",
        "q": "k=v",
    }


@pytest.mark.parametrize("item", ["novalue", "=x", "a=@/does/not/exist"])
def test_assignments_reject_malformed_items(item: str) -> None:
    with pytest.raises(ValidationError):
        parse_assignments([item])


class Nice(BaseModel):
    level: int = 0
    ionice: bool = False


class Limits(BaseModel):
    cpu: int = 1
    memory_mib: int = 256
    nice: Nice = Field(default_factory=lambda: Nice(level=5))


class Sized(BaseModel):
    limits: Limits = Field(default_factory=lambda: Limits(cpu=4, memory_mib=2048))


class SizedType:
    @hookimpl
    def squall_register_types(self, register: Any) -> None:
        register(DeploymentType("sized", "Sized", "Nested defaults.", Sized, lambda r: Plan(())))


def test_a_partial_nested_parameter_keeps_the_models_other_defaults() -> None:
    host = build_host(("squall.plugins.group_phases", SizedType()))
    raw = parse_assignments(["limits.cpu=2", "limits.nice.ionice=true"])
    sized = host.parse_params("sized", raw)
    assert isinstance(sized, Sized)
    assert sized.limits == Limits(cpu=2, memory_mib=2048, nice=Nice(level=5, ionice=True))
    # The same for a type's parameters inside another's (a group's inner parameters).
    grouped: Any = host.parse_params(
        "group", {"inner_type": "sized", "inner_params": raw, "lightning": {"bake_seconds": 1}}
    )
    assert grouped.inner_params == sized
    assert (grouped.thunder.gate, grouped.lightning.bake_seconds) == ("manual", 1)
    # What is given wins; a wrong value is refused by its own field.
    given: Any = host.parse_params("sized", {"limits": {"memory_mib": 1, "nice": {"level": 0}}})
    assert given.limits == Limits(cpu=4, memory_mib=1, nice=Nice(level=0))
    with pytest.raises(ValidationError, match=r"limits\.nice\.level"):
        host.parse_params("sized", {"limits": {"nice": {"level": "high"}}})


class WithSecrets(BaseModel):
    user: str
    password: SecretStr
    extra: dict[str, SecretStr] = {}


def test_secret_parameters_are_encrypted_at_rest_and_come_back_whole(tmp_path: Path) -> None:
    box = SecretBox.from_settings(None, tmp_path)
    params = WithSecrets(
        user="app", password=SecretStr("hunter22"), extra={"token": SecretStr("tok-123")}
    )
    stored = seal_params(params, box)
    assert "hunter22" not in str(stored) and "tok-123" not in str(stored)
    assert stored["user"] == "app"
    restored = WithSecrets.model_validate(unseal_params(stored, box))
    assert restored.password.get_secret_value() == "hunter22"
    assert restored.extra["token"].get_secret_value() == "tok-123"
    assert redacted_params(stored) == {"user": "app", "password": MASK, "extra": {"token": MASK}}
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600


def test_a_different_key_cannot_read_stored_secrets(tmp_path: Path) -> None:
    stored = seal_params(
        WithSecrets(user="u", password=SecretStr("pw-value")),
        SecretBox.from_settings(None, tmp_path / "a"),
    )
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        unseal_params(stored, SecretBox.from_settings(None, tmp_path / "b"))


def test_redactor_masks_values_and_their_shell_quoted_form() -> None:
    params = WithSecrets(user="u", password=SecretStr("it's secret"))
    redact = Redactor(secret_values(params))
    quoted = sh("login {pw}", pw="it's secret").text
    assert "secret" not in redact(quoted)
    assert redact("password is it's secret!") == f"password is {MASK}!"


def test_redactor_masks_each_line_of_a_multi_line_secret() -> None:
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkq\n==\n-----END KEY-----"
    redact = Redactor([key])
    assert redact("+MIIEvQIBADANBgkq") == f"+{MASK}"
    assert redact("  -----END KEY-----") == f"  {MASK}"
    assert redact("a == b") == "a == b"  # too short to mask without wrecking the log


def test_redactor_refuses_secrets_too_short_to_mask_safely() -> None:
    with pytest.raises(ValidationError, match="at least 3"):
        Redactor(["ab"])


def test_settings_come_from_the_environment_and_a_file(tmp_path: Path) -> None:
    config = tmp_path / "squall.yaml"
    config.write_text("engine:\n  workers: 7\nssh:\n  trust_unknown_hosts: true\n")
    settings = load_settings(
        {
            "SQUALL_CONFIG": str(config),
            "SQUALL_DATA_DIR": str(tmp_path),
            "SQUALL_ENGINE__LEASE_SECONDS": "12.5",
        }
    )
    assert settings.engine.workers == 7
    assert settings.engine.lease_seconds == 12.5
    assert settings.ssh.trust_unknown_hosts is True
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'squall.db'}"


def test_the_remote_commands_variables_are_not_settings_of_this_installation(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        {
            "SQUALL_DATA_DIR": str(tmp_path),
            "SQUALL_SERVER": "https://squall.example.com",
            "SQUALL_TOKEN": "sq_1_secret",
        }
    )
    assert settings.data_dir == tmp_path
    assert "sq_1_secret" not in repr(settings)


def test_mapping_settings_read_yaml_from_one_variable(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "SQUALL_DATA_DIR": str(tmp_path),
            "SQUALL_APPROVALS": '{"group@production": 2, "*@staging": 1}',
            "SQUALL_SSO__ROLES": "{ops: admin, web: 'deployer@cluster:web-*'}",
        }
    )
    assert settings.approvals == {"group@production": "2", "*@staging": "1"}
    assert settings.sso.roles == {"ops": "admin", "web": "deployer@cluster:web-*"}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SQUALL_ENGINE__WORKERS": "many"}, "not a valid int"),
        ({"SQUALL_NO_SUCH": "1"}, "unknown setting no_such"),
        ({"SQUALL_SSH__TRUST_UNKNOWN_HOSTS": "perhaps"}, "not a valid bool"),
        ({"SQUALL_APPROVALS": "group=2"}, "approvals"),
    ],
)
def test_bad_settings_name_the_setting(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        bind_sections(load_settings(environ), {})  # no plugin declares `no_such`


def test_status_machine_refuses_transitions_it_does_not_define() -> None:
    check_deployment(DeploymentStatus.FAILED, DeploymentStatus.RUNNING, "retry")
    with pytest.raises(InvalidTransition, match="cannot cancel a deployment that is succeeded"):
        check_deployment(DeploymentStatus.SUCCEEDED, DeploymentStatus.CANCELLED, "cancel")


def test_shell_is_a_value_with_its_text() -> None:
    assert str(Shell("true")) == "true"
