"""Plain-data views of chain records, shared by the CLI's --json output and the HTTP service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry import chain as chainlib
    from registry import dispute as dispute_flow
    from verifier.integrity import manifest as manifestlib


def derivation_label(record: chainlib.Record) -> str:
    """How a record derives from its parent, spelt as the CLI's --derivation takes it (``fine-tune``)."""
    return derivation_name(record.derivation)


def derivation_name(kind: chainlib.Derivation) -> str:
    """A derivation spelt as the CLI's --derivation takes it (``fine-tune``; ``none`` without a parent)."""
    return kind.name.lower().replace("_", "-")


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


def dispute_view(state: dispute_flow.DisputeReport) -> dict[str, Any]:
    """A dispute as `dispute show --json` prints it and GET /disputes/{id} returns it (which adds its links)."""
    d = state.dispute
    return {
        "dispute_id": d.dispute_id,
        "status": d.status.name.lower(),
        "claimant": d.claimant,
        "claimant_record": d.claimant_record,
        "suspect_root": "0x" + d.suspect_root.hex(),
        "suspect_record": d.suspect_record,
        "suspect_owner": d.suspect_owner if d.suspect_record else None,
        "priority": d.priority.name.lower(),
        "evidence_cid": d.evidence_cid,
        "evidence_sha256": d.evidence_hash.hex(),
        "report_cid": d.report_cid or None,
        "key_cid": d.key_cid if d.key_revealed else None,
        "key_check": state.key_check,
        "report_check": state.report_check,
        "deadline": d.deadline,
        "bond_wei": d.bond,
        "votes": {
            "uphold": d.uphold_votes,
            "reject": d.reject_votes,
            "quorum": state.quorum,
            "arbiters": state.arbiter_count,
        },
        "reports": [
            {"arbiter": v.arbiter, "uphold": v.uphold, "report_cid": v.report_cid} for v in state.votes
        ],
    }


def claim_view(opened: dispute_flow.Claim, *, with_paths: bool) -> dict[str, Any]:
    """An opened dispute as `dispute open` prints it and POST /disputes returns it; ``with_paths`` names the
    local report file (the CLI's user wrote it; the service never shows its own paths)."""
    found, dispute = opened.evidence, opened.dispute
    return {
        "dispute_id": dispute.dispute_id,
        "evidence_cid": opened.summary_cid,
        "evidence_sha256": found.report_sha256.hex(),
        **({"report": str(found.html_path)} if with_paths else {}),
        "verdict": found.result.verdict,
        "p_value": found.result.p_value,
        "chi2_p_value": found.result.chi2_p_value,
        "wsr": found.result.wsr,
        "priority": dispute.priority.name.lower(),
        "deadline": dispute.deadline,
        "bond_wei": dispute.bond,
        "tx_hash": opened.tx.tx_hash,
    }


def review_view(
    found: dispute_flow.Evidence, dispute_id: int, claimant_report_cid: str, *, with_paths: bool
) -> dict[str, Any]:
    """An arbiter's review as `dispute review` prints it and POST /disputes/{id}/review returns it
    (``with_paths`` as in ``claim_view``)."""
    return {
        "dispute_id": dispute_id,
        "claimant_report_cid": claimant_report_cid,
        "report_cid": found.report_cid,
        **({"report": str(found.html_path)} if with_paths else {}),
        "verdict": found.result.verdict,
        "recommendation": "uphold" if found.result.is_copy else "reject",
        "p_value": found.result.p_value,
        "chi2_p_value": found.result.chi2_p_value,
        "wsr": found.result.wsr,
    }


def resolution_view(resolution: dispute_flow.Resolution) -> dict[str, Any]:
    """A finalised dispute as `dispute finalise` prints it and POST /disputes/{id}/finalise returns it."""
    return {
        "dispute_id": resolution.dispute_id,
        "outcome": resolution.outcome.name.lower(),
        "bond_to": resolution.recipient,
        "bond_wei": resolution.bond_wei,
        "tx_hash": resolution.tx.tx_hash,
    }


def printable(text: str) -> str:
    """``text`` with control characters escaped: strings from other parties (a gateway's error, a path) must not
    drive the terminal (colours, cursor moves, a forged "verified" line)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
