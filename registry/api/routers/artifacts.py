"""/cid: content addresses of uploaded bytes, exactly as Kubo's `ipfs add` computes them."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, UploadFile

from ipfs import unixfs
from registry.api import problems, schemas, uploads
from verifier.integrity import manifest as manifestlib

router = APIRouter(tags=["artifacts"])

CidProfile = Enum("CidProfile", {name: name for name in unixfs.PROFILES}, type=str)  # type: ignore[misc]
"""The import profiles by name, so that OpenAPI lists them and anything else is a 422."""


@router.post("/cid", response_model=schemas.DigestOut, responses=problems.responses(400, 422))
def content_address(
    file: Annotated[UploadFile, File()],
    cid_version: Annotated[int | None, Query(ge=0, le=1)] = None,
    profile: Annotated[CidProfile | None, Query(description="Import profile; wins over cid_version.")] = None,
) -> Any:
    """Size, SHA-256 and CID of one uploaded file; nothing is stored."""
    chosen = unixfs.resolve_profile(None if profile is None else profile.value, cid_version)
    with uploads.received([file]) as (path,):
        digest = manifestlib.digest_file(path, profile=chosen)
    return {"cid": digest.cid, "size": digest.size, "sha256": digest.sha256}
