"""A client of the IPFS Pinning Service API v1.0.0 (https://ipfs.github.io/pinning-services-api-spec/).

A pinning service is another party: every answer is bounded before it is parsed (``MAX_RESPONSE`` bytes) and
checked field by field against the spec's schemas (``PinStatus``, ``PinResults``, ``Failure``), so a broken or
hostile service yields a ``PinningServiceError`` naming the service and the field, never a ``KeyError``. Every
request carries a timeout and the bearer token; the token never appears in a message, only where it came from
(``token_source``, e.g. the variable that held it).

Endpoints: ``POST /pins`` (add), ``GET /pins`` (list with filters, paged newest first by ``before``),
``GET /pins/{requestid}``, ``DELETE /pins/{requestid}``. ``GET /pins`` without a ``status`` filter returns only
pinned objects (the spec), so ``list_pins`` asks for every status unless told otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Self

import requests

from ipfs.cid import Cid
from ipfs.errors import InvalidCidError, IpfsError
from ipfs.jsondepth import nesting_depth

STATUSES = ("queued", "pinning", "pinned", "failed")
"""Every status a pin object can have, in the order a request moves through them."""

MAX_RESPONSE = 4 << 20
"""The largest answer read (a page of 1000 ``PinStatus`` objects fits several times over)."""

MAX_ANSWER_DEPTH = 16
"""Spec answers nest 5 levels (results → PinStatus → pin → meta); deeper ones are refused unparsed."""
MAX_LIMIT = 1000
MAX_CIDS_PER_QUERY = 10
_MAX_PAGES = 10_000
_DETAIL_CHARS = 300


class PinningServiceError(IpfsError):
    """The pinning service refused a request, could not be reached, or answered outside the spec."""


class PinningAuthError(PinningServiceError):
    """The service refused the access token (401 or 403)."""


class PinRequestNotFoundError(PinningServiceError):
    """The service knows no pin request with that id (404)."""


@dataclasses.dataclass(frozen=True)
class Pin:
    """What is asked to be pinned: the spec's ``Pin`` object."""

    cid: str
    name: str | None = None
    origins: tuple[str, ...] = ()
    meta: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"cid": self.cid}
        if self.name is not None:
            body["name"] = self.name
        if self.origins:
            body["origins"] = list(self.origins)
        if self.meta:
            body["meta"] = dict(self.meta)
        return body


@dataclasses.dataclass(frozen=True)
class PinStatus:
    """A pin request as the service reports it: the spec's ``PinStatus`` object."""

    requestid: str
    status: str
    created: datetime
    pin: Pin
    delegates: tuple[str, ...]
    info: Mapping[str, str]

    @property
    def done(self) -> bool:
        """Pinned or failed: nothing will change without a new request."""
        return self.status in ("pinned", "failed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "requestid": self.requestid,
            "status": self.status,
            "created": self.created.isoformat(),
            "pin": self.pin.to_json(),
            "delegates": list(self.delegates),
            "info": dict(self.info),
        }


@dataclasses.dataclass(frozen=True)
class PinResults:
    """One page of ``GET /pins``: ``count`` matching objects in all, ``results`` the newest of them."""

    count: int
    results: tuple[PinStatus, ...]


class PinningServiceClient:
    """Talk to one pinning service at ``endpoint`` (the base URL; requests go to ``{endpoint}/pins``)."""

    def __init__(
        self, endpoint: str, token: str, *, timeout: float = 30.0, token_source: str = "the access token"
    ) -> None:
        parsed = urllib.parse.urlsplit(endpoint)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise PinningServiceError(f"{endpoint!r} is not an http(s) URL of a pinning service")
        if not token:
            raise PinningAuthError(
                f"no access token for the pinning service at {endpoint}: set {token_source}"
            )
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout
        self.token_source = token_source
        self._session = requests.Session()
        self._session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})

    def describe(self) -> str:
        return f"pinning service at {self.endpoint}"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the four operations -------------------------------------------------------------------

    def add(
        self,
        cid: str,
        *,
        name: str | None = None,
        origins: Sequence[str] = (),
        meta: Mapping[str, str] | None = None,
    ) -> PinStatus:
        """Ask the service to pin ``cid`` recursively; ``origins`` are addresses that provide the data."""
        pin = Pin(cid=str(Cid.parse(cid)), name=name, origins=tuple(origins), meta=dict(meta or {}))
        return _pin_status(self._call("POST", "/pins", json_body=pin.to_json(), expect=(202, 200)), self)

    def get(self, requestid: str) -> PinStatus:
        return _pin_status(self._call("GET", f"/pins/{_quoted(requestid)}", expect=(200,)), self)

    def delete(self, requestid: str) -> None:
        self._call("DELETE", f"/pins/{_quoted(requestid)}", expect=(202, 200, 204), parse=False)

    def list_pins(
        self,
        *,
        cids: Sequence[str] = (),
        name: str | None = None,
        statuses: Sequence[str] = STATUSES,
        before: datetime | None = None,
        after: datetime | None = None,
        limit: int | None = None,
        meta: Mapping[str, str] | None = None,
    ) -> PinResults:
        """One page of pin objects matching every filter given, newest first."""
        params = _list_params(cids, name, statuses, before, after, limit, meta)
        return _pin_results(self._call("GET", "/pins", params=params, expect=(200,)), self)

    # -- built on them -------------------------------------------------------------------------

    def iter_pins(
        self,
        *,
        cids: Sequence[str] = (),
        statuses: Sequence[str] = STATUSES,
        meta: Mapping[str, str] | None = None,
        page: int = MAX_LIMIT,
    ) -> Iterator[PinStatus]:
        """Every matching pin object, newest first, following the spec's pagination (``before`` = oldest seen)."""
        for batch in _batches(cids, MAX_CIDS_PER_QUERY):
            before: datetime | None = None
            for _ in range(_MAX_PAGES):
                results = self.list_pins(cids=batch, statuses=statuses, meta=meta, before=before, limit=page)
                yield from results.results
                if not results.results or len(results.results) >= results.count:
                    break
                oldest = min(r.created for r in results.results)
                if before is not None and oldest >= before:
                    raise self._malformed(
                        "PinResults", "a page did not move past the previous one (`before`)"
                    )
                before = oldest

    def wait(self, requestid: str, *, timeout: float, poll: float = 0.5) -> PinStatus:
        """Poll a request until it is pinned or failed, or ``timeout`` seconds pass; return its last status."""
        deadline = time.monotonic() + timeout
        status = self.get(requestid)
        while not status.done and time.monotonic() < deadline:
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
            status = self.get(requestid)
        return status

    # -- transport -----------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        json_body: dict[str, Any] | None = None,
        expect: tuple[int, ...],
        parse: bool = True,
    ) -> Any:
        """Send one request; return the parsed JSON answer (bounded), or raise what the status code means."""
        url = self.endpoint + path
        try:
            with self._session.request(
                method, url, params=params, json=json_body, timeout=self.timeout, stream=True
            ) as reply:
                body = _bounded_body(reply, self)
                status = reply.status_code
        except requests.RequestException as err:
            raise PinningServiceError(
                f"{self.describe()} is not reachable ({_first_line(err)}); check the URL in --to"
            ) from err
        if status not in expect:
            raise self._refusal(status, body, f"{method} {path}")
        if not parse:
            return None
        if nesting_depth(body, stop_above=MAX_ANSWER_DEPTH) > MAX_ANSWER_DEPTH:
            raise self._malformed("answer", f"nests deeper than {MAX_ANSWER_DEPTH} levels")
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise self._malformed("answer", f"not JSON ({err})") from err

    def _refusal(self, status: int, body: bytes, action: str) -> PinningServiceError:
        reason = _failure_reason(body)
        if status in (401, 403):
            return PinningAuthError(
                f"the {self.describe()} refused the token in {self.token_source} ({status}{reason})"
            )
        if status == 404:
            return PinRequestNotFoundError(f"the {self.describe()} found nothing for {action} (404{reason})")
        if status == 409:
            return PinningServiceError(
                f"the {self.describe()} refused {action}: insufficient funds on the account (409{reason})"
            )
        return PinningServiceError(f"the {self.describe()} refused {action} ({status}{reason})")

    def _malformed(self, what: str, problem: str) -> PinningServiceError:
        return PinningServiceError(
            f"the {self.describe()} sent a malformed {what}: {problem}; it does not follow the Pinning Service API"
        )


# --------------------------------------------------------------------------- parsing hostile answers


def _pin_status(value: Any, client: PinningServiceClient) -> PinStatus:
    """A ``PinStatus`` object, every field checked against the spec's schema."""
    obj = _object(value, "PinStatus", client)
    status = obj.get("status")
    if status not in STATUSES:
        raise client._malformed("PinStatus", f"status {_shown(status)} is not one of {'|'.join(STATUSES)}")
    return PinStatus(
        requestid=_string(obj.get("requestid"), "PinStatus.requestid", client, max_len=1024),
        status=status,
        created=_timestamp(obj.get("created"), client),
        pin=_pin(obj.get("pin"), client),
        delegates=_strings(obj.get("delegates"), "PinStatus.delegates", client, max_items=20),
        info=_string_map(obj.get("info", {}), "PinStatus.info", client),
    )


def _pin_results(value: Any, client: PinningServiceClient) -> PinResults:
    obj = _object(value, "PinResults", client)
    count, results = obj.get("count"), obj.get("results")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise client._malformed("PinResults", f"count {_shown(count)} is not a non-negative integer")
    if not isinstance(results, list) or len(results) > MAX_LIMIT:
        raise client._malformed("PinResults", f"results is not a list of at most {MAX_LIMIT} objects")
    return PinResults(count=count, results=tuple(_pin_status(r, client) for r in results))


def _pin(value: Any, client: PinningServiceClient) -> Pin:
    obj = _object(value, "PinStatus.pin", client)
    cid = _string(obj.get("cid"), "Pin.cid", client, max_len=512)
    try:
        cid = str(Cid.parse(cid))
    except InvalidCidError as err:
        raise client._malformed("Pin", f"cid {_shown(cid)} is not a CID ({err})") from err
    name = obj.get("name")
    return Pin(
        cid=cid,
        name=None if name is None else _string(name, "Pin.name", client, max_len=255),
        origins=_strings(obj.get("origins", []), "Pin.origins", client, max_items=20),
        meta=_string_map(obj.get("meta", {}), "Pin.meta", client),
    )


def _object(value: Any, what: str, client: PinningServiceClient) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise client._malformed(what, f"expected an object, got {type(value).__name__}")
    return value


def _string(value: Any, what: str, client: PinningServiceClient, *, max_len: int) -> str:
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise client._malformed(what, f"{_shown(value)} is not a string of 1 to {max_len} characters")
    return value


def _strings(value: Any, what: str, client: PinningServiceClient, *, max_items: int) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > max_items or not all(isinstance(v, str) for v in value):
        raise client._malformed(what, f"expected a list of at most {max_items} strings")
    return tuple(value)


def _string_map(value: Any, what: str, client: PinningServiceClient) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > 1000:
        raise client._malformed(what, "expected an object of at most 1000 string values")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise client._malformed(what, "every key and value must be a string")
    return dict(value)


def _timestamp(value: Any, client: PinningServiceClient) -> datetime:
    """An RFC 3339 date-time with an offset (pagination compares them, so naive times are refused)."""
    text = _string(value, "PinStatus.created", client, max_len=64)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as err:
        raise client._malformed("PinStatus", f"created {_shown(text)} is not an RFC 3339 date-time") from err
    if parsed.tzinfo is None:
        raise client._malformed("PinStatus", f"created {_shown(text)} has no time zone offset")
    return parsed


def _failure_reason(body: bytes) -> str:
    """``: REASON: details`` from a spec ``Failure`` body, cleaned and shortened; empty when there is none."""
    if nesting_depth(body, stop_above=MAX_ANSWER_DEPTH) > MAX_ANSWER_DEPTH:
        return ""
    try:
        error = json.loads(body).get("error", {})
        parts = [error.get("reason"), error.get("details")]
    except (ValueError, AttributeError):
        return ""
    text = ": ".join(_clean(p) for p in parts if isinstance(p, str) and p)
    return f" {text}" if text else ""


# --------------------------------------------------------------------------- helpers


def _list_params(
    cids: Sequence[str],
    name: str | None,
    statuses: Sequence[str],
    before: datetime | None,
    after: datetime | None,
    limit: int | None,
    meta: Mapping[str, str] | None,
) -> list[tuple[str, str]]:
    if len(cids) > MAX_CIDS_PER_QUERY:
        raise PinningServiceError(f"at most {MAX_CIDS_PER_QUERY} CIDs per query, not {len(cids)}")
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown or not statuses:
        raise PinningServiceError(f"status filter {list(statuses)!r}: use some of {'|'.join(STATUSES)}")
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise PinningServiceError(f"limit {limit} is outside 1..{MAX_LIMIT}")
    params = [("cid", str(Cid.parse(c))) for c in cids] + [("status", s) for s in statuses]
    if name is not None:
        params.append(("name", name))
    if before is not None:
        params.append(("before", _rfc3339(before)))
    if after is not None:
        params.append(("after", _rfc3339(after)))
    if limit is not None:
        params.append(("limit", str(limit)))
    if meta:
        params.append(("meta", json.dumps(dict(meta), sort_keys=True)))
    return params


def _bounded_body(reply: requests.Response, client: PinningServiceClient) -> bytes:
    """The body, refused once it passes ``MAX_RESPONSE`` bytes (before it is parsed, whatever it claims)."""
    declared = reply.headers.get("Content-Length", "")
    if declared.isdecimal() and int(declared) > MAX_RESPONSE:
        raise client._malformed("answer", f"it announces {declared} bytes, over the {MAX_RESPONSE} allowed")
    body = bytearray()
    for chunk in reply.iter_content(64 << 10):
        body += chunk
        if len(body) > MAX_RESPONSE:
            raise client._malformed("answer", f"it is longer than the {MAX_RESPONSE} bytes allowed")
    return bytes(body)


def _batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    if not items:
        yield ()
        return
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _quoted(requestid: str) -> str:
    return urllib.parse.quote(requestid, safe="")


def _clean(text: str) -> str:
    """Another party's text, printable and short, before it goes into one of our messages."""
    printable = "".join(ch if ch.isprintable() else "?" for ch in text)
    return printable[:_DETAIL_CHARS]


def _shown(value: Any) -> str:
    return _clean(repr(value))


def _first_line(err: BaseException) -> str:
    return (str(err) or type(err).__name__).splitlines()[0][:200]
