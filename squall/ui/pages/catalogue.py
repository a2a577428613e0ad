"""The operations catalogue at `/catalogue`: every deployment type the installed plugins
provide, with its description and parameters."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from squall.core.describe import describe_parameters
from squall.core.permissions import Permission
from squall.core.services import access
from squall.core.types import DeploymentType
from squall.ui.components import code_spans
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
                "name": parameter.name,
                "type": parameter.kind,
                "default": "required" if parameter.required else parameter.default,
                "description": parameter.description,
            }
            for parameter in describe_parameters(deployment_type.parameters)
        ]
        columns = [
            {"name": key, "label": key, "field": key, "align": "left"}
            for key in ("name", "type", "default", "description")
        ]
        code_spans(
            ui.table(columns=columns, rows=rows, row_key="name").props("dense flat"), "description"
        ).classes("w-full").mark(f"params-{deployment_type.name}")
