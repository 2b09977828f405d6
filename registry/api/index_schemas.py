"""Response models of the index's read API (``/records`` list and detail): named, described, with examples."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_ROOT = "0x30a0c0f06e4b2a2b0b0ba3ff73f73b3f7f9bca658a999a42ffeac5cd55c1f667"
_TX = "0x675f2ec2a46d3ba796e03905ffaac4279163abe8852b488d11f871a311a7b72d"
_OWNER = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
_ZERO = "0x" + "00" * 32


class RecordSummaryOut(BaseModel):
    """One record as the index has it: the chain's facts, and the name when its manifest is verified."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "record_id": 1,
                "owner": _OWNER,
                "root": _ROOT,
                "leaf_count": 2,
                "manifest_cid": "QmPaiyDaH7j1wowPwvvLXpxxKdau6poMWvtfZ7XPwRVYS3",
                "watermark_key_hash": _ZERO,
                "parent_id": 0,
                "derivation": "none",
                "registered_block": 5,
                "registered_at": 1795651637,
                "tx_hash": _TX,
                "revoked": False,
                "name": "digits-cnn",
                "manifest_status": "verified",
                "open_disputes": 0,
                "children": 0,
            }
        }
    )

    record_id: int
    owner: str = Field(description="Current owner (after transfers).")
    root: str = Field(description="Merkle root over the artifacts, 0x hex.")
    leaf_count: int
    manifest_cid: str
    watermark_key_hash: str
    parent_id: int = Field(description="The record this one derives from; 0 for none.")
    derivation: str = Field(description="none, fine-tune, quantize, prune, distill or other.")
    registered_block: int
    registered_at: int = Field(description="Block time of the registration (Unix seconds).")
    tx_hash: str | None = Field(description="The registration transaction (None when read from the chain).")
    revoked: bool
    name: str | None = Field(
        description="The manifest's name; None until the manifest is fetched and verified."
    )
    manifest_status: str = Field(
        description="verified (fetched, matches the anchored root), missing (not fetched yet: retried) or "
        "invalid (what the CID holds is not the anchored manifest)."
    )
    open_disputes: int = Field(description="Open disputes the record is party to (claimant or suspect).")
    children: int = Field(description="Records registered with this one as parent.")


class RecordPageOut(BaseModel):
    """One page of records, newest first. Pass ``next_cursor`` back as ``cursor`` for the next page."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "items": [RecordSummaryOut.model_config["json_schema_extra"]["example"]],  # type: ignore[index]
                "next_cursor": None,
                "total": 1,
            }
        }
    )

    items: list[RecordSummaryOut]
    next_cursor: str | None = Field(description="Opaque; None on the last page.")
    total: int = Field(description="Records matching the filters, over all pages.")


class ArtifactDetailOut(BaseModel):
    """One artifact with its Merkle leaf and position-bound proof (check it with `verifyArtifact` on chain)."""

    role: str
    path: str
    size: int
    sha256: str
    cid: str
    profile: str | None = None
    index: int = Field(description="Leaf position in the Merkle tree.")
    leaf: str
    proof: list[str] | None = Field(description="Sibling hashes leaf to root; None for very large manifests.")
    stored: bool | None = Field(
        description="Whether this service's own store holds the artifact's root block (None: unknown)."
    )


class TransactionOut(BaseModel):
    """One contract event about the record or a dispute it is party to."""

    event: str
    block_number: int
    log_index: int
    tx_hash: str
    args: dict[str, Any]


class LineageNodeOut(BaseModel):
    record_id: int
    name: str | None
    derivation: str
    revoked: bool


class LineageEdgeOut(BaseModel):
    parent: int
    child: int
    derivation: str


class LineageGraphOut(BaseModel):
    """The record's ancestors up to a root record and its direct children, as nodes and parent→child edges."""

    nodes: list[LineageNodeOut]
    edges: list[LineageEdgeOut]


class VoteOut(BaseModel):
    arbiter: str
    uphold: bool
    report_cid: str
    block_number: int
    tx_hash: str


class DisputeOut(BaseModel):
    """One dispute as the chain's events tell it (status open, upheld, rejected or undecided)."""

    dispute_id: int
    claimant: str
    claimant_record: int
    suspect_root: str
    suspect_record: int
    suspect_owner: str
    priority: str
    status: str
    bond: str = Field(description="In wei, as a decimal string.")
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
    votes: list[VoteOut]


class RecordDetailOut(RecordSummaryOut):
    """A record with its artifacts (CIDs, sizes, proofs), transactions, lineage graph and disputes."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                **RecordSummaryOut.model_config["json_schema_extra"]["example"],  # type: ignore[index]
                "indexed": True,
                "artifacts": [
                    {
                        "role": "model",
                        "path": "model.pt",
                        "size": 1183,
                        "sha256": "8f2b6c0e5d1a4b7c9e3f2a1d0c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b",
                        "cid": "QmWmsL95CYvci8JiortAMhezezr8BhAwAVohVUSJBcZcBL",
                        "profile": None,
                        "index": 0,
                        "leaf": "0x5b6a1f0e3d2c4b8a79e6f5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a2918",
                        "proof": ["0x9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d"],
                        "stored": True,
                    }
                ],
                "transactions": [
                    {
                        "event": "RecordRegistered",
                        "block_number": 5,
                        "log_index": 0,
                        "tx_hash": _TX,
                        "args": {"recordId": 1, "owner": _OWNER, "root": _ROOT},
                    }
                ],
                "lineage": {
                    "nodes": [{"record_id": 1, "name": "digits-cnn", "derivation": "none", "revoked": False}],
                    "edges": [],
                },
                "disputes": [],
            }
        }
    )

    indexed: bool = Field(
        description="False when the record was read from the chain because the index has not reached it yet "
        "(then transactions and disputes are empty)."
    )
    artifacts: list[ArtifactDetailOut]
    transactions: list[TransactionOut]
    lineage: LineageGraphOut
    disputes: list[DisputeOut]
