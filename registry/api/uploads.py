"""Receive uploaded files into a private temp folder that is always removed, whatever happens."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

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


def _safe_name(filename: str | None) -> str:
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    if not name or name in (".", ".."):
        raise HTTPException(status_code=422, detail=f"upload has no usable file name: {filename!r}")
    return name
