"""The pages people read: browse and search (``/``), a record (``/record/{id}``), a dispute (``/dispute/{id}``),
the publish form (``/publish``), the OpenAPI docs (``/docs``, Swagger UI from local files) and their assets
(``/static/…``).

The pages write nothing themselves: their forms (publish, check a suspect model, the dispute steps) are sent by a
same-origin script (``static/writes.js``) to the JSON API, with the operator's API token the user types in, so a
page holds no secret and a write takes the same checks as any other client's.

Server-rendered with Jinja2, autoescaped; names, cards and reports come from other parties, so every string is
also stripped of control characters (``views.printable``) before it reaches the page. Nothing is loaded from
another origin, and every page carries a Content-Security-Policy that says so. Pages are not part of the JSON
API, so they stay out of the OpenAPI document.
"""

from __future__ import annotations

import datetime
import decimal
import http
import importlib.resources
import json
import mimetypes
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response

from ipfs import unixfs
from registry.api import problems
from registry.api.dependencies import MAX_RECORD_ID, get_backends
from registry.api.routers import records
from registry.api.routers.browse import get_index
from registry.backends import Backends
from registry.errors import LedgermarkError
from registry.index import IndexQueryError
from registry.views import printable
from registry.web import catalogue, graph

router = APIRouter(include_in_schema=False)
BackendsDep = Annotated[Backends, Depends(get_backends)]

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""Pages run only this origin's scripts and styles: an injected tag can load nothing and run nothing."""
SECURITY_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("registry.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["shown"] = lambda value: printable("" if value is None else str(value))
_ENV.filters["shown_lines"] = lambda value: "\n".join(printable(line) for line in str(value).split("\n"))
_ENV.filters["utc"] = lambda ts: datetime.datetime.fromtimestamp(int(ts), datetime.UTC).strftime(
    "%Y-%m-%d %H:%M:%S UTC"
)
_ENV.filters["hexed"] = lambda value: "0x" + bytes(value).hex()
_ENV.filters["ether"] = lambda wei: f"{decimal.Decimal(int(wei)) / 10**18:f}".rstrip("0").rstrip(".") or "0"


def _static_files() -> dict[str, Path]:
    """The only files ``/static`` serves: this package's assets and Swagger UI's, by name (no path walking)."""
    ours = importlib.resources.files("registry.web") / "static"
    swagger = importlib.resources.files("fastapi_offline") / "static"
    files = {p.name: Path(str(p)) for p in ours.iterdir() if p.is_file()}
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        files[name] = Path(str(swagger / name))
    return files


STATIC = _static_files()


def _page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _ENV.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _error_page(request: Request, err: LedgermarkError) -> HTMLResponse:
    """The problem a JSON client would get (same status), as a page; server paths scrubbed the same way."""
    status, _ = problems.status_of(err)  # the JSON API's mapping, so a page and a problem agree
    scrubber = getattr(request.app.state, "scrubber", None)
    detail = scrubber.scrub(str(err)) if scrubber else str(err)
    return _page("error.html", status, title=http.HTTPStatus(status).phrase, detail=detail)


@router.get("/", response_class=HTMLResponse)
def browse(
    request: Request,
    q: Annotated[str, Query(max_length=200)] = "",
    owner: Annotated[str, Query(max_length=42)] = "",
    revoked: Annotated[str, Query(pattern="^(yes|no)?$")] = "",
    cursor: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    """Records newest first, with search and filters."""
    filters = catalogue.Filters(q=q, owner=owner, revoked=revoked, cursor=cursor)
    try:
        found = catalogue.listing(get_index(request), filters)
    except IndexQueryError as err:  # a search or filter the index cannot run: say so above the same form
        return _page("index.html", 400, filters=filters, listing=None, problem=str(err))
    except LedgermarkError as err:
        return _error_page(request, err)
    return _page("index.html", filters=filters, listing=found, problem=None)


@router.get("/record/{record_id}", response_class=HTMLResponse)
def record_page(
    request: Request, backends: BackendsDep, record_id: Annotated[int, PathParam(ge=1, le=MAX_RECORD_ID)]
) -> HTMLResponse:
    """A record: warnings, artifacts, the in-browser verify form, lineage and disputes."""
    try:
        view = catalogue.record_view(backends, get_index(request), record_id)
    except LedgermarkError as err:
        return _error_page(request, err)
    return _page("record.html", view=view, graph=graph.layout(view.lineage))


@router.get("/dispute/{dispute_id}", response_class=HTMLResponse)
def dispute_page(
    request: Request, backends: BackendsDep, dispute_id: Annotated[int, PathParam(ge=1, le=MAX_RECORD_ID)]
) -> HTMLResponse:
    """A dispute: its state, votes and the evidence report."""
    try:
        view = catalogue.dispute_view(backends, dispute_id)
    except LedgermarkError as err:
        return _error_page(request, err)
    return _page("dispute.html", view=view, evidence=_evidence_items(view.evidence))


def _evidence_items(document: dict[str, Any] | None) -> list[tuple[str, str, bool]]:
    """(key, value, is_block) for the report's top level: scalars inline, nested values as indented JSON."""
    items = []
    for key, value in (document or {}).items():
        if isinstance(value, (dict, list)):
            items.append((key, json.dumps(value, indent=2, sort_keys=True, default=str), True))
        else:
            items.append((key, str(value), False))
    return items


@router.get("/publish", response_class=HTMLResponse)
def publish_page() -> HTMLResponse:
    """The publish form (sent to ``POST /records`` with the operator's token) and a content-address form
    (``POST /cid``, public)."""
    return _page("publish.html", derivations=DERIVATIONS, cid_profiles=tuple(unixfs.PROFILES))


DERIVATIONS = tuple(kind.value for kind in records.DerivationName)
"""What ``POST /records`` accepts as ``derivation`` (the CLI's ``--derivation`` names), in its order."""


@router.get("/docs", response_class=HTMLResponse)
def docs() -> HTMLResponse:
    """Swagger UI for /openapi.json, every file served from here."""
    return _page("docs.html")


@router.get("/static/{name}")
def static(name: Annotated[str, PathParam(max_length=64)]) -> Response:
    """One of the known asset files, by name."""
    path = STATIC.get(name)
    if path is None:
        raise HTTPException(status_code=404, detail=f"no asset named {name[:64]!r}")
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media_type.startswith("text/") or media_type.endswith("javascript"):
        media_type += "; charset=utf-8"
    headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return Response(path.read_bytes(), media_type=media_type, headers=headers)
