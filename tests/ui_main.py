"""The console as the NiceGUI `user` fixture runs it: a runtime from the environment the
`console_env` fixture prepared, the same pages as `squall serve`, an engine running
deployments in the background."""

from nicegui import app, ui

from squall.app import DEFAULT_PLUGINS
from squall.core.engine.worker import Engine
from squall.core.runtime import Runtime
from squall.core.settings import load_settings
from squall.ui.server import create_console, session_arguments

runtime = Runtime.open(load_settings(), plugin_modules=DEFAULT_PLUGINS, entry_points=False)
engine = Engine(runtime).start()
create_console(runtime)
app.on_shutdown(lambda: engine.stop())  # not engine.stop: NiceGUI would pass itself
app.on_shutdown(runtime.close)
ui.run(reload=False, **session_arguments(runtime))
