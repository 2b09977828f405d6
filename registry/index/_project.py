"""Events → projection rows. ``apply`` folds one event into ``records``/``disputes``/``votes``; ``replay``
rebuilds those tables from the stored events alone (after a reorganisation), with no chain access.

Events arrive as ``Event`` values with JSON-ready arguments (bytes as ``0x`` hex), oldest first. Applying the
same events in the same order always yields the same rows: that is what makes a rebuild equal the incremental
index.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable
from typing import Any

from registry.chain.registry import manifest_cid_string
from registry.chain.types import Derivation, DisputeStatus, Priority
from registry.index._schema import PROJECTIONS

REGISTRY_EVENTS = ("ModelRegistered", "RecordTransferred", "RecordRevoked")
"""The registry events the index reads (``CommitmentRecorded`` says nothing about records)."""


@dataclasses.dataclass(frozen=True)
class Event:
    block: int
    log_index: int
    tx_hash: str
    contract: str
    name: str
    args: dict[str, Any]

    @property
    def record_id(self) -> int | None:
        return int(self.args["recordId"]) if self.contract == "ModelRegistry" else None

    @property
    def dispute_id(self) -> int | None:
        value = self.args.get("disputeId") if self.contract == "OwnershipDisputes" else None
        return None if value is None else int(value)

    def row(self) -> tuple[Any, ...]:
        return (
            self.block,
            self.log_index,
            self.tx_hash,
            self.contract,
            self.name,
            self.record_id,
            self.dispute_id,
            json.dumps(self.args, sort_keys=True),
        )


def label(member: Any) -> str:
    """``Derivation.FINE_TUNE`` → ``fine-tune``: enums spelt as the CLI takes them."""
    return member.name.lower().replace("_", "-")


def store_all(conn: sqlite3.Connection, events: list[Event]) -> list[str]:
    """Keep ``events`` (one statement for all) and fold them in, oldest first; returns the manifest CID of each
    new record."""
    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [e.row() for e in events])
    return [cid for cid in (apply(conn, event) for event in events) if cid is not None]


def apply(conn: sqlite3.Connection, event: Event) -> str | None:
    """Fold ``event`` in; returns the manifest CID of the record it registers (None for other events)."""
    handler = _HANDLERS.get(event.name)
    return None if handler is None else handler(conn, event, event.args)


def replay(conn: sqlite3.Connection) -> None:
    """Rebuild the projections from ``events``."""
    for table in PROJECTIONS:
        conn.execute(f"DELETE FROM {table}")
    rows = conn.execute(
        "SELECT block, log_index, tx_hash, contract, name, args FROM events ORDER BY block, log_index"
    )
    for block, log_index, tx_hash, contract, name, args in rows.fetchall():
        apply(conn, Event(block, log_index, tx_hash, contract, name, json.loads(args)))


# --------------------------------------------------------------------------- registry


def manifest_cid(args: dict[str, Any]) -> str:
    """The manifest CID string of a ``ModelRegistered`` event (stored on chain as digest and codec tag)."""
    return manifest_cid_string(bytes.fromhex(args["manifestDigest"][2:]), int(args["manifestCodec"]))


def _registered(conn: sqlite3.Connection, event: Event, a: dict[str, Any]) -> str:
    cid = manifest_cid(a)
    found = conn.execute("SELECT timestamp FROM blocks WHERE number = ?", (event.block,)).fetchone()
    conn.execute(
        "INSERT INTO records (record_id, owner, root, leaf_count, manifest_cid, key_hash, parent_id, derivation,"
        " registered_block, registered_at, tx_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            int(a["recordId"]),
            a["owner"],
            a["root"],
            int(a["leafCount"]),
            cid,
            a["watermarkKeyHash"],
            int(a["parentId"]),
            label(Derivation(int(a["derivation"]))),
            event.block,
            int(found[0]) if found and found[0] is not None else 0,
            event.tx_hash,
        ),
    )
    if int(a["parentId"]):
        conn.execute("UPDATE records SET children = children + 1 WHERE record_id = ?", (int(a["parentId"]),))
    return cid


def _transferred(conn: sqlite3.Connection, _: Event, a: dict[str, Any]) -> None:
    conn.execute("UPDATE records SET owner = ? WHERE record_id = ?", (a["newOwner"], int(a["recordId"])))


def _revoked(conn: sqlite3.Connection, _: Event, a: dict[str, Any]) -> None:
    conn.execute("UPDATE records SET revoked = 1 WHERE record_id = ?", (int(a["recordId"]),))


# --------------------------------------------------------------------------- disputes


def _opened(conn: sqlite3.Connection, event: Event, a: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO disputes (dispute_id, claimant, claimant_record, suspect_root, suspect_record, suspect_owner,"
        " priority, status, bond, deadline, evidence_hash, evidence_cid, opened_block, opened_tx)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)",
        (
            int(a["disputeId"]),
            a["claimant"],
            int(a["claimantRecord"]),
            a["suspectRoot"],
            int(a["suspectRecord"]),
            a["suspectOwner"],
            label(Priority(int(a["priority"]))),
            str(int(a["bond"])),
            int(a["deadline"]),
            a["evidenceHash"],
            a["evidenceCid"],
            event.block,
            event.tx_hash,
        ),
    )
    _count_open(conn, int(a["disputeId"]), +1)


def _revealed(conn: sqlite3.Connection, _: Event, a: dict[str, Any]) -> None:
    conn.execute(
        "UPDATE disputes SET key_revealed = 1, key_cid = ?, data_key = ?, report_cid = ? WHERE dispute_id = ?",
        (a["keyCid"], a["dataKey"], a["reportCid"], int(a["disputeId"])),
    )


def _voted(conn: sqlite3.Connection, event: Event, a: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO votes VALUES (?, ?, ?, ?, ?, ?)",
        (
            int(a["disputeId"]),
            a["arbiter"],
            int(bool(a["uphold"])),
            a["reportCid"],
            event.block,
            event.tx_hash,
        ),
    )
    column = "uphold_votes" if a["uphold"] else "reject_votes"
    conn.execute(f"UPDATE disputes SET {column} = {column} + 1 WHERE dispute_id = ?", (int(a["disputeId"]),))


def _resolved(conn: sqlite3.Connection, event: Event, a: dict[str, Any]) -> None:
    conn.execute(
        "UPDATE disputes SET status = ?, resolved_block = ?, resolved_tx = ?, bond_recipient = ? "
        "WHERE dispute_id = ?",
        (
            label(DisputeStatus(int(a["outcome"]))),
            event.block,
            event.tx_hash,
            a["recipient"],
            int(a["disputeId"]),
        ),
    )
    _count_open(conn, int(a["disputeId"]), -1)


def _count_open(conn: sqlite3.Connection, dispute_id: int, delta: int) -> None:
    """A record's ``open_disputes`` counts the open disputes it is a party to, as claimant or as suspect."""
    conn.execute(
        "UPDATE records SET open_disputes = open_disputes + ? WHERE record_id IN "
        "(SELECT claimant_record FROM disputes WHERE dispute_id = ? "
        " UNION SELECT suspect_record FROM disputes WHERE dispute_id = ?)",
        (delta, dispute_id, dispute_id),
    )


_HANDLERS: dict[str, Callable[[sqlite3.Connection, Event, dict[str, Any]], str | None]] = {
    "ModelRegistered": _registered,
    "RecordTransferred": _transferred,
    "RecordRevoked": _revoked,
    "DisputeOpened": _opened,
    "KeyRevealed": _revealed,
    "VoteCast": _voted,
    "DisputeResolved": _resolved,
}
