"""Response models: the service's JSON is typed, and the OpenAPI document says so."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Problem(BaseModel):
    """An RFC 9457 problem-details body: every error response has this shape (extension members allowed)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str


class ArtifactOut(BaseModel):
    role: str
    path: str
    size: int
    sha256: str
    cid: str
    profile: str | None = None
    """The import profile the CID was made with (None in manifests older than profiles)."""


class RecordOut(BaseModel):
    record_id: int
    owner: str
    root: str
    leaf_count: int
    manifest_cid: str
    watermark_key_hash: str
    parent_id: int
    derivation: str
    commit_block: int
    registered_block: int
    registered_at: int
    revoked: bool
    name: str | None = None
    artifacts: list[ArtifactOut] = []


class PublicationOut(BaseModel):
    record_id: int
    root: str
    manifest_cid: str
    tx_hash: str
    artifacts: list[ArtifactOut]


class MismatchOut(BaseModel):
    path: str
    role: str
    fields: list[str]
    expected: dict[str, str | int]
    actual: dict[str, str | int]


class ComparisonOut(BaseModel):
    record_id: int
    revoked: bool
    ok: bool
    intact: list[str]
    missing: list[ArtifactOut]
    extra: list[str]
    mismatched: list[MismatchOut]


class LineageOut(BaseModel):
    ancestry: list[RecordOut]
    graph: str


class DigestOut(BaseModel):
    cid: str
    size: int
    sha256: str


class OwnershipOut(BaseModel):
    """The ownership test of an uploaded model against an uploaded watermark key."""

    is_copy: bool
    verdict: str
    wsr: float
    n_bits: int
    matches: int
    table: list[list[int]]
    chi2: float
    p_chi2: float
    p_binomial: float
    alpha: float
    model_sha256: str
