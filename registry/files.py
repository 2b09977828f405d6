"""Files written whole or not at all: after a failure a user finds the old state, never half of a new one.

Writing where another party's data chooses the names (a fetched record's manifest paths) also follows no link
and replaces nothing unasked: the output folder is opened once without following links, files are staged in a
private folder inside it, every target is checked before the first rename, each step of the move looks up names
relative to an open folder (``dir_fd``, ``O_NOFOLLOW``), and a move that fails midway is undone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from registry.errors import ConfigError, LedgermarkError
from registry.views import printable

_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_SHOWN_PROBLEMS = 5
"""A refused fetch names this many problems, then counts the rest (a second fetch into one folder clashes on
every file)."""


class UnsafeOutputError(LedgermarkError):
    """A target in an output folder is a link, the wrong kind of entry, or a file that would be overwritten."""


def read_small(path: Path, limit: int, source: str, *, missing: str = "") -> bytes:
    """At most ``limit + 1`` bytes of a file another party may have written (the caller checks ``limit``), or a
    ConfigError naming ``source``; ``missing`` says how to make one when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read(limit + 1)
    except FileNotFoundError:
        raise ConfigError(f"{source} does not exist{f' ({missing})' if missing else ''}") from None
    except IsADirectoryError:
        raise ConfigError(f"{source} is a folder, not a file") from None
    except OSError as err:
        raise ConfigError(f"{source} cannot be read: {err.strerror or err}") from None


def write_private(path: Path, content: bytes) -> Path:
    """An owner-only (0600) file, written whole or not at all."""
    return write_atomic(path, content, mode=0o600)


def write_atomic(path: Path, content: bytes, *, mode: int) -> Path:
    """``content`` at ``path`` with ``mode``, durable and whole or not at all: a temp file beside it (mkstemp
    creates it 0600, so a secret is never readable on the way), fsync, then a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------- an output folder, all or nothing


@dataclasses.dataclass
class _Moved:
    """One file moved into place: enough to take it back (``backup`` holds what ``force`` replaced)."""

    target: str
    backup: str | None


class OutputFolder:
    """An output folder opened once without following links, with a fresh private staging folder inside it.

    Fill ``staging`` (by name: the folder is ours, new and 0700), then ``place_all`` moves the staged files to
    their relative paths. ``shown`` is the folder as the user named it, for messages.
    """

    def __init__(self, shown: Path, fd: int, staging_name: str, staging_fd: int, real: Path) -> None:
        self.shown = shown
        self.staging = real / staging_name
        self._fd = fd
        self._staging_fd = staging_fd
        self._created: list[str] = []

    def check(self, targets: Sequence[str], *, force: bool = False) -> None:
        """Refuse, naming every problem, if any target is or passes through a link, a folder stands where a
        file goes (or the reverse), or a file exists there and ``force`` is off."""
        problems = [p for target in targets if (p := self._problem(target, force))]
        if problems:
            more = f"; and {len(problems) - _SHOWN_PROBLEMS} more" if len(problems) > _SHOWN_PROBLEMS else ""
            listed = "; ".join(problems[:_SHOWN_PROBLEMS]) + more
            raise UnsafeOutputError(
                f"refusing to write into {printable(str(self.shown))}: {listed}; nothing was written"
            )

    def place_all(self, moves: Sequence[tuple[str, str]], *, force: bool = False) -> None:
        """Move each staged file (its name in ``staging``) to its target path, all or none: every target is
        checked first, and if a move still fails, those already made are undone (replaced files restored)."""
        self.check([target for _, target in moves], force=force)
        done: list[_Moved] = []
        try:
            for index, (staged, target) in enumerate(moves):
                done.append(self._place(staged, target, force, backup=f".replaced-{index}"))
        except BaseException:
            self._undo(done)
            raise

    def _problem(self, target: str, force: bool) -> str | None:
        """What stops ``target`` from being written, checked one component at a time with ``lstat``."""
        parts = target.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            try:
                mode = os.lstat(prefix, dir_fd=self._fd).st_mode
            except FileNotFoundError:
                return None  # created fresh from here down
            shown = printable(str(self.shown / prefix))
            if stat.S_ISLNK(mode):
                return f"{shown} is a symbolic link (never followed)"
            if depth < len(parts) and not stat.S_ISDIR(mode):
                return f"{shown} is a file, but the record needs a folder there (for {printable(target)})"
            if depth == len(parts):
                return _file_problem(shown, mode, force)
        return None

    def _place(self, staged: str, target: str, force: bool, *, backup: str) -> _Moved:
        *folders, name = target.split("/")
        parent = self._open_folders(folders, create=True)
        try:
            if force and self._keep_backup(parent, name, backup, target):
                os.rename(staged, name, src_dir_fd=self._staging_fd, dst_dir_fd=parent)  # atomic replace
                return _Moved(target, backup)
            self._add(staged, parent, name, target)
            return _Moved(target, None)
        finally:
            os.close(parent)

    def _add(self, staged: str, parent: int, name: str, target: str) -> None:
        """Link the staged file in: unlike a rename, a link never replaces, so a file that appeared since the
        check is kept (rename after a fresh check where the file system has no hard links)."""
        try:
            os.link(staged, name, src_dir_fd=self._staging_fd, dst_dir_fd=parent, follow_symlinks=False)
        except FileExistsError:
            raise UnsafeOutputError(
                f"{printable(str(self.shown / target))} appeared while fetching (--force replaces it); "
                "nothing was written"
            ) from None
        except OSError:
            if problem := self._problem(target, force=False):
                raise UnsafeOutputError(f"{problem}; nothing was written") from None
            os.rename(staged, name, src_dir_fd=self._staging_fd, dst_dir_fd=parent)

    def _keep_backup(self, parent: int, name: str, backup: str, target: str) -> bool:
        """Keep an existing file in staging (a hard link, else moved there) before it is replaced, so that an
        undo can restore it; False when there is nothing to keep."""
        try:
            mode = os.lstat(name, dir_fd=parent).st_mode
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(mode):  # changed since the check: never move a folder or a link into staging
            raise UnsafeOutputError(
                f"{printable(str(self.shown / target))} changed while fetching; nothing was written"
            )
        try:
            os.link(name, backup, src_dir_fd=parent, dst_dir_fd=self._staging_fd, follow_symlinks=False)
        except OSError:  # no hard links on this file system: the old file leaves for a moment
            os.rename(name, backup, src_dir_fd=parent, dst_dir_fd=self._staging_fd)
        return True

    def _open_folders(self, folders: Sequence[str], *, create: bool) -> int:
        """The folder at ``folders`` under the output folder, opened one component at a time, never through a
        link (``O_NOFOLLOW`` fails on one); missing ones are made when ``create`` and remembered for undo."""
        fd = os.open(".", _FOLDER_FLAGS, dir_fd=self._fd)
        try:
            for depth, name in enumerate(folders, 1):
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(name, dir_fd=fd)
                        self._created.append("/".join(folders[:depth]))
                child = os.open(name, _FOLDER_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _undo(self, done: Sequence[_Moved]) -> None:
        """Take back the moves made, newest first, then the folders made: the output folder is as before."""
        for moved in reversed(done):
            *folders, name = moved.target.split("/")
            with contextlib.suppress(OSError):
                parent = self._open_folders(folders, create=False)
                try:
                    if moved.backup:
                        os.rename(moved.backup, name, src_dir_fd=self._staging_fd, dst_dir_fd=parent)
                    else:
                        os.unlink(name, dir_fd=parent)
                finally:
                    os.close(parent)
        for folder in reversed(self._created):
            with contextlib.suppress(OSError):
                os.rmdir(folder, dir_fd=self._fd)


def _file_problem(shown: str, mode: int, force: bool) -> str | None:
    if stat.S_ISDIR(mode):
        return f"{shown} is a folder, but the record has a file there"
    if not stat.S_ISREG(mode):
        return f"{shown} is not a regular file"
    if not force:
        return f"{shown} already exists (--force replaces it)"
    return None


@contextlib.contextmanager
def output_folder(path: Path, *, prefix: str) -> Iterator[OutputFolder]:
    """``path`` resolved once (links above it are the user's own), refused if it is itself a link, created if
    missing, and opened without following links; its staging folder goes on exit, and so do the folders made
    here if the block fails."""
    real = _resolved(path)
    made = _make_folders(real)
    try:
        fd = _open_root(real, path)
        try:
            yield from _with_staging(path, fd, real, prefix)
        finally:
            os.close(fd)
    except BaseException:
        _remove_folders(made)
        raise


def _with_staging(shown: Path, fd: int, real: Path, prefix: str) -> Iterator[OutputFolder]:
    name = prefix + secrets.token_hex(8)
    os.mkdir(name, 0o700, dir_fd=fd)
    try:
        staging_fd = os.open(name, _FOLDER_FLAGS, dir_fd=fd)
        try:
            yield OutputFolder(shown, fd, name, staging_fd, real)
        finally:
            os.close(staging_fd)
    finally:
        shutil.rmtree(name, dir_fd=fd, ignore_errors=True)


def _resolved(path: Path) -> Path:
    absolute = Path(os.path.abspath(path))
    return absolute.parent.resolve() / absolute.name if absolute.name else absolute


def _make_folders(real: Path) -> list[Path]:
    """Create ``real`` and its missing parents; return those made here, outermost first."""
    missing = []
    folder = real
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.parent
    made: list[Path] = []
    try:
        for each in reversed(missing):
            os.mkdir(each)
            made.append(each)
    except BaseException:
        _remove_folders(made)
        raise
    return made


def _remove_folders(made: list[Path]) -> None:
    """Undo ``_make_folders``: innermost first, and only folders still empty."""
    for folder in reversed(made):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _open_root(real: Path, shown: Path) -> int:
    mode = os.lstat(real).st_mode
    if stat.S_ISLNK(mode):
        raise UnsafeOutputError(
            f"refusing to write into {printable(str(shown))}: it is a symbolic link (never followed); "
            "nothing was written"
        )
    if not stat.S_ISDIR(mode):
        raise UnsafeOutputError(f"{printable(str(shown))} is not a folder; nothing was written")
    return os.open(real, _FOLDER_FLAGS)
