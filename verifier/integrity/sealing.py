"""Sealing a watermark key for publication (DESIGN.md §7): AES-256-GCM with a fresh random data key.

The sealed file is an ordinary artifact (anchored and available like the rest) while the key stays secret;
the owner keeps the 32-byte data key and can reveal it in a dispute so anyone can decrypt the anchored copy.

Format (version 1): ``b"LMSEAL" ‖ 0x01 ‖ 12-byte nonce ‖ ciphertext+tag``; the 7-byte header is also the
GCM associated data, so a changed header is detected like a changed ciphertext.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from verifier.errors import VerifierError

MAGIC = b"LMSEAL"
VERSION = 1
_HEADER = MAGIC + bytes([VERSION])
_NONCE_SIZE = 12
_KEY_SIZE = 32


class SealError(VerifierError):
    """A sealed key cannot be opened: wrong data key, altered bytes, or not a sealed key at all."""


def seal(plaintext: bytes) -> tuple[bytes, bytes]:
    """Encrypt under a fresh data key; returns (sealed bytes, data key)."""
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(_NONCE_SIZE)
    return _HEADER + nonce + AESGCM(data_key).encrypt(nonce, plaintext, _HEADER), data_key


def unseal(sealed: bytes, data_key: bytes) -> bytes:
    """Decrypt and authenticate; any mismatch raises ``SealError`` and returns nothing."""
    if len(data_key) != _KEY_SIZE:
        raise SealError(f"a data key is {_KEY_SIZE} bytes, not {len(data_key)}")
    if not sealed.startswith(MAGIC):
        raise SealError("not a Ledgermark sealed key (bad magic bytes)")
    if sealed[len(MAGIC)] != VERSION:
        raise SealError(f"unsupported sealed-key version {sealed[len(MAGIC)]}")
    nonce = sealed[len(_HEADER) : len(_HEADER) + _NONCE_SIZE]
    try:
        return AESGCM(data_key).decrypt(nonce, sealed[len(_HEADER) + _NONCE_SIZE :], _HEADER)
    except InvalidTag:
        raise SealError(
            "the sealed key does not open with this data key, or its bytes were altered"
        ) from None
