"""Plain-data views of chain records, shared by the CLI's --json output and the HTTP service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry import chain as chainlib
    from verifier.integrity import manifest as manifestlib


def derivation_label(record: chainlib.Record) -> str:
    """How a record derives from its parent, spelt as the CLI's --derivation takes it (``fine-tune``)."""
    return record.derivation.name.lower().replace("_", "-")


def record_summary(record: chainlib.Record) -> dict[str, Any]:
    return {
        "record_id": record.record_id,
        "owner": record.owner,
        "root": "0x" + record.root.hex(),
        "leaf_count": record.leaf_count,
        "manifest_cid": record.manifest_cid,
        "watermark_key_hash": "0x" + record.watermark_key_hash.hex(),
        "parent_id": record.parent_id,
        "derivation": derivation_label(record),
        "commit_block": record.commit_block,
        "registered_block": record.registered_block,
        "registered_at": record.registered_at,
        "revoked": record.revoked,
    }


def record_dict(record: chainlib.Record, manifest: manifestlib.Manifest) -> dict[str, Any]:
    return {
        **record_summary(record),
        "name": manifest.name,
        "artifacts": [e.to_dict() for e in manifest.entries],
    }


def printable(text: str) -> str:
    """``text`` with control characters escaped: strings from other parties (a gateway's error, a path) must not
    drive the terminal (colours, cursor moves, a forged "verified" line)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
