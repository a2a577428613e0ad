"""freeze: a change freeze. Deployments into a frozen environment are refused; the
`squall freeze` command (command.py, an entry point of its own) says what is frozen."""

from pydantic import BaseModel, ConfigDict, Field

from squall import DeploymentInfo, Settings, ValidationError, hookimpl


class FreezeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelled key stops Squall, named

    environments: list[str] = Field(
        default_factory=list, description="Environments no deployment may enter."
    )
    reason: str = Field("a change freeze", description="Told to whoever is refused.")


@hookimpl
def squall_settings_model() -> tuple[str, type[BaseModel]]:
    return "freeze", FreezeSettings


@hookimpl
def squall_deployment_gates(deployment: DeploymentInfo, settings: Settings) -> list[str] | None:
    freeze = settings.section("freeze", FreezeSettings)
    frozen = sorted(set(deployment.environments) & set(freeze.environments))
    if frozen:
        raise ValidationError(f"{', '.join(frozen)} is frozen: {freeze.reason}")
    return None
