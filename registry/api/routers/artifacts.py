"""/cid: content addresses of uploaded bytes, exactly as Kubo's `ipfs add` computes them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, UploadFile

from registry.api import schemas, uploads
from verifier.integrity import manifest as manifestlib

router = APIRouter(tags=["artifacts"])


@router.post("/cid", response_model=schemas.DigestOut)
def content_address(
    file: Annotated[UploadFile, File()],
    cid_version: Annotated[int, Query(ge=0, le=1)] = 0,
) -> Any:
    """Size, SHA-256 and CID of one uploaded file; nothing is stored."""
    with uploads.received([file]) as (path,):
        digest = manifestlib.digest_file(path, cid_version=cid_version)
    return {"cid": digest.cid, "size": digest.size, "sha256": digest.sha256}
