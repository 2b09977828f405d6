"""Content identifiers (CIDs): parse, encode, and the binary form that goes into Merkle leaves.

Only what Kubo's `ipfs add` produces is supported: sha2-256 multihashes, CIDv0 (base58btc, dag-pb) and
CIDv1 with the dag-pb (0x70) or raw (0x55) codec. CIDv1 strings are printed in base32 lower case (prefix ``b``,
Kubo's form); base58btc CIDv1 (prefix ``z``, js-ipfs's default) is accepted and normalised.
"""

from __future__ import annotations

import dataclasses
import hashlib

from ipfs.errors import InvalidCidError

DAG_PB = 0x70
RAW = 0x55
SHA2_256 = 0x12
_DIGEST_SIZE = 32
_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58_ALPHABET)}
_B32_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_B32_INDEX = {c: i for i, c in enumerate(_B32_ALPHABET)}
_CODECS = {DAG_PB: "dag-pb", RAW: "raw"}


@dataclasses.dataclass(frozen=True)
class Cid:
    """A parsed CID. ``digest`` is the raw sha2-256 of the block the CID names."""

    version: int
    codec: int
    digest: bytes

    def __post_init__(self) -> None:
        if self.version not in (0, 1):
            raise InvalidCidError(f"unsupported CID version {self.version}")
        if self.codec not in _CODECS:
            raise InvalidCidError(f"unsupported codec 0x{self.codec:x}")
        if self.version == 0 and self.codec != DAG_PB:
            raise InvalidCidError("CIDv0 is always dag-pb")
        if len(self.digest) != _DIGEST_SIZE:
            raise InvalidCidError(f"sha2-256 digest must be 32 bytes, not {len(self.digest)}")

    @classmethod
    def for_block(cls, block: bytes, *, version: int, codec: int) -> Cid:
        return cls(version=version, codec=codec, digest=hashlib.sha256(block).digest())

    @property
    def multihash(self) -> bytes:
        return bytes([SHA2_256, _DIGEST_SIZE]) + self.digest

    @property
    def codec_name(self) -> str:
        return _CODECS[self.codec]

    def to_bytes(self) -> bytes:
        """Binary CID: the bare multihash for v0; version, codec and multihash varints for v1."""
        if self.version == 0:
            return self.multihash
        return encode_varint(1) + encode_varint(self.codec) + self.multihash

    def __str__(self) -> str:
        if self.version == 0:
            return b58encode(self.multihash)
        return "b" + b32encode(self.to_bytes())

    @classmethod
    def parse(cls, text: str) -> Cid:
        if not isinstance(text, str) or not text:
            raise InvalidCidError(f"not a CID: {text!r}")
        if len(text) == 46 and text.startswith("Qm"):
            return cls.from_bytes(b58decode(text))
        if text.startswith("b"):
            return cls.from_bytes(b32decode(text[1:]))
        if text.startswith("z"):  # base58btc CIDv1, what js-ipfs prints by default
            return cls.from_bytes(b58decode(text[1:]))
        raise InvalidCidError(f"not a CIDv0 (Qm…) or CIDv1 (b… base32, z… base58btc): {text!r}")

    @classmethod
    def from_bytes(cls, data: bytes) -> Cid:
        if len(data) == 34 and data[0] == SHA2_256 and data[1] == _DIGEST_SIZE:
            return cls(version=0, codec=DAG_PB, digest=bytes(data[2:]))
        version, pos = decode_varint(data, 0)
        codec, pos = decode_varint(data, pos)
        if data[pos : pos + 2] != bytes([SHA2_256, _DIGEST_SIZE]) or len(data) != pos + 2 + _DIGEST_SIZE:
            raise InvalidCidError("only sha2-256 multihashes of 32 bytes are supported")
        return cls(version=version, codec=codec, digest=bytes(data[pos + 2 :]))


def cid_to_bytes(text: str) -> bytes:
    """The binary form of a CID string (what Merkle leaves commit to)."""
    return Cid.parse(text).to_bytes()


def cid_from_bytes(data: bytes) -> str:
    return str(Cid.from_bytes(data))


# --------------------------------------------------------------------------- encodings


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128, as used by multiformats and protobuf."""
    if value < 0:
        raise ValueError("varints are unsigned")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Value and the position after it; raises InvalidCidError on truncation or overlong encodings."""
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise InvalidCidError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rem = divmod(number, 58)
        out.append(_B58_ALPHABET[rem])
    leading = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        if char not in _B58_INDEX:
            raise InvalidCidError(f"{char!r} is not a base58btc character")
        number = number * 58 + _B58_INDEX[char]
    leading = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * leading + body


def b32encode(data: bytes) -> str:
    """RFC 4648 base32, lower case, no padding (multibase ``b``)."""
    bits = int.from_bytes(data, "big") if data else 0
    total_bits = len(data) * 8
    pad = (-total_bits) % 5
    bits <<= pad
    count = (total_bits + pad) // 5
    return "".join(_B32_ALPHABET[(bits >> (5 * (count - 1 - i))) & 31] for i in range(count))


def b32decode(text: str) -> bytes:
    bits = 0
    for char in text:
        if char not in _B32_INDEX:
            raise InvalidCidError(f"{char!r} is not a base32 (lower case) character")
        bits = (bits << 5) | _B32_INDEX[char]
    total_bits = len(text) * 5
    extra = total_bits % 8
    if bits & ((1 << extra) - 1):
        raise InvalidCidError("non-zero padding bits in base32")
    return (bits >> extra).to_bytes(total_bits // 8, "big")
