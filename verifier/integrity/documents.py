"""One strict JSON parser for every document another party wrote: manifests, keys, profiles, keystores, replies.

Such a document is hostile until checked, so it is bounded before it is parsed:

* its size is checked before a byte is decoded;
* its nesting depth is measured by a linear scan that skips strings (and the escapes inside them) before
  ``json.loads`` sees it. Importing web3 raises Python's recursion limit to 100000 (py_ecc), so the C parser
  no longer stops a deep document with ``RecursionError``: ~400 KB of ``[`` overflows the C stack and the
  process dies with SIGSEGV;
* it must be UTF-8, without NaN, Infinity or numbers that overflow to them, and without duplicate keys (two
  parsers of one manifest must never read two different documents).

Then the schemas read fields with the small typed readers below, which refuse what Python would coerce
(``True`` is an ``int``, ``1.0 == 1``). Every refusal is a ``DocumentError`` naming the document's source;
callers decide what it means to the user: a manifest fetched by CID that fails is invalid content (the record
is rejected, exit 1), a file the user passes is a usage error (exit 2).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection
from typing import Any

from ipfs.jsondepth import nesting_depth
from verifier.errors import VerifierError

DEFAULT_MAX_DEPTH = 32
"""Deeper than any Ledgermark document (a manifest needs 3, a key 4); far below what overflows the C stack."""
SIZE_LIMIT = 2**63
"""Sizes and counts are below 2⁶³: they fit the contract's ``uint64`` and any file system's ``off_t``."""

_HEX = re.compile(r"[0-9a-f]*")


class DocumentError(VerifierError, ValueError):
    """An untrusted document is too large, too deep, not strict JSON, or holds a field of the wrong type."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}"[:500])


class NotJsonError(DocumentError):
    """The bytes are not UTF-8 JSON at all (a sealed or binary file), as opposed to JSON of the wrong shape."""


# --------------------------------------------------------------------------- parsing


def parse_json(data: bytes, *, source: str, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The JSON value in ``data``, or ``DocumentError``: size, then depth, then strict parsing.

    ``source`` names the document in messages ("manifest bafy…", "keystore ./a.json").
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DocumentError(source, f"expected bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise DocumentError(
            source, f"is larger than {_size(max_bytes)} ({len(data):,} bytes): refused unparsed"
        )
    depth = nesting_depth(data, stop_above=max_depth)
    if depth > max_depth:
        raise DocumentError(source, f"nests deeper than {max_depth} levels: refused unparsed")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise NotJsonError(source, f"is not UTF-8 text (byte {err.start})") from None
    try:
        return json.loads(
            text, parse_constant=_no_constant, parse_float=_finite_float, object_pairs_hook=_unique_keys
        )
    except json.JSONDecodeError as err:
        raise NotJsonError(
            source, f"is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})"
        ) from None
    except _Refused as err:
        raise DocumentError(source, str(err)) from None
    except (ValueError, RecursionError) as err:  # an integer of over 4300 digits; a depth we failed to bound
        raise DocumentError(source, f"is not a document Ledgermark reads: {str(err)[:120]}") from None


class _Refused(Exception):
    """Raised from inside ``json.loads`` hooks; turned into a ``DocumentError`` with the source."""


def _no_constant(name: str) -> None:
    raise _Refused(f"holds {name}, which is not JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _Refused(f"holds the number {literal[:40]}, too large for a float")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"holds the key {key[:60]!r} twice")
            seen.add(key)
    return document


# --------------------------------------------------------------------------- typed readers


def non_negative_int(value: object, field: str, source: str, *, below: int = SIZE_LIMIT) -> int:
    """A whole number in [0, below): never a bool, a float (even ``1.0``) or a string of digits."""
    return integer(value, field, source, low=0, below=below)


def integer(value: object, field: str, source: str, *, low: int, below: int) -> int:
    """A whole number in [low, below): bools, floats and strings are refused, not coerced."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise DocumentError(source, f"{field} must be a whole number, not {_kind(value)}")
    if not low <= value < below:
        shown = str(value) if value.bit_length() < 128 else f"a {value.bit_length()}-bit number"
        raise DocumentError(source, f"{field} must be from {low} to {below - 1}, not {shown}")
    return value


def number(value: object, field: str, source: str) -> float:
    """A finite real number (an int or a float, never a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DocumentError(source, f"{field} must be a number, not {_kind(value)}")
    result = float(value) if isinstance(value, float) or abs(value) < 2**1023 else math.inf
    if not math.isfinite(result):
        raise DocumentError(source, f"{field} must be a finite number")
    return result


def text(
    value: object,
    field: str,
    source: str,
    *,
    max_length: int = 4096,
    pattern: re.Pattern[str] | None = None,
    allowed: Collection[str] | None = None,
) -> str:
    """A string of at most ``max_length`` characters, optionally one of ``allowed`` or matching ``pattern``."""
    if not isinstance(value, str):
        raise DocumentError(source, f"{field} must be a string, not {_kind(value)}")
    if len(value) > max_length:
        raise DocumentError(source, f"{field} is longer than {max_length} characters")
    if allowed is not None and value in allowed:
        return value
    if pattern is not None and pattern.fullmatch(value):
        return value
    if allowed is not None or pattern is not None:
        raise DocumentError(source, f"{field} {value[:80]!r} is not {_expected(allowed, pattern)}")
    return value


def hex_digest(value: object, field: str, source: str, *, length: int = 64) -> str:
    """Exactly ``length`` lower-case hex digits (a SHA-256 is 64)."""
    digest = text(value, field, source, max_length=length)
    if len(digest) != length or not _HEX.fullmatch(digest):
        raise DocumentError(source, f"{field} must be {length} lower-case hex digits")
    return digest


def mapping(
    value: object, field: str, source: str, *, required: Collection[str] = (), optional: Collection[str] = ()
) -> dict[str, Any]:
    """A JSON object with every ``required`` key and no key outside ``required`` and ``optional``."""
    if not isinstance(value, dict):
        raise DocumentError(source, f"{field} must be a JSON object, not {_kind(value)}")
    known = set(required) | set(optional)
    if unknown := sorted(set(value) - known):
        raise DocumentError(source, f"{field} has unknown keys {[k[:40] for k in unknown[:5]]}")
    if missing := sorted(set(required) - set(value)):
        raise DocumentError(source, f"{field} lacks {missing}")
    return value


def array(value: object, field: str, source: str, *, max_items: int) -> list[Any]:
    """A JSON array of at most ``max_items`` items."""
    if not isinstance(value, list):
        raise DocumentError(source, f"{field} must be a JSON array, not {_kind(value)}")
    if len(value) > max_items:
        raise DocumentError(source, f"{field} holds more than {max_items} items ({len(value)})")
    return value


def _size(count: int) -> str:
    """``16 KiB``, ``64 MiB`` or ``1,000 bytes``: limits as a person would write them."""
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale and count % scale == 0:
            return f"{count // scale} {unit}"
    return f"{count:,} bytes"


def _expected(allowed: Collection[str] | None, pattern: re.Pattern[str] | None) -> str:
    parts = []
    if allowed is not None:
        parts.append(f"one of {sorted(allowed)}")
    if pattern is not None:
        parts.append(f"of the form {pattern.pattern}")
    return " or ".join(parts)


def _kind(value: object) -> str:
    """A JSON-ish name for a value's type, for messages (never the value itself: it may be huge)."""
    names = {bool: "a boolean", int: "a number", float: "a decimal number", str: "a string", list: "an array"}
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return names.get(type(value), type(value).__name__)
