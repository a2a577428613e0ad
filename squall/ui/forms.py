"""Forms generated from a deployment type's parameter model: a plugin's pydantic model is
its form, inputs and all, and the server's validation messages land next to the fields.

    str                      text (grows to several lines for file contents)
    SecretStr                password input, never pre-filled
    int, float               number (ge/le become its bounds)
    bool                     switch
    Literal[...]             select of the literals
    Argv                     text, split like a shell by the server
    list[str]                text, comma-separated
    dict[str, str]           rows of name and value (SecretStr values in password inputs)
    a nested model           a titled section with the model's own form
    X_params: Any + X_type   a select of the installed types and the chosen type's form
    anything else            text holding JSON

Every input is marked `param-<dotted.path>`, e.g. `param-lightning.max_fail` or
`param-inner_params.path`; messages that belong to no input show at the top of their form
(`form-errors`, or `form-errors-<path>` for a section or a wrapped type's form).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from types import UnionType
from typing import Annotated, Any, Literal, Protocol, Union, get_args, get_origin

import annotated_types
from nicegui import ui
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from squall.core.types import Argv, DeploymentType
from squall.ui.components import plain

_ARGV_METADATA = get_args(Argv)[1:]
_MODEL_ERRORS = "parameters"
"""The key PluginHost.parse_params gives errors about the model as a whole."""

ARGV_HINT = "A command as you would type it in a shell; nothing in it is interpreted."
LIST_HINT = "Separate several with commas."
JSON_HINT = "As JSON."
SECRET_HINT = "Never shown again: type it each time."


class ParamsForm:
    """A form for a parameter model, built in the current NiceGUI container."""

    def __init__(
        self,
        model: type[BaseModel],
        *,
        types: Mapping[str, DeploymentType[Any]] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        with ui.column().classes("w-full gap-2").mark("params-form"):
            self._form = _Form(model, path="", types=types or {}, values=values or {})

    def values(self) -> dict[str, Any]:
        """The raw values to hand to `parse_params`; empty fields are left out so their
        defaults apply (and a required one is reported missing)."""
        return self._form.values()

    def show_errors(self, fields: Mapping[str, str]) -> None:
        """Put each message (keyed by dotted field path, as in `ValidationError.fields`) on
        its input; clears the earlier ones."""
        self._form.clear_errors()
        self._form.show_errors(fields)

    def clear_errors(self) -> None:
        self._form.clear_errors()


class _Input(Protocol):
    def values(self) -> dict[str, Any]: ...

    def show_error(self, path: str, message: str) -> None:
        """`path` is relative to the form: the field's name, maybe followed by `.key`."""

    def clear_error(self) -> None: ...


class _Form:
    def __init__(
        self,
        model: type[BaseModel],
        *,
        path: str,
        types: Mapping[str, DeploymentType[Any]],
        values: Mapping[str, Any],
    ) -> None:
        self.general = (
            ui.label()
            .classes("text-negative text-sm whitespace-pre-line")
            .mark(f"form-errors-{path}" if path else "form-errors")
        )
        self.general.set_visibility(False)
        self.inputs: dict[str, _Input] = {}
        self.wrapped: list[_WrappedType] = []
        fields = model.model_fields
        # The select stands where the type's name field is; the chosen type's form follows it.
        wrapped_params = {
            type_name: name
            for name, field in fields.items()
            if types and (type_name := _wrapped_type_field(name, field, fields)) is not None
        }
        choices = {
            type_name: deployment_type
            for type_name, deployment_type in types.items()
            if deployment_type.parameters is not model
        }
        for name, field in fields.items():
            if name in self.inputs:
                continue
            if name in wrapped_params:
                wrapper = _WrappedType(
                    type_name=name,
                    type_field=field,
                    params_name=wrapped_params[name],
                    prefix=path,
                    choices=choices,
                    values=values,
                )
                self.wrapped.append(wrapper)
                self.inputs[name] = self.inputs[wrapped_params[name]] = wrapper
                continue
            self.inputs[name] = _build_input(name, field, prefix=path, types=types, values=values)

    def values(self) -> dict[str, Any]:
        collected: dict[str, Any] = {}
        for field_input in dict.fromkeys(self.inputs.values()):
            collected.update(field_input.values())
        return collected

    def show_errors(self, fields: Mapping[str, str]) -> None:
        unplaced: list[str] = []
        for path, message in fields.items():
            head = path.split(".", 1)[0]
            if path in ("", _MODEL_ERRORS):
                unplaced.append(message)
            elif head in self.inputs:
                self.inputs[head].show_error(path, message)
            elif wrapper := next((w for w in self.wrapped if w.knows(head)), None):
                # Today's core reports a wrapped type's fields without the wrapper's prefix.
                wrapper.show_error(wrapper.params_path(path), message)
            else:
                unplaced.append(f"{path}: {message}")
        if unplaced:
            self.general.text = "\n".join(unplaced)
            self.general.set_visibility(True)

    def clear_errors(self) -> None:
        self.general.text = ""
        self.general.set_visibility(False)
        for field_input in dict.fromkeys(self.inputs.values()):
            field_input.clear_error()


def _build_input(
    name: str,
    field: FieldInfo,
    *,
    prefix: str,
    types: Mapping[str, DeploymentType[Any]],
    values: Mapping[str, Any],
) -> _Input:
    path = f"{prefix}.{name}" if prefix else name
    annotation, optional, metadata = _unwrap(field.annotation, field.metadata)
    initial = values[name] if name in values else _default(field)
    label = (field.title or name.replace("_", " ").capitalize()) + (
        " *" if field.is_required() else ""
    )
    hint = field.description or ""
    if annotation is bool:
        return _Switch(name, path, label, hint, initial)
    if annotation in (int, float):
        return _Number(name, path, label, hint, initial, integer=annotation is int, bounds=metadata)
    if get_origin(annotation) is Literal:
        return _Select(name, path, label, hint, initial, list(get_args(annotation)), optional)
    if annotation is str:
        return _Text(name, path, label, hint, initial, kind="text")
    if annotation is SecretStr:
        return _Text(name, path, label, _join(hint, SECRET_HINT), initial, kind="secret")
    if annotation == list[str] and any(item in _ARGV_METADATA for item in metadata):
        return _Text(name, path, label, _join(hint, ARGV_HINT), initial, kind="argv")
    if annotation == list[str]:
        return _Text(name, path, label, _join(hint, LIST_HINT), initial, kind="list")
    if annotation in (dict[str, str], dict[str, SecretStr]):
        secret = annotation == dict[str, SecretStr]
        return _Pairs(name, path, label, hint, initial, secret=secret)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _Section(name, path, label, hint, initial, model=annotation, types=types)
    return _Text(name, path, label, _join(hint, JSON_HINT), initial, kind="json")


def _unwrap(annotation: Any, metadata: list[Any]) -> tuple[Any, bool, list[Any]]:
    """The annotation without `| None` and `Annotated`, whether it was optional, and all
    its metadata (constraints, validators)."""
    metadata = list(metadata)
    optional = False
    if get_origin(annotation) in (Union, UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            annotation, optional = members[0], True
    if get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        metadata.extend(extra)
    return annotation, optional, metadata


def _wrapped_type_field(name: str, field: FieldInfo, fields: Mapping[str, FieldInfo]) -> str | None:
    """For `X_params: Any` next to `X_type: str`, the name of the field naming the type."""
    if field.annotation is not Any or not name.endswith("_params"):
        return None
    type_name = name.removesuffix("_params") + "_type"
    type_field = fields.get(type_name)
    return type_name if type_field is not None and type_field.annotation is str else None


def _default(field: FieldInfo) -> Any:
    default = field.get_default(call_default_factory=True, validated_data={})
    return None if default is PydanticUndefined else default


def _join(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def _hint(element: ui.element, hint: str) -> None:
    if hint:
        element.props["hint"] = plain(hint)


class _Text:
    """One text input: plain text, a secret, a command line, a list or JSON."""

    def __init__(
        self,
        name: str,
        path: str,
        label: str,
        hint: str,
        initial: Any,
        *,
        kind: Literal["text", "secret", "argv", "list", "json"],
    ) -> None:
        self.names = (name,)
        self.kind = kind
        element: ui.input
        if kind == "secret":
            element = ui.input(label, password=True).props('autocomplete="new-password"')
        elif kind == "text":
            # A textarea that starts one line high: a path looks like an input, and a pasted
            # file keeps its lines (a plain <input> would drop them).
            element = ui.textarea(label, value=_text(initial, kind)).props("autogrow rows=1")
        else:
            element = ui.input(label, value=_text(initial, kind))
        _hint(element, hint)
        self.element = element.classes("w-full").mark(f"param-{path}")
        self.element.on_value_change(self.clear_error)

    def values(self) -> dict[str, Any]:
        text = self.element.value or ""
        if self.kind == "list":
            words = [word.strip() for word in text.split(",") if word.strip()]
            return {self.names[0]: words} if words else {}
        if not text:
            return {}
        if self.kind == "json":
            try:
                return {self.names[0]: json.loads(text)}
            except json.JSONDecodeError:
                pass  # sent as text: the model's own message says what it wanted
        return {self.names[0]: text}

    def show_error(self, path: str, message: str) -> None:
        self.element.error = message

    def clear_error(self) -> None:
        self.element.error = None


def _text(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "argv" and isinstance(value, list | tuple):
        return shlex.join(str(word) for word in value)
    if kind == "list" and isinstance(value, list | tuple):
        return ", ".join(str(word) for word in value)
    if kind == "json":
        return json.dumps(value, default=str)
    return str(value)


class _Number:
    def __init__(
        self,
        name: str,
        path: str,
        label: str,
        hint: str,
        initial: Any,
        *,
        integer: bool,
        bounds: list[Any],
    ) -> None:
        self.names = (name,)
        self.integer = integer
        minimum = next((b.ge for b in bounds if isinstance(b, annotated_types.Ge)), None)
        maximum = next((b.le for b in bounds if isinstance(b, annotated_types.Le)), None)
        self.element = ui.number(
            label,
            value=initial if isinstance(initial, int | float) else None,
            min=minimum if isinstance(minimum, int | float) else None,
            max=maximum if isinstance(maximum, int | float) else None,
            step=1 if integer else None,
        )
        _hint(self.element, hint)
        self.element.classes("w-full").mark(f"param-{path}")
        self.element.on_value_change(self.clear_error)

    def values(self) -> dict[str, Any]:
        value = self.element.value
        if value is None:
            return {}
        if self.integer and float(value).is_integer():
            value = int(value)
        return {self.names[0]: value}

    def show_error(self, path: str, message: str) -> None:
        self.element.error = message

    def clear_error(self) -> None:
        self.element.error = None


class _Select:
    def __init__(
        self,
        name: str,
        path: str,
        label: str,
        hint: str,
        initial: Any,
        options: list[Any],
        optional: bool,
    ) -> None:
        self.names = (name,)
        self.element = ui.select(
            options,
            label=label,
            value=initial if initial in options else None,
            clearable=optional,
        )
        _hint(self.element, hint)
        self.element.classes("w-full").mark(f"param-{path}")
        self.element.on_value_change(self.clear_error)

    def values(self) -> dict[str, Any]:
        return {} if self.element.value is None else {self.names[0]: self.element.value}

    def show_error(self, path: str, message: str) -> None:
        self.element.error = message

    def clear_error(self) -> None:
        self.element.error = None


class _Switch:
    def __init__(self, name: str, path: str, label: str, hint: str, initial: Any) -> None:
        self.names = (name,)
        with ui.column().classes("gap-0"):
            self.element = ui.switch(label, value=bool(initial)).mark(f"param-{path}")
            if hint:
                self.element.tooltip(hint)
            self.error = ui.label().classes("text-negative text-xs")
        self.error.set_visibility(False)
        self.element.on_value_change(self.clear_error)

    def values(self) -> dict[str, Any]:
        return {self.names[0]: bool(self.element.value)}

    def show_error(self, path: str, message: str) -> None:
        self.error.text = message
        self.error.set_visibility(True)

    def clear_error(self) -> None:
        self.error.set_visibility(False)


class _Pairs:
    """A mapping of names to text values, one row each; secret values in password inputs,
    never pre-filled. Rows are marked `param-<path>-name-<n>` / `-value-<n>` / `-remove-<n>`,
    numbered in the order they were added."""

    def __init__(
        self, name: str, path: str, label: str, hint: str, initial: Any, *, secret: bool
    ) -> None:
        self.names = (name,)
        self.path = path
        self.secret = secret
        self.rows: dict[int, tuple[ui.row, ui.input, ui.input]] = {}
        self.added = 0
        with ui.column().classes("w-full gap-1").mark(f"param-{path}"):
            ui.label(label).classes("text-sm")
            if hint:
                ui.label(hint).classes("text-xs text-grey-7")
            self.container = ui.column().classes("w-full gap-1")
            self.error = ui.label().classes("text-negative text-xs")
            self.error.set_visibility(False)
            ui.button("Add", icon="add", on_click=lambda: self.add("")).props(
                "flat dense no-caps"
            ).mark(f"param-{path}-add")
        if isinstance(initial, Mapping):
            for key, value in initial.items():
                # A secret's name comes back; its value is typed again, never shown.
                self.add(str(key), "" if secret else str(value))

    def add(self, key: str, value: str = "") -> None:
        number = self.added
        self.added += 1
        with self.container, ui.row().classes("w-full items-start no-wrap gap-2") as row:
            key_input = (
                ui.input("Name", value=key)
                .classes("flex-1")
                .mark(f"param-{self.path}-name-{number}")
            )
            value_input = ui.input("Value", value=value, password=self.secret).classes("flex-[2]")
            if self.secret:
                value_input.props('autocomplete="new-password"')
                if key:
                    value_input.props["placeholder"] = "type it again"
            value_input.mark(f"param-{self.path}-value-{number}")
            ui.button(icon="close", on_click=lambda: self.remove(number)).props(
                "flat dense round"
            ).mark(f"param-{self.path}-remove-{number}")
        for element in (key_input, value_input):
            element.on_value_change(self.clear_error)
        self.rows[number] = (row, key_input, value_input)

    def remove(self, number: int) -> None:
        row, _, _ = self.rows.pop(number)
        row.delete()

    def values(self) -> dict[str, Any]:
        pairs: dict[str, str] = {}
        for _, key_input, value_input in self.rows.values():
            key, value = (key_input.value or "").strip(), value_input.value or ""
            # An empty secret is not a secret: left out, the model says which one is missing.
            if (key or value) and not (self.secret and not value):
                pairs[key] = value
        return {self.names[0]: pairs} if pairs else {}

    def show_error(self, path: str, message: str) -> None:
        key = path.split(".", 1)[1] if "." in path else None
        for _, key_input, value_input in self.rows.values():
            if key is not None and (key_input.value or "").strip() == key:
                value_input.error = message
                return
        self.error.text = f"{key}: {message}" if key else message
        self.error.set_visibility(True)

    def clear_error(self) -> None:
        self.error.set_visibility(False)
        for _, key_input, value_input in self.rows.values():
            key_input.error = value_input.error = None


class _Section:
    """A nested model: its own form in a titled section, its values a nested mapping."""

    def __init__(
        self,
        name: str,
        path: str,
        label: str,
        hint: str,
        initial: Any,
        *,
        model: type[BaseModel],
        types: Mapping[str, DeploymentType[Any]],
    ) -> None:
        self.names = (name,)
        if isinstance(initial, BaseModel):
            initial = initial.model_dump()
        with (
            ui.expansion(label, caption=hint or None, value=True)
            .classes("w-full")
            .props("dense switch-toggle-side")
            .mark(f"param-{path}") as self.expansion
        ):
            self.form = _Form(
                model,
                path=path,
                types=types,
                values=initial if isinstance(initial, Mapping) else {},
            )

    def values(self) -> dict[str, Any]:
        return {self.names[0]: self.form.values()}

    def show_error(self, path: str, message: str) -> None:
        self.expansion.open()
        rest = path.split(".", 1)[1] if "." in path else _MODEL_ERRORS
        self.form.show_errors({rest: message})

    def clear_error(self) -> None:
        self.form.clear_errors()


class _WrappedType:
    """A field naming another deployment type (`inner_type`) and one holding that type's
    parameters (`inner_params`): a select of the installed types and, below it, the chosen
    type's own form, built again whenever the choice changes."""

    def __init__(
        self,
        *,
        type_name: str,
        type_field: FieldInfo,
        params_name: str,
        prefix: str,
        choices: Mapping[str, DeploymentType[Any]],
        values: Mapping[str, Any],
    ) -> None:
        self.names = (type_name, params_name)
        self.params_prefix = f"{prefix}.{params_name}" if prefix else params_name
        self.choices = choices
        self.inner: _Form | None = None
        initial_type = values.get(type_name)
        initial_params = values.get(params_name)
        if isinstance(initial_params, BaseModel):
            initial_params = initial_params.model_dump()
        label = type_field.title or type_name.replace("_", " ").capitalize()
        self.select = ui.select(
            {name: deployment_type.title for name, deployment_type in choices.items()},
            label=f"{label} *" if type_field.is_required() else label,
            value=initial_type if initial_type in choices else None,
            on_change=lambda: self.rebuild({}),
        )
        _hint(self.select, type_field.description or "")
        self.select.classes("w-full").mark(f"param-{prefix + '.' if prefix else ''}{type_name}")
        self.container = (
            ui.column().classes("w-full gap-2 pl-4").mark(f"param-{self.params_prefix}")
        )
        self.rebuild(initial_params if isinstance(initial_params, Mapping) else {})

    @property
    def chosen(self) -> str | None:
        value = self.select.value
        return value if isinstance(value, str) else None

    def rebuild(self, values: Mapping[str, Any]) -> None:
        self.select.error = None
        self.container.clear()
        self.inner = None
        if self.chosen is None:
            return
        deployment_type = self.choices[self.chosen]
        with self.container:
            ui.label(f"{deployment_type.title} parameters").classes("text-subtitle2")
            self.inner = _Form(
                deployment_type.parameters,
                path=self.params_prefix,
                types=self.choices,
                values=values,
            )

    def values(self) -> dict[str, Any]:
        if self.chosen is None or self.inner is None:
            return {}
        type_name, params_name = self.names
        return {type_name: self.chosen, params_name: self.inner.values()}

    def knows(self, field_name: str) -> bool:
        return self.inner is not None and field_name in self.inner.inputs

    def params_path(self, inner_path: str) -> str:
        """The path, relative to the wrapper's form, of a path inside the inner parameters."""
        params_name = self.names[1]
        return params_name if inner_path in ("", _MODEL_ERRORS) else f"{params_name}.{inner_path}"

    def show_error(self, path: str, message: str) -> None:
        type_name, _ = self.names
        head, _, rest = path.partition(".")
        if head == type_name:
            self.select.error = message
        elif self.inner is not None:
            self.inner.show_errors({rest or _MODEL_ERRORS: message})
        else:
            self.select.error = message

    def clear_error(self) -> None:
        self.select.error = None
        if self.inner is not None:
            self.inner.clear_errors()
