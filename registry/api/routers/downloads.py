"""GET /records/{reference}/artifacts/{path}: one artifact's bytes, sent only once every byte is proven.

The manifest is checked against the anchored root, the file is taken out of the store block by block (each
block against its CID) into a private temp file, and its size and SHA-256 are checked against the manifest's
entry. Only then does the first byte leave: a 200 means the whole body is what the owner anchored, and a
mismatch is a 409 problem, never a truncated or half-tampered download. The temp file goes when the response
is sent (or fails).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from registry import fetch as fetch_flow
from registry.api import problems
from registry.api.dependencies import get_backends, record_reference
from registry.backends import Backends
from registry.errors import RecordError, VerificationFailed
from verifier.integrity import manifest as manifestlib

router = APIRouter(prefix="/records", tags=["records"], generate_unique_id_function=lambda route: route.name)

_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


@router.get(
    "/{reference}/artifacts/{path:path}",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The artifact's bytes, all verified before the first is sent.",
            "content": _BINARY,
        },
        **problems.responses(400, 404, 409, 422, 503),
    },
)
def download_artifact(
    backends: Annotated[Backends, Depends(get_backends)],
    reference: Annotated[str, Depends(record_reference)],
    path: Annotated[str, PathParam(max_length=4096, description="The artifact's path in the manifest.")],
) -> Any:
    """One artifact of a record, verified against the anchored manifest (CID block by block, size, SHA-256)
    before any byte is sent; `ETag` is its SHA-256, `X-Ledgermark-Cid` its CID."""
    record = fetch_flow.resolve_record(backends, reference)
    manifest = fetch_flow.load_manifest(backends, record)
    entry = next((e for e in manifest.entries if e.path == path), None)
    if entry is None:
        raise RecordError(f"record {record.record_id} has no artifact named {path[:200]!r}")
    folder = Path(tempfile.mkdtemp(prefix="ledgermark-upload-"))
    try:
        target = _verified_copy(backends, record.record_id, entry, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        target,
        media_type="application/octet-stream",
        filename=Path(entry.path).name,
        headers={"ETag": f'"{entry.sha256}"', "X-Ledgermark-Cid": entry.cid},
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


def _verified_copy(
    backends: Backends, record_id: int, entry: manifestlib.ManifestEntry, folder: Path
) -> Path:
    """The artifact in ``folder``, proven block by block and then whole against its manifest entry."""
    target = folder / "artifact"
    digest = backends.store.get_file(entry.cid, target, max_size=entry.size)
    if (digest.size, digest.sha256) != (entry.size, entry.sha256):
        raise VerificationFailed(
            f"record {record_id}: artifact {entry.path} from the store is not what the manifest anchors "
            f"(size {digest.size}, SHA-256 {digest.sha256}; expected {entry.size}, {entry.sha256})"
        )
    return target
