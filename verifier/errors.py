"""Errors of the verifier library."""


class VerifierError(Exception):
    """Root of the verifier library's errors."""
