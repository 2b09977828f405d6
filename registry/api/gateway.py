"""/ipfs/{cid}: the content this service holds, as an IPFS Trustless Gateway (raw blocks and CAR streams).

A buyer trusts nothing here: every byte it receives is checkable against the CID it asked for, so the gateway
only has to be honest about *which* bytes it sends. Blocks leave through the store's verified getters (a block
altered on disk is refused, never served), a CAR is streamed block by block in depth-first order, and no
response deserialises UnixFS. Reads are public and use the store alone, never the chain: content stays
available while the chain node is down. Spec: https://specs.ipfs.tech/http-gateways/trustless-gateway/
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ipfs import car as carlib
from ipfs.cid import Cid, encode_varint
from ipfs.errors import ContentIntegrityError, ContentNotFoundError, InvalidCidError, LedgermarkError
from ipfs.store import ContentStore
from registry.api import problems

log = logging.getLogger(__name__)

router = APIRouter(prefix="/ipfs", tags=["gateway"])

RAW = "application/vnd.ipld.raw"
CAR = "application/vnd.ipld.car"
CAR_CONTENT_TYPE = f"{CAR}; version=1; order=dfs; dups=n"
PROBLEM = "application/problem+json"
SCOPES = ("block", "entity", "all")
_MAX_CID_CHARS = 128  # a sha2-256 CIDv1 in base32 is 59; anything far longer is refused before parsing
_MAX_ACCEPT_CHARS = 4096
_MAX_ACCEPT_ENTRIES = 32
_IMMUTABLE = "public, max-age=29030400, immutable"
PROBE_CID = "bafkqaaa"
"""The empty identity CID: clients GET it to learn that a URL is a trustless gateway (the spec's probe path)."""
_PROBE_LINK = b"\x00\x01\x55\x00\x00"  # multibase 0x00, CIDv1, raw, identity multihash of length 0
_PROBE_HEADER = (
    b"\xa2\x65roots\x81\xd8\x2a" + bytes([0x40 | len(_PROBE_LINK)]) + _PROBE_LINK + b"\x67version\x01"
)
_PROBE_CAR = encode_varint(len(_PROBE_HEADER)) + _PROBE_HEADER


class GatewayProblem(Exception):
    """A request the gateway answers with an RFC 9457 problem-details body (never a server path)."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


@dataclasses.dataclass(frozen=True)
class _Wanted:
    """What the client asked for: a raw block or a CAR of some scope; ``via_format``: ``?format`` chose it."""

    kind: str
    via_format: bool
    scope: str = "all"


_BINARY = {"schema": {"type": "string", "format": "binary"}}
_PROBLEM_SCHEMA = {
    "schema": {
        "type": "object",
        "properties": {
            k: {"type": "integer" if k == "status" else "string"}
            for k in ("type", "title", "status", "detail", "instance")
        },
    }
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The block (raw) or the whole DAG as a CARv1 stream in depth-first order, without duplicates.",
        "content": {RAW: _BINARY, CAR_CONTENT_TYPE: _BINARY},
    },
    304: {"description": "Not Modified: `If-None-Match` named this response's ETag (content never changes)."},
    400: {
        "description": "Malformed CID, bad parameter, or no response type asked for.",
        "content": {PROBLEM: _PROBLEM_SCHEMA},
    },
    404: {
        "description": "This service does not hold the block the CID names.",
        "content": {PROBLEM: _PROBLEM_SCHEMA},
    },
    406: {
        "description": "A response type other than a raw block or a CARv1 (dfs, no duplicates).",
        "content": {PROBLEM: _PROBLEM_SCHEMA},
    },
    502: {
        "description": "The store could not produce a verified block (altered on disk, or the IPFS node is down).",
        "content": {PROBLEM: _PROBLEM_SCHEMA},
    },
}


@router.get("/{cid}", response_class=Response, responses=_RESPONSES, summary="Content by CID (trustless)")
@router.head("/{cid}", response_class=Response, responses=_RESPONSES, summary="Headers of content by CID")
def ipfs_content(
    request: Request,
    cid: str,
    format: Annotated[
        str | None, Query(description="`raw` (one block) or `car` (the DAG); wins over Accept.")
    ] = None,
    dag_scope: Annotated[
        str | None, Query(alias="dag-scope", description="CAR only: block, entity or all.")
    ] = None,
    entity_bytes: Annotated[
        str | None, Query(alias="entity-bytes", description="Not supported (400).")
    ] = None,
    car_version: Annotated[str | None, Query(alias="car-version")] = None,
    car_order: Annotated[str | None, Query(alias="car-order")] = None,
    car_dups: Annotated[str | None, Query(alias="car-dups")] = None,
    accept: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Serve a verified raw block or a CARv1 stream of the DAG, as the IPFS Trustless Gateway spec describes.

    The response type comes from `?format=raw|car` or else the `Accept` header (`application/vnd.ipld.raw`,
    `application/vnd.ipld.car`). No API token: the content is public and self-verifying.
    """
    try:
        wanted = _negotiate(format, accept)
        if wanted.kind == "car":
            _check_car_variant(car_version, car_order, car_dups)
            wanted = dataclasses.replace(wanted, scope=_scope(dag_scope, entity_bytes))
        if cid == PROBE_CID:
            return _probe(wanted, head=request.method == "HEAD")
        root = _parse_cid(cid)
        store: ContentStore = request.app.state.backends.store
        return _respond(store, root, wanted, head=request.method == "HEAD", if_none_match=if_none_match)
    except GatewayProblem as problem:
        return _problem(problem, request.url.path)


# --------------------------------------------------------------------------- request


def _parse_cid(text: str) -> Cid:
    if len(text) > _MAX_CID_CHARS:
        raise GatewayProblem(400, "Invalid CID", f"a CID is at most {_MAX_CID_CHARS} characters")
    try:
        return Cid.parse(text)
    except InvalidCidError as err:
        raise GatewayProblem(400, "Invalid CID", f"not a CID this gateway serves: {err}") from None


def _negotiate(format_: str | None, accept: str | None) -> _Wanted:
    """``?format`` first (the spec's precedence), else the best acceptable entry of ``Accept`` by q-value."""
    if format_ is not None:
        if format_ in ("raw", "car"):
            return _Wanted(format_, via_format=True)
        raise GatewayProblem(
            406, "Not Acceptable", f"format={format_[:32]!r} is not served here: use format=raw or format=car"
        )
    if not accept or not accept.strip():
        raise GatewayProblem(
            400, "No response type", f"ask for ?format=raw or car, or send Accept: {RAW} or {CAR}"
        )
    if len(accept) > _MAX_ACCEPT_CHARS:
        raise GatewayProblem(400, "Accept header too long", f"send at most {_MAX_ACCEPT_CHARS} characters")
    for media, params in _accept_entries(accept):
        if media == RAW:
            return _Wanted("raw", via_format=False)
        if media == CAR and _car_params_ok(params.get("version"), params.get("order"), params.get("dups")):
            return _Wanted("car", via_format=False)
    raise GatewayProblem(
        406,
        "Not Acceptable",
        f"this trustless gateway serves only {RAW} and {CAR}; version=1; order=dfs; dups=n",
    )


def _accept_entries(accept: str) -> list[tuple[str, dict[str, str]]]:
    """Media ranges with their parameters, best q first (stable for equal q); q=0 entries dropped."""
    ranked = []
    for position, entry in enumerate(accept.split(",")[:_MAX_ACCEPT_ENTRIES]):
        media, *raw_params = (part.strip() for part in entry.split(";"))
        params = {}
        for item in raw_params:
            key, _, value = item.partition("=")
            params[key.strip().lower()] = value.strip().strip('"').lower()
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 0.0
        if q > 0:
            ranked.append((-q, position, media.lower(), params))
    return [(media, params) for _, _, media, params in sorted(ranked)]


def _car_params_ok(version: str | None, order: str | None, dups: str | None) -> bool:
    """The one CAR variant served: version 1, depth-first (which satisfies "unknown"), each block once."""
    return version in (None, "", "1") and order in (None, "", "dfs", "unk") and dups in (None, "", "n")


def _check_car_variant(version: str | None, order: str | None, dups: str | None) -> None:
    if not _car_params_ok(version, order, dups):
        raise GatewayProblem(
            406, "Not Acceptable", "only car-version=1, car-order=dfs (or unk) and car-dups=n are served"
        )


def _scope(dag_scope: str | None, entity_bytes: str | None) -> str:
    if entity_bytes is not None:
        raise GatewayProblem(
            400, "Unsupported parameter", "entity-bytes is not supported: ask for the entity"
        )
    if dag_scope is None:
        return "all"
    if dag_scope not in SCOPES:
        raise GatewayProblem(400, "Invalid dag-scope", "dag-scope must be block, entity or all")
    return dag_scope


# --------------------------------------------------------------------------- response


def _respond(
    store: ContentStore, root: Cid, wanted: _Wanted, *, head: bool, if_none_match: str | None
) -> Response:
    """Check the root block first (404 or 502 before any byte is committed), then answer or stream."""
    root_block = _root_block(store, root)
    headers = _headers(root, wanted)
    if if_none_match is not None and _etag_matches(if_none_match, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    if wanted.kind == "raw":
        headers["Content-Length"] = str(len(root_block))
        return Response(b"" if head else root_block, media_type=RAW, headers=headers)
    if head:
        response = Response(b"", media_type=CAR_CONTENT_TYPE, headers=headers)
        del response.headers["content-length"]  # the CAR's length is unknown until streamed, not 0
        return response
    return StreamingResponse(
        _car_stream(store, root, root_block, wanted.scope), media_type=CAR_CONTENT_TYPE, headers=headers
    )


def _root_block(store: ContentStore, root: Cid) -> bytes:
    """The verified root block; a lacking store answers 404 at once (``has`` never waits on the network)."""
    try:
        if not store.has(str(root)):
            raise GatewayProblem(404, "Not Found", f"this gateway does not hold {root}")
        return store.get_block(root)
    except ContentNotFoundError:
        raise GatewayProblem(404, "Not Found", f"this gateway does not hold {root}") from None
    except ContentIntegrityError:
        log.error("block %s failed verification in %s; not served", root, store.describe())
        raise GatewayProblem(502, "Bad Gateway", f"the stored block {root} failed verification") from None
    except (
        LedgermarkError
    ) as err:  # an unreachable Kubo node and the like; its text names addresses: log only
        log.error("gateway read of %s failed: %s", root, err)
        raise GatewayProblem(502, "Bad Gateway", f"the content store could not read {root}") from None


def _car_stream(store: ContentStore, root: Cid, root_block: bytes, scope: str) -> Iterator[bytes]:
    """The CARv1 bytes; a block that fails mid-stream aborts the response (the client sees it truncated)."""
    blocks = iter([(root, root_block)]) if scope == "block" else store.walk(str(root))
    try:
        yield from carlib.write_car(root, blocks)
    except LedgermarkError as err:
        log.error("CAR stream of %s aborted: %s", root, err)
        raise


def _probe(wanted: _Wanted, *, head: bool) -> Response:
    """The probe's answers: an empty raw block, or a CAR whose only root is the probe CID and no blocks."""
    body = b"" if head or wanted.kind == "raw" else _PROBE_CAR
    media = RAW if wanted.kind == "raw" else CAR_CONTENT_TYPE
    return Response(body, media_type=media, headers=_headers(PROBE_CID, wanted))


def _headers(root: Cid | str, wanted: _Wanted) -> dict[str, str]:
    suffix = "bin" if wanted.kind == "raw" else "car"
    etag = f'"{root}.raw"' if wanted.kind == "raw" else f'"{root}.car.{wanted.scope}.dfs.n"'
    headers = {
        "ETag": etag,
        "Cache-Control": _IMMUTABLE,
        "Content-Disposition": f'attachment; filename="{root}.{suffix}"',
        "X-Content-Type-Options": "nosniff",
        "Vary": "Accept",
        "X-Ipfs-Path": f"/ipfs/{root}",
        "X-Ipfs-Roots": str(root),
    }
    if not wanted.via_format:
        headers["Content-Location"] = f"/ipfs/{root}?format={wanted.kind}"
    return headers


def _etag_matches(if_none_match: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in if_none_match[:_MAX_ACCEPT_CHARS].split(",")]
    return "*" in tags or etag in tags


def _problem(problem: GatewayProblem, path: str) -> JSONResponse:
    code = problems.default_code(problem.status)  # the service's stable codes, so clients switch on one list
    body = {"type": problems.type_uri(code), "code": code, "title": problem.title, "status": problem.status}
    body["detail"] = problem.detail
    body["instance"] = path[: _MAX_CID_CHARS + 16]
    return JSONResponse(
        body, status_code=problem.status, media_type=PROBLEM, headers={"X-Content-Type-Options": "nosniff"}
    )
