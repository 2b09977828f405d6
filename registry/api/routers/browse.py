"""GET /records (list, filters, full-text search, keyset pages) and GET /records/{reference} (detail), answered
from the service's record index (``registry.index``), never by scanning the chain."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query, Request

from registry.api import dependencies, index_schemas, problems
from registry.api.dependencies import record_reference
from registry.errors import RecordError
from registry.index import RecordIndex
from registry.index import detail as detaillib
from registry.index.store import MAX_LIMIT, MAX_QUERY_CHARS, MAX_SQL_ID

router = APIRouter(prefix="/records", tags=["records"])
Reference = Annotated[str, Depends(record_reference)]
"""Ids beyond SQLite's integers are no indexed record (the chain has ~ that many only in theory)."""


def get_index(request: Request) -> RecordIndex:
    """The index the service opened at start-up (its follower thread keeps it synced)."""
    return request.app.state.index


IndexDep = Annotated[RecordIndex, Depends(get_index)]


@router.get("", response_model=index_schemas.RecordPageOut, responses=problems.responses(400, 422))
def list_records(
    index: IndexDep,
    owner: Annotated[str | None, Query(max_length=42, description="Current owner's 0x address.")] = None,
    name: Annotated[str | None, Query(max_length=200, description="Exact name (any case).")] = None,
    parent: Annotated[int | None, Query(ge=0, le=MAX_SQL_ID, description="Children of this record.")] = None,
    revoked: Annotated[bool | None, Query(description="Only revoked (true) or live (false) records.")] = None,
    open_dispute: Annotated[
        bool | None, Query(description="Only records party to an open dispute (true), or to none (false).")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=MAX_QUERY_CHARS,
            description="Full-text search over names and model cards: every word must match (as a prefix).",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=64, description="`next_cursor` of the previous page.")
    ] = None,
) -> Any:
    """Records, newest first, filtered and searched; a 400 problem names a parameter it cannot use."""
    page = index.records(
        owner=owner,
        name=name,
        parent=parent,
        revoked=revoked,
        open_dispute=open_dispute,
        query=q,
        limit=limit,
        cursor=cursor,
    )
    return page.to_dict()


@router.get(
    "/{reference}",
    response_model=index_schemas.RecordDetailOut,
    responses=problems.responses(400, 404, 409, 422, 503),
)
async def read_record(request: Request, index: IndexDep, reference: Reference) -> Any:
    """A record (by id or 0x Merkle root): its artifacts with CIDs, sizes and Merkle proofs, its transactions,
    lineage graph and disputes, and whether this service stores each artifact. A record the index has not
    reached yet is read from the chain (`indexed` false)."""
    row = await anyio.to_thread.run_sync(_indexed, index, reference)
    if row is not None:
        store = request.app.state.backends.store
        return await anyio.to_thread.run_sync(detaillib.record_detail, index, store, row)
    async with dependencies.backends_turn(request) as backends:  # the chain client: one request at a time
        return await anyio.to_thread.run_sync(detaillib.from_chain, backends, reference)


def _indexed(index: RecordIndex, reference: str) -> Any:
    text = reference.strip()
    if text.isdecimal():
        return index.record(int(text))
    if text.lower().startswith("0x") and len(text) == 66:
        try:
            return index.record_by_root(bytes.fromhex(text[2:]))
        except ValueError:
            raise RecordError(f"{text!r} is not a hex Merkle root") from None
    return None  # malformed: the chain path says why
