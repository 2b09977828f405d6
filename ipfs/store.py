"""``ContentStore``: the one small interface the registry uses to put and get content by CID.

Two implementations: ``EmbeddedStore`` (blocks on local disk, no daemon) and ``KuboStore`` (any node speaking
the Kubo RPC API: Kubo itself, or js-ipfs). One pass over the bytes each way (DESIGN.md §3):

- ``put_file`` reads a file once; that pass feeds the store and yields the file's size, SHA-256 and CID.
- ``get_file`` walks the DAG from the root CID, verifying every block against its CID as it arrives (whatever
  the source), hashes the content with SHA-256 on the same bytes and writes them once beside the destination;
  the file appears (atomic rename) only when every block held, and a failed get leaves nothing behind.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Container, Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

from ipfs import unixfs
from ipfs.cid import DAG_PB, RAW, Cid
from ipfs.errors import ContentIntegrityError, ContentTooLargeError, InvalidCidError, IpfsError
from ipfs.unixfs import FileDigest

Progress = Callable[[int], None]
DEFAULT_CAT_LIMIT = 16 << 20

__all__ = ["DEFAULT_CAT_LIMIT", "ContentStore", "FileDigest", "Progress"]


class ContentStore(abc.ABC):
    """Put files and small objects in, get them back verified, pin what must stay."""

    def put_file(
        self,
        path: Path,
        *,
        profile: unixfs.ImportProfile | str | None = None,
        cid_version: int | None = None,
        progress: Progress | None = None,
    ) -> FileDigest:
        """Store and pin a file, reading it once; size, SHA-256 and CID come from the very bytes stored.

        ``profile`` (an ``ImportProfile`` or its name) sets the CID's layout; ``cid_version`` alone is the
        shorthand for the profile `ipfs add --cid-version=N` implies.
        """
        chosen = unixfs.resolve_profile(profile, cid_version)
        with open(path, "rb") as stream:
            return self._put_stream(stream, profile=chosen, progress=progress)

    def add_file(
        self,
        path: Path,
        *,
        profile: unixfs.ImportProfile | str | None = None,
        cid_version: int | None = None,
        progress: Progress | None = None,
    ) -> str:
        """Store and pin a file; return its CID (what `ipfs add` prints)."""
        return self.put_file(path, profile=profile, cid_version=cid_version, progress=progress).cid

    def add_bytes(
        self,
        data: bytes,
        *,
        profile: unixfs.ImportProfile | str | None = None,
        cid_version: int | None = None,
    ) -> str:
        """Store and pin a small object (a manifest, a report)."""
        chosen = unixfs.resolve_profile(profile, cid_version)
        return self._put_stream(io.BytesIO(data), profile=chosen, progress=None).cid

    @abc.abstractmethod
    def _put_stream(
        self, stream: BinaryIO, *, profile: unixfs.ImportProfile, progress: Progress | None
    ) -> FileDigest:
        """Store and pin everything ``stream`` yields under ``profile``, reading each byte once."""

    @abc.abstractmethod
    def _get_block(self, cid: Cid, root: str) -> bytes:
        """The raw bytes of one block (unverified: ``_content`` checks them); ``root`` names it in errors."""

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

    def get_block(self, cid: str | Cid) -> bytes:
        """One block's raw bytes, proven against its CID (what a trustless gateway serves as ``format=raw``)."""
        node = cid if isinstance(cid, Cid) else Cid.parse(cid)
        block = self._get_block(node, str(node))
        _check_block(node, block, str(node))
        return block

    def walk(self, root: str) -> Iterator[tuple[Cid, bytes]]:
        """Every block of the DAG once, depth-first (the order of ``ipfs dag export``), each verified.

        A block already yielded is not yielded again, nor is its subtree walked again: a CAR written from this
        walk is what a CAR reader following the same walk expects.
        """
        seen: set[Cid] = set()
        for node, block, _ in self._walk(root, skip=seen):
            seen.add(node)
            yield node, block

    def get_file(
        self, cid: str, dest: Path, *, max_size: int | None = None, progress: Progress | None = None
    ) -> FileDigest:
        """Write the content to ``dest`` atomically, every block proven on arrival; return its digest.

        ``max_size`` (the size a manifest declares) stops the walk as soon as the DAG claims or yields more:
        a DAG that is honest about its CID can still be far larger than the publisher said.
        """
        canonical = str(Cid.parse(cid))
        dest = Path(dest)
        sha256, size = hashlib.sha256(), 0
        with _temporary_beside(dest) as (tmp, handle):
            for piece in self._content(cid, max_size=max_size):
                handle.write(piece)
                sha256.update(piece)
                size += len(piece)
                if progress:
                    progress(len(piece))
            handle.close()
            os.replace(tmp, dest)
        return FileDigest(size=size, sha256=sha256.hexdigest(), cid=canonical)

    def cat(self, cid: str, *, max_size: int = DEFAULT_CAT_LIMIT, declared_size: int | None = None) -> bytes:
        """The content of a small object, proven against its CID; refuses anything over ``max_size``.

        ``declared_size`` (from a manifest) makes more bytes than declared an integrity failure instead.
        """
        buffer = bytearray()
        for piece in self._content(cid, max_size=declared_size):
            buffer += piece
            if len(buffer) > max_size:
                raise IpfsError(f"content {cid} is larger than {max_size} bytes; fetch it as a file instead")
        return bytes(buffer)

    def _content(self, cid: str, *, max_size: int | None = None) -> Iterator[bytes]:
        """The file's bytes in order, from a depth-first walk that verifies each block against its CID.

        A verified root pins down every block below it, so the content is proven without re-hashing the
        file through the importer. With ``max_size``, the walk stops before more than that many bytes.
        """
        total = 0
        for _, _, data in self._walk(cid, max_size=max_size):
            total += len(data)
            if max_size is not None and total > max_size:
                raise ContentTooLargeError(cid, max_size)
            if data:
                yield data

    def _walk(
        self, root: str, *, max_size: int | None = None, skip: Container[Cid] = ()
    ) -> Iterator[tuple[Cid, bytes, bytes]]:
        """(CID, verified block, the file bytes it holds) depth-first; iterative, so no DAG exhausts the stack.

        With ``max_size``, the root's declared file size is checked before any child is fetched, and the
        number of blocks is bounded too (a DAG of empty nodes yields no bytes but could be walked forever).
        """
        blocks_left = 2 * max_size + 2 if max_size is not None else 0  # 1-byte chunks and their parents
        with self._block_source(root) as get_block:
            stack = [Cid.parse(root)]
            while stack:
                node = stack.pop()
                if node in skip:
                    continue
                block = get_block(node)
                _check_block(node, block, root)
                data, children, declared = _file_parts(node, block)
                if max_size is not None:
                    blocks_left -= 1
                    if declared > max_size or blocks_left < 0:
                        raise ContentTooLargeError(root, max_size)
                yield node, block, data
                stack.extend(reversed(children))

    @contextlib.contextmanager
    def _block_source(self, root: str) -> Iterator[Callable[[Cid], bytes]]:
        """How the walk obtains blocks, in depth-first order; a store that streams a whole DAG overrides it."""
        yield lambda node: self._get_block(node, root)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _file_parts(node: Cid, block: bytes) -> tuple[bytes, tuple[Cid, ...], int]:
    """A verified block's file bytes, children and declared file size."""
    if node.codec == RAW:
        return block, (), len(block)
    if node.codec != DAG_PB:
        raise InvalidCidError(f"{node} is not a UnixFS file")
    decoded = unixfs.decode_file_node(block)
    return decoded.data, decoded.children, decoded.filesize


def _check_block(cid: Cid, block: bytes, root: str) -> None:
    digest = hashlib.sha256(block).digest()
    if digest != cid.digest:
        raise ContentIntegrityError(f"block {cid} of {root}", cid.digest.hex(), digest.hex())


@contextlib.contextmanager
def _temporary_beside(dest: Path) -> Iterator[tuple[Path, io.BufferedWriter]]:
    """A temp file in the destination's folder (so the final rename is atomic), removed unless renamed."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
    tmp = Path(name)
    os.fchmod(fd, 0o666 & ~_umask())  # the mode a plain create gives: mkstemp's 0600 is for secrets
    handle = os.fdopen(fd, "wb")
    try:
        yield tmp, handle
    finally:
        handle.close()
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    """The process's umask, read without changing it (``os.umask`` can only be read by setting it)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022
