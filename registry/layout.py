"""A folder as a publication: its files under relative POSIX paths, with the roles of a Hugging Face layout.

A folder keeps its shape (``tokenizer/vocab.json`` stays that, so ``fetch`` rebuilds the same tree) and is
walked in sorted order without following symbolic links: a link would let a publication anchor, or a verifier
read, bytes from outside the folder that was named. Publishing refuses links and special files (naming them);
verifying reports them as skipped.

Default roles (``DEFAULT_ROLES``, first match wins; a pattern matches the file's name or the name of any folder
above it, case-sensitively): ``*.safetensors`` and ``*.bin`` → ``model``, ``tokenizer*`` → ``tokenizer``,
``config.json`` → ``config``, ``README.md`` → ``card``, anything else → ``artifact``. ``PATH:ROLE`` on an
argument and ``--role PATH=ROLE`` (a manifest path or a folder of them; later overrides win) replace them.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from registry.errors import LedgermarkError
from registry.publish import Artifact
from verifier.integrity import manifest as manifestlib

DEFAULT_ROLES: tuple[tuple[str, str], ...] = (
    ("*.safetensors", "model"),
    ("*.bin", "model"),
    ("tokenizer*", "tokenizer"),
    ("config.json", "config"),
    ("README.md", "card"),
)
FALLBACK_ROLE = "artifact"


@dataclasses.dataclass(frozen=True)
class Tree:
    """What a folder holds: regular files as (local path, relative POSIX path), and what was not read."""

    files: tuple[tuple[Path, str], ...]  # sorted by relative path
    skipped: tuple[str, ...] = ()  # symbolic links and special files, relative paths, never followed


@dataclasses.dataclass(frozen=True)
class Source:
    """One publish argument: a file or a folder, with the role its ``PATH:ROLE`` spelling gave, if any."""

    path: Path
    role: str | None = None

    @classmethod
    def parse(cls, spec: str) -> Source:
        """PATH or PATH:ROLE; a colon followed by a path separator is part of the path."""
        path, sep, role = spec.rpartition(":")
        if not sep or not role or "/" in role:
            return cls(Path(spec))
        return cls(Path(path), role)


def walk(folder: Path) -> Tree:
    """Every regular file under ``folder`` in sorted order; links and special files are listed, not entered."""
    files: list[tuple[Path, str]] = []
    skipped: list[str] = []
    pending: list[tuple[Path, str]] = [(folder, "")]  # a stack, not recursion: any depth is fine
    while pending:
        where, prefix = pending.pop()
        with os.scandir(where) as found:
            entries = list(found)
        for entry in entries:
            relative = prefix + entry.name
            if entry.is_symlink():
                skipped.append(relative)
            elif entry.is_dir(follow_symlinks=False):
                pending.append((Path(entry.path), relative + "/"))
            elif entry.is_file(follow_symlinks=False):
                files.append((Path(entry.path), relative))
            else:
                skipped.append(relative)
    return Tree(files=tuple(sorted(files, key=lambda f: f[1])), skipped=tuple(sorted(skipped)))


def default_role(path: str) -> str:
    """The role a Hugging Face layout implies for a relative path (see ``DEFAULT_ROLES``)."""
    names = path.split("/")
    for pattern, role in DEFAULT_ROLES:
        if any(fnmatch.fnmatchcase(name, pattern) for name in names):
            return role
    return FALLBACK_ROLE


def artifacts(sources: Sequence[Source], overrides: Sequence[str] = ()) -> list[Artifact]:
    """Files and folders to publish, as artifacts named by their manifest paths, checked before any upload.

    Each problem is a ``LedgermarkError`` naming the file or the option: a link or special file inside a
    folder, an empty folder, a path the manifest would refuse, two arguments giving one path, an override
    that matches nothing.
    """
    if not sources:
        raise LedgermarkError("nothing to publish: name at least one file or folder")
    named: dict[str, tuple[Path, str | None]] = {}
    for source in sources:
        for local, name in _files_of(source.path):
            _check_name(local, name)
            if name in named:
                raise LedgermarkError(
                    f"two arguments give the manifest path {name!r}: {named[name][0]} and {local}"
                )
            named[name] = (local, source.role)
    roles = {name: role or default_role(name) for name, (_, role) in named.items()}
    for spec in overrides:
        roles.update(_override(spec, roles))
    return [Artifact(path=local, role=roles[name], name=name) for name, (local, _) in named.items()]


def _files_of(path: Path) -> tuple[tuple[Path, str], ...]:
    """A file as its own name, a folder as its tree; links inside a folder stop the publication."""
    if path.is_dir():
        tree = walk(path)
        if tree.skipped:
            raise LedgermarkError(
                f"{path / tree.skipped[0]} is a symbolic link or special file: a published folder holds only "
                "regular files (copy the target in, or remove it)"
            )
        if not tree.files:
            raise LedgermarkError(f"{path} holds no files to publish")
        return tree.files
    if not path.is_file():
        raise LedgermarkError(f"{path} is not a readable file or folder")
    return ((path, path.name),)


def _check_name(local: Path, name: str) -> None:
    """The manifest's own path rules, checked now rather than after every byte is stored."""
    try:
        name.encode("utf-8")
        manifestlib.check_path(name)
    except UnicodeEncodeError:
        raise LedgermarkError(f"{local}: the file name is not valid UTF-8; rename it") from None
    except manifestlib.ManifestError as err:
        raise LedgermarkError(f"{local}: {err}") from None


def _override(spec: str, roles: Iterable[str]) -> dict[str, str]:
    """``--role PATH=ROLE``: the manifest paths it names (the path itself or the files in that folder)."""
    path, sep, role = spec.rpartition("=")
    path = path.rstrip("/")
    if not sep or not path:
        raise LedgermarkError(f"--role {spec!r}: write PATH=ROLE, PATH as it appears in the manifest")
    try:
        manifestlib.check_role(role, path)
    except manifestlib.ManifestError as err:
        raise LedgermarkError(f"--role {spec!r}: {err}") from None
    matched = {name: role for name in roles if name == path or name.startswith(path + "/")}
    if not matched:
        raise LedgermarkError(f"--role {spec!r}: {path!r} matches no file being published")
    return matched
