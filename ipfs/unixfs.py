"""The UnixFS importer: the CID Kubo's `ipfs add` prints, computed while streaming (DESIGN.md §3).

Layout, as Kubo builds it with its defaults:
- fixed 262,144-byte chunks; an empty file is one empty chunk;
- CIDv0: each chunk is a dag-pb node wrapping UnixFS ``File`` data; CIDv1 (``--cid-version=1``, which implies
  raw leaves): each chunk is a raw block;
- a balanced DAG of at most 174 links per internal node, built level by level; a one-chunk file is its leaf;
- internal node: PBNode with links first (child CID, empty name, Tsize = child's cumulative size) and data =
  UnixFS {Type File, filesize, blocksizes of each child}.

The ``Importer`` is push-based (``update`` with any slices, then ``finish``) so that one pass over a file can
feed a store, an upload and the hashes at once; ``import_stream`` and ``compute_cid`` pull from a stream. The
file's SHA-256 is computed only when asked for (``digest_stream``): ``compute_cid`` hashes only the blocks.
Memory does not grow with the file: one chunk is held at a time, plus ~40 bytes per link of the tree levels.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from ipfs.cid import DAG_PB, RAW, Cid, decode_varint, encode_varint
from ipfs.errors import InvalidCidError

CHUNK_SIZE = 262_144
MAX_LINKS = 174
UNIXFS_FILE = 2

BlockSink = Callable[[Cid, bytes], None]
"""Receives every block the importer produces (a store persists them; CID-only hashing ignores them)."""


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


@dataclasses.dataclass(frozen=True)
class FileDigest:
    """What one pass over a file yields: its size, its SHA-256 (hex) and its CID."""

    size: int
    sha256: str
    cid: str


@dataclasses.dataclass(frozen=True)
class _Link:
    cid: Cid
    tsize: int  # cumulative size of the child's blocks (what Kubo calls Tsize)
    filesize: int  # bytes of file content under the child


class Importer:
    """Chunks, encodes and hashes bytes pushed in any slices; ``finish`` returns the root CID."""

    def __init__(
        self, *, cid_version: int = 0, on_block: BlockSink | None = None, sha256: bool = False
    ) -> None:
        if cid_version not in (0, 1):
            raise InvalidCidError(f"CID version must be 0 or 1, not {cid_version}")
        self.cid_version = cid_version
        self.size = 0
        self._emit = on_block
        self._sha256 = hashlib.sha256() if sha256 else None
        self._pending = bytearray()
        self._leaves: list[_Link] = []

    def update(self, data: bytes) -> None:
        """Take the next bytes of the file; full chunks become leaves (and blocks) right away."""
        if self._sha256 is not None:
            self._sha256.update(data)
        self.size += len(data)
        if not self._pending and len(data) == CHUNK_SIZE:  # the common case: no copy
            self._leaves.append(self._leaf(bytes(data)))
            return
        self._pending += data
        while len(self._pending) >= CHUNK_SIZE:
            self._leaves.append(self._leaf(bytes(self._pending[:CHUNK_SIZE])))
            del self._pending[:CHUNK_SIZE]

    def finish(self) -> str:
        """Emit the last leaf and the internal nodes; return the root CID as Kubo prints it."""
        if self._pending or not self._leaves:  # an empty file is one empty chunk
            self._leaves.append(self._leaf(bytes(self._pending)))
            self._pending.clear()
        level = self._leaves
        while len(level) > 1:
            level = [self._internal(level[i : i + MAX_LINKS]) for i in range(0, len(level), MAX_LINKS)]
        return str(level[0].cid)

    def digest(self) -> FileDigest:
        """``finish`` plus the size and SHA-256 of everything pushed (requires ``sha256=True``)."""
        if self._sha256 is None:
            raise ValueError("this importer was created without sha256=True")
        cid = self.finish()
        return FileDigest(size=self.size, sha256=self._sha256.hexdigest(), cid=cid)

    def _leaf(self, chunk: bytes) -> _Link:
        if self.cid_version == 1:
            cid = Cid.for_block(chunk, version=1, codec=RAW)
            if self._emit:
                self._emit(cid, chunk)
            return _Link(cid, len(chunk), len(chunk))
        head, tail = _leaf_envelope(len(chunk))
        hasher = hashlib.sha256(head)
        hasher.update(chunk)
        hasher.update(tail)
        cid = Cid(version=0, codec=DAG_PB, digest=hasher.digest())
        if self._emit:
            self._emit(cid, head + chunk + tail)
        return _Link(cid, len(head) + len(chunk) + len(tail), len(chunk))

    def _internal(self, children: list[_Link]) -> _Link:
        filesize = sum(c.filesize for c in children)
        data = encode_unixfs_file(filesize=filesize, blocksizes=[c.filesize for c in children])
        block = encode_pbnode([(c.cid.to_bytes(), c.tsize) for c in children], data)
        cid = Cid.for_block(block, version=self.cid_version, codec=DAG_PB)
        if self._emit:
            self._emit(cid, block)
        return _Link(cid, len(block) + sum(c.tsize for c in children), filesize)


def import_stream(
    stream: Readable | BinaryIO,
    *,
    cid_version: int = 0,
    on_block: BlockSink | None = None,
    progress: Callable[[int], None] | None = None,
) -> str:
    """Chunk, encode and hash a stream; return the root CID as Kubo prints it (no SHA-256 of the file)."""
    return _pump(stream, Importer(cid_version=cid_version, on_block=on_block), progress).finish()


def digest_stream(
    stream: Readable | BinaryIO,
    *,
    cid_version: int = 0,
    on_block: BlockSink | None = None,
    progress: Callable[[int], None] | None = None,
) -> FileDigest:
    """Size, SHA-256 and CID of a stream from one read of each byte (and its blocks to ``on_block``)."""
    return _pump(stream, Importer(cid_version=cid_version, on_block=on_block, sha256=True), progress).digest()


def compute_cid(path: Path, *, cid_version: int = 0, progress: Callable[[int], None] | None = None) -> str:
    """CID of a file, exactly as `ipfs add [--cid-version=1]` would print it; nothing stored, no file SHA-256."""
    with open(path, "rb") as stream:
        return import_stream(stream, cid_version=cid_version, progress=progress)


def digest_file(
    path: Path, *, cid_version: int = 0, progress: Callable[[int], None] | None = None
) -> FileDigest:
    """Size, SHA-256 and CID of a file in one streaming pass; nothing is stored."""
    with open(path, "rb") as stream:
        return digest_stream(stream, cid_version=cid_version, progress=progress)


def _pump(
    stream: Readable | BinaryIO, importer: Importer, progress: Callable[[int], None] | None
) -> Importer:
    """Feed a stream to the importer in whole chunks (short reads from pipes and sockets are fine)."""
    while data := stream.read(CHUNK_SIZE):
        importer.update(data)
        if progress:
            progress(len(data))
    return importer


def _leaf_envelope(size: int) -> tuple[bytes, bytes]:
    """The bytes a CIDv0 leaf puts around its chunk: PBNode Data header + UnixFS header, then filesize."""
    unixfs_head = _field(1, 0) + encode_varint(UNIXFS_FILE)
    if size:
        unixfs_head += _field(2, 2) + encode_varint(size)
    unixfs_tail = _field(3, 0) + encode_varint(size)
    inner = len(unixfs_head) + size + len(unixfs_tail)
    return _field(1, 2) + encode_varint(inner) + unixfs_head, unixfs_tail


# --------------------------------------------------------------------------- dag-pb and UnixFS protobufs


def _field(number: int, wire_type: int) -> bytes:
    return encode_varint(number << 3 | wire_type)


def _bytes_field(number: int, value: bytes) -> bytes:
    return _field(number, 2) + encode_varint(len(value)) + value


def encode_unixfs_file(*, filesize: int, data: bytes = b"", blocksizes: list[int] | None = None) -> bytes:
    """UnixFS Data message of a File: Type (1), Data (2, omitted when empty), filesize (3), blocksizes (4)."""
    out = _field(1, 0) + encode_varint(UNIXFS_FILE)
    if data:
        out += _bytes_field(2, data)
    out += _field(3, 0) + encode_varint(filesize)
    for size in blocksizes or ():
        out += _field(4, 0) + encode_varint(size)
    return out


def encode_pbnode(links: list[tuple[bytes, int]], data: bytes) -> bytes:
    """PBNode: every Link (2) {Hash 1, Name 2 = "", Tsize 3} first, then Data (1)."""
    out = b"".join(
        _bytes_field(2, _bytes_field(1, cid) + _bytes_field(2, b"") + _field(3, 0) + encode_varint(tsize))
        for cid, tsize in links
    )
    return out + _bytes_field(1, data)


@dataclasses.dataclass(frozen=True)
class FileNode:
    """A decoded dag-pb UnixFS File node: inline data and/or the CIDs of its children, in order."""

    data: bytes
    children: tuple[Cid, ...]
    filesize: int


def decode_file_node(block: bytes) -> FileNode:
    """Parse a dag-pb block holding a UnixFS File; anything else is rejected."""
    links, unixfs = [], None
    for number, value in _fields(block):
        if number == 2:
            link_fields = dict(_fields(value))
            if 1 not in link_fields:
                raise InvalidCidError("dag-pb link without a hash")
            links.append(Cid.from_bytes(link_fields[1]))
        elif number == 1:
            unixfs = value
    if unixfs is None:
        raise InvalidCidError("dag-pb node without UnixFS data")
    fields = list(_fields(unixfs))
    kinds = [v for n, v in fields if n == 1]
    if kinds != [UNIXFS_FILE] and kinds != [0]:  # 0 = Raw, which old importers used for leaves
        raise InvalidCidError(f"UnixFS node is not a file (type {kinds})")
    data = b"".join(v for n, v in fields if n == 2)
    filesize = next((v for n, v in fields if n == 3), len(data))
    return FileNode(data=data, children=tuple(links), filesize=int(filesize))


def _fields(message: bytes) -> Iterator[tuple[int, bytes | int]]:
    """(field number, value) pairs of a protobuf message; varints as int, length-delimited as bytes."""
    pos = 0
    while pos < len(message):
        key, pos = decode_varint(message, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = decode_varint(message, pos)
            yield number, value
        elif wire_type == 2:
            length, pos = decode_varint(message, pos)
            if pos + length > len(message):
                raise InvalidCidError("truncated protobuf field")
            yield number, message[pos : pos + length]
            pos += length
        else:
            raise InvalidCidError(f"unexpected protobuf wire type {wire_type}")
