"""A record's full page of facts, assembled from the index: artifacts with proofs, transactions, lineage graph,
disputes, and whether this service's store holds each artifact. The service's detail route and the web pages
share it; when the index has not reached a record yet, ``from_chain`` reads it directly (read-after-write).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from ipfs.errors import LedgermarkError
from registry import views
from registry.index.rows import RecordRow
from registry.index.store import RecordIndex
from verifier.integrity import manifest as manifestlib

if TYPE_CHECKING:
    from ipfs.store import ContentStore
    from registry.backends import Backends

log = logging.getLogger(__name__)

MAX_PROOF_LEAVES = 4096
"""Proofs are listed for manifests up to this many artifacts (beyond, a page of proofs is megabytes)."""
MAX_LINEAGE_DEPTH = 64
MAX_CHILDREN = 100


def record_detail(index: RecordIndex, store: ContentStore | None, row: RecordRow) -> dict[str, Any]:
    """The detail document of an indexed record."""
    entries = tuple(
        manifestlib.ManifestEntry(a.role, a.path, a.size, a.sha256, a.cid, a.profile)
        for a in index.artifacts(row.record_id) or ()
    )
    return {
        **row.to_dict(),
        "indexed": True,
        "artifacts": artifact_details(manifestlib.Manifest(row.name or "", entries), store),
        "transactions": [t.to_dict() for t in index.transactions(row.record_id)],
        "lineage": lineage_graph(
            index.ancestry(row.record_id, max_depth=MAX_LINEAGE_DEPTH),
            index.children(row.record_id, limit=MAX_CHILDREN),
        ),
        "disputes": [d.to_dict() for d in index.disputes(record_id=row.record_id)],
    }


def from_chain(backends: Backends, reference: str) -> dict[str, Any]:
    """The detail document read from the chain and the store (the index has not reached the record yet)."""
    from registry import fetch as fetch_flow

    record = fetch_flow.resolve_record(backends, reference)
    manifest = fetch_flow.load_manifest(backends, record)
    summary = views.record_summary(record)
    del summary["commit_block"]  # not a column of the index
    row = RecordRow(
        **summary,
        tx_hash=None,  # type: ignore[arg-type]
        name=manifest.name,
        manifest_status="verified",
        open_disputes=0,
        children=0,
    )
    return {
        **row.to_dict(),
        "indexed": False,
        "artifacts": artifact_details(manifest, backends.store),
        "transactions": [],
        "lineage": lineage_graph([row], []),
        "disputes": [],
    }


def artifact_details(manifest: manifestlib.Manifest, store: ContentStore | None) -> list[dict[str, Any]]:
    """Each entry of the verified manifest with its leaf, index and proof (its leaves are hashed once: a
    manifest whose root was checked already holds them)."""
    leaves = manifest.leaves()
    proofs = manifest.proofs() if leaves and len(leaves) <= MAX_PROOF_LEAVES else None
    return [
        {
            **dataclasses.asdict(e),
            "index": i,
            "leaf": "0x" + leaves[i].hex(),
            "proof": None if proofs is None else ["0x" + p.hex() for p in proofs[i]],
            "stored": _stored(store, e.cid),
        }
        for i, e in enumerate(manifest.entries)
    ]


def lineage_graph(ancestry: list[RecordRow], children: list[RecordRow]) -> dict[str, Any]:
    """Nodes (ancestors, the record, its children) and parent→child edges."""
    nodes = {r.record_id: r for r in [*ancestry, *children]}
    edges = [
        {"parent": r.parent_id, "child": r.record_id, "derivation": r.derivation}
        for r in nodes.values()
        if r.parent_id in nodes
    ]
    return {
        "nodes": [
            {"record_id": r.record_id, "name": r.name, "derivation": r.derivation, "revoked": r.revoked}
            for r in sorted(nodes.values(), key=lambda r: r.record_id)
        ],
        "edges": sorted(edges, key=lambda e: (e["parent"], e["child"])),
    }


def _stored(store: ContentStore | None, cid: str) -> bool | None:
    """Whether the service's own store holds the block (other sources are not asked: that would be slow)."""
    if store is None:
        return None
    primary = getattr(store, "primary", store)
    try:
        return bool(primary.has(cid))
    except LedgermarkError as err:
        log.info("could not tell whether %s is stored: %s", cid, err)
        return None
