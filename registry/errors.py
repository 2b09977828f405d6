"""The registry's errors, split by what the user should do about them.

Every error Ledgermark raises on purpose is a ``LedgermarkError`` (defined in the lowest library, ``ipfs``, so
that ``ipfs``, ``verifier`` and ``registry.chain`` all share it). ``IntegrityError`` and its subclass
``VerificationFailed`` mean the bytes are not what the owner anchored: CLI exit 1, HTTP 409. Every other
``LedgermarkError`` is a usage or environment problem whose message says what to do: CLI exit 2, HTTP 4xx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ipfs.errors import IntegrityError, LedgermarkError

if TYPE_CHECKING:
    from verifier.integrity.manifest import Comparison

__all__ = ["ConfigError", "IntegrityError", "LedgermarkError", "RecordError", "VerificationFailed"]


class ConfigError(LedgermarkError, ValueError):
    """A setting has a value Ledgermark cannot use; the message names the setting, its source and what works."""


class RecordError(LedgermarkError):
    """A record reference cannot be resolved (malformed id or root, or nothing registered under it)."""


class VerificationFailed(IntegrityError):
    """Artifacts do not match what the record anchors; ``comparison`` says exactly how."""

    def __init__(self, message: str, comparison: Comparison | None = None, problems: list[str] | None = None):
        self.comparison = comparison
        self.problems = list(problems or [])
        if comparison is not None:
            self.problems = comparison.describe() + self.problems
        super().__init__(message)
