"""Where Ledgermark keeps its state, which chain and IPFS node it talks to, and where each value came from.

Each setting comes from a CLI option, else an environment variable, else a default:

| setting          | option          | environment                   | default           |
|------------------|-----------------|-------------------------------|-------------------|
| data dir         | --data-dir      | LEDGERMARK_HOME               | ~/.ledgermark     |
| chain            | --chain         | LEDGERMARK_CHAIN              | ``local``         |
| IPFS             | --ipfs          | LEDGERMARK_IPFS               | ``embedded``      |
| CID version      | --cid-version   | LEDGERMARK_CID_VERSION        | 0                 |
| signing key      |                 | LEDGERMARK_PRIVATE_KEY        | the dev account   |
| contract address |                 | LEDGERMARK_REGISTRY_ADDRESS,  | the data dir's    |
|                  |                 | LEDGERMARK_DISPUTES_ADDRESS   | deployment book   |

Chain values: ``local`` (a managed node whose database lives in the data dir, so records survive between
commands), ``embedded`` (an in-process EVM: fast, but gone when the process exits) or an ``http(s)://`` JSON-RPC
URL. IPFS values: ``embedded`` (the project's block store in the data dir) or a Kubo RPC multiaddr such as
``/ip4/127.0.0.1/tcp/5001/http``.

Every value is checked when the settings are built, and ``Settings.sources`` remembers where each came from, so
that a bad value fails at once with a message naming its source ("LEDGERMARK_CID_VERSION must be 0 or 1"),
never later as a traceback from deep inside web3. Checking needs no web3: the CLI's fast start depends on it.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path

from registry.errors import ConfigError

CHAIN_LOCAL = "local"
CHAIN_EMBEDDED = "embedded"
IPFS_EMBEDDED = "embedded"
DEFAULT = "default"

OPTIONS = {"data_dir": "--data-dir", "chain": "--chain", "ipfs": "--ipfs", "cid_version": "--cid-version"}
"""The CLI option of each setting that has one."""

ENVIRONMENT = {
    "data_dir": "LEDGERMARK_HOME",
    "chain": "LEDGERMARK_CHAIN",
    "ipfs": "LEDGERMARK_IPFS",
    "cid_version": "LEDGERMARK_CID_VERSION",
    "private_key": "LEDGERMARK_PRIVATE_KEY",
    "registry_address": "LEDGERMARK_REGISTRY_ADDRESS",
    "disputes_address": "LEDGERMARK_DISPUTES_ADDRESS",
}
"""The environment variable of each setting."""

_HEX_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclasses.dataclass(frozen=True)
class Settings:
    data_dir: Path
    chain: str = CHAIN_LOCAL
    ipfs: str = IPFS_EMBEDDED
    private_key: str | None = dataclasses.field(default=None, repr=False)
    registry_address: str | None = None
    disputes_address: str | None = None
    cid_version: int = 0
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False, repr=False)
    """Setting name → where its value came from: an option (``--chain``), a variable, or ``default``."""

    def __post_init__(self) -> None:
        _check_data_dir(self.data_dir, self.source("data_dir"))
        _check_chain(self.chain, self.source("chain"))
        _check_ipfs(self.ipfs, self.source("ipfs"))
        if self.cid_version not in (0, 1):
            raise ConfigError(f"{self.source('cid_version')} must be 0 or 1, not {self.cid_version!r}")
        if self.private_key is not None:
            _check_private_key(self.private_key, self.source("private_key"))
        for name in ("registry_address", "disputes_address"):
            value = getattr(self, name)
            if value is not None:
                check_address(value, self.source(name))
        if (self.registry_address is None) != (self.disputes_address is None):
            given, missing = ("registry_address", "disputes_address")[:: 1 if self.registry_address else -1]
            raise ConfigError(
                f"{self.source(missing)} is not set while {self.source(given)} is: set both (an existing "
                "deployment) or neither (the data dir's deployment book)"
            )

    def source(self, name: str) -> str:
        """Where a setting's value came from, for messages; a value passed in code is named by its option."""
        return self.sources.get(name) or OPTIONS.get(name) or ENVIRONMENT[name]

    @classmethod
    def load(
        cls,
        *,
        data_dir: Path | None = None,
        chain: str | None = None,
        ipfs: str | None = None,
        cid_version: int | str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Explicit values (the CLI's options) win over the environment, which wins over the defaults."""
        env = os.environ if environ is None else environ
        sources: dict[str, str] = {}

        def pick(name: str, given: object, default: object) -> object:
            if given is not None:
                sources[name] = OPTIONS[name]
                return given
            if env.get(ENVIRONMENT[name]):
                sources[name] = ENVIRONMENT[name]
                return env[ENVIRONMENT[name]]
            sources[name] = DEFAULT
            return default

        def from_env(name: str) -> str | None:
            if env.get(ENVIRONMENT[name]):
                sources[name] = ENVIRONMENT[name]
                return env[ENVIRONMENT[name]]
            return None

        home = Path(str(pick("data_dir", data_dir, Path.home() / ".ledgermark"))).expanduser()
        version = pick("cid_version", cid_version, 0)
        return cls(
            data_dir=home,
            chain=str(pick("chain", chain, CHAIN_LOCAL)),
            ipfs=str(pick("ipfs", ipfs, IPFS_EMBEDDED)),
            private_key=from_env("private_key"),
            registry_address=from_env("registry_address"),
            disputes_address=from_env("disputes_address"),
            cid_version=parse_cid_version(version, sources["cid_version"]),
            sources=sources,
        )

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (settings never mutate)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def blocks_dir(self) -> Path:
        return self.data_dir / "ipfs"

    @property
    def chain_dir(self) -> Path:
        return self.data_dir / "chain"


def parse_cid_version(value: object, source: str) -> int:
    """0 or 1 from an int or its text; anything else is a ConfigError naming ``source``."""
    text = str(value).strip()
    if text not in ("0", "1"):
        raise ConfigError(f"{source} must be 0 or 1, not {value!r}")
    return int(text)


def _check_data_dir(path: Path, source: str) -> None:
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"{source} {str(path)!r} is a file, not a folder: name a folder for Ledgermark's state"
        )


def _check_chain(chain: str, source: str) -> None:
    if chain in (CHAIN_LOCAL, CHAIN_EMBEDDED):
        return
    if not re.fullmatch(r"https?://[^\s/]+.*", chain):
        raise ConfigError(
            f"{source} {chain!r} is not understood: use 'local', 'embedded' or an http(s):// JSON-RPC URL"
        )


def _check_ipfs(ipfs: str, source: str) -> None:
    if ipfs != IPFS_EMBEDDED and not re.fullmatch(r"/\S+", ipfs):
        raise ConfigError(
            f"{source} {ipfs!r} is not understood: use 'embedded' or a Kubo RPC multiaddr such as "
            "/ip4/127.0.0.1/tcp/5001/http"
        )


def _check_private_key(key: str, source: str) -> None:
    """The key is never echoed: a message may end up in a log."""
    if not _HEX_KEY.fullmatch(key.strip()):
        raise ConfigError(
            f"{source} is not a 32-byte hex key: expected 64 hex digits, optionally after 0x "
            f"(got {len(key.strip())} characters)"
        )
    if not 0 < int(key.strip().removeprefix("0x"), 16) < _SECP256K1_ORDER:
        raise ConfigError(f"{source} is not a valid secp256k1 private key (zero or beyond the curve order)")


def check_address(address: str, source: str) -> None:
    """A 0x-prefixed 20-byte hex address; mixed case must carry a valid EIP-55 checksum (as web3 demands)."""
    if not _ADDRESS.fullmatch(address):
        raise ConfigError(f"{source} is not an address: {address!r} (expected 0x and 40 hex digits)")
    digits = address[2:]
    if digits != digits.lower() and digits != digits.upper() and _checksummed(digits) != digits:
        raise ConfigError(
            f"{source} is not an address: {address!r} fails its EIP-55 checksum (its mixed case does not "
            "match its digits: a typo?)"
        )


def _checksummed(digits: str) -> str:
    """EIP-55: upper-case each hex letter whose nibble in keccak256(lower-case address) is 8 or more."""
    from eth_hash.auto import keccak

    lower = digits.lower()
    nibbles = keccak(lower.encode()).hex()
    return "".join(
        c.upper() if int(n, 16) >= 8 else c for c, n in zip(lower, nibbles[: len(lower)], strict=True)
    )
