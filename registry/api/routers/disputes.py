"""/disputes: open, reveal, review, vote, finalise and read ownership disputes over HTTP.

Every step calls the flow function the CLI calls (``registry.dispute``), signed by the service's key: the
claimant's service opens and reveals, an arbiter's service reviews and votes, anyone's finalises. Writes take
the API token; reads are public. The claimant's full report never leaves the service before the reveal: the
open keeps it in the data directory (owner-only) and pins only the commitment; the reveal pins it.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile
from fastapi import Path as PathParam

from ipfs.cid import Cid
from ipfs.errors import InvalidCidError
from registry import chain as chainlib
from registry import dispute as dispute_flow
from registry import views
from registry.api import auth, problems, schemas, uploads
from registry.api.dependencies import MAX_RECORD_ID, get_backends
from registry.backends import Backends
from registry.errors import LedgermarkError
from verifier.integrity import documents

router = APIRouter(
    prefix="/disputes", tags=["disputes"], generate_unique_id_function=lambda route: route.name
)
BackendsDep = Annotated[Backends, Depends(get_backends)]
DisputeId = Annotated[int, PathParam(ge=1, le=MAX_RECORD_ID, description="The dispute's id.")]
MAX_PAGE = 100
SUMMARY_LIMIT = 64 << 10
"""The public summary pinned at opening is a few hundred bytes: anything larger is refused unread."""
_WRITE = problems.responses(400, 401, 403, 404, 409, 413, 422, 503)
_READ = problems.responses(400, 404, 409, 422, 503)


@router.get("", response_model=schemas.DisputePageOut, responses=problems.responses(400, 422, 503))
def list_disputes(
    backends: BackendsDep,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_RECORD_ID, description="Only disputes with a smaller id (paging).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="At most this many disputes.")] = 20,
) -> Any:
    """Disputes newest first, as the chain holds them (revealed keys and reports are not re-checked here:
    read one dispute for that)."""
    total = backends.disputes.dispute_count()
    top = min(total, (before - 1) if before else total)
    ids = list(range(top, max(top - limit, 0), -1))
    items = [dispute_out(dispute_flow.report(backends.disputes, i)) for i in ids]
    return {"items": items, "total": total, "next_before": ids[-1] if ids and ids[-1] > 1 else None}


@router.get("/{dispute_id}", response_model=schemas.DisputeDetailOut, responses=_READ)
def read_dispute(backends: BackendsDep, dispute_id: DisputeId) -> Any:
    """One dispute: state, priority, bond, votes with their report CIDs, and whether the revealed data key and
    report check out (the CLI's `dispute show`)."""
    return dispute_out(dispute_flow.report(backends.disputes, dispute_id, backends))


@router.get("/{dispute_id}/report", response_model=schemas.EvidenceReportOut, responses=_READ)
def read_evidence(
    backends: BackendsDep,
    dispute_id: DisputeId,
    arbiter: Annotated[
        str | None,
        Query(max_length=42, description="An arbiter's address: that arbiter's review report instead."),
    ] = None,
) -> Any:
    """The evidence: the claimant's full report once revealed (checked against the commitment made at opening),
    before that the public summary pinned at opening, or with `arbiter` that arbiter's review report."""
    dispute = backends.disputes.dispute(dispute_id)
    if arbiter is not None:
        return _arbiter_report(backends, dispute, arbiter)
    if dispute.report_cid:
        document = dispute_flow.revealed_report(backends, dispute)
        return _report_out(dispute, "revealed", dispute.report_cid, document)
    return _report_out(dispute, "commitment", dispute.evidence_cid, public_summary(backends, dispute))


@router.post(
    "", response_model=schemas.DisputeOpenedOut, status_code=201, responses=_WRITE, dependencies=[auth.Writer]
)
def open_dispute(
    backends: BackendsDep,
    claimant_record: Annotated[
        str, Form(max_length=80, description="Your record (id or 0x root); it must anchor the watermark key.")
    ],
    model: Annotated[UploadFile, File(description="The suspect model file.")],
    key: Annotated[UploadFile, File(description="Your plaintext watermark key (used here, never stored).")],
    suspect: Annotated[
        str | None,
        Form(max_length=80, description="Suspect record id or 0x root (default: the model's root)."),
    ] = None,
    force: Annotated[bool, Form(description="Open even if the test does not say 'copy'.")] = False,
) -> Any:
    """Test the suspect for your watermark and open a dispute with the bond (`ledgermark dispute open`): only a
    commitment to the report and its public summary leave the service; the full report stays private."""
    with uploads.received([model, key]) as (model_path, key_path), _scratch() as report_dir:
        opened = dispute_flow.claim(
            backends,
            claimant_record,
            model_path,
            key_path.read_bytes(),
            report_dir=report_dir,
            suspect=suspect,
            force=force,
        )
    return views.claim_view(opened, with_paths=False)


@router.post(
    "/{dispute_id}/reveal", response_model=schemas.RevealOut, responses=_WRITE, dependencies=[auth.Writer]
)
def reveal_key(
    backends: BackendsDep,
    dispute_id: DisputeId,
    key: Annotated[
        UploadFile, File(description="Your plaintext watermark key (checked here, never stored).")
    ],
    data_key: Annotated[
        str, Form(max_length=200, description="The sealed key's data key (64 hex digits, from the publish).")
    ],
    report: Annotated[
        UploadFile | None,
        File(description="The full evidence report (default: the private copy the open kept)."),
    ] = None,
) -> Any:
    """Pin the full report and reveal the key's CID and the sealed copy's data key (`ledgermark dispute
    reveal`); refused before anything is pinned or sent unless the data key opens the anchored sealed key to
    exactly this key and the report hashes to the commitment."""
    secret = dispute_flow.parse_data_key(data_key.encode(), "data_key")
    with uploads.received([key] + ([report] if report else [])) as paths:
        cid, tx = dispute_flow.reveal(
            backends, dispute_id, paths[0].read_bytes(), secret, report=paths[1] if report else None
        )
    return {
        "dispute_id": dispute_id,
        "key_cid": cid,
        "report_cid": tx.event("KeyRevealed")["reportCid"],
        "tx_hash": tx.tx_hash,
    }


@router.post(
    "/{dispute_id}/review", response_model=schemas.ReviewOut, responses=_WRITE, dependencies=[auth.Writer]
)
def review_dispute(
    backends: BackendsDep,
    dispute_id: DisputeId,
    model: Annotated[
        UploadFile | None, File(description="The suspect model (only when the suspect is not registered).")
    ] = None,
) -> Any:
    """Arbiter: check the revealed report against its commitment, unseal the anchored key with the revealed data
    key, re-run the test and pin this service's own report (`ledgermark dispute review`); then vote with it."""
    with contextlib.ExitStack() as stack:
        given = stack.enter_context(uploads.received([model]))[0] if model else None
        report_dir = stack.enter_context(_scratch())
        found = dispute_flow.review(backends, dispute_id, report_dir=report_dir, model=given)
    claimant_report_cid = backends.disputes.dispute(dispute_id).report_cid
    return views.review_view(found, dispute_id, claimant_report_cid, with_paths=False)


@router.post(
    "/{dispute_id}/votes",
    response_model=schemas.VoteCastOut,
    status_code=201,
    responses=_WRITE,
    dependencies=[auth.Writer],
)
def cast_vote(backends: BackendsDep, dispute_id: DisputeId, ballot: schemas.VoteIn) -> Any:
    """Arbiter: vote with the CID of a review report this service holds (`ledgermark dispute vote`)."""
    cid = _pinned_cid(backends, ballot.report_cid)
    tx = dispute_flow.vote(backends.disputes, dispute_id, ballot.uphold, cid)
    return {"dispute_id": dispute_id, "uphold": ballot.uphold, "report_cid": cid, "tx_hash": tx.tx_hash}


@router.post(
    "/{dispute_id}/finalise",
    response_model=schemas.ResolutionOut,
    responses=_WRITE,
    dependencies=[auth.Writer],
)
def finalise_dispute(
    backends: BackendsDep,
    dispute_id: DisputeId,
    skip_wait: Annotated[
        bool, Query(description="On a dev chain, advance its clock past the deadline.")
    ] = False,
) -> Any:
    """Resolve the dispute after its deadline (`ledgermark dispute finalise`): the bond goes to the claimant
    (upheld or undecided) or to the suspect's owner (rejected)."""
    resolution = dispute_flow.finalise(backends.disputes, dispute_id, skip_wait_on_dev_chain=skip_wait)
    return views.resolution_view(resolution)


# --------------------------------------------------------------------------- helpers


def dispute_out(state: dispute_flow.DisputeReport) -> dict[str, Any]:
    """The dispute as `ledgermark dispute show --json` prints it, plus links to its evidence and page."""
    d = state.dispute
    return {
        **views.dispute_view(state),
        "links": {
            "self": f"/disputes/{d.dispute_id}",
            "report": f"/disputes/{d.dispute_id}/report",
            "page": f"/dispute/{d.dispute_id}",
        },
    }


def _arbiter_report(backends: Backends, dispute: chainlib.Dispute, arbiter: str) -> dict[str, Any]:
    votes = [v for v in backends.disputes.votes(dispute.dispute_id) if v.arbiter.lower() == arbiter.lower()]
    if not votes:
        raise HTTPException(
            status_code=404, detail=f"{arbiter!r} has not voted on dispute {dispute.dispute_id}"
        )
    cid = votes[0].report_cid
    data = backends.store.cat(cid, max_size=dispute_flow.REPORT_LIMIT)
    return _report_out(dispute, "review", cid, _parse(data, f"{arbiter}'s review report {cid}"))


def _report_out(dispute: chainlib.Dispute, stage: str, cid: str, document: dict[str, Any]) -> dict[str, Any]:
    return {
        "dispute_id": dispute.dispute_id,
        "stage": stage,
        "cid": cid,
        "document": document,
        "page": f"/dispute/{dispute.dispute_id}",
    }


def public_summary(backends: Backends, dispute: chainlib.Dispute) -> dict[str, Any]:
    """The public summary the claimant pinned at opening (this route's and the dispute page's evidence until the
    reveal): bounded, strict, an object."""
    data = backends.store.cat(dispute.evidence_cid, max_size=SUMMARY_LIMIT)
    source = f"dispute {dispute.dispute_id}'s public summary {dispute.evidence_cid}"
    return _parse(data, source, SUMMARY_LIMIT)


def _parse(data: bytes, source: str, max_bytes: int = dispute_flow.REPORT_LIMIT) -> dict[str, Any]:
    """Another party's JSON document: bounded, strict, an object."""
    try:
        document = documents.parse_json(data, source=source, max_bytes=max_bytes)
    except documents.DocumentError as err:
        raise LedgermarkError(str(err)) from err
    if not isinstance(document, dict):
        raise LedgermarkError(f"{source} is not a JSON object")
    return document


def _pinned_cid(backends: Backends, text: str) -> str:
    """A vote must cite a report anyone can fetch: a CID (never a server path) that this service's store holds."""
    try:
        cid = str(Cid.parse(text.strip()))
    except InvalidCidError as err:
        raise LedgermarkError(f"report_cid {text[:80]!r} is not a CID: {err}") from None
    if not backends.store.has(cid):
        raise LedgermarkError(
            f"report_cid {cid} is not pinned in this service's store: run POST /disputes/{{id}}/review first"
        )
    return cid


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    """A private folder for the report files a flow writes, removed afterwards (the flows keep what matters)."""
    with tempfile.TemporaryDirectory(prefix="ledgermark-upload-") as folder:
        yield Path(folder)
