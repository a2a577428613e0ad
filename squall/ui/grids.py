"""A deployment's node grid and step grid, drawn in the browser from compact strings.

A 10,000-node group deployment with health checks has 20,000 node tasks. As HTML, a few
dozen bytes a square made its page megabytes; here a stage's squares travel as a few
strings per cluster: the node names front-coded (each name as one character saying how
many leading characters it shares with the name before it, then the rest; names have no
whitespace, so a space separates them) and one letter per task for its status, an index
into the element's list of statuses. node_grid.js and step_grid.js draw the squares; both
read the strings with grid_codec.js.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from nicegui import ui

from squall.core.services.views import StepRow, TaskCell

SHARED = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
"""The character for each shared-prefix length (longer prefixes share this many)."""
SMALL_SQUARES = 2_000
"""Above this many node tasks the squares are drawn smaller, so the grid stays short."""
STEP_GRID_EAGER = 2_000
"""Up to this many node tasks the step grid is read and sent with the page; above, when
asked for."""
NOTE_CHARS = 200
"""A square's tooltip keeps this much of a failure's error."""


def front_coded(names: Sequence[str]) -> str:
    """`names` front-coded: see the module's description; grid_codec.js decodes them."""
    coded = []
    previous = ""
    for name in names:
        # The longest shared prefix by halving (slices compare in C; names share most).
        shared, most = 0, min(len(previous), len(name), len(SHARED) - 1)
        while shared < most:
            middle = (shared + most + 1) // 2
            if previous[:middle] == name[:middle]:
                shared = middle
            else:
                most = middle - 1
        coded.append(SHARED[shared] + name[shared:])
        previous = name
    return " ".join(coded)


def _letters(statuses: Sequence[str], states: dict[str, int]) -> str:
    """One letter per status, `a` for the first in `states`; new statuses are added."""
    return "".join(chr(97 + states.setdefault(status, len(states))) for status in statuses)


def _note(cell: TaskCell) -> str:
    """What a square's tooltip adds to its node and status: where it is or failed."""
    if cell.current_step:
        return f"at {cell.current_step}"
    error = (cell.error or "")[:NOTE_CHARS]
    if cell.failed_step:
        return f"{cell.failed_step}: {error}"
    return error


def node_blocks(tasks: Sequence[TaskCell]) -> list[dict[str, Any]]:
    """Each stage's squares (a group deployment's phases and waves), by cluster in the
    order of their first task: the props of one `StageSquares` each."""
    stages: dict[str, dict[str, list[TaskCell]]] = {}
    for task in tasks:
        stages.setdefault(task.stage, {}).setdefault(task.cluster, []).append(task)
    small = len(tasks) > SMALL_SQUARES
    blocks = []
    for stage, clusters in stages.items():
        states: dict[str, int] = {}
        rows = []
        notes: dict[str, str] = {}
        index = 0
        for cluster, cells in clusters.items():
            rows.append(
                [
                    cluster,
                    front_coded([cell.node for cell in cells]),
                    _letters([cell.status for cell in cells], states),
                ]
            )
            for cell in cells:
                note = _note(cell)
                if note:
                    notes[str(index)] = note
                index += 1
        blocks.append(
            {
                "stage": stage,
                "clusters": rows,
                "states": list(states),
                "notes": notes,
                "small": small,
            }
        )
    return blocks


def step_props(tasks: Sequence[TaskCell], steps: Sequence[StepRow]) -> dict[str, Any]:
    """Steps down, node tasks across (in the order of `tasks`): the props of a `StepGrid`."""
    states: dict[str, int] = {}
    rows = [[step.name, _letters([s or "none" for s in step.by_node], states)] for step in steps]
    return {
        "names": front_coded([task.node for task in tasks]),
        "steps": rows,
        "states": list(states),
    }


class StageSquares(ui.element, component="node_grid.js", dependencies=["grid_codec.js"]):
    """One stage of the node grid: a square per node task, by cluster."""

    def __init__(self, block: dict[str, Any], on_node: Callable[[str], None]) -> None:
        super().__init__()
        self._props.update(block)
        self.on("node", lambda event: on_node(str(event.args)))

    def show(self, block: dict[str, Any]) -> None:
        if any(self._props.get(key) != value for key, value in block.items()):
            self._props.update(block)
            self.update()


class NodeGrid(ui.column):
    """A square per node task, coloured by status, grouped by stage and labelled by
    cluster; squares wrap, so the grid is never wider than the window. A square's tooltip
    names its node; a click calls `on_node` with the node's name. Only the stages whose
    squares changed are sent again."""

    def __init__(self, on_node: Callable[[str], None]) -> None:
        super().__init__()
        self.classes("w-full gap-2").props("data-node-grid")
        self.on_node = on_node
        self.stages: list[StageSquares] = []

    def show(self, tasks: Sequence[TaskCell]) -> None:
        blocks = node_blocks(tasks)
        if [block["stage"] for block in blocks] != [s.props["stage"] for s in self.stages]:
            self.clear()
            with self:
                self.stages = [StageSquares(block, self.on_node) for block in blocks]
            return
        for element, block in zip(self.stages, blocks, strict=True):
            element.show(block)


class StepGrid(ui.element, component="step_grid.js", dependencies=["grid_codec.js"]):
    """Steps down, node tasks across: each cell the node's status at that step, so a
    column of red shows one node failing, a row of red one step failing everywhere. The
    tooltip names the node. Without the cells (a big deployment's page reads them once
    asked for), a button asks for them: `on_open` is called."""

    def __init__(self, on_open: Callable[[], Any]) -> None:
        super().__init__()
        self._props.update(names="", steps=[], states=[], tasks=0, cells=0)
        self.on("open", lambda _: on_open())

    def show(self, tasks: Sequence[TaskCell], steps: Sequence[StepRow]) -> None:
        read = bool(steps) and all(len(step.by_node) == len(tasks) for step in steps)
        props: dict[str, Any] = {"tasks": len(tasks), "cells": len(tasks) * len(steps)}
        props.update(step_props(tasks, steps) if read else {"names": "", "steps": [], "states": []})
        if any(self._props.get(key) != value for key, value in props.items()):
            self._props.update(props)
            self.update()
