"""Files written whole or not at all: what a user finds after a failure is the old state, never half of a new one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from registry.errors import LedgermarkError


def write_private(path: Path, content: bytes) -> Path:
    """An owner-only (0600) file, written whole or not at all."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def written_together(*targets: Path) -> Iterator[tuple[Path, ...]]:
    """Yield temporary paths beside the targets; move them all into place only if the block succeeds."""
    for target in targets:
        if not target.parent.is_dir():
            raise LedgermarkError(f"cannot write {target}: the folder {target.parent} does not exist")
    temps = tuple(t.with_name(f".{t.name}.partial") for t in targets)
    moved: list[Path] = []
    try:
        yield temps
        for tmp, target in zip(temps, targets, strict=True):
            os.replace(tmp, target)
            moved.append(target)
    except BaseException:
        for target in moved:
            target.unlink(missing_ok=True)
        raise
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
