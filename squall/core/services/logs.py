"""A deployment's log as an operator reads it: windows over every line, over one node's
lines, or over blocks of identical output; searchable, and downloadable as text.

Windows are cut in SQL in the `all` and `node` modes, so a window of a 300,000-line log
costs as much as one of a short log. The grouped view needs every line once; it is built
in Python from one query and kept in a small cache until the log or a node's status
changes.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from sqlalchemy import ClauseElement, ColumnElement, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

from squall.core.auth import Actor
from squall.core.errors import NotFound, ValidationError
from squall.core.models import LogLine, NodeTask, Stage
from squall.core.runtime import Runtime
from squall.core.services.deployments import get
from squall.core.status import TaskStatus

Mode = Literal["all", "node", "grouped"]
MODES: tuple[str, ...] = get_args(Mode)
MAX_COUNT = 2000
"""The most rows one window may hold."""
ATTENTION = frozenset({TaskStatus.FAILED, TaskStatus.INTERRUPTED, TaskStatus.INCONCLUSIVE})
"""Node outcomes an operator looks at first."""
OUTPUT_STREAMS = ("stdout", "stderr")
"""What the nodes printed; the grouped view compares these and leaves Squall's own lines out."""
HEADER_NAMES = 8
"""Node names spelled out in a block's header text (`nodes` holds all of them)."""
TEXT_CHUNK = 10_000


@dataclass(frozen=True)
class LogRow:
    """One row of a log view: a line, or the header of a block of identical output."""

    number: int
    """0-based position in the whole view."""
    kind: Literal["line", "header"]
    node: str | None
    """The node that printed the line; None for headers and for lines of a grouped block."""
    stream: str | None
    """`stdout`, `stderr` or `squall` for lines; None for headers."""
    at: dt.datetime | None
    """When the line was written; None for headers and lines of a grouped block."""
    text: str
    nodes: tuple[str, ...] = ()
    """A header's nodes: every node that printed this block's output."""
    status: str | None = None
    """A header's node status (`failed`, `succeeded`, …)."""


@dataclass(frozen=True)
class LogPage:
    """A window of a log view."""

    total: int
    """Rows in the whole view, so a scrollbar can represent all of it."""
    start: int
    rows: tuple[LogRow, ...]
    last_line_id: int
    """The newest log line the view was computed from (0 for none): when a newer one
    exists, the view is out of date."""


@dataclass(frozen=True)
class LogNode:
    """A node of the deployment, for choosing one node's log."""

    name: str
    cluster: str
    status: str


def log_window(
    session: Session,
    rt: Runtime,
    actor: Actor,
    deployment_id: int,
    *,
    mode: Mode,
    node: str | None = None,
    search: str | None = None,
    start: int = 0,
    count: int = 500,
) -> LogPage:
    """Rows `start` to `start + count` of a view of the deployment's log.

    `all`: every line in the order written, each with its node. `node`: one node's lines,
    every attempt. `grouped`: one block per distinct output (stdout and stderr of each
    node's latest attempt), a header row naming the nodes that printed it, then its lines;
    failed, interrupted and inconclusive nodes' blocks first. `search` keeps the lines
    containing it, ignoring case (grouped: the blocks with a match, with their headers).
    """
    if mode not in MODES:
        raise ValidationError(f"unknown log view {mode!r}: use one of {', '.join(MODES)}")
    if not 1 <= count <= MAX_COUNT:
        raise ValidationError(f"a log window holds 1 to {MAX_COUNT} rows, not {count}")
    if start < 0:
        raise ValidationError(f"a log window starts at row 0 or later, not {start}")
    if (mode == "node") != (node is not None):
        raise ValidationError("name a node for the node view, and only for it")
    get(session, rt, actor, deployment_id)
    search = search or None
    if mode == "grouped":
        return _grouped_window(session, rt, deployment_id, search, start, count)
    scope = log_scope(session, deployment_id, node)
    matching = (
        [scope] if search is None else [scope, LogLine.text.icontains(search, autoescape=True)]
    )
    total = session.scalar(select(func.count()).select_from(LogLine).where(*matching)) or 0
    last = session.scalar(select(func.max(LogLine.id)).where(scope)) or 0
    # The offset is walked over the (deployment_id, id) or (task_id, id) index alone; only
    # the rows of the window are joined and read.
    window = select(LogLine.id).where(*matching).order_by(LogLine.id).limit(count).offset(start)
    rows = session.execute(
        select(LogLine.stream, LogLine.at, LogLine.text, NodeTask.node_name)
        .join(NodeTask, NodeTask.id == LogLine.task_id)
        .where(LogLine.id.in_(window.scalar_subquery()))
        .order_by(LogLine.id)
    )
    return LogPage(
        total=total,
        start=start,
        rows=tuple(
            LogRow(start + offset, "line", node_name, stream, at, text)
            for offset, (stream, at, text, node_name) in enumerate(rows)
        ),
        last_line_id=last,
    )


def log_nodes(
    session: Session, rt: Runtime, actor: Actor, deployment_id: int
) -> tuple[LogNode, ...]:
    """The deployment's nodes, failed, interrupted and inconclusive ones first, by name."""
    get(session, rt, actor, deployment_id)
    return nodes_of(
        (task.node, task.cluster, task.status) for task in _tasks(session, deployment_id)
    )


def nodes_of(tasks: Iterable[tuple[str, str, str]]) -> tuple[LogNode, ...]:
    """`log_nodes` from a deployment's (node, cluster, status) of every task in stage
    order, for a page that has read them already."""
    read = list(tasks)
    known = {value: TaskStatus(value) for value in {task_status for _, _, task_status in read}}
    status = _node_status((node, known[task_status]) for node, _, task_status in read)
    cluster = {node: node_cluster for node, node_cluster, _ in read}
    return tuple(
        LogNode(name, cluster[name], status[name].value)
        for name in sorted(status, key=lambda name: _attention_first(status[name], name))
    )


def log_text(
    session: Session, rt: Runtime, actor: Actor, deployment_id: int, *, node: str | None = None
) -> Iterator[str]:
    """The whole log (or one node's) as text, one `HH:MM:SS node stream text` line (UTC)
    at a time, each ending in a newline; read from the database in chunks as it is
    consumed.

    Permission and the node are checked at the call, before the first line; the session
    must stay open while the lines are consumed."""
    get(session, rt, actor, deployment_id)
    scope = log_scope(session, deployment_id, node)
    node_of = {task.id: task.node for task in _tasks(session, deployment_id)}
    return _text_lines(session, scope, node_of)


# -- all and node views --------------------------------------------------------------------


def log_scope(session: Session, deployment_id: int, node: str | None) -> ColumnElement[bool]:
    """The deployment's log lines, or one node's; NotFound for a node it does not have (a
    misspelt node is not an empty log)."""
    if node is None:
        return LogLine.deployment_id == deployment_id
    task_ids = session.scalars(
        select(NodeTask.id).where(
            NodeTask.deployment_id == deployment_id, NodeTask.node_name == node
        )
    ).all()
    if not task_ids:
        raise NotFound(f"deployment {deployment_id} has no node {node}")
    return LogLine.task_id.in_(task_ids)


def _text_lines(
    session: Session, scope: ColumnElement[bool], node_of: Mapping[int, str]
) -> Iterator[str]:
    after = 0
    while True:
        rows = (
            session.connection()
            .execute(
                select(LogLine.id, LogLine.task_id, LogLine.stream, LogLine.at, LogLine.text)
                .where(scope, LogLine.id > after)
                .order_by(LogLine.id)
                .limit(TEXT_CHUNK)
            )
            .all()
        )
        if not rows:
            return
        for _, task_id, stream, at, text in rows:
            yield f"{at.time().isoformat('seconds')} {node_of[task_id]} {stream} {text}\n"
        after = rows[-1][0]


# -- grouped view --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    id: int
    node: str
    cluster: str
    status: TaskStatus
    attempt: int


@dataclass(frozen=True)
class _Block:
    status: str
    nodes: tuple[str, ...]
    lines: tuple[tuple[str, str], ...]
    """(stream, text) of each line."""


@dataclass(frozen=True)
class _Grouping:
    blocks: tuple[_Block, ...]
    starts: tuple[int, ...]
    """The row number of each block's header."""
    total: int

    @classmethod
    def of(cls, blocks: Sequence[_Block]) -> _Grouping:
        starts, row = [], 0
        for block in blocks:
            starts.append(row)
            row += 1 + len(block.lines)
        return cls(tuple(blocks), tuple(starts), row)

    def window(self, start: int, count: int) -> tuple[LogRow, ...]:
        rows: list[LogRow] = []
        if start >= self.total:
            return ()
        number = start
        for index in range(bisect.bisect_right(self.starts, start) - 1, len(self.blocks)):
            block, first = self.blocks[index], self.starts[index]
            if number == first:
                header = _header(block)
                rows.append(
                    LogRow(number, "header", None, None, None, header, block.nodes, block.status)
                )
                number += 1
            skip = number - first - 1
            for stream, text in block.lines[skip : skip + count - len(rows)]:
                rows.append(LogRow(number, "line", None, stream, None, text))
                number += 1
            if len(rows) == count:
                break
        return tuple(rows)

    def matching(self, search: str) -> _Grouping:
        needle = search.lower()
        blocks = []
        for block in self.blocks:
            lines = tuple(line for line in block.lines if needle in line[1].lower())
            if lines:
                blocks.append(_Block(block.status, block.nodes, lines))
        return _Grouping.of(blocks)


class _GroupingCache:
    """The most recently used groupings, within a budget of rows held."""

    def __init__(self, entries: int = 8, rows: int = 1_000_000) -> None:
        self._entries = entries
        self._rows = rows
        self._items: OrderedDict[Hashable, _Grouping] = OrderedDict()
        self._lock = threading.Lock()
        self._making = threading.Lock()

    def get_or_make(self, key: Hashable, make: Callable[[], _Grouping]) -> _Grouping:
        found = self._get(key)
        if found is None:
            # One at a time: the pane asks for a few windows of a new view at once, and the
            # second request should find the first one's grouping rather than make another.
            with self._making:
                found = self._get(key)
                if found is None:
                    found = make()
                    self._put(key, found)
        return found

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def _get(self, key: Hashable) -> _Grouping | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def _put(self, key: Hashable, grouping: _Grouping) -> None:
        with self._lock:
            self._items[key] = grouping
            while len(self._items) > 1 and (
                len(self._items) > self._entries
                or sum(held.total for held in self._items.values()) > self._rows
            ):
                self._items.popitem(last=False)


_groupings = _GroupingCache()


def _grouped_window(
    session: Session, rt: Runtime, deployment_id: int, search: str | None, start: int, count: int
) -> LogPage:
    tasks = _tasks(session, deployment_id)
    last = (
        session.scalar(select(func.max(LogLine.id)).where(LogLine.deployment_id == deployment_id))
        or 0
    )
    # A task's status or attempt can change without a new line (it finishes, it is retried).
    key = (
        rt.db.url.render_as_string(hide_password=True),
        deployment_id,
        last,
        tuple((task.id, task.status, task.attempt) for task in tasks),
    )
    grouping = _groupings.get_or_make(key, lambda: _group(session, deployment_id, tasks, last))
    if search is not None:
        whole = grouping
        grouping = _groupings.get_or_make((*key, search.lower()), lambda: whole.matching(search))
    return LogPage(grouping.total, start, grouping.window(start, count), last)


def _group(session: Session, deployment_id: int, tasks: Sequence[_Task], last: int) -> _Grouping:
    latest = {task.id: task.attempt for task in tasks}
    output: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for task_id, attempt, stream, text in _plain_rows(
        session,
        select(LogLine.task_id, LogLine.attempt, LogLine.stream, LogLine.text)
        .where(
            LogLine.deployment_id == deployment_id,
            LogLine.id <= last,
            LogLine.stream.in_(OUTPUT_STREAMS),
        )
        .order_by(LogLine.id),
    ):
        if latest[task_id] == attempt:
            output[task_id].append((stream, text))
    lines_of: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for task in tasks:  # a node's tasks in stage order: deploy, then check, then rollback
        lines_of[task.node].extend(output.get(task.id, ()))
    status = _node_status((task.node, task.status) for task in tasks)
    same: dict[tuple[TaskStatus, tuple[tuple[str, str], ...]], list[str]] = defaultdict(list)
    for node in sorted(status, key=_natural):
        same[(status[node], tuple(lines_of[node]))].append(node)
    blocks = sorted(
        (
            _Block(node_status.value, tuple(nodes), lines)
            for (node_status, lines), nodes in same.items()
        ),
        key=lambda block: _attention_first(TaskStatus(block.status), block.nodes[0]),
    )
    return _Grouping.of(blocks)


def _plain_rows(session: Session, statement: ClauseElement) -> list[tuple[Any, ...]]:
    """The rows of a query of plain columns (no type conversion on the way out) as the
    driver returns them. Building SQLAlchemy rows for every one of hundreds of thousands
    of lines costs more than reading them; the driver's tuples halve the time."""
    connection = session.connection()
    compiled = cast(
        SQLCompiler,
        statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True}),
    )
    parameters: Any = compiled.params
    if compiled.positional:
        parameters = tuple(compiled.params[name] for name in compiled.positiontup or ())
    cursor = connection.connection.cursor()
    try:
        cursor.execute(str(compiled), parameters)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _header(block: _Block) -> str:
    count = len(block.nodes)
    names = ", ".join(block.nodes[:HEADER_NAMES])
    if count > HEADER_NAMES:
        names += f", … (+{count - HEADER_NAMES} more)"
    plural = "node" if count == 1 else "nodes"
    silent = " · no output" if not block.lines else ""
    return f"{count} {plural} · {block.status}: {names}{silent}"


# -- nodes and their status ----------------------------------------------------------------


def _tasks(session: Session, deployment_id: int) -> list[_Task]:
    return [
        _Task(task_id, node, cluster, status, attempt)
        for task_id, node, cluster, status, attempt in session.execute(
            select(
                NodeTask.id,
                NodeTask.node_name,
                NodeTask.cluster_name,
                NodeTask.status,
                NodeTask.attempt,
            )
            .join(Stage, Stage.id == NodeTask.stage_id)
            .where(NodeTask.deployment_id == deployment_id)
            .order_by(Stage.position, NodeTask.position)
        )
    ]


def _node_status(tasks: Iterable[tuple[str, TaskStatus]]) -> dict[str, TaskStatus]:
    """A node's status from its tasks' (node, status): a failure in any of its tasks
    (deploy, check, rollback), else the status of its latest stage's task."""
    status: dict[str, TaskStatus] = {}
    for node, task_status in tasks:  # in stage order: a later stage's overrides an earlier
        if status.get(node) not in ATTENTION:
            status[node] = task_status
    return status


def _attention_first(status: TaskStatus, node: str) -> tuple[bool, list[int | str], str]:
    return (status not in ATTENTION, _natural(node), node)


def _natural(name: str) -> list[int | str]:
    """Sorts web-2 before web-10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
