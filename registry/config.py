"""Where Ledgermark keeps its state, which chain and IPFS node it talks to, and where each value came from.

Each setting comes from a CLI option, else an environment variable, else the network profile (``--network``:
the chain's first RPC URL, contract addresses and deployment block, chain id, confirmations, gateways and Kubo
read nodes; ``registry.network``), else a default:

| setting          | option          | environment                   | default           |
|------------------|-----------------|-------------------------------|-------------------|
| data dir         | --data-dir      | LEDGERMARK_HOME               | ~/.ledgermark     |
| chain            | --chain         | LEDGERMARK_CHAIN              | ``local``         |
| IPFS             | --ipfs          | LEDGERMARK_IPFS               | ``embedded``      |
| CID version      | --cid-version   | LEDGERMARK_CID_VERSION        | 0                 |
| CID profile      | --cid-profile   | LEDGERMARK_CID_PROFILE        | from CID version  |
| network profile  | --network       | LEDGERMARK_NETWORK            | none              |
| gateways         | --gateway (×n)  | LEDGERMARK_GATEWAYS (a,b,…)   | none              |
| confirmations    | --confirmations | LEDGERMARK_CONFIRMATIONS      | 0 on dev chains   |
| fee cap (gwei)   | --max-fee       | LEDGERMARK_MAX_FEE            | none              |
| keystore file    | --keystore      | LEDGERMARK_KEYSTORE           | none              |
| keystore password|                 | LEDGERMARK_KEYSTORE_PASSWORD  | a prompt          |
| dev account      | --account       | LEDGERMARK_ACCOUNT            | 0                 |
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
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ipfs import unixfs
from registry.errors import ConfigError

CHAIN_LOCAL = "local"
CHAIN_EMBEDDED = "embedded"
IPFS_EMBEDDED = "embedded"
DEFAULT = "default"

OPTIONS = {
    "data_dir": "--data-dir",
    "chain": "--chain",
    "ipfs": "--ipfs",
    "cid_version": "--cid-version",
    "cid_profile": "--cid-profile",
    "network": "--network",
    "gateways": "--gateway",
    "confirmations": "--confirmations",
    "max_fee_gwei": "--max-fee",
    "keystore": "--keystore",
    "account_index": "--account",
}
"""The CLI option of each setting that has one."""

ENVIRONMENT = {
    "data_dir": "LEDGERMARK_HOME",
    "chain": "LEDGERMARK_CHAIN",
    "ipfs": "LEDGERMARK_IPFS",
    "cid_version": "LEDGERMARK_CID_VERSION",
    "cid_profile": "LEDGERMARK_CID_PROFILE",
    "network": "LEDGERMARK_NETWORK",
    "gateways": "LEDGERMARK_GATEWAYS",
    "confirmations": "LEDGERMARK_CONFIRMATIONS",
    "max_fee_gwei": "LEDGERMARK_MAX_FEE",
    "keystore": "LEDGERMARK_KEYSTORE",
    "keystore_password": "LEDGERMARK_KEYSTORE_PASSWORD",
    "account_index": "LEDGERMARK_ACCOUNT",
    "private_key": "LEDGERMARK_PRIVATE_KEY",
    "registry_address": "LEDGERMARK_REGISTRY_ADDRESS",
    "disputes_address": "LEDGERMARK_DISPUTES_ADDRESS",
}
"""The environment variable of each setting."""

_HEX_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_MAX_COUNT = 10_000
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
    cid_profile: str | None = None
    """An import profile name (``ipfs.unixfs``); None: the one ``cid_version`` implies."""
    network: Path | None = None
    """A network profile file (``ledgermark network export``)."""
    gateways: tuple[str, ...] = ()
    """Trustless HTTP gateways to read content from, tried in order after the store."""
    confirmations: int | None = None
    """Blocks a transaction must be under before success is reported; None: 0 on dev chains."""
    max_fee_gwei: Decimal | None = None
    """Cap on the EIP-1559 max fee per gas; a transaction that would need more is refused, not sent."""
    keystore: Path | None = None
    """An encrypted JSON keystore to sign with."""
    keystore_password: str | None = dataclasses.field(default=None, repr=False)
    account_index: int | None = None
    """Which funded dev account signs (local development chains only)."""
    kubo_nodes: tuple[str, ...] = ()
    """Kubo RPC nodes to read content from after the store (a network profile's ``content.kubo``)."""
    chain_id: int | None = None
    """The chain id a network profile promises: the node is checked against it before use."""
    deployment_block: int = 0
    """The block the contracts named by address were deployed in: event scans start there."""
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False, repr=False)
    """Setting name → where its value came from: an option (``--chain``), a variable, or ``default``."""

    def __post_init__(self) -> None:
        _check_data_dir(self.data_dir, self.source("data_dir"))
        _check_chain(self.chain, self.source("chain"))
        _check_ipfs(self.ipfs, self.source("ipfs"))
        if self.cid_version not in (0, 1):
            raise ConfigError(f"{self.source('cid_version')} must be 0 or 1, not {self.cid_version!r}")
        if self.cid_profile is not None:
            check_cid_profile(self.cid_profile, self.source("cid_profile"))
        for url in self.gateways:
            check_http_url(url, self.source("gateways"))
        for name in ("confirmations", "account_index"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or not 0 <= value <= _MAX_COUNT):
                raise ConfigError(f"{self.source(name)} must be a whole number from 0 to {_MAX_COUNT}")
        if self.max_fee_gwei is not None and not self.max_fee_gwei > 0:
            raise ConfigError(f"{self.source('max_fee_gwei')} must be a positive number of gwei")
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
        return self.sources.get(name) or OPTIONS.get(name) or ENVIRONMENT.get(name, name)

    @classmethod
    def load(
        cls,
        *,
        data_dir: Path | str | None = None,
        chain: str | None = None,
        ipfs: str | None = None,
        cid_version: int | str | None = None,
        cid_profile: str | None = None,
        network: Path | str | None = None,
        gateways: Sequence[str] | str | None = None,
        confirmations: int | str | None = None,
        max_fee_gwei: Decimal | str | None = None,
        keystore: Path | str | None = None,
        account_index: int | str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Explicit values (the CLI's options) win over the environment, which wins over a network profile
        (``--network``), which wins over the defaults."""
        env = os.environ if environ is None else environ
        sources: dict[str, str] = {}
        from_profile: dict[str, object] = {}

        def pick(name: str, given: object, default: object = None) -> object:
            if given is not None and given != () and given != []:
                sources[name] = OPTIONS.get(name, name)
                return given
            if env.get(ENVIRONMENT.get(name, "")):
                sources[name] = ENVIRONMENT[name]
                return env[ENVIRONMENT[name]]
            if name in from_profile:
                sources[name] = f"network {network_path}"
                return from_profile[name]
            if name in OPTIONS:  # a variable-only setting is named by its variable, even unset
                sources[name] = DEFAULT
            return default

        def path_or_none(name: str, given: object) -> Path | None:
            value = pick(name, given)
            return None if value is None else Path(str(value)).expanduser()

        home = Path(str(pick("data_dir", data_dir, Path.home() / ".ledgermark"))).expanduser()
        network_path = path_or_none("network", network)
        if network_path is not None:
            from_profile.update(_profile_values(network_path))
        version = pick("cid_version", cid_version, 0)
        profile = pick("cid_profile", cid_profile)
        return cls(
            data_dir=home,
            chain=str(pick("chain", chain, CHAIN_LOCAL)),
            ipfs=str(pick("ipfs", ipfs, IPFS_EMBEDDED)),
            private_key=pick("private_key", None),  # type: ignore[arg-type]
            registry_address=pick("registry_address", None),  # type: ignore[arg-type]
            disputes_address=pick("disputes_address", None),  # type: ignore[arg-type]
            cid_version=parse_cid_version(version, sources["cid_version"]),
            cid_profile=None if profile is None else str(profile).strip(),
            network=network_path,
            gateways=_split_list(pick("gateways", gateways, ())),
            confirmations=_parse_count(pick("confirmations", confirmations), sources["confirmations"]),
            max_fee_gwei=_parse_gwei(pick("max_fee_gwei", max_fee_gwei), sources["max_fee_gwei"]),
            keystore=path_or_none("keystore", keystore),
            keystore_password=pick("keystore_password", None),  # type: ignore[arg-type]
            account_index=_parse_count(pick("account_index", account_index), sources["account_index"]),
            kubo_nodes=tuple(pick("kubo_nodes", None, ())),  # type: ignore[arg-type]
            chain_id=pick("chain_id", None),  # type: ignore[arg-type]
            deployment_block=_deployment_block(pick, sources),
            sources=sources,
        )

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (settings never mutate)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def import_profile(self) -> unixfs.ImportProfile:
        """How new content is chunked and addressed: ``cid_profile`` when given, else what ``cid_version`` implies."""
        if self.cid_profile is not None:
            return unixfs.profile_named(self.cid_profile)
        return unixfs.profile_for_version(self.cid_version)

    @property
    def blocks_dir(self) -> Path:
        return self.data_dir / "ipfs"

    @property
    def chain_dir(self) -> Path:
        return self.data_dir / "chain"

    @property
    def index_path(self) -> Path:
        """The service's record index (``registry.index``): a cache, rebuilt from the chain when deleted."""
        return self.data_dir / "index.sqlite3"


def _profile_values(path: Path) -> dict[str, object]:
    """The settings a network profile supplies, by setting name (read and checked by ``registry.network``)."""
    from registry import network

    profile = network.load(path)
    values: dict[str, object] = {
        "chain": profile.rpc[0],
        "registry_address": profile.registry.address,
        "disputes_address": profile.disputes.address,
        "chain_id": profile.chain_id,
        "deployment_block": profile.deployment_block,
        "gateways": profile.gateways,
        "kubo_nodes": profile.kubo,
    }
    if profile.confirmations is not None:
        values["confirmations"] = profile.confirmations
    return {name: value for name, value in values.items() if value != ()}


def _deployment_block(pick: Callable[..., object], sources: Mapping[str, str]) -> int:
    """The profile's deployment block, only while both addresses are the profile's: a variable naming other
    contracts would otherwise scan from a block that means nothing for them."""
    block = pick("deployment_block", None, 0)
    same = (
        sources.get("registry_address") == sources.get("disputes_address") == sources.get("deployment_block")
    )
    return int(block) if same else 0  # type: ignore[call-overload]


def parse_cid_version(value: object, source: str) -> int:
    """0 or 1 from an int or its text; anything else is a ConfigError naming ``source``."""
    text = str(value).strip()
    if text not in ("0", "1"):
        raise ConfigError(f"{source} must be 0 or 1, not {value!r}")
    return int(text)


def cid_profile_of(
    settings: Settings, profile: str | None = None, cid_version: object = None
) -> unixfs.ImportProfile:
    """The profile of one `cid` command: its own --cid-profile, else its own --cid-version, else the settings'."""
    version = None if cid_version is None else parse_cid_version(cid_version, "--cid-version")
    if profile is None:
        return settings.import_profile if version is None else unixfs.profile_for_version(version)
    chosen = check_cid_profile(profile, "--cid-profile")
    if version is not None and version != chosen.cid_version:
        raise ConfigError(
            f"--cid-profile {chosen.name} makes CIDv{chosen.cid_version}; --cid-version says {version}"
        )
    return chosen


def check_cid_profile(name: str, source: str) -> unixfs.ImportProfile:
    """The import profile ``name`` selects; an unknown name is a ConfigError naming ``source`` and the known ones."""
    try:
        return unixfs.profile_named(name)
    except unixfs.UnknownProfileError as err:
        raise ConfigError(f"{source}: {err}") from None


def _split_list(value: object) -> tuple[str, ...]:
    """A list given as repeated options, or as one comma-separated variable."""
    items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    return tuple(str(item).strip() for item in items if str(item).strip())


def _parse_count(value: object, source: str) -> int | None:
    if value is None or isinstance(value, int):
        return value  # type: ignore[return-value]
    text = str(value).strip()
    if not text.isdecimal() or int(text) > _MAX_COUNT:
        raise ConfigError(f"{source} must be a whole number from 0 to {_MAX_COUNT}, not {value!r}")
    return int(text)


def _parse_gwei(value: object, source: str) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount <= 0 or amount > 10**9:
        raise ConfigError(f"{source} must be a positive number of gwei (such as 30 or 1.5), not {value!r}")
    return amount


def check_http_url(url: str, source: str) -> None:
    """An http(s):// URL with a host: a gateway or an RPC endpoint."""
    if not re.fullmatch(r"https?://[^\s/?#]+(/\S*)?", url):
        raise ConfigError(f"{source} {url!r} is not an http(s):// URL")


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
    """'embedded', a Kubo RPC multiaddr, or the RPC's URL (scheme, host and port only)."""
    if ipfs != IPFS_EMBEDDED and not re.fullmatch(r"/\S+|https?://[^\s/?#@]+/?", ipfs):
        raise ConfigError(
            f"{source} {ipfs!r} is not understood: use 'embedded', a Kubo RPC multiaddr such as "
            "/ip4/127.0.0.1/tcp/5001/http, or its URL such as http://127.0.0.1:5001"
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
