"""``EmbeddedStore``: a Kubo-compatible block store on local disk, for use without any daemon.

Blocks are files named by their multihash (``blocks/<2 hex>/<64 hex>``), written atomically; pins are empty
files named by the root CID. Every block is re-hashed when read, so a block altered on disk is reported as
tampering instead of being served. The CIDs are the ones Kubo prints, so any IPFS node can later pin and serve
the same content.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ipfs import unixfs
from ipfs.cid import DAG_PB, RAW, Cid
from ipfs.errors import ContentIntegrityError, ContentNotFoundError, InvalidCidError
from ipfs.store import ContentStore, Progress


class EmbeddedStore(ContentStore):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._blocks = self.root / "blocks"
        self._pins = self.root / "pins"
        self._blocks.mkdir(parents=True, exist_ok=True)
        self._pins.mkdir(parents=True, exist_ok=True)

    def describe(self) -> str:
        return f"embedded store at {self.root}"

    # -- writing -------------------------------------------------------------------------------

    def add_file(self, path: Path, *, cid_version: int = 0, progress: Progress | None = None) -> str:
        with open(path, "rb") as stream:
            return self._import(stream, cid_version, progress)

    def _add_stream(self, stream: io.BufferedIOBase, *, cid_version: int) -> str:
        return self._import(stream, cid_version, None)

    def _import(
        self, stream: io.BufferedIOBase, cid_version: int, progress: Callable[[int], None] | None
    ) -> str:
        cid = unixfs.import_stream(
            stream, cid_version=cid_version, on_block=self._put_block, progress=progress
        )
        self.pin(cid)
        return cid

    def _put_block(self, cid: Cid, block: bytes) -> None:
        path = self._block_path(cid)
        if path.exists():
            return
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(block)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def pin(self, cid: str) -> None:
        if not self.has(cid):
            raise ContentNotFoundError(cid, self.describe())
        (self._pins / str(Cid.parse(cid))).touch()

    def pins(self) -> list[str]:
        return sorted(p.name for p in self._pins.iterdir())

    # -- reading -------------------------------------------------------------------------------

    def has(self, cid: str) -> bool:
        return self._block_path(Cid.parse(cid)).exists()

    def _read(self, cid: str) -> Iterator[bytes]:
        yield from self._walk(Cid.parse(cid), cid)

    def _walk(self, node: Cid, root: str) -> Iterator[bytes]:
        block = self._get_block(node, root)
        if node.codec == RAW:
            yield block
            return
        if node.codec != DAG_PB:
            raise InvalidCidError(f"{node} is not a UnixFS file")
        decoded = unixfs.decode_file_node(block)
        if decoded.data:
            yield decoded.data
        for child in decoded.children:
            yield from self._walk(child, root)

    def _get_block(self, cid: Cid, root: str) -> bytes:
        path = self._block_path(cid)
        try:
            block = path.read_bytes()
        except FileNotFoundError:
            raise ContentNotFoundError(root, self.describe()) from None
        digest = hashlib.sha256(block).digest()
        if digest != cid.digest:
            raise ContentIntegrityError(f"block {path.name} of {root}", cid.digest.hex(), digest.hex())
        return block

    def _block_path(self, cid: Cid) -> Path:
        name = cid.digest.hex()
        return self._blocks / name[:2] / name
