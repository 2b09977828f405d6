"""One error shape for every route: RFC 9457 problem details, scrubbed of the server's own paths.

Every refusal is a ``{"type", "title", "status", "detail"}`` body served as ``application/problem+json`` (a
few carry extension members, such as a verification's itemised ``problems``). Messages built from exceptions
may name files the service holds (its data dir, an upload's temp folder); those are replaced before a byte
leaves, because a path tells an attacker where to aim. Anything unexpected is a bare 500 whose cause is logged,
never sent. Spec: https://www.rfc-editor.org/rfc/rfc9457
"""

from __future__ import annotations

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

from registry.api import schemas
from registry.errors import IntegrityError, LedgermarkError, RecordError, VerificationFailed

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
_MAX_DETAIL_CHARS = 2000
_MAX_ERRORS = 20
_DESCRIPTIONS = {
    400: "The request cannot be served as sent: the detail says what to change.",
    404: "No such record (unknown id or root, or a reference that is neither).",
    409: "The bytes are not what the record anchors (tampered or mismatched content).",
    413: "The request body is larger than this route accepts.",
    415: "The request body is not of a media type this route reads.",
    422: "A parameter, field or upload is missing or malformed.",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting each status as a problem-details body."""
    schema = schemas.Problem.model_json_schema()
    return {
        status: {"description": _DESCRIPTIONS[status], "content": {PROBLEM: {"schema": schema}}}
        for status in statuses
    }


def problem(status: int, detail: str, *, scrubber: Scrubber | None = None, **extra: Any) -> JSONResponse:
    """A problem-details response; ``detail`` is scrubbed of server paths and bounded."""
    text = scrubber.scrub(detail) if scrubber else detail
    if len(text) > _MAX_DETAIL_CHARS:
        text = text[:_MAX_DETAIL_CHARS] + "…"
    body = {
        "type": "about:blank",
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
    """Route every error, expected or not, through the one problem shape."""
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(LedgermarkError, _ledgermark_error)
    app.add_exception_handler(Exception, _unexpected)


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
        return problem(409, str(err), scrubber=scrubber, **extra)
    if isinstance(err, IntegrityError):
        return problem(409, str(err), scrubber=scrubber)
    if isinstance(err, RecordError):
        return problem(404, str(err), scrubber=scrubber)
    return problem(400, str(err), scrubber=scrubber)


async def _unexpected(request: Request, err: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=err)
    return problem(500, "the service failed on this request; its log says why")
