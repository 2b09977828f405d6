"""What the pages show, read through the flows: a listing with search and filters, a record with its artifacts,
lineage and disputes, and a dispute with its votes and evidence.

Reads only: nothing here signs. Listings and dispute lists come from the service's record index
(``registry.index``); a record's own page reads the chain and the store, and checks its manifest against the
anchored root (``fetch.load_manifest``) before a digest is shown, because the browser compares downloads with
these digests. Verified manifests are kept by (CID, root): content-addressed, so never stale.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from typing import Any

from registry import chain as chainlib
from registry import dispute as dispute_flow
from registry import fetch as fetch_flow
from registry import index as indexlib
from registry import lineage as lineage_flow
from registry.api.routers import disputes as disputes_api
from registry.backends import Backends
from registry.errors import LedgermarkError, RecordError
from registry.views import derivation_label
from verifier.integrity import manifest as manifestlib

PER_PAGE = 20


@dataclasses.dataclass(frozen=True)
class Filters:
    q: str = ""
    owner: str = ""
    revoked: str = ""  # "", "yes" or "no"
    cursor: str = ""

    @property
    def revoked_flag(self) -> bool | None:
        return {"yes": True, "no": False}.get(self.revoked)


@dataclasses.dataclass(frozen=True)
class Listing:
    rows: list[indexlib.RecordRow]  # a name is shown only from a verified manifest (``manifest_status``)
    total: int
    next_cursor: str | None
    status: indexlib.IndexStatus  # how far the index has followed the chain


@dataclasses.dataclass(frozen=True)
class DisputeLine:
    """A dispute the record is a party to: ``role`` says which side."""

    dispute_id: int
    role: str  # "claimant" or "suspect"
    status: str
    uphold_votes: int
    reject_votes: int


@dataclasses.dataclass(frozen=True)
class RecordView:
    record: chainlib.Record
    name: str | None
    artifacts: list[dict[str, Any]]
    lineage: lineage_flow.Lineage
    disputes: list[DisputeLine]

    @property
    def derivation(self) -> str:
        return derivation_label(self.record)

    @property
    def has_watermark_key(self) -> bool:
        """Whether the record anchors a watermark key's hash: only then can its owner open a dispute from it."""
        return any(bytes(self.record.watermark_key_hash))

    @property
    def warnings(self) -> list[str]:
        out = []
        if self.record.revoked:
            out.append(
                "Revoked: the owner withdrew this record. Its bytes still verify, but do not rely on it."
            )
        for line in self.disputes:
            if line.role == "suspect" and line.status == "open":
                out.append(f"Disputed: dispute {line.dispute_id} claims this model copies another one.")
            elif line.role == "suspect" and line.status == "upheld":
                out.append(f"Dispute {line.dispute_id} was upheld: this model was judged a copy.")
        return out


@dataclasses.dataclass(frozen=True)
class DisputeView:
    state: dispute_flow.DisputeReport
    evidence_kind: str  # "revealed report", "public summary" or "" when none could be read
    evidence: dict[str, Any] | None
    evidence_error: str | None

    @property
    def status(self) -> str:
        return self.state.dispute.status.name.lower()


# --------------------------------------------------------------------------- listing


def listing(index: indexlib.RecordIndex, filters: Filters) -> Listing:
    """Records newest first from the index, filtered by owner and revocation, searched over names and cards
    (full text); a query that is a record id or a Merkle root names that record directly."""
    exact = _exact(index, filters.q.strip())
    if exact is not None:
        rows = [row for row in exact if _matches(row, filters)]
        return Listing(rows, len(rows), None, index.status())
    page = index.records(
        owner=filters.owner.strip() or None,
        revoked=filters.revoked_flag,
        query=filters.q.strip() or None,
        limit=PER_PAGE,
        cursor=filters.cursor or None,
    )
    return Listing(list(page.items), page.total, page.next_cursor, index.status())


def _exact(index: indexlib.RecordIndex, query: str) -> list[indexlib.RecordRow] | None:
    """The record a query names by id or Merkle root (a list of zero or one), or None for a text search."""
    if query.isdecimal() and len(query) <= 78:
        found = index.record(int(query))
    elif len(query) == 66 and query[:2].lower() == "0x" and all(c in _HEX for c in query[2:]):
        found = index.record_by_root(bytes.fromhex(query[2:]))
    else:
        return None
    return [found] if found is not None else []


_HEX = frozenset("0123456789abcdefABCDEF")


def _matches(row: indexlib.RecordRow, filters: Filters) -> bool:
    """The owner and revocation filters, on a record looked up directly."""
    if filters.owner.strip() and row.owner.lower() != filters.owner.strip().lower():
        return False
    return filters.revoked_flag is None or row.revoked == filters.revoked_flag


# --------------------------------------------------------------------------- one record


_MANIFESTS: collections.OrderedDict[tuple[str, bytes, int], manifestlib.Manifest] = collections.OrderedDict()
_MANIFESTS_LOCK = threading.Lock()
MANIFEST_CACHE = 1024


def _verified_manifest(backends: Backends, record: chainlib.Record) -> manifestlib.Manifest:
    """The record's manifest, checked against its root once and then kept: the key is the content address and
    the anchored root, so a kept manifest is exactly what any store would return and verify again."""
    key = (record.manifest_cid, record.root, record.leaf_count)
    with _MANIFESTS_LOCK:
        if key in _MANIFESTS:
            _MANIFESTS.move_to_end(key)
            return _MANIFESTS[key]
    manifest = fetch_flow.load_manifest(backends, record)
    with _MANIFESTS_LOCK:
        _MANIFESTS[key] = manifest
        while len(_MANIFESTS) > MANIFEST_CACHE:
            _MANIFESTS.popitem(last=False)
    return manifest


def record_view(backends: Backends, index: indexlib.RecordIndex, record_id: int) -> RecordView:
    """The record and its verified manifest (from the chain and the store), its family, and every dispute it is
    a party to (from the index)."""
    family = lineage_flow.lineage(backends, str(record_id))  # resolves the record: read from the chain once
    manifest = _verified_manifest(backends, family.record)
    return RecordView(
        record=family.record,
        name=manifest.name,
        artifacts=[entry.to_dict() for entry in manifest.entries],
        lineage=family,
        disputes=_disputes_of(index, record_id),
    )


def _disputes_of(index: indexlib.RecordIndex, record_id: int) -> list[DisputeLine]:
    """Newest first, as the index lists them."""
    return [
        DisputeLine(
            d.dispute_id,
            "claimant" if d.claimant_record == record_id else "suspect",
            d.status,
            d.uphold_votes,
            d.reject_votes,
        )
        for d in index.disputes(record_id=record_id)
    ]


# --------------------------------------------------------------------------- one dispute


def dispute_view(backends: Backends, dispute_id: int) -> DisputeView:
    """The dispute's state and votes, and its evidence: the full report once revealed (checked against the
    commitment), else the public summary pinned at opening."""
    try:
        state = dispute_flow.report(backends.disputes, dispute_id, backends)
    except chainlib.UnknownDisputeError as err:
        raise RecordError(f"no dispute {dispute_id} on this registry") from err
    dispute = state.dispute
    try:
        if dispute.report_cid:
            return DisputeView(
                state, "revealed report", dispute_flow.revealed_report(backends, dispute), None
            )
        return DisputeView(state, "public summary", disputes_api.public_summary(backends, dispute), None)
    except LedgermarkError as err:
        return DisputeView(state, "", None, str(err))
