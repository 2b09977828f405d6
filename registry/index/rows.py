"""The index's answers: frozen rows with ``to_dict()``, shared by the service, the CLI and the web pages."""

from __future__ import annotations

import dataclasses
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return value.to_dict()  # type: ignore[attr-defined]
    return value


class _Row:
    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class RecordRow(_Row):
    """One record as the confirmed chain has it, with what its manifest says when the manifest is known.

    ``manifest_status``: ``verified`` (fetched, canonical, its root and leaf count are the record's),
    ``missing`` (no source had it yet: retried later), ``invalid`` (fetched, but not the anchored manifest).
    ``name`` is None unless the manifest is verified.
    """

    record_id: int
    owner: str
    root: str
    leaf_count: int
    manifest_cid: str
    watermark_key_hash: str
    parent_id: int
    derivation: str
    registered_block: int
    registered_at: int
    tx_hash: str
    revoked: bool
    name: str | None
    manifest_status: str
    open_disputes: int
    children: int


@dataclasses.dataclass(frozen=True)
class VoteRow(_Row):
    arbiter: str
    uphold: bool
    report_cid: str
    block_number: int
    tx_hash: str


@dataclasses.dataclass(frozen=True)
class DisputeRow(_Row):
    """One dispute and its votes; ``status`` is ``open``, ``upheld``, ``rejected`` or ``undecided``."""

    dispute_id: int
    claimant: str
    claimant_record: int
    suspect_root: str
    suspect_record: int
    suspect_owner: str
    priority: str
    status: str
    bond: str
    deadline: int
    evidence_hash: str
    evidence_cid: str
    key_revealed: bool
    key_cid: str | None
    data_key: str | None
    report_cid: str | None
    uphold_votes: int
    reject_votes: int
    opened_block: int
    opened_tx: str
    resolved_block: int | None
    resolved_tx: str | None
    bond_recipient: str | None
    votes: tuple[VoteRow, ...]


@dataclasses.dataclass(frozen=True)
class TransactionRow(_Row):
    """One contract event that concerns a record or a dispute, in chain order."""

    event: str
    block_number: int
    log_index: int
    tx_hash: str
    args: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class ArtifactRow(_Row):
    role: str
    path: str
    size: int
    sha256: str
    cid: str
    profile: str | None


@dataclasses.dataclass(frozen=True)
class Page(_Row):
    """One page of a listing, newest record first; ``next_cursor`` is None on the last page."""

    items: tuple[RecordRow, ...]
    next_cursor: str | None
    total: int


@dataclasses.dataclass(frozen=True)
class IndexStatus(_Row):
    """How far the index has followed the chain: ``lag_blocks`` = confirmed head - indexed block."""

    indexed_block: int
    head_block: int | None
    lag_blocks: int | None
    records: int
    disputes: int
    manifests_missing: int
    last_sync_at: float | None
    last_error: str | None


@dataclasses.dataclass(frozen=True)
class SyncReport(_Row):
    """What one ``sync`` did: blocks and events read, records added, manifests fetched, reorgs undone."""

    from_block: int
    to_block: int
    events: int
    records_added: int
    manifests_fetched: int
    manifests_missing: int
    reorgs: int
    rolled_back_to: int | None
    seconds: float
