"""Tables for the terminal, fitted to its width with nothing in them cut short.

Rich's tables cut what does not fit with an ellipsis: at 80 columns the audit log read
`deployment.c…` for both deployment.create and deployment.cancel, and a list of
deployments `succee…` for both succeeded and succeeded with exclusions. Here each column
says how it may narrow instead, and its cells wrap or fold.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

WHOLE, WORDS, FOLD = "whole", "words", "fold"
"""How a column may narrow in a narrow terminal: WHOLE not at all (ids, counts, actions),
WORDS down to its longest word, wrapping between words (statuses, times: `succee…` could
be either outcome), FOLD down to its header's width, folding its words (names, details)."""


def fitted_table(
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[str | Text]],
    width: int,
    *,
    title: str | None = None,
) -> Table:
    """A table fitted to `width` (the terminal's) with nothing in it cut short: cells wrap
    or fold, each column as its kind allows."""
    texts = [[name, *(_plain(row[i]) for row in rows)] for i, (name, _) in enumerate(columns)]
    natural = [
        max(cell_len(line) for text in column for line in text.splitlines() or [""])
        for column in texts
    ]
    least = [
        _least(how, column, natural[i])
        for i, ((_, how), column) in enumerate(zip(columns, texts, strict=True))
    ]
    usual = [
        _usual(how, column, least[i], natural[i])
        for i, ((_, how), column) in enumerate(zip(columns, texts, strict=True))
    ]
    # Each column takes two characters more: its padding and the space between columns.
    widths = fit(natural, least, width - 2 * len(columns), usual=usual)
    table = Table(
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
        title=title,
        title_justify="left",
    )
    for (name, _), size in zip(columns, widths, strict=True):
        table.add_column(name, width=size, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def _plain(cell: str | Text) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def _least(how: str, texts: list[str], natural: int) -> int:
    """How narrow a column (its header first, then its cells) may get before its words
    have to be folded."""
    if how == WORDS:
        return max(cell_len(word) for text in texts for word in text.split())
    if how == FOLD:
        return min(natural, cell_len(texts[0]))
    return natural


def _usual(how: str, texts: list[str], least: int, natural: int) -> int:
    """What all of a column's cells need but its longest (one in ten at most): that one
    long cell (a file's path among `deployment 7`s) wraps in its column before the columns
    beside it narrow for it."""
    cells = texts[1:]
    if how == WHOLE or len(cells) < 5:
        return natural
    widths = sorted(max(cell_len(line) for line in cell.splitlines() or [""]) for cell in cells)
    beyond = max(1, len(widths) // 10)
    return max(least, cell_len(texts[0]), widths[-1 - beyond])


def fit(
    natural: list[int], least: list[int], budget: int, *, usual: list[int] | None = None
) -> list[int]:
    """Column widths within `budget`. Each column first asks for its usual width only; the
    widest that may still shrink gives up a character at a time, down to its least width,
    then (a very narrow terminal) down to one character, its words folded. Room left over
    goes back to the columns whose longest cells were left out of their usual width."""
    widths = list(usual or natural)
    for floor in (least, [1] * len(widths)):
        while sum(widths) > budget:
            shrinkable = [i for i, size in enumerate(widths) if size > floor[i]]
            if not shrinkable:
                break
            widths[max(shrinkable, key=lambda i: widths[i])] -= 1
    spare = budget - sum(widths)
    for i, size in enumerate(widths):
        grown = min(max(spare, 0), natural[i] - size)
        if grown > 0:
            widths[i] += grown
            spare -= grown
    return widths
