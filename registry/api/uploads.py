"""Receive uploaded files into a private temp folder that is always removed, whatever happens."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from fastapi import HTTPException, UploadFile

_COPY_CHUNK = 1 << 20


@contextlib.contextmanager
def received(files: Sequence[UploadFile]) -> Iterator[list[Path]]:
    """Stream each upload to disk (never whole in memory) under its own file name; yield the paths."""
    if not files:
        raise HTTPException(status_code=422, detail="no files were uploaded")
    folder = Path(tempfile.mkdtemp(prefix="ledgermark-upload-"))
    try:
        paths = []
        for upload in files:
            target = folder / _safe_name(upload.filename)
            if target.exists():
                raise HTTPException(status_code=422, detail=f"two uploads are named {target.name!r}")
            with open(target, "wb") as out:
                shutil.copyfileobj(upload.file, out, _COPY_CHUNK)
            paths.append(target)
        yield paths
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_MAX_NAME_BYTES = 255  # what one path component may hold on the file systems the service runs on


def _safe_name(filename: str | None) -> str:
    """The client's file name, used as given or refused: no folders, no control characters, no overlong names.

    Names are matched against a record's manifest, so silently taking the last component (or dropping odd
    characters) would check a different name from the one the client sent.
    """
    name = filename or ""
    if not name or name in (".", ".."):
        raise HTTPException(status_code=422, detail=f"upload has no usable file name: {name[:64]!r}")
    if "/" in name or "\\" in name:
        raise HTTPException(
            status_code=422, detail=f"upload name {name[:64]!r} holds a path separator: send a bare file name"
        )
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise HTTPException(status_code=422, detail=f"upload name {name[:64]!r} holds a control character")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise HTTPException(
            status_code=422, detail=f"upload name {name[:64]!r} is not valid Unicode"
        ) from None
    if len(encoded) > _MAX_NAME_BYTES:
        raise HTTPException(
            status_code=422, detail=f"upload name {name[:32]!r}… is longer than {_MAX_NAME_BYTES} bytes"
        )
    return name
