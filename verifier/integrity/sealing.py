"""Sealing a watermark key for publication (DESIGN.md §7): AES-256-GCM with a fresh random data key.

The sealed file is an ordinary artifact (anchored and available like the rest) while the key stays secret;
the owner keeps the 32-byte data key and can reveal it in a dispute so anyone can decrypt the anchored copy
(``unseal``) and check the plaintext against the hash the record anchors; the plaintext itself is never published.

Format (version 1): ``b"LMSEAL" ‖ 0x01 ‖ 12-byte nonce ‖ ciphertext+tag``; the 7-byte header is also the
GCM associated data, so a changed header is detected like a changed ciphertext.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ipfs.errors import IntegrityError
from verifier.errors import VerifierError

MAGIC = b"LMSEAL"
VERSION = 1
_HEADER = MAGIC + bytes([VERSION])
_NONCE_SIZE = 12
_KEY_SIZE = 32


class SealError(VerifierError):
    """A sealed key cannot be opened: a malformed data key (usage), or see ``SealedKeyTampered``."""


class SealedKeyTampered(SealError, IntegrityError):
    """The bytes do not open: a wrong data key, altered ciphertext or header, or not a sealed key at all.

    AES-GCM cannot tell a wrong key from altered bytes, so both are integrity failures (exit 1, HTTP 409).
    """


def seal(plaintext: bytes) -> tuple[bytes, bytes]:
    """Encrypt under a fresh data key; returns (sealed bytes, data key)."""
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(_NONCE_SIZE)
    return _HEADER + nonce + AESGCM(data_key).encrypt(nonce, plaintext, _HEADER), data_key


def unseal(sealed: bytes, data_key: bytes) -> bytes:
    """Decrypt and authenticate; bytes that do not open raise ``SealedKeyTampered`` and return nothing."""
    if len(data_key) != _KEY_SIZE:
        raise SealError(f"a data key is {_KEY_SIZE} bytes, not {len(data_key)}")
    if len(sealed) < len(_HEADER) + _NONCE_SIZE or not sealed.startswith(MAGIC):
        raise SealedKeyTampered("not a Ledgermark sealed key (bad magic bytes or truncated)")
    if sealed[len(MAGIC)] != VERSION:
        raise SealedKeyTampered(f"unsupported sealed-key version {sealed[len(MAGIC)]}")
    nonce = sealed[len(_HEADER) : len(_HEADER) + _NONCE_SIZE]
    try:
        return AESGCM(data_key).decrypt(nonce, sealed[len(_HEADER) + _NONCE_SIZE :], _HEADER)
    except InvalidTag:
        raise SealedKeyTampered(
            "the sealed key does not open with this data key, or its bytes were altered"
        ) from None
