"""/records: publish, read, verify uploaded files against a record, and walk lineage."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile

from registry import fetch as fetch_flow
from registry import lineage
from registry import publish as publish_flow
from registry.api import problems, schemas, uploads
from registry.api.dependencies import get_backends, record_reference
from registry.backends import Backends
from registry.views import record_summary

router = APIRouter(prefix="/records", tags=["records"])
BackendsDep = Annotated[Backends, Depends(get_backends)]
Reference = Annotated[str, Depends(record_reference)]


@router.post(
    "", response_model=schemas.PublicationOut, status_code=201, responses=problems.responses(400, 409, 422)
)
def publish_record(
    backends: BackendsDep,
    files: Annotated[list[UploadFile], File(description="The artifacts.")],
    roles: Annotated[list[str], Form(description="One role per file, in the same order.")],
    name: Annotated[str, Form()] = "unnamed",
) -> Any:
    """Upload artifacts, store them on IPFS and anchor their Merkle root on-chain."""
    if len(roles) != len(files):
        raise HTTPException(
            status_code=422, detail=f"{len(files)} files but {len(roles)} roles: give one role per file"
        )
    with uploads.received(files) as paths:
        artifacts = [publish_flow.Artifact(path=p, role=r) for p, r in zip(paths, roles)]
        return publish_flow.publish(backends, artifacts, name=name).to_dict()


@router.post(
    "/{reference}/verify",
    response_model=schemas.ComparisonOut,
    responses=problems.responses(400, 404, 409, 422),
)
def verify_uploads(
    backends: BackendsDep,
    reference: Reference,
    files: Annotated[list[UploadFile], File(description="Files to check, matched to the manifest by name.")],
) -> Any:
    """Check uploaded files against a record; `ok` is false with every difference itemised on a mismatch."""
    with uploads.received(files) as paths:
        record, comparison = fetch_flow.verify_files(backends, reference, paths)
    return {"record_id": record.record_id, "revoked": record.revoked, **comparison.to_dict()}


@router.get(
    "/{reference}/lineage",
    response_model=schemas.LineageOut,
    responses=problems.responses(400, 404, 409, 422),
)
def read_lineage(backends: BackendsDep, reference: Reference) -> Any:
    """The record's ancestry, newest first, and the lineage drawn as text."""
    found = lineage.lineage(backends, reference)
    return {"ancestry": [record_summary(r) for r in found.ancestry], "graph": found.render()}
