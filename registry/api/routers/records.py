"""/records: publish, read, verify uploaded files against a record, and walk lineage."""

from __future__ import annotations

import contextlib
import enum
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile

from registry import chain as chainlib
from registry import fetch as fetch_flow
from registry import lineage
from registry import publish as publish_flow
from registry.api import auth, problems, schemas, uploads
from registry.api.dependencies import MAX_RECORD_ID, get_backends, record_reference
from registry.backends import Backends
from registry.views import derivation_name, record_summary

router = APIRouter(prefix="/records", tags=["records"], generate_unique_id_function=lambda route: route.name)
BackendsDep = Annotated[Backends, Depends(get_backends)]
Reference = Annotated[str, Depends(record_reference)]


class DerivationName(str, enum.Enum):
    """How a record derives from its parent, as the CLI's `--derivation` spells it."""

    FINE_TUNE = "fine-tune"
    QUANTIZE = "quantize"
    PRUNE = "prune"
    DISTILL = "distill"
    OTHER = "other"


@router.post(
    "",
    response_model=schemas.PublicationOut,
    status_code=201,
    responses=problems.responses(400, 401, 403, 409, 413, 422, 503),
    dependencies=[auth.Writer],
)
def publish_record(
    backends: BackendsDep,
    files: Annotated[list[UploadFile], File(description="The artifacts, each under its bare file name.")],
    roles: Annotated[
        list[str], Form(description="One role per file, in the same order (model, trigger, …).")
    ],
    name: Annotated[str, Form(max_length=200, description="Human name of the publication.")] = "unnamed",
    parent: Annotated[
        int, Form(ge=0, le=MAX_RECORD_ID, description="Record this model derives from (0: none).")
    ] = 0,
    derivation: Annotated[
        DerivationName, Form(description="How it derives from `parent` (ignored without one).")
    ] = DerivationName.FINE_TUNE,
    watermark_key: Annotated[
        UploadFile | None,
        File(
            description="Plaintext watermark key: sealed into the publication (only the ciphertext is "
            "stored), its hash anchored; the response carries the data key, which the service does not keep."
        ),
    ] = None,
) -> Any:
    """Upload artifacts (streamed to disk, never held whole), store them on IPFS and anchor their Merkle root
    on-chain, signed by the operator's key: the same flow as `ledgermark publish`, with lineage and key sealing."""
    if len(roles) != len(files):
        raise HTTPException(
            status_code=422, detail=f"{len(files)} files but {len(roles)} roles: give one role per file"
        )
    kind = chainlib.Derivation[derivation.name] if parent else chainlib.Derivation.NONE
    with contextlib.ExitStack() as stack:
        paths = stack.enter_context(uploads.received(files))
        artifacts = [publish_flow.Artifact(path=p, role=r) for p, r in zip(paths, roles)]
        sealed = None
        if watermark_key is not None:
            (key_path,) = stack.enter_context(uploads.received([watermark_key]))
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="ledgermark-seal-"))
            sealed = publish_flow.seal_watermark_key(key_path, Path(workdir))
            key_path.unlink()  # the plaintext leaves the service as soon as it is sealed
            artifacts.append(sealed.artifact)
        key_hash = sealed.key_hash if sealed else bytes(32)
        publication = publish_flow.publish(
            backends, artifacts, name=name, watermark_key_hash=key_hash, parent_id=parent, derivation=kind
        )
    return {
        **publication.to_dict(),
        "parent_id": parent,
        "derivation": derivation_name(kind),
        "watermark_key_hash": "0x" + key_hash.hex(),
        "sealed_key_data_key": sealed.data_key.hex() if sealed else None,
    }


@router.post(
    "/{reference}/verify",
    response_model=schemas.ComparisonOut,
    responses=problems.responses(400, 404, 409, 413, 422, 503),
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
