"""The plugin host: a pluggy manager with Squall's hooks and the types plugins registered.

Built-in features are registered by module name exactly like third-party plugins, which
come from the `squall` entry-point group. Nothing is loaded at import time.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from types import MappingProxyType, ModuleType
from typing import Any

import pluggy
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from squall.core import hookspecs
from squall.core.errors import NotFound, PluginError, ValidationError
from squall.core.settings import core_setting_names
from squall.core.types import PARSE_CONTEXT, DeploymentType, with_defaults

CORE_PLUGINS = (
    "squall.core.default_steps",
    "squall.core.default_planning",
    "squall.core.default_permissions",
)
"""Squall's own last-resort behaviour; any plugin may override it."""


class PluginHost:
    def __init__(self, manager: pluggy.PluginManager) -> None:
        self.manager = manager
        self.hook = manager.hook
        registered: dict[str, DeploymentType[Any]] = {}

        def register(deployment_type: DeploymentType[Any]) -> None:
            if not isinstance(deployment_type, DeploymentType):
                raise PluginError(
                    f"register() takes a DeploymentType, not {type(deployment_type).__name__}"
                )
            if deployment_type.name in registered:
                raise PluginError(
                    f"two plugins register a deployment type named {deployment_type.name!r}"
                )
            registered[deployment_type.name] = deployment_type

        self.hook.squall_register_types(register=register)
        self.types: Mapping[str, DeploymentType[Any]] = MappingProxyType(
            dict(sorted(registered.items()))
        )
        self.settings_models: Mapping[str, type[BaseModel]] = MappingProxyType(
            settings_models(manager)
        )

    def type(self, name: str) -> DeploymentType[Any]:
        try:
            return self.types[name]
        except KeyError:
            known = ", ".join(self.types) or "none"
            raise NotFound(f"no deployment type named {name!r} (installed: {known})") from None

    def parse_params(self, type_name: str, raw: Mapping[str, Any]) -> BaseModel:
        """A type's parameters, validated by its model; a ValidationError naming each bad field.

        Models that wrap other types (group deployments) validate their inner parameters
        through `squall.core.types.parse_nested`, and the inner errors come back with the wrapping
        field's name in front (`inner_params.path`). A partial mapping for a field whose
        default is a model is completed from that default (`with_defaults`)."""
        deployment_type = self.type(type_name)
        try:
            params: BaseModel = deployment_type.parameters.model_validate(
                with_defaults(deployment_type.parameters, raw),
                context={PARSE_CONTEXT: self._validate_nested},
            )
        except PydanticValidationError as exc:
            fields = {
                ".".join(str(part) for part in error["loc"]) or "parameters": error[
                    "msg"
                ].removeprefix("Value error, ")
                for error in exc.errors()
            }
            problems = "; ".join(f"{field}: {message}" for field, message in fields.items())
            raise ValidationError(
                f"invalid parameters for {type_name}: {problems}", fields=fields
            ) from None
        return params

    def _validate_nested(self, type_name: str, raw: Mapping[str, Any]) -> BaseModel:
        """For models that wrap another type: its own model's errors, as pydantic errors, so
        they come back under the wrapping field (`inner_params.path`)."""
        if type_name not in self.types:
            raise ValueError(
                f"no deployment type named {type_name!r} (installed: {', '.join(self.types)})"
            )
        parameters = self.types[type_name].parameters
        model: BaseModel = parameters.model_validate(
            with_defaults(parameters, raw), context={PARSE_CONTEXT: self._validate_nested}
        )
        return model

    @property
    def plugin_names(self) -> list[str]:
        return sorted(name for name, _ in self.manager.list_name_plugin())


def settings_models(manager: pluggy.PluginManager) -> dict[str, type[BaseModel]]:
    """Each plugin's settings section by name (`squall_settings_model`), checked."""
    models: dict[str, type[BaseModel]] = {}
    taken = core_setting_names()
    for implementation in manager.hook.squall_settings_model.get_hookimpls():
        found = implementation.function()
        if found is None:
            continue
        plugin = implementation.plugin_name
        if not (isinstance(found, tuple) and len(found) == 2):
            raise PluginError(f"plugin {plugin!r}: squall_settings_model returns (name, model)")
        name, model = found
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise PluginError(f"plugin {plugin!r}: the settings of {name!r} need a pydantic model")
        if not (isinstance(name, str) and name.isidentifier() and name.islower()):
            raise PluginError(f"plugin {plugin!r}: {name!r} is not a settings section name")
        if name in taken or name in models:
            raise PluginError(f"two plugins (or a plugin and core) declare settings {name!r}")
        models[name] = model
    return models


def build_host(plugins: Iterable[str | object] = (), *, entry_points: bool = False) -> PluginHost:
    """A fresh host with core's plugins, the given ones (module names or objects) and,
    when asked, everything installed under the `squall` entry-point group."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for plugin in (*CORE_PLUGINS, *plugins):
        register(manager, plugin)
    if entry_points:
        try:
            manager.load_setuptools_entrypoints(hookspecs.PROJECT)
        except (ImportError, AttributeError) as exc:
            raise PluginError(
                f"a plugin from the 'squall' entry points failed to load: {exc}"
            ) from exc
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r} implements an unknown hook: {exc}") from exc
    return PluginHost(manager)


def register(manager: pluggy.PluginManager, plugin: str | object) -> None:
    if isinstance(plugin, str):
        if manager.get_plugin(plugin) is not None:
            return
        try:
            module: ModuleType | object = importlib.import_module(plugin)
        except ImportError as exc:
            raise PluginError(f"cannot import plugin module {plugin!r}: {exc}") from exc
        name: str | None = plugin
    else:
        module, name = plugin, None
    try:
        manager.register(module, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {name or module!r} is invalid: {exc}") from exc
