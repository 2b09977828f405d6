"""/watermark: test an uploaded model for the watermark of an uploaded key (the CLI's `watermark verify`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, UploadFile

from registry import watermarking
from registry.api import problems, schemas, uploads

router = APIRouter(prefix="/watermark", tags=["watermark"])


@router.post("/verify", response_model=schemas.OwnershipOut, responses=problems.responses(400, 422))
def verify(
    model: Annotated[UploadFile, File(description="The suspect model file.")],
    key: Annotated[UploadFile, File(description="The plaintext watermark key.")],
    alpha: Annotated[float, Query(gt=0, lt=1)] = 0.01,
) -> Any:
    """Extract the key's watermark from the model and run the ownership test; nothing is kept afterwards."""
    with uploads.received([model, key]) as (model_path, key_path):
        assessment = watermarking.assess(model_path, watermarking.read_key(key_path), alpha)
    return {**assessment.result.to_dict(), "model_sha256": assessment.model_sha256}
