"""``EmbeddedStore``: a Kubo-compatible block store on local disk, for use without any daemon.

Layout under the store's root:

- ``packs/<id>.pack``: the new blocks of one import, back to back (one file, one fsync per import);
- ``packs/<id>.idx``: the pack's index (multihash digest, offset, length per block), written after the pack is
  durable and renamed into place last. A block is visible only through an index, so an interrupted import
  leaves at most an unindexed pack that no reader consults (swept on a later open once it is old);
- ``blocks/<2 hex>/<64 hex>``: one file per block, the layout of earlier versions, still read;
- ``pins/<cid>``: empty files naming pinned roots.

Every block is re-hashed when read (``ContentStore._content``), so a block altered on disk is reported as
tampering instead of being served. The CIDs are the ones Kubo prints, so any IPFS node can later pin and serve
the same content.
"""

from __future__ import annotations

import os
import struct
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Self

from ipfs import unixfs
from ipfs.cid import Cid
from ipfs.errors import ContentNotFoundError
from ipfs.store import ContentStore, FileDigest, Progress

_INDEX_MAGIC = b"LMPACK1\n"
_INDEX_RECORD = struct.Struct(">32sQI")  # sha2-256 digest, offset in the pack, length
_ORPHAN_AGE_S = 3600.0  # an unindexed pack older than this belongs to no running import
_SETTLED_NS = 2_000_000_000  # a folder time older than this has seen every pack added before it


class EmbeddedStore(ContentStore):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._blocks = self.root / "blocks"
        self._packs = self.root / "packs"
        self._pins = self.root / "pins"
        for folder in (self._blocks, self._packs, self._pins):
            folder.mkdir(parents=True, exist_ok=True)
        self._index: dict[bytes, tuple[str, int, int]] = {}
        self._loaded: set[str] = set()
        self._listed_at: int | None = None
        _sweep_orphans(self._packs)
        self._load_indexes()

    def describe(self) -> str:
        return f"embedded store at {self.root}"

    # -- writing -------------------------------------------------------------------------------

    def _put_stream(
        self, stream: BinaryIO, *, profile: unixfs.ImportProfile, progress: Progress | None
    ) -> FileDigest:
        with _PackWriter(self._packs, self._index) as writer:
            digest = unixfs.digest_stream(stream, profile=profile, on_block=writer.add, progress=progress)
            writer.commit()
        self._index.update(writer.written)
        if writer.name:
            self._loaded.add(writer.name)
        self.pin(digest.cid)
        return digest

    def pin(self, cid: str) -> None:
        if not self.has(cid):
            raise ContentNotFoundError(cid, self.describe())
        (self._pins / str(Cid.parse(cid))).touch()

    def pins(self) -> list[str]:
        return sorted(p.name for p in self._pins.iterdir())

    # -- reading -------------------------------------------------------------------------------

    def has(self, cid: str) -> bool:
        parsed = Cid.parse(cid)
        return self._locate(parsed.digest) is not None or self._block_path(parsed).exists()

    def _get_block(self, cid: Cid, root: str) -> bytes:
        location = self._locate(cid.digest)
        try:
            if location is None:
                return self._block_path(cid).read_bytes()
            name, offset, length = location
            fd = os.open(self._packs / f"{name}.pack", os.O_RDONLY)
        except FileNotFoundError:
            raise ContentNotFoundError(root, self.describe()) from None
        try:
            return os.pread(fd, length, offset)  # exactly the block: a buffered read would overshoot
        finally:
            os.close(fd)

    def _locate(self, digest: bytes) -> tuple[str, int, int] | None:
        """Where a block sits in a pack; re-reads the index folder once on a miss (another process may add)."""
        location = self._index.get(digest)
        if location is None and self._load_indexes():
            location = self._index.get(digest)
        return location

    def _load_indexes(self) -> bool:
        """Read the indexes not seen yet; True if there were any. The folder is listed again only when its
        modification time moved or is recent (within a timestamp tick another pack may land unseen): a miss
        must not cost a listing of every pack."""
        stamp = self._packs.stat().st_mtime_ns
        if stamp == self._listed_at and time.time_ns() - stamp > _SETTLED_NS:
            return False
        self._listed_at = stamp  # read before listing: a pack added meanwhile moves it again
        fresh = [p for p in self._packs.glob("*.idx") if p.stem not in self._loaded]
        for path in fresh:
            self._index.update(_read_index(path))
            self._loaded.add(path.stem)
        return bool(fresh)

    def _block_path(self, cid: Cid) -> Path:
        name = cid.digest.hex()
        return self._blocks / name[:2] / name


class _PackWriter:
    """Appends one import's new blocks to a single pack file; ``commit`` makes them visible in one step."""

    def __init__(self, folder: Path, known: dict[bytes, tuple[str, int, int]]) -> None:
        self._folder = folder
        self._known = known
        self.name = ""
        self.written: dict[bytes, tuple[str, int, int]] = {}
        self._pack: BinaryIO | None = None
        self._offset = 0

    def add(self, cid: Cid, block: bytes) -> None:
        """Append a block unless the store or this import already has it."""
        if cid.digest in self._known or cid.digest in self.written:
            return
        if self._pack is None:
            self.name = uuid.uuid4().hex
            self._pack = open(self._folder / f"{self.name}.pack", "xb")  # noqa: SIM115 (closed in commit/exit)
        self._pack.write(block)
        self.written[cid.digest] = (self.name, self._offset, len(block))
        self._offset += len(block)

    def commit(self) -> None:
        """Pack durable first (one fsync), then its index renamed into place: never an index without data."""
        if self._pack is None:
            return
        self._pack.flush()
        os.fsync(self._pack.fileno())
        self._pack.close()
        final = self._folder / f"{self.name}.idx"
        tmp = self._folder / f"{self.name}.idx.tmp"
        with open(tmp, "wb") as out:
            out.write(_INDEX_MAGIC)
            out.writelines(_INDEX_RECORD.pack(d, off, n) for d, (_, off, n) in self.written.items())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)
        _fsync_dir(self._folder)
        self._pack = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        """On failure, remove the unindexed pack: nothing of an interrupted import stays visible."""
        if self._pack is not None:
            self._pack.close()
            (self._folder / f"{self.name}.pack").unlink(missing_ok=True)
            self.written.clear()


def _read_index(path: Path) -> Iterator[tuple[bytes, tuple[str, int, int]]]:
    data = path.read_bytes()
    if not data.startswith(_INDEX_MAGIC):
        return  # not ours or damaged: its blocks are simply not found (reads verify hashes anyway)
    body = memoryview(data)[len(_INDEX_MAGIC) :]
    usable = len(body) - len(body) % _INDEX_RECORD.size
    for digest, offset, length in _INDEX_RECORD.iter_unpack(body[:usable]):
        yield digest, (path.stem, offset, length)


def _sweep_orphans(folder: Path) -> None:
    """Delete packs without an index (and stray index temp files) left by imports that died long ago."""
    cutoff = time.time() - _ORPHAN_AGE_S
    for path in [*folder.glob("*.pack"), *folder.glob("*.idx.tmp")]:
        indexed = path.suffix == ".pack" and path.with_suffix(".idx").exists()
        try:
            if not indexed and path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            pass


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
