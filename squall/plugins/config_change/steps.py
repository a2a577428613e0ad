"""What the configuration change does on a node, through the connection core hands in.

What a later step (or a rollback) needs is kept in a folder of its own on the node, one
subfolder per deployment, never beside the target: a folder that reads every file in it as
configuration (`/etc/logrotate.d`, nginx's `sites-enabled`, apt's `apt.conf.d`) would read
a copy there too. `<backups>/<deployment>/<file name>` holds the previous content (with its
mode and owner: a copy of a private file stays private) and stays, as the report names it;
`<backups>/<deployment>/<file name>.did-not-exist` marks a file that did not exist before,
until a restore removes that file. Steps planned before there was such a folder (no
`backup_dir` in their arguments) keep their files beside the target, as they said they would.
"""

from __future__ import annotations

import base64
import difflib
import posixpath
import re
from collections.abc import Sequence
from types import MappingProxyType

from squall import CommandResult, LogSink, NodeConnection, Shell, Step, StepOutcome, sh

WRITE = "config_change.write"
VALIDATE = "config_change.validate"
RESTORE = "config_change.restore"
SECRET_MASK = "***"
MAX_DIFF_LINES = 2000
"""Diff lines kept in the log and in the step's data (the reports' JSON export has them)."""


def write_step(
    path: str,
    content: str,
    *,
    mode: int | None,
    tag: str,
    backup_dir: str,
    timeout: float,
    secret_lines: tuple[str, ...] = (),
) -> Step:
    return Step(
        "write",
        WRITE,
        MappingProxyType(
            {
                "path": path,
                "content_base64": base64.b64encode(content.encode()).decode(),
                "mode": mode,
                "tag": tag,
                "backup_dir": backup_dir,
                "secret_lines": list(secret_lines),
            }
        ),
        timeout,
        f"back up and write {path} ({_count(len(content.splitlines()), 'line')}"
        + (f", mode {mode:o})" if mode is not None else ")"),
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def validate_step(path: str, command: Shell, *, tag: str, backup_dir: str, timeout: float) -> Step:
    return Step(
        "validate",
        VALIDATE,
        MappingProxyType(
            {"path": path, "command": command.text, "tag": tag, "backup_dir": backup_dir}
        ),
        timeout,
        f"$ {command.text}  [restores {path} on failure]",
    )


def restore_step(path: str, tag: str, *, backup_dir: str, timeout: float) -> Step:
    return Step(
        "restore",
        RESTORE,
        MappingProxyType({"path": path, "tag": tag, "backup_dir": backup_dir}),
        timeout,
        f"put back {path} as it was before deployment {tag}",
    )


def backup_path(path: str, tag: str, backup_dir: str | None) -> str:
    """Where the previous content of `path` is kept for deployment `tag`."""
    if backup_dir is None:
        return f"{path}.squall-backup-{tag}"
    return posixpath.join(backup_dir, tag, posixpath.basename(path))


def created_marker(path: str, tag: str, backup_dir: str | None) -> str:
    """The mark that `path` did not exist before deployment `tag` wrote it."""
    if backup_dir is None:
        return f"{path}.squall-created-{tag}"
    return backup_path(path, tag, backup_dir) + ".did-not-exist"


def write(step: Step, connection: NodeConnection, log: LogSink) -> StepOutcome:
    path, tag, timeout = step.args["path"], step.args["tag"], step.timeout or 60
    backup_dir = step.args.get("backup_dir")
    new = base64.b64decode(step.args["content_base64"])
    old = connection.read_file(path, timeout=timeout)
    if old == new:
        mode = step.args.get("mode")
        unchanged = {"changed": False, "created": False, "added": 0, "removed": 0}
        if mode is None:
            log.write(f"{path} already has the wanted content; nothing written")
            return StepOutcome.ok(unchanged)
        # The content is right, but the mode asked for must hold all the same.
        chmod = sh(
            '[ "$(stat -c %a -- {path})" = {mode} ] || {{ chmod {mode} -- {path} && echo set; }}',
            path=path,
            mode=f"{mode:o}",
        )
        result = connection.run(chmod, timeout=timeout, log=None)
        if result.failed:
            return _failure(f"cannot set the mode of {path}", result, timeout)
        mode_changed = result.stdout.strip() == b"set"
        note = f"set its mode to {mode:04o}" if mode_changed else "nothing written"
        log.write(f"{path} already has the wanted content; {note}")
        return StepOutcome.ok({**unchanged, "mode_changed": mode_changed})
    backup = None
    if old is None:
        marker = created_marker(path, tag, backup_dir)
        connection.write_file(marker, b"", mode=0o600, timeout=timeout)
    else:
        backup = backup_path(path, tag, backup_dir)
        copied = _back_up(connection, path, backup, timeout)
        if copied.failed:
            return _failure(f"cannot back up {path} to {backup}", copied, timeout)
        log.write(f"kept the previous content in {backup}")
    connection.write_file(path, new, mode=step.args.get("mode"), timeout=timeout)
    diff = _log_diff(path, old, new, log, step.args.get("secret_lines") or ())
    added = sum(1 for line in diff if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in diff if line.startswith("-") and not line.startswith("---"))
    log.write(f"wrote {len(new)} bytes to {path}")
    return StepOutcome.ok(
        {
            "changed": True,
            "created": old is None,
            "added": added,
            "removed": removed,
            "backup": backup,
            "diff": diff[:MAX_DIFF_LINES],
            "diff_lines": len(diff),
        }
    )


def validate(step: Step, connection: NodeConnection, log: LogSink) -> StepOutcome:
    path, tag, timeout = step.args["path"], step.args["tag"], step.timeout or 60
    result = connection.run(Shell(step.args["command"]), timeout=timeout, log=log)
    outcome = StepOutcome.from_command(result, timeout)
    if outcome.succeeded or result.interrupted:
        return outcome
    _, restored = restore(path, tag, step.args.get("backup_dir"), connection, timeout)
    log.write(f"validation failed; {restored}")
    return StepOutcome.failure(
        f"validation failed ({outcome.error}); {restored}", exit_code=outcome.exit_code
    )


def restore_previous(step: Step, connection: NodeConnection, log: LogSink) -> StepOutcome:
    """The rollback of a write: the backup back in place, or the new file removed."""
    args = step.args
    restored, what = restore(
        args["path"], args["tag"], args.get("backup_dir"), connection, step.timeout or 60
    )
    log.write(what)
    return StepOutcome.ok({"restored": what}) if restored else StepOutcome.failure(what)


def restore(
    path: str, tag: str, backup_dir: str | None, connection: NodeConnection, timeout: float
) -> tuple[bool, str]:
    """Put back what the write step replaced; whether that worked, and what it did.

    Looks in the backup folder first, then beside the file, where a deployment made
    before there was such a folder kept what it replaced: its rollback still works."""
    layouts = (backup_dir, None) if backup_dir is not None else (None,)
    for layout in layouts:
        done = _restore_from(path, tag, layout, connection, timeout)
        if done is not None:
            return done
    return True, "nothing to restore (the file was already as wanted)"


def _restore_from(
    path: str, tag: str, backup_dir: str | None, connection: NodeConnection, timeout: float
) -> tuple[bool, str] | None:
    backup = backup_path(path, tag, backup_dir)
    if connection.read_file(backup, timeout=timeout) is not None:
        # A copy renamed over the file: atomic, and the old mode and owner come back too.
        staged = f"{path}.squall-restore-{tag}"
        copied = _copy(connection, backup, staged, timeout)
        if copied.succeeded:
            moved = connection.run(
                sh("mv -f -- {staged} {path}", staged=staged, path=path),
                timeout=timeout,
                log=None,
            )
            if moved.succeeded:
                return True, f"restored the previous content from {backup}"
        return False, f"could not restore {path} from {backup}: put it back by hand"
    marker = created_marker(path, tag, backup_dir)
    if connection.read_file(marker, timeout=timeout) is not None:
        # The marker goes with the file, and only then: a marker left without its file
        # would let a second restore claim there was nothing to undo. In the backup
        # folder, the deployment's subfolder goes too once empty.
        remove = sh("rm -f -- {path} && rm -f -- {marker}", path=path, marker=marker)
        if backup_dir is not None:
            folder = posixpath.dirname(marker)
            remove = sh(
                "{remove} && {{ rmdir -- {folder} 2>/dev/null || true; }}",
                remove=remove,
                folder=folder,
            )
        result = connection.run(remove, timeout=timeout, log=None)
        if result.succeeded:
            return True, f"removed {path}, which did not exist before"
        return False, f"could not remove {path}, which did not exist before"
    return None


def mask_secret_lines(diff: list[str], patterns: Sequence[str]) -> list[str]:
    """The diff with the secrets of lines shaped like a secret line of the template
    masked, removed lines too (a rotated secret's old value is known nowhere else)."""
    compiled = [re.compile(pattern) for pattern in patterns]
    if not compiled:
        return diff
    masked = []
    for line in diff:
        if line[:1] in ("+", "-", " ") and not line.startswith(("+++ ", "--- ")):
            line = line[:1] + _mask_line(line[1:], compiled)
        masked.append(line)
    return masked


def _mask_line(text: str, patterns: list[re.Pattern[str]]) -> str:
    for pattern in patterns:
        match = pattern.fullmatch(text)
        if match is not None:
            for group in range(match.re.groups, 0, -1):  # right to left: spans stay valid
                start, end = match.span(group)
                text = text[:start] + SECRET_MASK + text[end:]
            return text
    return text


def _back_up(connection: NodeConnection, path: str, backup: str, timeout: float) -> CommandResult:
    # The deployment's backup folder is made private: it gathers copies of files that may be.
    command = sh(
        'umask 077 && mkdir -p -- "$(dirname -- {backup})" && cp -p -- {path} {backup}',
        path=path,
        backup=backup,
    )
    return connection.run(command, timeout=timeout, log=None)


def _copy(connection: NodeConnection, source: str, target: str, timeout: float) -> CommandResult:
    command = sh("cp -p -- {source} {target}", source=source, target=target)
    return connection.run(command, timeout=timeout, log=None)


def _failure(what: str, result: CommandResult, timeout: float) -> StepOutcome:
    outcome = StepOutcome.from_command(result, timeout)
    detail = result.stderr.decode("utf-8", errors="replace").strip().splitlines()
    reason = detail[-1] if detail else outcome.error
    return StepOutcome.failure(f"{what}: {reason}", exit_code=outcome.exit_code)


def _log_diff(
    path: str, old: bytes | None, new: bytes, log: LogSink, secret_lines: Sequence[str]
) -> list[str]:
    before = (old or b"").decode("utf-8", errors="replace").splitlines()
    after = new.decode("utf-8", errors="replace").splitlines()
    diff = list(
        difflib.unified_diff(before, after, f"{path} (before)", f"{path} (after)", lineterm="")
    )
    diff = mask_secret_lines(diff, secret_lines)
    # The log also masks the deployment's secret values, as it does for any command's output.
    for line in diff[:MAX_DIFF_LINES]:
        log.write(line)
    if len(diff) > MAX_DIFF_LINES:
        log.write(f"… diff truncated: {len(diff) - MAX_DIFF_LINES} more lines")
    return diff
