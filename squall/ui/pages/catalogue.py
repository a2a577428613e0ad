"""The operations catalogue at `/catalogue`: every deployment type the installed plugins
provide, with its description and parameters."""

from __future__ import annotations

from typing import Any

from nicegui import ui
from pydantic.fields import FieldInfo

from squall.core.permissions import Permission
from squall.core.services import access
from squall.core.types import DeploymentType
from squall.ui.context import Console
from squall.ui.theme import frame


def register(console: Console) -> None:
    @ui.page("/catalogue")
    def catalogue_page() -> None:
        with frame(console, "Deployment types"):
            may_deploy = Permission.CREATE in access.abilities(console.runtime, console.actor())
            for deployment_type in console.runtime.plugins.types.values():
                type_card(deployment_type, may_deploy)


def type_card(deployment_type: DeploymentType[Any], may_deploy: bool) -> None:
    with ui.card().classes("w-full").mark(f"type-{deployment_type.name}"):
        with ui.row().classes("items-center gap-3"):
            ui.label(deployment_type.title).classes("text-lg font-semibold")
            ui.badge(deployment_type.name, color="grey")
            if deployment_type.rollback is not None:
                ui.badge("can roll back", color="brown")
            if may_deploy:
                ui.button(
                    "Deploy",
                    icon="rocket_launch",
                    on_click=lambda: ui.navigate.to(f"/new?type={deployment_type.name}"),
                ).props("flat dense").mark(f"deploy-{deployment_type.name}")
        ui.label(deployment_type.description).classes("text-gray-700")
        rows = [
            {
                "name": name,
                "type": describe(field),
                "default": "required"
                if field.is_required()
                else repr(field.get_default(call_default_factory=True)),
                "description": field.description or "",
            }
            for name, field in deployment_type.parameters.model_fields.items()
        ]
        columns = [
            {"name": key, "label": key, "field": key, "align": "left"}
            for key in ("name", "type", "default", "description")
        ]
        ui.table(columns=columns, rows=rows, row_key="name").props("dense flat").classes(
            "w-full"
        ).mark(f"params-{deployment_type.name}")


def describe(field: FieldInfo) -> str:
    text = str(field.annotation).replace("typing.", "")
    for noise in ("pydantic.types.", "<class '", "'>", "squall.core.types."):
        text = text.replace(noise, "")
    if any(getattr(item, "func", None) is not None for item in field.metadata):
        text = "command (words)"
    return text
