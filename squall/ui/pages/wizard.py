"""The new-deployment wizard at `/new`: type → parameters → targets → plan preview → start."""

from __future__ import annotations

import html
from collections import Counter
from typing import Any

from nicegui import ui

from squall.core.errors import SquallError, ValidationError
from squall.core.inventory import parse_selector
from squall.core.permissions import Permission
from squall.core.plan import DeploymentOptions, Plan, Threshold
from squall.core.services import access, deployments
from squall.core.services.inventory import all_nodes
from squall.core.values.deployments import DeploymentRequest
from squall.ui.context import Console
from squall.ui.forms import ParamsForm
from squall.ui.theme import frame


def register(console: Console) -> None:
    @ui.page("/new")
    async def wizard_page(type: str | None = None) -> None:
        with frame(console, "New deployment"):
            if Permission.CREATE not in access.abilities(console.runtime, console.actor()):
                ui.label(
                    f"You may not start deployments: missing permission '{Permission.CREATE}'."
                ).mark("no-create")
                return
            await Wizard(console, type).build()


def build_selector(clusters: list[str], tags: list[str], host: str, excluded: str) -> str:
    """The selector the target step's choices mean: the clusters (or all), narrowed to
    nodes with every tag and whose name or address matches the host glob, minus the
    excluded globs. Anything else can be typed as a selector directly."""
    terms = [f"cluster:{cluster}" for cluster in clusters] or ["all"]
    terms += [f"&tag:{tag}" for tag in tags]
    if host.strip():
        terms.append(f"&host:{host.strip()}")
    terms += [f"!host:{glob.strip()}" for glob in excluded.split(",") if glob.strip()]
    return ",".join(terms)


class Wizard:
    def __init__(self, console: Console, type_name: str | None) -> None:
        self.console = console
        self.types = console.runtime.plugins.types
        self.type_name = type_name if type_name in self.types else None
        self.form: ParamsForm | None = None
        self.params: dict[str, Any] = {}
        self.selector = "all"
        self.plan: Plan | None = None

    async def build(self) -> None:
        nodes = await self.console.query(all_nodes)
        self.clusters = sorted({node.cluster for node in nodes})
        self.tags = sorted({tag for node in nodes for tag in node.tags})
        with ui.stepper().props("vertical").classes("w-full").mark("wizard") as self.stepper:
            with ui.step("Type"):
                self.type_select = ui.radio(
                    {name: f"{t.title} — {t.description}" for name, t in self.types.items()},
                    value=self.type_name,
                    on_change=lambda event: self.choose(event.value),
                ).mark("choose-type")
                with ui.stepper_navigation():
                    ui.button("Next", on_click=self.after_type).mark("next-type")
            with ui.step("Parameters"):
                self.form_area = ui.column().classes("w-full").mark("params")
                with ui.stepper_navigation():
                    ui.button("Next", on_click=self.after_params).mark("next-params")
                    ui.button("Back", on_click=self.stepper.previous).props("flat")
            with ui.step("Targets"):
                await self.target_controls()
                with ui.stepper_navigation():
                    ui.button("Next", on_click=self.after_targets).mark("next-targets")
                    ui.button("Back", on_click=self.stepper.previous).props("flat")
            with ui.step("Plan"):
                self.option_controls()
                self.preview = ui.html("", sanitize=False).classes("w-full").mark("preview")
                with ui.stepper_navigation():
                    ui.button("Start", icon="rocket_launch", on_click=self.start).mark("start")
                    ui.button("Back", on_click=self.stepper.previous).props("flat")
        if self.type_name:
            self.choose(self.type_name)

    # --- type and parameters ----------------------------------------------------------

    def choose(self, type_name: str | None) -> None:
        self.type_name = type_name
        self.form_area.clear()
        if type_name is None:
            return
        with self.form_area:
            deployment_type = self.types[type_name]
            ui.label(deployment_type.description).classes("text-gray-600")
            self.form = ParamsForm(deployment_type.parameters, types=self.types)

    def after_type(self) -> None:
        if self.type_name is None:
            ui.notify("Choose a deployment type", type="warning")
            return
        self.stepper.next()

    async def after_params(self) -> None:
        assert self.form is not None and self.type_name is not None
        self.form.clear_errors()
        raw = self.form.values()
        type_name = self.type_name
        try:
            await self.console.query(
                lambda _session: self.console.runtime.plugins.parse_params(type_name, raw)
            )
        except ValidationError as exc:
            self.form.show_errors(exc.fields)
            ui.notify(str(exc), type="negative", multi_line=True)
            return
        self.params = raw
        self.stepper.next()
        await self.count()

    # --- targets --------------------------------------------------------------------

    async def target_controls(self) -> None:
        with ui.row().classes("w-full gap-4 items-end"):
            self.cluster_select = (
                ui.select(self.clusters, multiple=True, label="Clusters (none: all)")
                .classes("w-72")
                .mark("target-clusters")
            )
            self.tag_select = (
                ui.select(self.tags, multiple=True, label="With every tag")
                .classes("w-56")
                .mark("target-tags")
            )
            self.host_input = ui.input("Host (glob)").classes("w-48").mark("target-hosts")
            self.exclude_input = (
                ui.input("Except hosts (globs, comma-separated)")
                .classes("w-80")
                .mark("target-exclude")
            )
        self.selector_input = (
            ui.input("Selector", value="all").classes("w-full").mark("target-selector")
        )
        self.count_label = ui.label().mark("target-count")
        self.sample = ui.label().classes("text-xs text-gray-600").mark("target-sample")
        for control in (self.cluster_select, self.tag_select, self.host_input, self.exclude_input):
            control.on_value_change(self.choices_changed)
        self.selector_input.on_value_change(self.count)

    async def choices_changed(self) -> None:
        self.selector_input.value = build_selector(
            list(self.cluster_select.value or []),
            list(self.tag_select.value or []),
            self.host_input.value or "",
            self.exclude_input.value or "",
        )

    async def count(self) -> bool:
        """Count the nodes the selector picks; False (and the reason, in red under the
        field) when it is empty, malformed or picks nothing: such a target is no target."""
        text = self.selector_input.value or ""
        self.selector = ""
        try:
            selector = parse_selector(text)
        except SquallError as exc:
            self.count_label.set_text(str(exc))
            self.count_label.classes(replace="text-red-600")
            self.sample.set_text("")
            return False
        nodes = selector.select(await self.console.query(all_nodes))
        if nodes:
            self.selector = text
        per_cluster = Counter(node.cluster for node in nodes)
        self.count_label.classes(replace="text-red-600" if not nodes else "")
        self.count_label.set_text(
            f"{len(nodes)} node(s) match"
            + (
                ": " + ", ".join(f"{c} {n}" for c, n in sorted(per_cluster.items()))
                if nodes
                else ""
            )
        )
        self.sample.set_text(
            ", ".join(node.name for node in nodes[:30]) + (" …" if len(nodes) > 30 else "")
        )
        return bool(nodes)

    async def after_targets(self) -> None:
        if not await self.count():
            ui.notify("Choose targets that match at least one node", type="warning")
            return
        self.stepper.next()
        await self.show_preview()

    # --- options, preview, start ---------------------------------------------------

    def option_controls(self) -> None:
        with ui.row().classes("gap-4 items-end"):
            self.parallel = (
                # No `min`: the browser would turn 0 into 1; the service refuses it instead.
                ui.number(
                    "Nodes at once",
                    value=50,
                    format="%d",
                    validation={"at least 1": lambda value: value is None or value >= 1},
                )
                .classes("w-32")
                .mark("option-parallel")
            )
            self.max_fail = (
                ui.input("Max failures (3 or 10%)").classes("w-52").mark("option-max-fail")
            )
            self.timeout = (
                ui.number("Step timeout (s)", min=1).classes("w-36").mark("option-timeout")
            )
            self.ticket = ui.input("Ticket").classes("w-32").mark("option-ticket")
            self.title = ui.input("Title").classes("w-72").mark("option-title")
            ui.button("Preview", icon="visibility", on_click=self.show_preview).props("flat").mark(
                "preview-button"
            )

    def request(self) -> DeploymentRequest:
        assert self.type_name is not None
        max_fail = (self.max_fail.value or "").strip()
        return DeploymentRequest(
            type=self.type_name,
            params=self.params,
            target=self.selector,
            options=DeploymentOptions(
                parallelism=50 if self.parallel.value is None else int(self.parallel.value),
                max_failures=Threshold.parse(max_fail) if max_fail else None,
                step_timeout=float(self.timeout.value) if self.timeout.value else None,
            ),
            ticket=(self.ticket.value or "").strip() or None,
            title=(self.title.value or "").strip() or None,
        )

    async def show_preview(self) -> None:
        try:
            planned = await self.console.read(deployments.preview, self.request())
        except SquallError as exc:
            self.plan = None
            self.preview.set_content(f"<div style='color:#c62828'>{html.escape(str(exc))}</div>")
            return
        self.plan = planned.plan
        self.preview.set_content(preview_html(planned.plan, planned.redact))

    async def start(self) -> None:
        try:
            wanted = self.request()
            await self.console.check(deployments.check_outside, wanted)
            deployment_id = await self.console.write(deployments.create, wanted)
        except SquallError as exc:
            ui.notify(str(exc), type="negative", multi_line=True)
            return
        ui.navigate.to(f"/deployments/{deployment_id}")


def preview_html(plan: Plan, redact: Any) -> str:
    """Stages (phases and waves) with their blast radius, gates, bake time and steps."""
    rows = []
    for number, stage in enumerate(plan.stages, start=1):
        radius = ", ".join(
            f"{cluster} {count}"
            for cluster, count in sorted(Counter(n.node.cluster for n in stage.nodes).items())
        )
        traits = []
        if stage.gate:
            traits.append(f"manual gate ({stage.approvals} approval(s))")
        if stage.max_failures is not None:
            traits.append(f"max-fail {stage.max_failures}")
        if stage.bake_seconds:
            traits.append(f"bake {stage.bake_seconds:g}s")
        if stage.kind.value != "deploy":
            traits.append(stage.kind.value)
        steps = "<br>".join(
            f"{index}. {html.escape(step.name)}: <code>{html.escape(redact(step.describe()))}</code>"
            for index, step in enumerate(stage.nodes[0].steps, start=1)
        )
        rows.append(
            f"<tr><td style='padding:4px 8px;vertical-align:top'><b>{number}. {html.escape(stage.name)}</b></td>"
            f"<td style='padding:4px 8px;vertical-align:top'>{len(stage.nodes)} node(s)<br>"
            f"<span style='color:#555'>{html.escape(radius)}</span></td>"
            f"<td style='padding:4px 8px;vertical-align:top;color:#555'>{html.escape(' · '.join(traits))}</td>"
            f"<td style='padding:4px 8px;vertical-align:top;font-size:12px'>{steps}</td></tr>"
        )
    return (
        f"<div style='margin-bottom:6px'>{plan.node_count} node task(s) in {len(plan.stages)} stage(s)</div>"
        "<table style='width:100%;font-size:13px;border-collapse:collapse'>"
        "<thead><tr><th style='text-align:left'>stage</th><th style='text-align:left'>blast radius</th>"
        "<th style='text-align:left'>gate, threshold, bake</th><th style='text-align:left'>steps (first node)</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
