"""Writing report files all or none: each into a temporary file beside its target, renamed
over the target only once every one is whole, so a refused path or a full disk leaves no
partial file and no old file half replaced."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from squall.core.errors import ValidationError


class Staged:
    """Temporary files, one per target, made (so the folders are known writable) before
    the report is computed."""

    def __init__(self, targets: Sequence[Path]) -> None:
        seen: dict[Path, Path] = {}
        for target in targets:
            resolved = target.resolve()
            if resolved in seen:
                raise ValidationError(
                    f"{seen[resolved]} and {target} are the same file: give each output its own"
                )
            seen[resolved] = target
            _check(target)
        self.temporary: dict[Path, Path] = {}
        try:
            for target in targets:
                self.temporary[target] = _temporary_beside(target)
        except BaseException:
            self.discard()
            raise

    def commit(self, contents: Mapping[Path, bytes]) -> None:
        """Write every file, then rename each over its target; nothing renamed if any
        write fails."""
        try:
            for target, temporary in self.temporary.items():
                try:
                    with temporary.open("wb") as out:
                        out.write(contents[target])
                        out.flush()
                        os.fsync(out.fileno())
                except OSError as exc:
                    raise ValidationError(f"cannot write {target}: {exc.strerror}") from None
            for target, temporary in self.temporary.items():
                try:
                    os.replace(temporary, target)
                except OSError as exc:
                    raise ValidationError(f"cannot write {target}: {exc.strerror}") from None
        finally:
            self.discard()

    def discard(self) -> None:
        for temporary in self.temporary.values():
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()


def _check(target: Path) -> None:
    if not target.parent.is_dir():
        raise ValidationError(f"cannot write {target}: there is no folder {target.parent}")
    try:
        found = target.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ValidationError(f"cannot write {target}: {exc.strerror}") from None
    if stat.S_ISDIR(found.st_mode):
        raise ValidationError(f"cannot write {target}: it is a folder")
    if not stat.S_ISREG(found.st_mode):
        raise ValidationError(f"cannot write {target}: it is not a regular file")
    # Mode bits, not access(): a file made read-only is kept even for root.
    if not found.st_mode & 0o222 or not os.access(target, os.W_OK):
        raise ValidationError(f"cannot write {target}: the file is read-only")


def _temporary_beside(target: Path) -> Path:
    try:
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise ValidationError(f"cannot write {target}: {exc.strerror}") from None
    os.close(handle)
    return Path(name)
