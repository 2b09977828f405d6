"""What the pages show, read through the flows: a listing with search and filters, a record with its artifacts,
lineage and disputes, and a dispute with its votes and evidence.

Reads only: nothing here signs. Every manifest is checked against the anchored root (``fetch.load_manifest``)
before a digest is shown, because the browser compares downloads with these digests. Without the record index
the listing scans the newest ``MAX_SCAN`` records on-chain; manifests are cached by CID (content-addressed,
so a cached manifest can never be stale).
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from typing import Any

from registry import chain as chainlib
from registry import dispute as dispute_flow
from registry import fetch as fetch_flow
from registry import lineage as lineage_flow
from registry.backends import Backends
from registry.errors import LedgermarkError, RecordError
from registry.views import derivation_label
from verifier.integrity import documents
from verifier.integrity import manifest as manifestlib

PER_PAGE = 20
MAX_SCAN = 1000
"""Without an index, a listing reads at most this many records (the newest): one chain call each."""
MAX_DISPUTE_SCAN = 500
SUMMARY_LIMIT = 64 << 10
"""The public summary pinned at opening is a few hundred bytes: anything larger is refused unread."""


@dataclasses.dataclass(frozen=True)
class Row:
    """One record as the listing shows it, from the chain or from the index alike."""

    record_id: int
    owner: str
    root: str
    name: str | None
    parent_id: int
    derivation: str
    registered_at: int
    revoked: bool
    open_disputes: int | None = None  # None: not known without the index
    problem: str | None = None  # why the name is missing (manifest rejected or not fetched yet)

    @classmethod
    def from_chain(cls, record: chainlib.Record, name: str | None, problem: str | None = None) -> Row:
        return cls(
            record.record_id,
            record.owner,
            "0x" + record.root.hex(),
            name,
            record.parent_id,
            derivation_label(record),
            record.registered_at,
            record.revoked,
            problem=problem,
        )

    @classmethod
    def from_index(cls, row: Any) -> Row:
        status = getattr(row, "manifest_status", "verified")
        return cls(
            row.record_id,
            row.owner,
            row.root,
            row.name,
            row.parent_id,
            row.derivation,
            row.registered_at,
            row.revoked,
            open_disputes=row.open_disputes,
            problem=None if status == "verified" else f"manifest {status}",
        )


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
    rows: list[Row]
    total: int
    next_cursor: str | None
    source: str  # "index" or "chain"
    scanned_all: bool = True


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


def listing(backends: Backends, filters: Filters, index: Any = None) -> Listing:
    """Records newest first, filtered by owner and revocation, searched (case-insensitively) over name, id, root
    and owner; one page of ``PER_PAGE`` after ``filters.cursor``. The index answers when the service has one."""
    if index is not None:
        page = index.records(
            owner=filters.owner or None,
            revoked=filters.revoked_flag,
            query=filters.q.strip() or None,
            limit=PER_PAGE,
            cursor=filters.cursor or None,
        )
        return Listing([Row.from_index(r) for r in page.items], page.total, page.next_cursor, "index")
    return _scan(backends, filters)


def _scan(backends: Backends, filters: Filters) -> Listing:
    """Without an index: the newest ``MAX_SCAN`` records read one by one; the cursor is the last id shown."""
    count = backends.registry.record_count()
    ids = range(count, max(count - MAX_SCAN, 0), -1)
    matches = [row for row in (_row(backends, i) for i in ids) if row and _matches(row, filters)]
    before = int(filters.cursor) if filters.cursor.isdecimal() else None
    after = [r for r in matches if before is None or r.record_id < before]
    shown = after[:PER_PAGE]
    more = len(after) > PER_PAGE
    next_cursor = str(shown[-1].record_id) if more else None
    return Listing(shown, len(matches), next_cursor, "chain", scanned_all=count <= MAX_SCAN)


def _row(backends: Backends, record_id: int) -> Row | None:
    try:
        record = backends.registry.record(record_id)
    except chainlib.UnknownRecordError:  # pending (too few confirmations) or gone in a reorg
        return None
    try:
        return Row.from_chain(record, _manifest_name(backends, record))
    except LedgermarkError as err:
        return Row.from_chain(record, None, problem=f"manifest rejected: {err}")


def _manifest_name(backends: Backends, record: chainlib.Record) -> str | None:
    return _verified_manifest(backends, record).name


_MANIFESTS: collections.OrderedDict[tuple[str, bytes, int], manifestlib.Manifest] = collections.OrderedDict()
_MANIFESTS_LOCK = threading.Lock()
MANIFEST_CACHE = 4096


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


def _matches(row: Row, filters: Filters) -> bool:
    if filters.owner and row.owner.lower() != filters.owner.strip().lower():
        return False
    if filters.revoked_flag is not None and row.revoked != filters.revoked_flag:
        return False
    query = filters.q.strip().lower()
    return not query or any(
        query in text
        for text in (str(row.record_id), row.owner.lower(), row.root.lower(), (row.name or "").lower())
    )


# --------------------------------------------------------------------------- one record


def record_view(backends: Backends, record_id: int, index: Any = None) -> RecordView:
    """The record, its verified manifest, its family and every dispute it is a party to."""
    record = fetch_flow.resolve_record(backends, str(record_id))
    manifest = _verified_manifest(backends, record)
    return RecordView(
        record=record,
        name=manifest.name,
        artifacts=[entry.to_dict() for entry in manifest.entries],
        lineage=lineage_flow.lineage(backends, str(record_id)),
        disputes=_disputes_of(backends, record_id, index),
    )


def _disputes_of(backends: Backends, record_id: int, index: Any) -> list[DisputeLine]:
    """From the index when there is one (one query), else every dispute read from the chain (bounded)."""
    if index is not None:
        rows = index.disputes(record_id=record_id)
        found = [(r, r.status) for r in rows]
    else:
        count = backends.disputes.dispute_count()
        chained = (backends.disputes.dispute(i) for i in range(count, max(count - MAX_DISPUTE_SCAN, 0), -1))
        found = [(d, d.status.name.lower()) for d in chained]
    lines = []
    for d, status in found:
        if record_id in (d.claimant_record, d.suspect_record):
            role = "claimant" if d.claimant_record == record_id else "suspect"
            lines.append(DisputeLine(d.dispute_id, role, status, d.uphold_votes, d.reject_votes))
    return sorted(lines, key=lambda line: -line.dispute_id)


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
        return DisputeView(state, "public summary", _summary(backends, dispute), None)
    except LedgermarkError as err:
        return DisputeView(state, "", None, str(err))


def _summary(backends: Backends, dispute: chainlib.Dispute) -> dict[str, Any]:
    source = f"dispute {dispute.dispute_id}'s public summary {dispute.evidence_cid}"
    data = backends.store.cat(dispute.evidence_cid, max_size=SUMMARY_LIMIT)
    try:
        document = documents.parse_json(data, source=source, max_bytes=SUMMARY_LIMIT)
    except documents.DocumentError as err:
        raise LedgermarkError(str(err)) from err
    if not isinstance(document, dict):
        raise LedgermarkError(f"{source} is not a JSON object")
    return document
