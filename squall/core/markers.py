"""The two pluggy markers, alone so that `from squall import hookimpl` stays cheap: a
plugin module imports it at start-up, long before it needs the database layer."""

from __future__ import annotations

import pluggy

PROJECT = "squall"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
