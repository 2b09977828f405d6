"""Chain-side errors: a leaf module, so every other module of ``registry.chain`` (and the flows) can import it.

Every failure is a ``ChainError``. A contract revert becomes ``ContractRevertError`` carrying the custom error's
name and decoded arguments and a sentence from the error's NatSpec; the subclasses below group the reverts a
caller acts on. A node that cannot be reached becomes ``ChainUnavailableError`` naming the URL.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ipfs.errors import LedgermarkError


class ChainError(LedgermarkError):
    """Root of every chain-side failure."""


class ChainUnavailableError(ChainError):
    """The node does not answer: the message names the URL and what to do."""

    def __init__(self, url: str, cause: BaseException | None = None) -> None:
        self.url = url
        hint = (
            "start it (e.g. `ledgermark chain start`, or Ganache/Anvil) or point the configuration elsewhere"
        )
        reason = f" ({type(cause).__name__})" if cause is not None else ""
        super().__init__(f"Ethereum node at {url} is not reachable{reason}; {hint}")


class FeeCapError(ChainError):
    """The chain's fee is above the account's cap (``--max-fee``): refused before anything is sent."""

    def __init__(self, what: str, needed_wei: int, cap_wei: int) -> None:
        self.needed_wei = needed_wei
        self.cap_wei = cap_wei
        super().__init__(
            f"the chain's {what} is {format_gwei(needed_wei)} gwei, above the fee cap of {format_gwei(cap_wei)} gwei "
            "(--max-fee / LEDGERMARK_MAX_FEE); nothing was sent: raise the cap or wait for cheaper blocks"
        )


class RecordMismatchError(ChainError):
    """The node's answers about a record disagree (its event against the indexes in chain state): a node that
    lies, or one that dropped old logs."""


class ContractRevertError(ChainError):
    """A contract call reverted. ``name`` is the custom error (or ``Panic``/``Error``), ``error_args`` its values."""

    def __init__(self, name: str, error_args: dict[str, Any], description: str = "") -> None:
        self.name = name
        self.error_args = error_args
        self.description = description
        shown = ", ".join(f"{k}={_show(v)}" for k, v in error_args.items())
        text = f"{name}({shown})"
        super().__init__(f"{text}: {description}" if description else text)


class UnknownRecordError(ContractRevertError):
    """No registry record has the requested id."""


class PendingRecordError(UnknownRecordError):
    """The record exists at the latest block but does not have the required confirmations yet: not final."""


class UnknownDisputeError(ContractRevertError):
    """No dispute has the requested id."""


class UnauthorizedError(ContractRevertError):
    """The signing account may not do this (not the owner, claimant, or an arbiter)."""


class CommitmentError(ContractRevertError):
    """The registration's commitment is missing, reused, too new or too old."""


class DuplicateRootError(ContractRevertError):
    """The Merkle root is already registered."""


class WatermarkKeyTakenError(ContractRevertError):
    """The watermark-key hash is already anchored by another record (the first registration owns it)."""


class DisputeStateError(ContractRevertError):
    """The dispute is in the wrong state for this call (deadline, already voted, already resolved, key)."""


ERROR_CLASSES: dict[str, type[ContractRevertError]] = {
    "ModelRegistryUnknownRecord": UnknownRecordError,
    "OwnershipDisputesUnknownDispute": UnknownDisputeError,
    "ModelRegistryUnauthorizedAccount": UnauthorizedError,
    "OwnershipDisputesUnauthorizedAccount": UnauthorizedError,
    "OwnershipDisputesNotRecordOwner": UnauthorizedError,
    "OwnershipDisputesNotClaimant": UnauthorizedError,
    "OwnershipDisputesConflictOfInterest": UnauthorizedError,
    "OwnershipDisputesRoleConflict": UnauthorizedError,
    "ModelRegistryCommitmentNotFound": CommitmentError,
    "ModelRegistryCommitmentTooNew": CommitmentError,
    "ModelRegistryCommitmentTooOld": CommitmentError,
    "ModelRegistryCommitmentExists": CommitmentError,
    "ModelRegistryRootAlreadyRegistered": DuplicateRootError,
    "ModelRegistryWatermarkKeyTaken": WatermarkKeyTakenError,
    "OwnershipDisputesAlreadyVoted": DisputeStateError,
    "OwnershipDisputesAlreadyResolved": DisputeStateError,
    "OwnershipDisputesVotingOpen": DisputeStateError,
    "OwnershipDisputesVotingClosed": DisputeStateError,
    "OwnershipDisputesKeyNotRevealed": DisputeStateError,
    "OwnershipDisputesKeyAlreadyRevealed": DisputeStateError,
}


def _show(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return repr(value) if isinstance(value, str) else str(value)


def format_gwei(wei: int) -> str:
    """Wei as gwei for messages, without float noise or trailing zeros."""
    text = format(Decimal(wei) / Decimal(10**9), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
