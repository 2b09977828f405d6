"""How deep a JSON document nests, measured without parsing it.

``json.loads`` recurses once per level, and a process that imported web3 has a recursion limit of 100000
(py_ecc raises it), so deep input overflows the C stack (SIGSEGV) instead of raising. Every parser of another
party's JSON measures the depth first with this linear scan; it lives in the lowest library so that ``ipfs``
(pinning-service answers) and ``verifier`` (manifests, keys) share it.
"""

from __future__ import annotations

import re

_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
"""A whole string (escapes included) or one bracket: strings are skipped in one step, so the scan is linear."""


def nesting_depth(data: bytes, *, stop_above: int | None = None) -> int:
    """The deepest bracket nesting outside strings, without parsing (no recursion, linear time).

    Up to the first syntax error it equals the parser's own depth, and the parser never reads past that error,
    so the bound holds for malformed documents too. ``stop_above`` ends the scan as soon as it is exceeded.
    """
    depth = deepest = 0
    for match in _TOKENS.finditer(data):
        char = match.group()
        if char in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    break
        elif char in (b"]", b"}"):
            depth -= 1
    return deepest
