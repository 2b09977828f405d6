"""Errors of the registry service, split by what the user should do about them.

``VerificationFailed`` means the bytes are not what the owner anchored (exit code 1 in the CLI): it carries the
itemised comparison. Everything else is a usage or environment problem (exit code 2) whose message says what
to do. The libraries ``ipfs`` and ``verifier`` have their own roots; ``USER_ERRORS`` lists every root a front
end should turn into a clean message instead of a traceback.
"""

from __future__ import annotations

from ipfs.errors import IpfsError
from registry.chain import ChainError
from registry.config import ConfigError
from verifier.errors import VerifierError
from verifier.manifest import Comparison, ManifestError
from verifier.merkle import MerkleError


class LedgermarkError(Exception):
    """Root of the registry's own errors."""


class RecordError(LedgermarkError):
    """A record reference cannot be resolved (malformed id or root, or nothing registered under it)."""


class VerificationFailed(LedgermarkError):
    """Artifacts do not match what the record anchors; ``comparison`` says exactly how."""

    def __init__(self, message: str, comparison: Comparison | None = None, problems: list[str] | None = None):
        self.comparison = comparison
        self.problems = list(problems or [])
        if comparison is not None:
            self.problems = comparison.describe() + self.problems
        super().__init__(message)


USER_ERRORS: tuple[type[Exception], ...] = (
    LedgermarkError,
    IpfsError,
    ChainError,
    ConfigError,
    ManifestError,
    MerkleError,
    VerifierError,
)
