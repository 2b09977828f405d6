"""Errors of the IPFS library, one class per thing a caller can act on, and Ledgermark's one exception root.

``LedgermarkError`` lives here, in the lowest library, so that every library's root (``IpfsError``,
``VerifierError``, ``ChainError``) subclasses it without importing the service. Under it, ``IntegrityError``
means "do not trust these bytes" (tampering: CLI exit 1, HTTP 409); every other ``LedgermarkError`` is a usage or
environment problem (exit 2, HTTP 4xx) such as an unreachable node: "start the daemon or fix the address".
"""

from __future__ import annotations


class LedgermarkError(Exception):
    """Root of every error Ledgermark raises on purpose; the message says what happened and what to do."""


class IntegrityError(LedgermarkError):
    """Bytes are not what their content address or on-chain anchor says they are."""


class IpfsError(LedgermarkError):
    """Root of the ipfs library's errors."""


class InvalidCidError(IpfsError, ValueError):
    """A string or byte sequence is not a CID this library understands."""


class IpfsUnavailableError(IpfsError):
    """The IPFS node could not be reached (down, wrong address, or it did not answer in time)."""

    def __init__(self, address: str, cause: BaseException | str) -> None:
        self.address = address
        super().__init__(
            f"IPFS node at {address} is not reachable ({cause}); start the daemon or pass --ipfs with its "
            "RPC multiaddr (or use --ipfs embedded)"
        )


class ContentNotFoundError(IpfsError):
    """The store does not hold (or could not find in time) the content a CID names."""

    def __init__(self, cid: str, where: str) -> None:
        self.cid = cid
        super().__init__(f"content {cid} is not available from {where}")


class ContentIntegrityError(IpfsError, IntegrityError):
    """Bytes do not hash to the CID that names them: the content was altered or the node misbehaves."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"{what} does not match its content address: expected {expected}, got {actual}")


class ContentTooLargeError(ContentIntegrityError):
    """The DAG under a CID claims or yields more bytes than the size its manifest declares."""

    def __init__(self, cid: str, declared: int) -> None:
        self.cid = cid
        self.declared = declared
        self.expected, self.actual = f"at most {declared} bytes", "more"
        IpfsError.__init__(self, f"content {cid} is larger than the {declared} bytes the manifest declares")
