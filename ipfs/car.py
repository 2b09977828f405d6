"""CARv1 (https://ipld.io/specs/transport/car/carv1/): a DAG as one byte stream, read while it arrives.

A CAR is a header (a dag-cbor map ``{"roots": [cid], "version": 1}``) and then sections, each
``varint(len(cid) + len(block)) ‖ cid ‖ block``. We write the header by hand (one fixed shape, no CBOR library)
and read sections only as far as they follow our depth-first walk; every block is verified by the caller, so
the reader trusts nothing in the stream beyond its framing, and bounds that framing before it buffers it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ipfs.cid import Cid, encode_varint

MAX_HEADER = 1 << 10  # one root CID and a version: a few dozen bytes
MAX_SECTION = (2 << 20) + 64  # a 2 MiB block (the largest Kubo accepts over bitswap) and its CID

__all__ = ["MAX_SECTION", "CarReader", "car_header", "write_car"]


def car_header(root: Cid) -> bytes:
    """The dag-cbor header ``{"roots": [root], "version": 1}``: map(2), keys in canonical (length-first) order,
    the root as tag 42 over a byte string holding the binary CID behind a 0x00 multibase prefix."""
    link = b"\x00" + root.to_bytes()
    body = (
        b"\xa2"
        + b"\x65roots"
        + b"\x81\xd8\x2a"
        + _cbor_bytes_head(len(link))
        + link
        + b"\x67version"
        + b"\x01"
    )
    return encode_varint(len(body)) + body


def write_car(root: Cid, blocks: Iterable[tuple[Cid, bytes]]) -> Iterator[bytes]:
    """The CAR of ``blocks`` (in the order given, e.g. ``ContentStore.walk``), one piece per section."""
    yield car_header(root)
    for cid, block in blocks:
        name = cid.to_bytes()
        yield encode_varint(len(name) + len(block)) + name
        yield block


def _cbor_bytes_head(length: int) -> bytes:
    """Major type 2 (byte string) head; a binary CID plus prefix is always under 256 bytes."""
    return bytes([0x40 | length]) if length < 24 else bytes([0x58, length])


class CarReader:
    """Reads CARv1 sections from a byte stream, as long as they come in walk order.

    The header (roots) is skipped: the walk starts from the CID we asked for, and every block is verified by
    the caller. The first section that is not the block the walk needs, or whose declared length exceeds
    ``max_section``, ends the stream's use (``live``); the caller then asks for single blocks instead.
    """

    def __init__(self, chunks: Iterator[bytes], *, max_section: int = MAX_SECTION) -> None:
        self._chunks = chunks
        self._buffer = bytearray()
        self._seen: set[bytes] = set()
        self._max_section = max_section
        self.live = True
        size = self._varint()
        header = self._read(size) if size is not None and size <= MAX_HEADER else None
        if header is None:
            self.close()

    def take(self, node: Cid) -> bytes | None:
        """The next section's block if it is ``node``; None (and the stream dropped) otherwise."""
        if node.digest in self._seen:  # an export sends a repeated block once
            return None
        size = self._varint() if self.live else None
        fits = size is not None and size <= self._max_section
        section = self._read(size) if fits else None
        name = node.to_bytes()
        if section is None or not section.startswith(name):
            self.close()
            return None
        self._seen.add(node.digest)
        return section[len(name) :]

    def close(self) -> None:
        self.live = False
        close = getattr(self._chunks, "close", None)
        if close:
            close()

    def _varint(self) -> int | None:
        value = shift = 0
        while True:
            byte = self._read(1)
            if byte is None or shift > 63:
                return None
            value |= (byte[0] & 0x7F) << shift
            shift += 7
            if not byte[0] & 0x80:
                return value

    def _read(self, size: int | None) -> bytes | None:
        if size is None:
            return None
        while len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                return None
            self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data
