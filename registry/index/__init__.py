"""The registry index: a SQLite cache of records, lineage, transfers, revocations and disputes, followed from
the contracts' events and rebuilt from the chain on demand (``RecordIndex``), and the thread that keeps a
service's index in step (``Follower``)."""

from registry.index.follower import Follower, following
from registry.index.rows import (
    ArtifactRow,
    DisputeRow,
    IndexStatus,
    Page,
    RecordRow,
    SyncReport,
    TransactionRow,
    VoteRow,
)
from registry.index.store import IndexQueryError, RecordIndex

__all__ = [
    "ArtifactRow",
    "DisputeRow",
    "Follower",
    "IndexQueryError",
    "IndexStatus",
    "Page",
    "RecordIndex",
    "RecordRow",
    "SyncReport",
    "TransactionRow",
    "VoteRow",
    "following",
]
