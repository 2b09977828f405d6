"""A network is a file: the chain, the contracts and the content sources a buyer needs, in one JSON profile.

An owner writes it with ``ledgermark network export``; anyone hands it to ``--network FILE``. The file comes
from another party, so it is hostile until checked: its size is bounded before it is read, its nesting before
it is parsed (web3 raises Python's recursion limit, so a deeply nested document could overflow the C stack
inside ``json.loads``), and every key and value is checked for type and shape. A profile also makes promises
about a chain (its id, code at two addresses) that only the node can confirm: ``check_chain`` does that on
first use. Reading a profile needs no web3: settings are built from it on the CLI's fast start.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry import config, files
from registry.errors import ConfigError
from verifier.integrity import documents

if TYPE_CHECKING:
    from registry.chain.connection import Chain

FORMAT = "ledgermark-network/1"
MAX_BYTES = 64 * 1024
MAX_DEPTH = 8
"""The deepest nesting a profile needs is 3 (contracts → registry → address); anything far deeper is an attack."""
MAX_LIST = 32
MAX_BLOCK = 2**63 - 1

_TOP_KEYS = {"format", "chain_id", "rpc", "contracts", "confirmations", "content"}
_REQUIRED = {"format", "chain_id", "rpc", "contracts"}
_CONTRACTS = ("registry", "disputes")
_CONTENT_KEYS = {"kubo", "gateways"}


@dataclasses.dataclass(frozen=True)
class Contract:
    address: str
    block: int = 0
    """The block the contract was deployed in: event scans start there."""


@dataclasses.dataclass(frozen=True)
class Profile:
    """What a network profile says; every value already checked."""

    chain_id: int
    rpc: tuple[str, ...]
    registry: Contract
    disputes: Contract
    confirmations: int | None = None
    kubo: tuple[str, ...] = ()
    """Kubo RPC nodes (multiaddr or http URL) that hold the content."""
    gateways: tuple[str, ...] = ()
    """Trustless HTTP gateways that serve the content."""

    @property
    def deployment_block(self) -> int:
        """The first block either contract's events can be in."""
        return min(self.registry.block, self.disputes.block)

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "format": FORMAT,
            "chain_id": self.chain_id,
            "rpc": list(self.rpc),
            "contracts": {name: dataclasses.asdict(getattr(self, name)) for name in _CONTRACTS},
        }
        if self.confirmations is not None:
            document["confirmations"] = self.confirmations
        document["content"] = {"kubo": list(self.kubo), "gateways": list(self.gateways)}
        return document


# --------------------------------------------------------------------------- reading


def load(path: Path) -> Profile:
    """Read and check the profile at ``path``; any problem is a ConfigError naming the file."""
    source = f"network profile {path}"
    data = files.read_small(path, MAX_BYTES, source, missing="write one with `ledgermark network export`")
    return parse(data, source)


def parse(data: bytes, source: str) -> Profile:
    """Check a profile's bytes: bounded, shallow, strict JSON (``documents.parse_json``), known keys, values."""
    try:
        document = documents.parse_json(data, source=source, max_bytes=MAX_BYTES, max_depth=MAX_DEPTH)
    except documents.DocumentError as err:
        raise ConfigError(f"{err}: not a network profile") from None
    return _profile(document, source)


def _profile(document: object, source: str) -> Profile:
    top = _object(document, source, "the document", _TOP_KEYS, _REQUIRED)
    if top["format"] != FORMAT:
        raise ConfigError(f"{source} has format {top['format']!r}: this Ledgermark reads {FORMAT!r} only")
    contracts = _object(top["contracts"], source, "contracts", set(_CONTRACTS), set(_CONTRACTS))
    content = _object(top.get("content", {}), source, "content", _CONTENT_KEYS, set())
    rpc = _strings(top["rpc"], source, "rpc")
    if not rpc:
        raise ConfigError(f"{source}: rpc lists no URL")
    for url in rpc:
        config.check_http_url(url, f"{source}: rpc")
    gateways = _strings(content.get("gateways", []), source, "content.gateways")
    for url in gateways:
        config.check_http_url(url, f"{source}: content.gateways")
    kubo = _strings(content.get("kubo", []), source, "content.kubo")
    for address in kubo:
        _check_kubo(address, f"{source}: content.kubo")
    confirmations = top.get("confirmations")
    return Profile(
        chain_id=_integer(top["chain_id"], source, "chain_id", 1, 2**64 - 1),
        rpc=rpc,
        registry=_contract(contracts["registry"], source, "registry"),
        disputes=_contract(contracts["disputes"], source, "disputes"),
        confirmations=None
        if confirmations is None
        else _integer(confirmations, source, "confirmations", 0, 10_000),
        kubo=kubo,
        gateways=gateways,
    )


def _object(value: object, source: str, where: str, known: set[str], required: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {where} must be a JSON object, not {_kind(value)}")
    unknown = sorted(set(value) - known)
    if unknown:
        raise ConfigError(f"{source}: {where} has unknown keys {unknown} (known: {sorted(known)})")
    missing = sorted(required - set(value))
    if missing:
        raise ConfigError(f"{source}: {where} lacks {missing}")
    return value


def _contract(value: object, source: str, name: str) -> Contract:
    entry = _object(value, source, f"contracts.{name}", {"address", "block"}, {"address"})
    address = entry["address"]
    if not isinstance(address, str):
        raise ConfigError(f"{source}: contracts.{name}.address must be a string, not {_kind(address)}")
    config.check_address(address, f"{source}: contracts.{name}.address")
    block = _integer(entry.get("block", 0), source, f"contracts.{name}.block", 0, MAX_BLOCK)
    return Contract(address, block)


def _integer(value: object, source: str, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"{source}: {where} must be a whole number from {low} to {high}, not {value!r}"[:300]
        )
    return value


def _strings(value: object, source: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{source}: {where} must be a list of strings, not {_kind(value)}")
    if len(value) > MAX_LIST:
        raise ConfigError(f"{source}: {where} lists {len(value)} entries (at most {MAX_LIST})")
    return tuple(value)


def _check_kubo(address: str, source: str) -> None:
    """A Kubo RPC address: a multiaddr (/ip4/…/tcp/5001/http) or an http(s):// URL."""
    if address.startswith("/"):
        if not re.fullmatch(r"(/[A-Za-z0-9._:-]+)+", address):
            raise ConfigError(f"{source} {address!r} is not a multiaddr such as /ip4/127.0.0.1/tcp/5001/http")
        return
    config.check_http_url(address, source)


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


# --------------------------------------------------------------------------- writing and checking


def write(path: Path, profile: Profile) -> Path:
    """Write the profile whole or not at all (a temp file in the same folder, then a rename); readable by all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(profile.to_dict(), indent=2) + "\n"
    return files.write_atomic(path, text.encode(), mode=0o644)  # no secret: it is meant to be handed out


def check_chain(chain: Chain, expected_chain_id: int, source: str) -> None:
    """The node must be the chain the profile names: a profile for another chain would read someone else's state."""
    if chain.chain_id != expected_chain_id:
        raise ConfigError(
            f"{source} says chain {expected_chain_id}, the node at {chain.url} is chain {chain.chain_id}"
        )


def check_code(chain: Chain, addresses: Mapping[str, tuple[str, str]]) -> None:
    """Each named contract (name → (address, where it came from)) must have code on the chain."""
    for name, (address, source) in addresses.items():
        if not chain.get_code(address):
            raise ConfigError(
                f"{source} names {address} as the {name} contract, but chain {chain.chain_id} at "
                f"{chain.url} has no code there (wrong network, or a reset dev chain?)"
            )


# --------------------------------------------------------------------------- what is in force


SECRETS = ("private_key", "keystore_password")
"""Settings shown only as set or not set: `network show` output ends up in logs and bug reports."""


def export_profile(
    settings: config.Settings,
    *,
    rpc: str | None = None,
    gateways: tuple[str, ...] = (),
    kubo: tuple[str, ...] = (),
) -> Profile:
    """The profile of the network in force: what a buyer needs to read the same records from elsewhere.

    On the ``local`` chain the node must be running (``chain start``): a per-command node's URL dies with the
    command. ``rpc``, ``gateways`` and ``kubo`` replace what the settings say, for addresses others can reach.
    """
    from registry import backends

    url = _reachable_url(settings)
    if rpc is not None:
        config.check_http_url(rpc, "--rpc")
        url = rpc
    with backends.open_chain(settings) as chain:
        deployment = backends.find_deployment(settings, chain)
        confirmations, chain_id = chain.confirmations, chain.chain_id
    profile = Profile(
        chain_id=chain_id,
        rpc=(url,),
        registry=Contract(deployment.registry, deployment.block),
        disputes=Contract(deployment.disputes, deployment.block),
        confirmations=confirmations,
        kubo=kubo or settings.kubo_nodes,
        gateways=gateways or settings.gateways,
    )
    return parse(json.dumps(profile.to_dict()).encode(), "the exported profile")  # what a reader accepts


def _reachable_url(settings: config.Settings) -> str:
    if settings.chain == config.CHAIN_EMBEDDED:
        raise ConfigError(
            "the embedded chain lives inside one process and nobody else can reach it: export the `local` "
            "chain (after `ledgermark chain start`) or an RPC URL"
        )
    if settings.chain != config.CHAIN_LOCAL:
        return settings.chain
    from registry.chain import localnode

    node = localnode.default_node_class().find_running(settings.chain_dir)
    if node is None:
        raise ConfigError(
            "the local chain is not running, so a profile could name no URL for it: run "
            "`ledgermark chain start` first (and pass --rpc URL with an address others can reach)"
        )
    return node.url


def in_force(settings: config.Settings) -> list[dict[str, str]]:
    """Every setting with its value as text and where it came from; secrets only as set or not set."""
    rows = []
    for field in dataclasses.fields(settings):
        if field.name == "sources":
            continue
        value = getattr(settings, field.name)
        source = settings.sources.get(field.name) or "default"
        rows.append({"setting": field.name, "value": _shown(field.name, value), "source": source})
    return rows


def _shown(name: str, value: object) -> str:
    if name in SECRETS:
        return "(set)" if value else "(not set)"
    if value is None or value == ():
        return "(not set)"
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return str(value)
