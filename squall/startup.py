"""How the `squall` process treats Python's garbage collector while it starts.

Starting, a command builds many objects that live as long as it does (modules, models,
plugins, the database's mappings) and frees few, so the collector's passes over them are
wasted time: about a tenth of the start of `squall deploy`. It runs seldom until the
command has what it works with; then what start-up built is set aside for good (later
collections, during a deployment, leave it out) and it runs as often as usual again.
When the command is done, nothing is collected on the way out.

The `squall` console script starts here (`main`), so that loading the command-line
application's own modules (about a fifth of a start) already runs with the collector held off.
"""

from __future__ import annotations

import gc

USUAL = gc.get_threshold()
STARTING_THRESHOLD = 100_000
"""Allocations between two collections of the youngest generation while starting."""


class _State:
    process = False
    starting = False


def starting() -> None:
    """The `squall` process begins (squall.app.main)."""
    _State.process = _State.starting = True
    gc.set_threshold(STARTING_THRESHOLD, *USUAL[1:])


def started() -> None:
    """The command has what it works with. Only after `starting`: a program that merely
    calls the commands (a test) keeps its collector as it was."""
    if _State.starting:
        _State.starting = False
        gc.freeze()
        gc.set_threshold(*USUAL)


def ending() -> None:
    """The command is done and the process ends: Python's last collections on the way out
    would go over every object for nothing (about 0.1 s after a deployment)."""
    if _State.process:
        gc.freeze()


def main() -> None:
    """The `squall` command: the collector is set for starting before the application's
    modules load."""
    starting()
    from squall.app import main as run

    run()
