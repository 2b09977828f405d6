"""Response models: the service's JSON is typed, and the OpenAPI document says so."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def _example(**values: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [values]})


ROOT = "0x" + "ab" * 32
CID = "QmXoypizjW3WknFiJnKLwHCnL72vedxjQkDDP1mXWo6uco"
CIDV1 = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
TX = "0x" + "5c" * 32


class Problem(BaseModel):
    """An RFC 9457 problem-details body: every error response has this shape (extension members allowed).

    ``type`` is ``urn:ledgermark:problem:<code>``; ``code`` is the same stable name on its own."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:ledgermark:problem:not-found",
                    "code": "not-found",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "record 42 is not registered on chain",
                }
            ]
        },
    )

    type: str = Field(description="`urn:ledgermark:problem:` followed by `code`.")
    code: str = Field(description="Stable error code: switch on this, not on `detail`.")
    title: str
    status: int
    detail: str = Field(description="What went wrong and what to change, for a person.")


_ARTIFACT = {
    "role": "model",
    "path": "model.pt",
    "size": 12,
    "sha256": "a9" * 32,
    "cid": CID,
    "profile": None,
}


class ArtifactOut(BaseModel):
    """One manifest entry: the artifact's path, role, size and digests."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ARTIFACT]})

    role: str
    path: str
    size: int
    sha256: str
    cid: str
    profile: str | None = None
    """The import profile the CID was made with (None in manifests older than profiles)."""


class RecordOut(BaseModel):
    """A record as the chain holds it, with its verified manifest's artifacts."""

    model_config = _example(
        record_id=1,
        owner=ADDRESS,
        root=ROOT,
        leaf_count=1,
        manifest_cid=CID,
        watermark_key_hash="0x" + "00" * 32,
        parent_id=0,
        derivation="none",
        commit_block=3,
        registered_block=4,
        registered_at=1767225600,
        revoked=False,
        name="digits-cnn",
        artifacts=[_ARTIFACT],
    )

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
    """A record just registered: its id, root and the transaction; the sealed key's data key if one was sealed."""

    model_config = _example(
        record_id=1,
        root=ROOT,
        manifest_cid=CID,
        tx_hash=TX,
        parent_id=0,
        derivation="none",
        watermark_key_hash="0x" + "00" * 32,
        sealed_key_data_key=None,
        artifacts=[_ARTIFACT],
    )

    record_id: int
    root: str
    manifest_cid: str
    tx_hash: str
    parent_id: int = 0
    derivation: str = "none"
    watermark_key_hash: str = "0x" + "00" * 32
    sealed_key_data_key: str | None = Field(
        default=None,
        description="Hex data key of the sealed watermark key (only with `watermark_key`): the owner keeps it "
        "secret until a dispute's reveal; the service does not keep it.",
    )
    artifacts: list[ArtifactOut]


class MismatchOut(BaseModel):
    """An artifact whose bytes differ from the record: which fields, expected against actual."""

    path: str
    role: str
    fields: list[str]
    expected: dict[str, str | int]
    actual: dict[str, str | int]


class ComparisonOut(BaseModel):
    """Uploaded files against a record: `ok` only when every artifact is intact and nothing is extra."""

    model_config = _example(
        record_id=1,
        revoked=False,
        ok=False,
        intact=["triggers.npz"],
        missing=[],
        extra=[],
        mismatched=[
            {
                "path": "model.pt",
                "role": "model",
                "fields": ["sha256", "cid"],
                "expected": {"sha256": "a9" * 32, "cid": CID},
                "actual": {"sha256": "5c" * 32, "cid": "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"},
            }
        ],
    )

    record_id: int
    revoked: bool
    ok: bool
    intact: list[str]
    missing: list[ArtifactOut]
    extra: list[str]
    mismatched: list[MismatchOut]


class LineageOut(BaseModel):
    """A record's ancestry, newest first, and the lineage drawn as text."""

    model_config = _example(ancestry=[], graph="#2 child (quantize of #1)\n└── #1 base")

    ancestry: list[RecordOut]
    graph: str


class DigestOut(BaseModel):
    """Size, SHA-256 and CID of uploaded bytes, as `ipfs add` would compute the CID."""

    model_config = _example(
        cid=CIDV1, size=12, sha256="a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"
    )

    cid: str
    size: int
    sha256: str


class OwnershipOut(BaseModel):
    """The ownership test of an uploaded model against an uploaded watermark key."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "is_copy": True,
                    "verdict": "copy: the model carries the watermark (32 of 32 bits match …)",
                    "wsr": 1.0,
                    "n_bits": 32,
                    "matches": 32,
                    "table": [[16, 0], [0, 16]],
                    "p_value": 1.66e-09,
                    "positive_association": True,
                    "chi2": 28.1,
                    "chi2_p_value": 1.14e-07,
                    "alpha": 0.01,
                    "model_sha256": "5c" * 32,
                }
            ]
        }
    )

    is_copy: bool
    verdict: str
    wsr: float
    n_bits: int
    matches: int
    table: list[list[int]]
    p_value: float = Field(description="One-sided Fisher exact p (conditional on the margins): it decides.")
    positive_association: bool
    chi2: float
    chi2_p_value: float = Field(description="Yates chi-squared p, two-sided: reported only.")
    alpha: float
    model_sha256: str


# --------------------------------------------------------------------------- disputes


class VotesOut(BaseModel):
    uphold: int
    reject: int
    quorum: int
    arbiters: int


class VoteReportOut(BaseModel):
    arbiter: str
    uphold: bool
    report_cid: str


class DisputeDetailOut(BaseModel):
    """One dispute as the chain holds it, with every vote's report and checks of what was revealed."""

    model_config = _example(
        dispute_id=1,
        status="open",
        claimant=ADDRESS,
        claimant_record=1,
        suspect_root=ROOT,
        suspect_record=2,
        suspect_owner=ADDRESS,
        priority="earlier",
        evidence_cid=CIDV1,
        evidence_sha256="ab" * 32,
        report_cid=None,
        key_cid=None,
        key_check=None,
        report_check=None,
        deadline=1767225600,
        bond_wei=10**17,
        votes={"uphold": 0, "reject": 0, "quorum": 1, "arbiters": 1},
        reports=[],
        links={"self": "/disputes/1", "report": "/disputes/1/report", "page": "/dispute/1"},
    )

    dispute_id: int
    status: str = Field(description="open, upheld, rejected or undecided.")
    claimant: str
    claimant_record: int
    suspect_root: str
    suspect_record: int
    suspect_owner: str | None
    priority: str
    evidence_cid: str = Field(description="The public summary pinned at opening.")
    evidence_sha256: str = Field(description="SHA-256 of the full report, committed at opening.")
    report_cid: str | None = Field(description="The full report, pinned at the reveal (null until then).")
    key_cid: str | None
    key_check: str | None = Field(description="Whether the revealed data key opens the anchored sealed key.")
    report_check: str | None = Field(description="Whether the revealed report is the one committed to.")
    deadline: int
    bond_wei: int
    votes: VotesOut
    reports: list[VoteReportOut]
    links: dict[str, str] = Field(description="The evidence report (JSON) and the dispute's web page.")


class DisputePageOut(BaseModel):
    """Disputes, newest first; ``next_before`` continues the list (null at the end)."""

    model_config = _example(items=[], total=0, next_before=None)

    items: list[DisputeDetailOut]
    total: int
    next_before: int | None


class EvidenceReportOut(BaseModel):
    """An evidence document of a dispute, fetched by its on-chain CID and checked: ``stage`` says which one."""

    model_config = _example(
        dispute_id=1,
        stage="commitment",
        cid=CIDV1,
        document={"format": "ledgermark-evidence-commitment", "verdict": "copy", "report_sha256": "ab" * 32},
        page="/dispute/1",
    )

    dispute_id: int
    stage: str = Field(
        description="commitment (the public summary pinned at opening), revealed (the claimant's full report, "
        "its SHA-256 matching the commitment) or review (an arbiter's report)."
    )
    cid: str
    document: dict[str, Any]
    page: str = Field(description="The dispute's web page, which renders this evidence.")


class DisputeOpenedOut(BaseModel):
    """A dispute opened with the bond; only the public summary left the service (the full report stays)."""

    model_config = _example(
        dispute_id=1,
        evidence_cid=CIDV1,
        evidence_sha256="ab" * 32,
        verdict="copy",
        p_value=1e-7,
        chi2_p_value=1e-6,
        wsr=1.0,
        priority="earlier",
        deadline=1767225600,
        bond_wei=10**17,
        tx_hash=TX,
    )

    dispute_id: int
    evidence_cid: str
    evidence_sha256: str
    verdict: str
    p_value: float
    chi2_p_value: float
    wsr: float
    priority: str
    deadline: int
    bond_wei: int
    tx_hash: str


class RevealOut(BaseModel):
    model_config = _example(dispute_id=1, key_cid=CIDV1, report_cid=CIDV1, tx_hash=TX)

    dispute_id: int
    key_cid: str
    report_cid: str
    tx_hash: str


class ReviewOut(BaseModel):
    """An arbiter's own test, its report pinned: vote with ``report_cid``."""

    model_config = _example(
        dispute_id=1,
        claimant_report_cid=CIDV1,
        report_cid=CIDV1,
        verdict="copy",
        recommendation="uphold",
        p_value=1e-7,
        chi2_p_value=1e-6,
        wsr=1.0,
    )

    dispute_id: int
    claimant_report_cid: str
    report_cid: str
    verdict: str
    recommendation: str
    p_value: float
    chi2_p_value: float
    wsr: float


class VoteIn(BaseModel):
    """An arbiter's ruling with the CID of its pinned review report."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"uphold": True, "report_cid": CIDV1}]}
    )

    uphold: bool
    report_cid: str = Field(min_length=1, max_length=128, description="CID of a report this service holds.")


class VoteCastOut(BaseModel):
    model_config = _example(dispute_id=1, uphold=True, report_cid=CIDV1, tx_hash=TX)

    dispute_id: int
    uphold: bool
    report_cid: str
    tx_hash: str


class ResolutionOut(BaseModel):
    model_config = _example(dispute_id=1, outcome="upheld", bond_to=ADDRESS, bond_wei=10**17, tx_hash=TX)

    dispute_id: int
    outcome: str
    bond_to: str
    bond_wei: int
    tx_hash: str


# --------------------------------------------------------------------------- service


class HealthOut(BaseModel):
    model_config = _example(status="ok")

    status: str


class CheckOut(BaseModel):
    ok: bool
    detail: str


class ReadyOut(BaseModel):
    """Each backend checked now; the service is ready when every check is ok."""

    model_config = _example(
        status="ready",
        checks={
            "chain": {"ok": True, "detail": "block 12 on chain id 31337"},
            "store": {"ok": True, "detail": "embedded store, 42 pins"},
            "index": {"ok": True, "detail": "block 12 of 12 (lag 0 blocks), 3 records"},
        },
    )

    status: str
    checks: dict[str, CheckOut]
