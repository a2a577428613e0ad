"""Last-resort step execution: the `run` and `upload` kinds every plugin can use."""

from __future__ import annotations

import base64

from squall.core.execution import CommandResult, LogSink, NodeConnection, StepOutcome, Stream
from squall.core.hookspecs import hookimpl
from squall.core.plan import NodeInfo, Step
from squall.core.shell import Shell


@hookimpl(trylast=True)
def squall_execute_step(
    step: Step, node: NodeInfo, connection: NodeConnection, log: LogSink
) -> StepOutcome | None:
    if step.kind == "run":
        return run_command(step, connection, log)
    if step.kind == "upload":
        return upload_file(step, connection, log)
    return None


class _FactsTee:
    """Passes lines on to the log and keeps `key=value` lines of stdout as facts."""

    def __init__(self, log: LogSink) -> None:
        self._log = log
        self.facts: dict[str, str] = {}

    def write(self, line: str, stream: Stream = "squall") -> None:
        self._log.write(line, stream)
        key, separator, value = line.partition("=")
        if stream == "stdout" and separator and key.strip().isidentifier():
            self.facts[key.strip()] = value.strip()


def run_command(step: Step, connection: NodeConnection, log: LogSink) -> StepOutcome:
    assert step.timeout is not None
    attempts = int(step.args.get("attempts", 1))
    interval = float(step.args.get("interval", 0.0))
    outcome = StepOutcome.failure("not run")
    for attempt in range(1, attempts + 1):
        sink = _FactsTee(log) if step.args.get("facts") else log
        result = connection.run(Shell(step.args["command"]), timeout=step.timeout, log=sink)
        outcome = StepOutcome.from_command(result, step.timeout)
        if step.args.get("health"):
            return health_verdict(result, outcome)
        if isinstance(sink, _FactsTee) and outcome.succeeded:
            outcome = StepOutcome.ok(data=sink.facts)
        if outcome.succeeded or result.interrupted or attempt == attempts:
            return outcome
        log.write(f"attempt {attempt}/{attempts} {outcome.error}; next in {interval:g}s")
        if not connection.sleep(interval):
            return StepOutcome.failure("interrupted")
    return outcome


def upload_file(step: Step, connection: NodeConnection, log: LogSink) -> StepOutcome:
    assert step.timeout is not None
    data = base64.b64decode(step.args["content_base64"])
    path = step.args["path"]
    connection.write_file(path, data, mode=step.args.get("mode"), timeout=step.timeout)
    log.write(f"wrote {len(data)} bytes to {path}")
    return StepOutcome.ok()


UNKNOWN = 3
"""The exit status monitoring plugins use for "cannot tell"."""


def health_verdict(result: CommandResult, outcome: StepOutcome) -> StepOutcome:
    if result.interrupted or outcome.succeeded:
        return outcome
    if result.exit_code is None or result.exit_code == UNKNOWN:
        return StepOutcome.undecided(f"inconclusive: {outcome.error}", exit_code=result.exit_code)
    return outcome
