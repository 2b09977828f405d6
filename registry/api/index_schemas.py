"""Response models of the index's read API (``/records`` list and detail): named, described, with examples."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ipfs.cid import RAW, Cid
from verifier.integrity import merkle
from verifier.integrity.manifest import ManifestEntry


def _example_artifacts() -> list[dict[str, Any]]:
    """Two small raw-leaf artifacts whose leaves, proofs and root agree, so the example checks out."""
    entries = []
    for role, path, content in (
        ("model", "model.pt", b"example model"),
        ("trigger", "triggers.pt", b"triggers"),
    ):
        digest = hashlib.sha256(content).digest()
        cid = str(Cid(version=1, codec=RAW, digest=digest))
        entries.append(ManifestEntry(role=role, path=path, size=len(content), sha256=digest.hex(), cid=cid))
    leaves = [entry.leaf() for entry in entries]
    return [
        {
            **entry.to_dict(),
            "profile": None,
            "index": index,
            "leaf": "0x" + leaf.hex(),
            "proof": ["0x" + p.hex() for p in merkle.merkle_proof(leaves, index)],
            "stored": True,
        }
        for index, (entry, leaf) in enumerate(zip(entries, leaves, strict=True))
    ]


_ARTIFACTS = _example_artifacts()
_ROOT = "0x" + merkle.merkle_root([bytes.fromhex(a["leaf"][2:]) for a in _ARTIFACTS]).hex()
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
                "artifacts": _ARTIFACTS,
                "transactions": [
                    {
                        "event": "ModelRegistered",
                        "block_number": 5,
                        "log_index": 0,
                        "tx_hash": _TX,
                        "args": {
                            "recordId": 1,
                            "owner": _OWNER,
                            "parentId": 0,
                            "root": _ROOT,
                            "leafCount": 2,
                        },
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
