"""``ContentStore``: the one small interface the registry uses to put and get content by CID.

Two implementations: ``EmbeddedStore`` (blocks on local disk, no daemon) and ``KuboStore`` (any node speaking
the Kubo RPC API: Kubo itself, or js-ipfs). Whatever the store, ``get_file`` proves the bytes hash to the CID
before they appear at the destination, and a failed get leaves nothing behind.
"""

from __future__ import annotations

import abc
import contextlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

from ipfs import unixfs
from ipfs.cid import Cid
from ipfs.errors import ContentIntegrityError, IpfsError

Progress = Callable[[int], None]
DEFAULT_CAT_LIMIT = 16 << 20


class ContentStore(abc.ABC):
    """Put files and small objects in, get them back verified, pin what must stay."""

    @abc.abstractmethod
    def add_file(self, path: Path, *, cid_version: int = 0, progress: Progress | None = None) -> str:
        """Store and pin a file; return its CID (what `ipfs add` prints)."""

    def add_bytes(self, data: bytes, *, cid_version: int = 0) -> str:
        """Store and pin a small object (a manifest, a report)."""
        return self._add_stream(io.BytesIO(data), cid_version=cid_version)

    @abc.abstractmethod
    def _add_stream(self, stream: io.BufferedIOBase, *, cid_version: int) -> str: ...

    @abc.abstractmethod
    def _read(self, cid: str) -> Iterator[bytes]:
        """The content's bytes, in order (verified per block where the store can)."""

    @abc.abstractmethod
    def has(self, cid: str) -> bool: ...

    @abc.abstractmethod
    def pin(self, cid: str) -> None: ...

    @abc.abstractmethod
    def pins(self) -> list[str]: ...

    @abc.abstractmethod
    def describe(self) -> str: ...

    def close(self) -> None:
        """Release connections; stores that hold none need not override."""

    def get_file(self, cid: str, dest: Path, *, progress: Progress | None = None) -> None:
        """Write the content to ``dest`` atomically, after proving it hashes to ``cid``."""
        parsed = Cid.parse(cid)
        dest = Path(dest)
        with _temporary_beside(dest) as (tmp, handle):
            for piece in self._read(cid):
                handle.write(piece)
                if progress:
                    progress(len(piece))
            handle.flush()
            handle.seek(0)
            _check_content(cid, unixfs.import_stream(handle, cid_version=parsed.version))
            handle.close()
            os.replace(tmp, dest)

    def cat(self, cid: str, *, max_size: int = DEFAULT_CAT_LIMIT) -> bytes:
        """The content of a small object, proven against its CID; refuses anything over ``max_size``."""
        parsed = Cid.parse(cid)
        buffer = bytearray()
        for piece in self._read(cid):
            buffer += piece
            if len(buffer) > max_size:
                raise IpfsError(f"content {cid} is larger than {max_size} bytes; fetch it as a file instead")
        _check_content(cid, unixfs.import_stream(io.BytesIO(bytes(buffer)), cid_version=parsed.version))
        return bytes(buffer)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _check_content(expected: str, actual: str) -> None:
    if Cid.parse(expected) != Cid.parse(actual):
        raise ContentIntegrityError(f"content {expected}", expected, actual)


@contextlib.contextmanager
def _temporary_beside(dest: Path) -> Iterator[tuple[Path, io.BufferedRandom]]:
    """A temp file in the destination's folder (so the final rename is atomic), removed unless renamed."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
    tmp = Path(name)
    handle = os.fdopen(fd, "w+b")
    try:
        yield tmp, handle
    finally:
        handle.close()
        tmp.unlink(missing_ok=True)
