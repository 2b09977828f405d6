"""One error shape for every route: RFC 9457 problem details, scrubbed of the server's own paths.

Every refusal is a ``{"type", "title", "status", "detail"}`` body served as ``application/problem+json`` (a
few carry extension members, such as a verification's itemised ``problems``). Messages built from exceptions
may name files the service holds (its data dir, an upload's temp folder); those are replaced before a byte
leaves, because a path tells an attacker where to aim. Anything unexpected is a bare 500 whose cause is logged,
never sent. Spec: https://www.rfc-editor.org/rfc/rfc9457
"""

from __future__ import annotations

import dataclasses
import http
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from ipfs import errors as ipfs_errors
from registry.api import schemas
from registry.chain import errors as chain_errors
from registry.errors import IntegrityError, LedgermarkError, RecordError, VerificationFailed

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
_MAX_DETAIL_CHARS = 2000
_MAX_ERRORS = 20
TYPE_PREFIX = "urn:ledgermark:problem:"
"""Every problem's ``type`` is this prefix plus its ``code``: stable names a client can switch on (RFC 9457 §3.1.1
allows any URI; a URN promises no page that could go away)."""


@dataclasses.dataclass(frozen=True)
class Kind:
    """One documented kind of error: its HTTP status, stable code and what it means."""

    status: int
    code: str
    description: str


KINDS: dict[str, Kind] = {
    kind.code: kind
    for kind in (
        Kind(400, "bad-request", "The request cannot be served as sent: the detail says what to change."),
        Kind(401, "unauthorized", "This route writes: send `Authorization: Bearer <API token>`."),
        Kind(403, "forbidden", "The API token is not this service's token."),
        Kind(404, "not-found", "No such record, dispute or artifact (unknown id or root, or neither)."),
        Kind(405, "method-not-allowed", "The path does not serve this method; `Allow` lists those it does."),
        Kind(
            400, "contract-refused", "The contract would revert (wrong state, role or key): nothing was sent."
        ),
        Kind(404, "dispute-not-found", "No dispute has this id."),
        Kind(
            404, "content-not-found", "The store holds no copy of content a record anchors (not pinned here)."
        ),
        Kind(409, "integrity-failed", "The bytes are not what the record anchors (tampered or mismatched)."),
        Kind(409, "verification-failed", "Uploaded files differ from the record: every difference itemised."),
        Kind(413, "body-too-large", "The request body is larger than this route accepts."),
        Kind(415, "unsupported-media-type", "The request body is not of a media type this route reads."),
        Kind(
            406,
            "not-acceptable",
            "The gateway serves none of the media types `Accept` (or `format`) asks for.",
        ),
        Kind(422, "invalid-request", "A parameter, field or upload is missing or malformed."),
        Kind(500, "internal-error", "The service failed; its log says why (the cause is never sent)."),
        Kind(502, "bad-gateway", "The content store failed to read or verify a stored block."),
        Kind(503, "not-ready", "A backend the service needs (chain, store, index) is not reachable now."),
        Kind(503, "chain-unavailable", "The Ethereum node does not answer; retry later."),
    )
}
_BY_STATUS = {kind.status: kind for kind in reversed(KINDS.values())}
"""The first kind listed for a status is its default code."""


def type_uri(code: str) -> str:
    return TYPE_PREFIX + code


def default_code(status: int) -> str:
    """The code of a status's first documented kind (``http-<status>`` for one no route documents)."""
    return _BY_STATUS[status].code if status in _BY_STATUS else f"http-{status}"


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting each status as a problem-details body, with an example."""
    return {status: _documented(_BY_STATUS[status]) for status in statuses}


def _documented(kind: Kind) -> dict[str, Any]:
    codes = "; ".join(f"`{k.code}`: {k.description}" for k in KINDS.values() if k.status == kind.status)
    example = {
        "type": type_uri(kind.code),
        "code": kind.code,
        "title": http.HTTPStatus(kind.status).phrase,
        "status": kind.status,
        "detail": kind.description,
    }
    content = {"schema": {"$ref": "#/components/schemas/Problem"}, "example": example}
    return {"description": codes, "content": {PROBLEM: content}}


def problem(
    status: int, detail: str, *, scrubber: Scrubber | None = None, code: str | None = None, **extra: Any
) -> JSONResponse:
    """A problem-details response; ``detail`` is scrubbed of server paths and bounded; ``code`` defaults to the
    status's documented code."""
    text = scrubber.scrub(detail) if scrubber else detail
    if len(text) > _MAX_DETAIL_CHARS:
        text = text[:_MAX_DETAIL_CHARS] + "…"
    chosen = code or default_code(status)
    body = {
        "type": type_uri(chosen),
        "code": chosen,
        "title": http.HTTPStatus(status).phrase,
        "status": status,
        "detail": text,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


class Scrubber:
    """Replaces the server's own paths in messages: an upload's temp folder, the data dir, temp, home."""

    _UPLOAD = re.compile(r"[^\s'\"]*ledgermark-upload-[A-Za-z0-9_]+/")
    """An upload's temp folder, wherever it lives: the file is named by its own name, the client's words."""

    def __init__(self, roots: Iterable[tuple[Path | str, str]]) -> None:
        pairs: dict[str, str] = {}
        for root, label in roots:
            for form in {str(root), os.path.realpath(root)}:
                if len(form.rstrip("/")) > 1:
                    pairs.setdefault(form.rstrip("/"), label)
        longest_first = sorted(pairs.items(), key=lambda item: len(item[0]), reverse=True)
        self._roots = [
            (re.compile(re.escape(root) + r"(?=[/\\'\"\s:,)]|$)"), label) for root, label in longest_first
        ]

    @classmethod
    def for_service(cls, data_dir: Path) -> Scrubber:
        """The paths a service on ``data_dir`` could name: most specific first, so the data dir wins over temp."""
        return cls(
            [
                (data_dir, "<data dir>"),
                (tempfile.gettempdir(), "<tmp>"),
                (Path.home(), "~"),
                (sys.prefix, "<python>"),
                (Path.cwd(), "<service dir>"),
            ]
        )

    def scrub(self, text: str) -> str:
        text = self._UPLOAD.sub("", text)
        for pattern, label in self._roots:
            text = pattern.sub(label, text)
        return text


def install(app: FastAPI) -> None:
    """Route every error, expected or not, through the one problem shape, and name that shape in OpenAPI."""
    _document_problem_schema(app)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(LedgermarkError, _ledgermark_error)
    app.add_exception_handler(Exception, _unexpected)


def _document_problem_schema(app: FastAPI) -> None:
    """Put ``Problem`` into the document's components, where every documented error response points."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            component = schemas.Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = component
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _scrubber(request: Request) -> Scrubber | None:
    return getattr(request.app.state, "scrubber", None)


async def _http_error(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, HTTPException)
    detail = err.detail if isinstance(err.detail, str) else http.HTTPStatus(err.status_code).phrase
    response = problem(err.status_code, detail, scrubber=_scrubber(request))
    response.headers.update(err.headers or {})
    if err.status_code == 405:
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


def _allowed_methods(request: Request) -> list[str]:
    """Every method the path serves: Starlette names only the first route's, and GET and HEAD may be two."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


async def _invalid_request(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, RequestValidationError)
    errors = [_validation_item(item) for item in err.errors()[:_MAX_ERRORS]]
    detail = "; ".join(f"{item['loc']}: {item['msg']}" for item in errors) or "the request is malformed"
    return problem(422, detail, scrubber=_scrubber(request), errors=errors)


def _validation_item(item: dict[str, Any]) -> dict[str, str]:
    """Where and what, without the offending input (it may be huge, binary, or someone else's secret)."""
    location: Sequence[Any] = item.get("loc", ())
    return {
        "loc": ".".join(str(part) for part in location),
        "msg": str(item.get("msg", "")),
        "type": str(item.get("type", "")),
    }


async def _ledgermark_error(request: Request, err: Exception) -> JSONResponse:
    scrubber = _scrubber(request)
    if isinstance(err, VerificationFailed):
        extra: dict[str, Any] = {"problems": [scrubber.scrub(p) if scrubber else p for p in err.problems]}
        if err.comparison is not None:
            extra.update(err.comparison.to_dict())
        return problem(409, str(err), scrubber=scrubber, code="verification-failed", **extra)
    status, code = status_of(err)
    return problem(status, str(err), scrubber=scrubber, code=code)


def status_of(err: Exception) -> tuple[int, str]:
    """The status and code of an expected error: the most specific class decides."""
    if isinstance(err, IntegrityError):
        return 409, "integrity-failed"
    if isinstance(err, ipfs_errors.ContentNotFoundError):
        return 404, "content-not-found"
    if isinstance(err, chain_errors.UnknownDisputeError):
        return 404, "dispute-not-found"
    if isinstance(err, RecordError | chain_errors.UnknownRecordError):
        return 404, "not-found"
    if isinstance(err, chain_errors.ChainUnavailableError):
        return 503, "chain-unavailable"
    if isinstance(err, chain_errors.ContractRevertError):
        return 400, "contract-refused"
    return 400, "bad-request"


async def _unexpected(request: Request, err: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=err)
    return problem(500, "the service failed on this request; its log says why")
