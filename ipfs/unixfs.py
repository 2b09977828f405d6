"""The UnixFS importer: the CID Kubo's `ipfs add` prints, computed while streaming (DESIGN.md §3).

What changes the CID is an ``ImportProfile`` (IPIP-499): CID version, raw leaves, chunk size, links per node.
Three are named (``PROFILES``):

| profile                                     | CID | leaves | chunk   | links | Kubo ≥ 0.40           |
|---------------------------------------------|-----|--------|---------|-------|-----------------------|
| ``unixfs-v0-2015`` (alias ``legacy-cid-v0``) | v0  | dag-pb | 256 KiB | 174   | `ipfs add` (default)  |
| ``unixfs-v1-2025``                           | v1  | raw    | 1 MiB   | 1024  | `--profile` of that name |
| ``unixfs-v1-2015``                           | v1  | raw    | 256 KiB | 174   | `ipfs add --cid-version=1` |

The last is ours, not IPIP-499's: it names what ``--cid-version 1`` has always produced (the 2015 layout with
CIDv1 and raw leaves), so that manifests written before profiles existed keep verifying.

Layout, whatever the profile:
- fixed-size chunks; an empty file is one empty chunk;
- dag-pb leaves: each chunk is a dag-pb node wrapping UnixFS ``File`` data; raw leaves: each chunk is a raw
  block (always CIDv1, so a one-chunk file's CID is the raw CID of its bytes);
- a balanced DAG of at most ``max_links`` links per internal node, built level by level (which is the shape
  Kubo's balanced builder reaches); a one-chunk file is its leaf;
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
from ipfs.errors import InvalidCidError, IpfsError

CHUNK_SIZE = 262_144
"""The chunk size of ``unixfs-v0-2015`` (and of ``--cid-version 1`` alone)."""
MAX_LINKS = 174
"""The links per node of ``unixfs-v0-2015``."""
MAX_CHUNK_SIZE = 1 << 20
"""Kubo refuses larger chunks (its block size limit), so no profile may ask for them."""
UNIXFS_FILE = 2

BlockSink = Callable[[Cid, bytes], None]
"""Receives every block the importer produces (a store persists them; CID-only hashing ignores them)."""


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class UnknownProfileError(IpfsError, ValueError):
    """A name that is not one of ``PROFILES`` (nor an alias of one)."""


@dataclasses.dataclass(frozen=True)
class ImportProfile:
    """Every parameter of `ipfs add` that changes a file's CID (hash: always sha2-256; layout: balanced)."""

    name: str
    cid_version: int
    raw_leaves: bool
    chunk_size: int
    max_links: int

    def __post_init__(self) -> None:
        if self.cid_version not in (0, 1):
            raise InvalidCidError(f"CID version must be 0 or 1, not {self.cid_version}")
        if self.cid_version == 0 and self.raw_leaves:
            raise InvalidCidError("raw leaves need CIDv1 (a one-chunk file's CID is its raw leaf)")
        if not 1 <= self.chunk_size <= MAX_CHUNK_SIZE:
            raise InvalidCidError(f"chunk size must be 1 to {MAX_CHUNK_SIZE} bytes, not {self.chunk_size}")
        if self.max_links < 2:
            raise InvalidCidError(f"a node needs room for at least 2 links, not {self.max_links}")

    @property
    def chunker(self) -> str:
        """The chunker as Kubo's `--chunker` spells it."""
        return f"size-{self.chunk_size}"


UNIXFS_V0_2015 = ImportProfile(
    "unixfs-v0-2015", cid_version=0, raw_leaves=False, chunk_size=CHUNK_SIZE, max_links=174
)
UNIXFS_V1_2025 = ImportProfile(
    "unixfs-v1-2025", cid_version=1, raw_leaves=True, chunk_size=1 << 20, max_links=1024
)
UNIXFS_V1_2015 = ImportProfile(
    "unixfs-v1-2015", cid_version=1, raw_leaves=True, chunk_size=CHUNK_SIZE, max_links=174
)
PROFILES = {p.name: p for p in (UNIXFS_V0_2015, UNIXFS_V1_2025, UNIXFS_V1_2015)}
"""The profiles a name can select, by canonical name (the one manifests record)."""
ALIASES = {"legacy-cid-v0": UNIXFS_V0_2015.name}
"""Other names Kubo accepts for a profile; they resolve to the canonical one."""


def profile_named(name: str) -> ImportProfile:
    """The profile a name (or an alias) selects; anything else is refused with the list of known names."""
    canonical = ALIASES.get(name, name)
    if canonical not in PROFILES:
        known = ", ".join([*PROFILES, *(f"{a} (= {c})" for a, c in ALIASES.items())])
        raise UnknownProfileError(f"{name!r} is not a CID import profile; known: {known}")
    return PROFILES[canonical]


def profile_for_version(cid_version: int) -> ImportProfile:
    """What `ipfs add [--cid-version=N]` produces without a profile: v0 → unixfs-v0-2015, v1 → unixfs-v1-2015."""
    if cid_version not in (0, 1):
        raise InvalidCidError(f"CID version must be 0 or 1, not {cid_version}")
    return UNIXFS_V0_2015 if cid_version == 0 else UNIXFS_V1_2015


def resolve_profile(
    profile: ImportProfile | str | None = None, cid_version: int | None = None
) -> ImportProfile:
    """One profile from either spelling: a profile (or its name) wins; ``cid_version`` alone is the shorthand."""
    if profile is None:
        return profile_for_version(0 if cid_version is None else cid_version)
    chosen = profile_named(profile) if isinstance(profile, str) else profile
    if cid_version is not None and cid_version != chosen.cid_version:
        raise InvalidCidError(f"profile {chosen.name} makes CIDv{chosen.cid_version}, not CIDv{cid_version}")
    return chosen


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
        self,
        *,
        profile: ImportProfile | str | None = None,
        cid_version: int | None = None,
        on_block: BlockSink | None = None,
        sha256: bool = False,
    ) -> None:
        self.profile = resolve_profile(profile, cid_version)
        self.cid_version = self.profile.cid_version
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
        chunk = self.profile.chunk_size
        if not self._pending and len(data) == chunk:  # the common case: no copy
            self._leaves.append(self._leaf(bytes(data)))
            return
        self._pending += data
        while len(self._pending) >= chunk:
            self._leaves.append(self._leaf(bytes(self._pending[:chunk])))
            del self._pending[:chunk]

    def finish(self) -> str:
        """Emit the last leaf and the internal nodes; return the root CID as Kubo prints it."""
        if self._pending or not self._leaves:  # an empty file is one empty chunk
            self._leaves.append(self._leaf(bytes(self._pending)))
            self._pending.clear()
        level, width = self._leaves, self.profile.max_links
        while len(level) > 1:
            level = [self._internal(level[i : i + width]) for i in range(0, len(level), width)]
        return str(level[0].cid)

    def digest(self) -> FileDigest:
        """``finish`` plus the size and SHA-256 of everything pushed (requires ``sha256=True``)."""
        if self._sha256 is None:
            raise ValueError("this importer was created without sha256=True")
        cid = self.finish()
        return FileDigest(size=self.size, sha256=self._sha256.hexdigest(), cid=cid)

    def _leaf(self, chunk: bytes) -> _Link:
        if self.profile.raw_leaves:
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
    profile: ImportProfile | str | None = None,
    cid_version: int | None = None,
    on_block: BlockSink | None = None,
    progress: Callable[[int], None] | None = None,
) -> str:
    """Chunk, encode and hash a stream; return the root CID as Kubo prints it (no SHA-256 of the file)."""
    importer = Importer(profile=profile, cid_version=cid_version, on_block=on_block)
    return _pump(stream, importer, progress).finish()


def digest_stream(
    stream: Readable | BinaryIO,
    *,
    profile: ImportProfile | str | None = None,
    cid_version: int | None = None,
    on_block: BlockSink | None = None,
    progress: Callable[[int], None] | None = None,
) -> FileDigest:
    """Size, SHA-256 and CID of a stream from one read of each byte (and its blocks to ``on_block``)."""
    importer = Importer(profile=profile, cid_version=cid_version, on_block=on_block, sha256=True)
    return _pump(stream, importer, progress).digest()


def compute_cid(
    path: Path,
    *,
    profile: ImportProfile | str | None = None,
    cid_version: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> str:
    """CID of a file, exactly as `ipfs add` with that profile would print it; nothing stored, no SHA-256."""
    with open(path, "rb") as stream:
        return import_stream(stream, profile=profile, cid_version=cid_version, progress=progress)


def digest_file(
    path: Path,
    *,
    profile: ImportProfile | str | None = None,
    cid_version: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> FileDigest:
    """Size, SHA-256 and CID of a file in one streaming pass; nothing is stored."""
    with open(path, "rb") as stream:
        return digest_stream(stream, profile=profile, cid_version=cid_version, progress=progress)


def _pump(
    stream: Readable | BinaryIO, importer: Importer, progress: Callable[[int], None] | None
) -> Importer:
    """Feed a stream to the importer in whole chunks (short reads from pipes and sockets are fine)."""
    while data := stream.read(importer.profile.chunk_size):
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
