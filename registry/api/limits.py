"""Request body limits, enforced while the body streams in: a client's Content-Length is a claim, not a fact.

A declared length over the route's limit is refused before a byte is read; a body without one (chunked) or
one that keeps coming is counted as it arrives and refused the moment it passes the limit. Either way the
answer is a 413 problem, and the service has held at most the limit plus one chunk.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.api import problems
from registry.errors import ConfigError

GiB, MiB, KiB = 1 << 30, 1 << 20, 1 << 10
_UPLOAD_ROUTES = re.compile(r"^/(records|records/[^/]+/verify|cid)/?$")
_WATERMARK_ROUTES = re.compile(r"^/(watermark/verify|disputes|disputes/[^/]+/(reveal|review))/?$")
_ENV = {
    "upload": "LEDGERMARK_MAX_UPLOAD_BYTES",
    "watermark": "LEDGERMARK_MAX_WATERMARK_UPLOAD_BYTES",
    "other": "LEDGERMARK_MAX_REQUEST_BYTES",
}


@dataclasses.dataclass(frozen=True)
class BodyLimits:
    """Bytes a request body may hold, by route kind."""

    upload: int = 2 * GiB
    """Artifacts: publishing, verifying uploads against a record, computing a CID."""
    watermark: int = 256 * MiB
    """A suspect model and a watermark key (the models this project watermarks are far smaller): testing a
    model, opening a dispute, revealing, an arbiter's review."""
    other: int = 64 * KiB
    """Every other route: none takes more than a few query parameters."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BodyLimits:
        """The defaults, each overridable by its ``LEDGERMARK_MAX_…_BYTES`` variable (a whole number of bytes)."""
        environ = os.environ if environ is None else environ
        given = {field: _bytes(environ[name], name) for field, name in _ENV.items() if name in environ}
        return cls(**given)

    def for_request(self, method: str, path: str) -> int:
        if method == "POST" and _UPLOAD_ROUTES.match(path):
            return self.upload
        if method == "POST" and _WATERMARK_ROUTES.match(path):
            return self.watermark
        return self.other


def _bytes(text: str, name: str) -> int:
    if not text.strip().isdecimal() or int(text) < 1:
        raise ConfigError(
            f"{name} (environment variable) must be a positive whole number of bytes, not {text!r}"
        )
    return int(text)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` the moment a body passes its limit; an HTTPException, so FastAPI lets it through."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            status_code=413, detail=f"the request body is larger than this route's limit of {limit} bytes"
        )


class BodyLimitMiddleware:
    """Pure ASGI: checks the declared length up front, then counts the bytes that actually arrive."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_request(scope["method"], scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.strip().isdecimal() and int(declared) > limit:
            await _refuse(limit, scope, receive, send)  # nothing read: the client may stop sending now
            return
        started = False
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            if started:
                raise
            await _refuse(limit, scope, receive, send)


async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = problems.problem(413, BodyTooLarge(limit).detail)
    response.headers["Connection"] = "close"
    await response(scope, receive, send)
