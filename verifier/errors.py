"""Errors of the verifier library: one root under Ledgermark's ``LedgermarkError``."""

from ipfs.errors import LedgermarkError


class VerifierError(LedgermarkError):
    """Root of the verifier library's errors."""
