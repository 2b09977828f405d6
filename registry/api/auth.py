"""The API token: writes sign with the operator's key, so only the operator's clients may make them.

Reads are public. Every route that sends a transaction or stores content depends on ``require_token``: the
client sends ``Authorization: Bearer <token>``, compared in constant time. The token comes from
``LEDGERMARK_API_TOKEN``, else from ``<data dir>/api-token``, which the first start creates (owner-only, 0600)
and names in its log, so the operator can hand it to their clients.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
import os
import secrets
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from registry import files
from registry.errors import ConfigError

log = logging.getLogger(__name__)

ENV = "LEDGERMARK_API_TOKEN"
FILE_NAME = "api-token"
MIN_CHARS = 16
"""A shorter token is guessable over the network; the generated one has 43 characters (32 random bytes)."""
MAX_CHARS = 512
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ledgermark"'}


@dataclasses.dataclass(frozen=True)
class ApiToken:
    """The token and where it came from (for messages: never the value itself)."""

    value: str = dataclasses.field(repr=False)
    source: str

    def matches(self, offered: str) -> bool:
        return hmac.compare_digest(offered.encode(), self.value.encode())


def load(data_dir: Path, environ: Mapping[str, str] | None = None) -> ApiToken:
    """The service's token: the environment's, else the data dir's file, created on first start."""
    environ = os.environ if environ is None else environ
    if ENV in environ:
        source = f"{ENV} (environment variable)"
        return ApiToken(_checked(environ[ENV], source), source)
    path = data_dir / FILE_NAME
    if not path.exists():
        _create(path)
    return ApiToken(_read(path), str(path))


def _create(path: Path) -> None:
    """A fresh token, written whole beside ``path`` and published with ``link``, which never replaces: two
    services starting at once on one data dir agree on the first one's token instead of each keeping its own."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{FILE_NAME}.", dir=path.parent)  # 0600 from the start
    try:
        with os.fdopen(fd, "wb") as out:
            out.write((secrets.token_urlsafe(32) + "\n").encode())
            out.flush()
            os.fsync(out.fileno())
        os.link(tmp, path)
        log.warning("API token created in %s (mode 0600): clients that write send it as a Bearer token", path)
    except FileExistsError:
        pass  # another start created it first: use theirs
    finally:
        os.unlink(tmp)


def _read(path: Path) -> str:
    """The token file, refused when other users may read it (anyone who can read it can publish)."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path} (the API token file) is readable by other users (mode {stat.S_IMODE(mode):o}): "
            f"`chmod 600 {path}`, or set {ENV}"
        )
    text = files.read_small(path, MAX_CHARS + 2, f"{path} (the API token file)").decode("utf-8", "replace")
    return _checked(text.strip(), f"{path} (the API token file)")


def _checked(token: str, source: str) -> str:
    if not MIN_CHARS <= len(token) <= MAX_CHARS or not token.isprintable() or " " in token:
        raise ConfigError(
            f"{source} must hold one token of {MIN_CHARS} to {MAX_CHARS} printable characters without spaces "
            f"(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    return token


_bearer = HTTPBearer(
    auto_error=False,
    description=f"The service's API token: `{ENV}`, or the `{FILE_NAME}` file in its data directory.",
)


def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """401 without a Bearer token, 403 with a wrong one; the comparison takes the same time either way."""
    if credentials is None:
        raise HTTPException(
            status_code=401,
            detail="this route writes: send `Authorization: Bearer <token>` with the service's API token",
            headers=_CHALLENGE,
        )
    token: ApiToken = request.app.state.api_token
    if not token.matches(credentials.credentials):
        raise HTTPException(status_code=403, detail="the API token is not this service's token")


Writer = Depends(require_token)
"""Add to a route's ``dependencies=[...]``: the route writes."""
