"""Tables for the terminal: fitted to its width, nothing in them cut short."""

from __future__ import annotations

from rich.console import Console

from squall.ui.tables import FOLD, WHOLE, WORDS, fit, fitted_table


def test_fit_leaves_widths_that_fit_and_shrinks_the_widest_first() -> None:
    assert fit([4, 10, 20], [4, 5, 6], 40) == [4, 10, 20]
    assert fit([4, 10, 20], [4, 5, 6], 30) == [4, 10, 16]
    assert fit([4, 10, 20], [4, 5, 6], 22) == [4, 9, 9]
    # Past every column's least width (a very narrow terminal), down to one character.
    assert fit([4, 10, 20], [4, 5, 6], 12) == [4, 4, 4]
    assert fit([4, 10, 20], [4, 5, 6], 2) == [1, 1, 1]


def test_one_long_cell_wraps_before_the_columns_beside_it_narrow_for_it() -> None:
    # What most cells need comes first: down to it, the widest column gives way.
    assert fit([12, 40, 400], [2, 6, 7], 100, usual=[12, 12, 150]) == [12, 12, 76]
    assert fit([12, 40, 400], [2, 6, 7], 100) == [12, 40, 48]  # without: the outlier keeps 40
    # Room left over goes back to the column whose longest cell was left out.
    assert fit([12, 40, 60], [2, 6, 7], 100, usual=[12, 12, 60]) == [12, 28, 60]
    assert fit([12, 40, 60], [2, 6, 7], 200, usual=[12, 12, 60]) == [12, 40, 60]

    targets = [f"deployment {n}" for n in range(1, 10)] + ["inventory /srv/squall/clusters.yaml"]
    rows = [
        (target, f"via=local, type=noop, target=all, params={{'n': {n}}}, ticket=None")
        for n, target in enumerate(targets)
    ]
    console = Console(width=80, record=True, color_system=None)
    console.print(fitted_table((("target", FOLD), ("details", FOLD)), rows, 80))
    lines = console.export_text().splitlines()
    assert max(map(len, lines)) <= 80
    text = "\n".join(lines)
    for n in range(1, 10):
        assert f"deployment {n} " in text, text  # each whole, on its row's first line
    assert "params={'n': 3}, ticket=None" in text, text  # the details on one line
    assert "/srv/squall/clusters.yaml" in "".join(text.split())  # the long one folds, whole


def rendered(width: int) -> list[str]:
    columns = (("id", WHOLE), ("status", WORDS), ("target", FOLD), ("action", WHOLE))
    rows = [
        (
            "1042",
            "succeeded with exclusions",
            "cluster:web-frontend-eu-west-1",
            "deployment.create",
        ),
        ("1043", "succeeded", "tag:db&!cluster:legacy", "deployment.cancel"),
    ]
    console = Console(width=width, record=True, color_system=None)
    console.print(fitted_table(columns, rows, width))
    return console.export_text().splitlines()


def test_a_narrow_terminal_wraps_and_folds_but_cuts_nothing() -> None:
    wide = rendered(200)
    assert any("succeeded with exclusions" in line for line in wide)
    assert any("cluster:web-frontend-eu-west-1" in line for line in wide)
    # 48 columns still hold every column's least width (its longest word, or all of it).
    for width in (60, 48):
        lines = rendered(width)
        assert max(map(len, lines)) <= width
        text = "\n".join(lines)
        assert "…" not in text
        # Whole columns stay whole; a status wraps between its words, never inside one.
        for whole in ("1042", "1043", "deployment.create", "deployment.cancel"):
            assert whole in text, text
        words = text.split()
        assert {"succeeded", "with", "exclusions"} <= set(words), text


def test_a_folded_cell_keeps_every_character_in_order() -> None:
    target = "cluster:web-frontend-eu-west-1"
    console = Console(width=14, record=True, color_system=None)
    console.print(fitted_table((("target", FOLD),), [(target,)], 14))
    lines = console.export_text().splitlines()
    under_the_rule = lines[next(i for i, line in enumerate(lines) if "─" in line) + 1 :]
    assert "".join(line.strip() for line in under_the_rule) == target


def test_narrower_than_that_every_column_folds_and_still_nothing_is_cut() -> None:
    lines = rendered(30)
    assert max(map(len, lines)) <= 30
    assert "…" not in "\n".join(lines)
