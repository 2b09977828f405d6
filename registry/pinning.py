"""Pin and pins: replicate a record's content to other IPFS nodes and services, and report where it is pinned.

A record is resolved and its manifest checked against the anchored root first (``fetch.load_manifest``), so only
content the chain vouches for leaves this machine: every block is read through the store's verified walk from a
CID the manifest names, and a tampered block stops the replication (``IntegrityError``, exit 1) before the
target pins anything. The items replicated are the manifest and every artifact, each one's whole DAG.

Targets (one syntax for ``pin --to`` and ``pins --at``):

- ``kubo:MULTIADDR`` or ``kubo:http://HOST:PORT``: a node speaking the Kubo RPC API (Kubo, js-ipfs). The blocks
  are pushed as one CAR per item (``dag/import``), pinned (``pin/add``) and the pins confirmed (``pin/ls``).
- ``psa:https://HOST/PATH``: a remote service speaking the IPFS Pinning Service API, the token taken from
  ``LEDGERMARK_PINNING_TOKEN``. One ``POST /pins`` per CID, with ``origins`` (the addresses the user gives, such
  as the owner's ``ledgermark serve`` gateway) telling the service where to fetch the blocks from. A CID the
  service already has a live request for is not asked twice.
"""

from __future__ import annotations

import dataclasses
import os
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ipfs import car
from ipfs import pinning as psa
from ipfs.cid import Cid
from ipfs.errors import IpfsError
from ipfs.kubo import KuboStore, rpc_multiaddr
from ipfs.sources import SourceChain
from ipfs.store import ContentStore
from registry import fetch
from registry.backends import Backends
from registry.errors import ConfigError, LedgermarkError

TOKEN_VARIABLE = "LEDGERMARK_PINNING_TOKEN"
KUBO_PREFIX = "kubo:"
SERVICE_PREFIX = "psa:"
TARGET_FORMS = "kubo:MULTIADDR, kubo:http://HOST:PORT or psa:https://HOST/PATH"
LOCAL = "local"
"""The column of the configured store in ``pins`` reports."""

MAX_ORIGINS = 20  # the spec's bound on Pin.origins
_LIVE = ("queued", "pinning", "pinned")
_TIMEOUT_S = 60.0


class PinningError(LedgermarkError):
    """Replication did not finish: a target refused, failed, or had not pinned everything in time."""


@dataclasses.dataclass(frozen=True)
class KuboTarget:
    """A Kubo RPC node, by the text the user gave and the multiaddr the client dials."""

    text: str
    multiaddr: str


@dataclasses.dataclass(frozen=True)
class ServiceTarget:
    """A Pinning Service API endpoint (base URL, without ``/pins``)."""

    text: str
    endpoint: str


Target = KuboTarget | ServiceTarget


@dataclasses.dataclass(frozen=True)
class Item:
    """One DAG to replicate: the manifest, or an artifact with its role and path."""

    role: str
    path: str
    cid: str


@dataclasses.dataclass(frozen=True)
class Pinned:
    """Where one item stands at one target: ``pinned``, a service's status, ``held`` (blocks, no pin) or ``absent``."""

    item: Item
    status: str
    requestid: str | None = None


@dataclasses.dataclass(frozen=True)
class PinResult:
    record_id: int
    target: str
    items: tuple[Pinned, ...]

    @property
    def complete(self) -> bool:
        return all(p.status == "pinned" for p in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "target": self.target,
            "complete": self.complete,
            "items": [_row(p.item) | {"status": p.status, "requestid": p.requestid} for p in self.items],
        }


@dataclasses.dataclass(frozen=True)
class PinsReport:
    """For each item, its status at each place asked about (``local`` first, then the targets as given)."""

    record_id: int
    places: tuple[str, ...]
    items: tuple[tuple[Item, Mapping[str, str]], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "places": list(self.places),
            "items": [_row(item) | {"pins": dict(where)} for item, where in self.items],
        }


# --------------------------------------------------------------------------- targets


def parse_target(text: str, option: str = "--to") -> Target:
    """A target from its one documented syntax; anything else is a usage error naming ``option``."""
    kind, _, rest = text.partition(":")
    if f"{kind}:" == KUBO_PREFIX and rest:
        return KuboTarget(text=text, multiaddr=_kubo_multiaddr(rest, text, option))
    if f"{kind}:" == SERVICE_PREFIX and _is_http_url(rest):
        return ServiceTarget(text=text, endpoint=rest.rstrip("/"))
    raise ConfigError(f"{option} {text!r} is not a pinning target: use {TARGET_FORMS}")


def _kubo_multiaddr(rest: str, text: str, option: str) -> str:
    """``/ip4/…/tcp/…/http`` as given, ``http(s)://HOST:PORT`` converted: the multiaddr the RPC client dials."""
    if not (rest.startswith("/") or _is_http_url(rest)):
        raise ConfigError(f"{option} {text!r} is not a pinning target: use {TARGET_FORMS}")
    try:
        multiaddr = rpc_multiaddr(rest)
        KuboStore(multiaddr).close()  # parses the multiaddr; connects to nothing
    except IpfsError as err:
        raise ConfigError(f"{option} {text!r}: {err}") from err
    return multiaddr


def _is_http_url(text: str) -> bool:
    url = urllib.parse.urlsplit(text)
    return url.scheme in ("http", "https") and bool(url.netloc)


def check_origins(origins: Sequence[str], option: str = "--origin") -> tuple[str, ...]:
    """Origins a pinning service can use: http(s) gateway URLs or multiaddrs, at most ``MAX_ORIGINS``."""
    if len(origins) > MAX_ORIGINS:
        raise ConfigError(f"{option}: at most {MAX_ORIGINS} origins, not {len(origins)}")
    for origin in origins:
        if not (_is_http_url(origin) or origin.startswith("/")):
            raise ConfigError(
                f"{option} {origin!r}: give a gateway URL (http(s)://…) or a multiaddr (/ip4/…)"
            )
    return tuple(dict.fromkeys(origins))


def service_token(environ: Mapping[str, str] | None = None) -> str:
    token = (os.environ if environ is None else environ).get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise ConfigError(f"a psa: target needs the service's access token: set {TOKEN_VARIABLE}")
    return token


# --------------------------------------------------------------------------- the flows


def record_items(backends: Backends, reference: str) -> tuple[int, list[Item]]:
    """The record's id and its items, the manifest proven against the chain before anything is read from it."""
    record = fetch.resolve_record(backends, reference)
    manifest = fetch.load_manifest(backends, record)
    items = [Item(role="manifest", path="(manifest)", cid=str(Cid.parse(record.manifest_cid)))]
    items += [Item(role=e.role, path=e.path, cid=str(Cid.parse(e.cid))) for e in manifest.entries]
    return record.record_id, items


def pin_record(
    backends: Backends,
    reference: str,
    target: Target | str,
    *,
    origins: Sequence[str] = (),
    wait_s: float = 0.0,
    token: str | None = None,
) -> PinResult:
    """Replicate a record's manifest and artifacts to ``target``; with ``wait_s``, wait for a service to pin."""
    chosen = parse_target(target) if isinstance(target, str) else target
    record_id, items = record_items(backends, reference)
    if isinstance(chosen, KuboTarget):
        pinned = _pin_to_kubo(backends, chosen, items)
    else:
        checked = check_origins(origins)
        pinned = _pin_to_service(chosen, items, checked, record_id, wait_s, token or service_token())
    return PinResult(record_id=record_id, target=chosen.text, items=tuple(pinned))


def pin_status(
    backends: Backends, reference: str, targets: Sequence[Target | str] = (), *, token: str | None = None
) -> PinsReport:
    """Where each of the record's items is pinned: the configured store, then each target."""
    chosen = [parse_target(t, "--at") if isinstance(t, str) else t for t in targets]
    record_id, items = record_items(backends, reference)
    columns = {LOCAL: _store_statuses(_own_store(backends.store), items)}
    for target in chosen:
        if isinstance(target, KuboTarget):
            with _kubo(target) as node:
                columns[target.text] = _store_statuses(node, items)
        else:
            columns[target.text] = _service_statuses(target, items, token or service_token())
    rows = tuple((item, {place: column[item.cid] for place, column in columns.items()}) for item in items)
    return PinsReport(record_id=record_id, places=tuple(columns), items=rows)


# --------------------------------------------------------------------------- Kubo nodes


def _kubo(target: KuboTarget, *, timeout: float = _TIMEOUT_S) -> KuboStore:
    return KuboStore(target.multiaddr, timeout=timeout)


def _pin_to_kubo(backends: Backends, target: KuboTarget, items: Sequence[Item]) -> list[Pinned]:
    """Push each item's verified blocks as one CAR, pin them all once every DAG arrived whole, then confirm
    every pin with the node's own list: a block that fails verification stops the run before any pin."""
    with _kubo(target) as node:
        for item in items:
            blocks = backends.store.walk(item.cid)
            node.import_car(car.write_car(Cid.parse(item.cid), blocks), pin=False)
        for item in items:
            node.pin(item.cid)
        statuses = _store_statuses(node, items)
    missing = [f"{i.path} ({i.cid})" for i in items if statuses[i.cid] != "pinned"]
    if missing:
        raise PinningError(f"{target.text} does not list a pin for {', '.join(missing)} after pin/add")
    return [Pinned(item, "pinned") for item in items]


def _own_store(store: ContentStore) -> ContentStore:
    """The store this machine keeps content in: a gateway read source holding a block is not a local copy."""
    return store.primary if isinstance(store, SourceChain) else store


def _store_statuses(store: ContentStore, items: Iterable[Item]) -> dict[str, str]:
    """``pinned`` (a recursive pin), ``held`` (the root block is there, unpinned) or ``absent``, per CID."""
    pins = {str(Cid.parse(c)) for c in store.pins()}
    return {
        item.cid: "pinned" if item.cid in pins else "held" if store.has(item.cid) else "absent"
        for item in items
    }


# --------------------------------------------------------------------------- pinning services


def _client(target: ServiceTarget, token: str) -> psa.PinningServiceClient:
    return psa.PinningServiceClient(target.endpoint, token, timeout=_TIMEOUT_S, token_source=TOKEN_VARIABLE)


def _pin_to_service(
    target: ServiceTarget,
    items: Sequence[Item],
    origins: tuple[str, ...],
    record_id: int,
    wait_s: float,
    token: str,
) -> list[Pinned]:
    """One request per CID the service has no live request for; then, if asked, poll until all are done."""
    with _client(target, token) as client:
        known = _newest(client.iter_pins(cids=[i.cid for i in items], statuses=_LIVE))
        requests = {
            item.cid: known.get(item.cid) or client.add(item.cid, **_request_fields(item, origins, record_id))
            for item in items
        }
        deadline = time.monotonic() + wait_s
        for cid, status in requests.items():
            if not status.done and wait_s > 0:
                requests[cid] = client.wait(status.requestid, timeout=max(0.0, deadline - time.monotonic()))
    pinned = [Pinned(item, requests[item.cid].status, requests[item.cid].requestid) for item in items]
    if wait_s > 0 and not all(p.status == "pinned" for p in pinned):
        raise PinningError(_unfinished(target, pinned, wait_s))
    return pinned


def _request_fields(item: Item, origins: tuple[str, ...], record_id: int) -> dict[str, Any]:
    """Name and meta that let anyone browsing the service's pins see which record and artifact a pin serves."""
    meta = {"app": "ledgermark", "record": str(record_id), "role": item.role, "path": item.path}
    return {"name": f"ledgermark record {record_id}: {item.path}"[:255], "origins": origins, "meta": meta}


def _service_statuses(target: ServiceTarget, items: Sequence[Item], token: str) -> dict[str, str]:
    """The newest request's status per CID (any status), ``absent`` when the service has none."""
    with _client(target, token) as client:
        newest = _newest(client.iter_pins(cids=[i.cid for i in items]))
    return {item.cid: newest[item.cid].status if item.cid in newest else "absent" for item in items}


def _newest(statuses: Iterable[psa.PinStatus]) -> dict[str, psa.PinStatus]:
    """The most recent request per CID, a pinned one preferred over any other."""
    chosen: dict[str, psa.PinStatus] = {}
    for status in statuses:
        cid = str(Cid.parse(status.pin.cid))
        current = chosen.get(cid)
        if current is None or _rank(status) > _rank(current):
            chosen[cid] = status
    return chosen


def _rank(status: psa.PinStatus) -> tuple[bool, Any]:
    return status.status == "pinned", status.created


def _unfinished(target: ServiceTarget, pinned: Sequence[Pinned], wait_s: float) -> str:
    waiting = [f"{p.item.path}: {p.status} (request {p.requestid})" for p in pinned if p.status != "pinned"]
    return f"{target.text} had not pinned everything after {wait_s:g} s: " + "; ".join(waiting)


def _row(item: Item) -> dict[str, str]:
    return {"role": item.role, "path": item.path, "cid": item.cid}
