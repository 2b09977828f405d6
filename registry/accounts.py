"""Signing keys at rest: eth-account's standard JSON keystore (Web3 Secret Storage), one file per account.

Keystores live in ``DATA_DIR/keystore/`` named by address, owner-only (0600), written whole or not at all; the
same format geth, Foundry's ``cast wallet`` and MetaMask exports use, so a key moves between tools. A keystore
may come from someone else, so it is hostile until checked: its size is bounded, its JSON is checked field by
field, and its key-derivation cost is capped before anything runs it (a forged ``n`` of 2^30 would ask scrypt
for a terabyte). The password comes from ``LEDGERMARK_KEYSTORE_PASSWORD`` or a hidden prompt, never an option
(a command line is visible to every user of the machine).
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry import files
from registry.errors import ConfigError
from verifier.integrity import documents

if TYPE_CHECKING:
    from registry.chain.connection import Chain

PASSWORD_VARIABLE = "LEDGERMARK_KEYSTORE_PASSWORD"
KEY_VARIABLE = "LEDGERMARK_PRIVATE_KEY"
MAX_KEYSTORE_BYTES = 16 * 1024
MAX_KEY_FILE_BYTES = 1024
MAX_SCRYPT_MEMORY = 128 * 2**18 * 8
"""scrypt's memory is 128·n·r bytes: eth-account's default (n = 2^18, r = 8: 256 MiB) is the most we run."""
MAX_SCRYPT_WORK = 2**18 * 8 * 4
MAX_PBKDF2_ROUNDS = 10_000_000

_HEX = re.compile(r"[0-9a-fA-F]*")
_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"(0x)?[0-9a-fA-F]{40}")
_DEV_CLIENTS = ("anvil/", "ganache/", "ethereumjs testrpc")


@dataclasses.dataclass(frozen=True)
class Keystore:
    address: str
    path: Path

    def to_dict(self) -> dict[str, str]:
        return {"address": self.address, "path": str(self.path)}


def keystore_dir(data_dir: Path) -> Path:
    return data_dir / "keystore"


# --------------------------------------------------------------------------- creating


def create(
    folder: Path, password: str, *, out: Path | None = None, iterations: int | None = None
) -> Keystore:
    """A fresh random account, stored encrypted in ``out`` or in ``folder`` under its address."""
    from eth_account import Account

    return _store(Account.create().key, password, folder, out, iterations)


def import_key(
    key: str, password: str, folder: Path, *, out: Path | None = None, iterations: int | None = None
) -> Keystore:
    """An existing hex key, stored encrypted; the key is checked and never echoed."""
    return _store(parse_key(key, "the key"), password, folder, out, iterations)


def parse_key(text: str, source: str) -> bytes:
    """32 bytes from 64 hex digits (optionally after 0x); messages give the length, never the key."""
    from eth_keys.exceptions import ValidationError

    text = text.strip()
    if not _KEY.fullmatch(text):
        raise ConfigError(
            f"{source} is not a 32-byte hex key: expected 64 hex digits, optionally after 0x "
            f"(got {len(text)} characters)"
        )
    key = bytes.fromhex(text.removeprefix("0x"))
    try:
        from eth_keys import keys

        keys.PrivateKey(key)
    except ValidationError:
        raise ConfigError(f"{source} is not a valid secp256k1 private key") from None
    if not any(key):
        raise ConfigError(f"{source} is not a valid secp256k1 private key (zero)")
    return key


def read_key_file(path: Path) -> str:
    """A hex key from a small file (the key itself is checked by ``parse_key``)."""
    data = files.read_small(path, MAX_KEY_FILE_BYTES, f"key file {path}")
    if len(data) > MAX_KEY_FILE_BYTES:
        raise ConfigError(f"key file {path} is larger than {MAX_KEY_FILE_BYTES} bytes: not a hex key")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise ConfigError(f"key file {path} is not a hex key (it is not ASCII text)") from None


def _store(key: bytes, password: str, folder: Path, out: Path | None, iterations: int | None) -> Keystore:
    from eth_account import Account

    document = Account.encrypt(key, password, iterations=iterations)
    address = Account.from_key(key).address
    path = out if out is not None else folder / f"{address}.json"
    if path.exists():
        raise ConfigError(f"{path} already exists: a keystore is never overwritten (move it away first)")
    _write_private(path, json.dumps(document).encode())
    return Keystore(address, path)


def _write_private(path: Path, content: bytes) -> None:
    """Owner-only, whole or not at all; the folder is made owner-only too when we create it."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    files.write_private(path, content)


# --------------------------------------------------------------------------- reading


def list_keystores(folder: Path) -> tuple[list[Keystore], list[str]]:
    """The readable keystores in ``folder`` (sorted by file name), and a line for each file that is not one."""
    found: list[Keystore] = []
    problems: list[str] = []
    if not folder.is_dir():
        return found, problems
    for path in sorted(folder.glob("*.json")):
        try:
            found.append(Keystore(address_of(read(path)), path))
        except ConfigError as err:
            problems.append(str(err))
    return found, problems


def read(path: Path) -> dict[str, Any]:
    """A keystore's JSON, bounded and checked before any key derivation runs on it."""
    source = f"keystore {path}"
    data = files.read_small(
        path, MAX_KEYSTORE_BYTES, source, missing="make one with `ledgermark account new`"
    )
    try:
        document = documents.parse_json(data, source=source, max_bytes=MAX_KEYSTORE_BYTES, max_depth=4)
    except documents.DocumentError as err:
        raise ConfigError(f"{err}: not a keystore") from None
    _check_keystore(document, source)
    return document


def address_of(document: dict[str, Any]) -> str:
    """The address a keystore says it holds (checksummed; only decryption proves it)."""
    from eth_utils import to_checksum_address

    return to_checksum_address("0x" + document["address"].removeprefix("0x"))


def _check_keystore(document: object, source: str) -> None:
    """Version 3, AES-128-CTR, scrypt or PBKDF2 within our cost caps, hex fields of sane lengths."""
    if not isinstance(document, dict) or document.get("version") != 3:
        raise ConfigError(f"{source} is not a version 3 JSON keystore")
    address = document.get("address")
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
        raise ConfigError(f"{source} names no address (a version 3 keystore has a hex 'address')")
    crypto = document.get("crypto", document.get("Crypto"))
    if not isinstance(crypto, dict):
        raise ConfigError(f"{source} has no 'crypto' object")
    params = crypto.get("cipherparams")
    if crypto.get("cipher") != "aes-128-ctr" or not isinstance(params, dict):
        raise ConfigError(f"{source} uses cipher {crypto.get('cipher')!r}: only aes-128-ctr is supported")
    for name, value, lengths in (
        ("ciphertext", crypto.get("ciphertext"), (64,)),
        ("mac", crypto.get("mac"), (64,)),
        ("cipherparams.iv", params.get("iv"), (32,)),
    ):
        if not isinstance(value, str) or len(value) not in lengths or not _HEX.fullmatch(value):
            raise ConfigError(f"{source}: {name} is not {lengths[0]} hex digits")
    _check_kdf(crypto.get("kdf"), crypto.get("kdfparams"), source)


def _check_kdf(kdf: object, params: object, source: str) -> None:
    if not isinstance(params, dict) or not all(
        isinstance(params.get(k), int) and not isinstance(params.get(k), bool) and params[k] > 0
        for k in ({"scrypt": ("n", "r", "p", "dklen"), "pbkdf2": ("c", "dklen")}.get(str(kdf), ("?",)))
    ):
        raise ConfigError(f"{source}: kdf {kdf!r} with these parameters is not supported (scrypt or pbkdf2)")
    salt = params.get("salt")
    if params["dklen"] != 32 or not isinstance(salt, str) or len(salt) > 128 or not _HEX.fullmatch(salt):
        raise ConfigError(f"{source}: kdfparams need dklen 32 and a hex salt")
    if kdf == "scrypt":
        n, r, p = params["n"], params["r"], params["p"]
        if n & (n - 1) or 128 * n * r > MAX_SCRYPT_MEMORY or n * r * p > MAX_SCRYPT_WORK:
            raise ConfigError(
                f"{source}: scrypt n={n}, r={r}, p={p} costs more than a keystore needs (at most "
                f"n=2^18, r=8): refused"
            )
    elif params["c"] > MAX_PBKDF2_ROUNDS or params.get("prf") != "hmac-sha256":
        raise ConfigError(f"{source}: pbkdf2 needs prf hmac-sha256 and at most {MAX_PBKDF2_ROUNDS} rounds")


def unlock(path: Path, password: str | None) -> bytes:
    """The private key in keystore ``path``; the password is asked for when not given."""
    from eth_account import Account

    document = read(path)
    secret = password if password is not None else ask_password(f"keystore {path}")
    try:
        return bytes(Account.decrypt(document, secret))
    except ValueError:
        raise ConfigError(f"wrong password for keystore {path}") from None


# --------------------------------------------------------------------------- passwords and chains


def ask_password(purpose: str, *, confirm: bool = False) -> str:
    """A hidden prompt on the terminal; without one, a ConfigError naming the variable to set instead."""
    if not sys.stdin.isatty():
        raise ConfigError(
            f"{purpose} needs a password and there is no terminal to ask on: set {PASSWORD_VARIABLE}"
        )
    password = getpass.getpass(f"Password for {purpose}: ")
    if confirm and getpass.getpass("Repeat the password: ") != password:
        raise ConfigError("the two passwords differ: nothing was written")
    if not password:
        raise ConfigError(f"an empty password protects nothing: type one, or set {PASSWORD_VARIABLE}")
    return password


def ask_key() -> str:
    """A hex key typed at a hidden prompt; without a terminal, a ConfigError saying how else to give it."""
    if not sys.stdin.isatty():
        raise ConfigError(f"no key to import: pass --key-file FILE, set {KEY_VARIABLE}, or run on a terminal")
    return getpass.getpass("Private key (hex): ")


def is_dev_client(version: str) -> bool:
    """True for a client whose funded accounts come from a public mnemonic: Anvil and Ganache."""
    lower = version.lower()
    return any(name in lower for name in _DEV_CLIENTS)


def require_dev_client(chain: Chain, source: str) -> None:
    """Dev accounts are public keys: using one on a real network would sign with a key anyone holds."""
    from registry.chain.errors import ChainError

    try:
        version = str(chain.request("web3_clientVersion"))
    except ChainError:
        version = "an unknown client"
    if not is_dev_client(version):
        raise ConfigError(
            f"{source}: dev accounts exist only on development chains (local, embedded, Anvil, Ganache); "
            f"the node at {chain.url} runs {version[:80]!r}: sign with --keystore FILE or {KEY_VARIABLE}"
        )
