"""The only package that knows web3: typed clients of the Ledgermark contracts, and the local chains.

Modules, leaf first: ``errors`` (every chain failure), ``types`` (records, disputes, off-chain hashes),
``rpc`` (JSON-RPC transports: HTTP, or a web3 provider), ``abi`` (packaged artifacts; call, event and revert
encoding and decoding with eth-abi), ``connection`` (``Chain``: reads over the transport, a signer resolved on
the first write), ``signer`` (the only module importing web3 and eth-account: fees, signing, sending),
``client`` (one base for contract clients), ``registry`` and ``disputes`` (the two typed clients),
``deployments`` (deploy and remember addresses), ``localnode`` (Ganache and Anvil supervisors).
Reads never import web3 (~1 s of start-up): ``signer`` is imported when a transaction is sent.
The names below are re-exported so callers write ``chainlib.Record`` after ``from registry import chain as
chainlib``.
"""

from registry.chain.connection import Chain
from registry.chain.disputes import OwnershipDisputesClient
from registry.chain.errors import (
    ChainError,
    ChainUnavailableError,
    CommitmentError,
    ContractRevertError,
    DisputeStateError,
    DuplicateRootError,
    FeeCapError,
    PendingRecordError,
    RecordMismatchError,
    UnauthorizedError,
    UnknownDisputeError,
    UnknownRecordError,
    WatermarkKeyTakenError,
)
from registry.chain.registry import ModelRegistryClient
from registry.chain.types import (
    ZERO_HASH,
    Derivation,
    Dispute,
    DisputeStatus,
    Priority,
    Record,
    TxResult,
    Vote,
    compute_commitment,
    watermark_key_hash,
)

__all__ = [
    "ZERO_HASH",
    "Chain",
    "ChainError",
    "ChainUnavailableError",
    "CommitmentError",
    "ContractRevertError",
    "Derivation",
    "Dispute",
    "DisputeStateError",
    "DisputeStatus",
    "DuplicateRootError",
    "FeeCapError",
    "ModelRegistryClient",
    "OwnershipDisputesClient",
    "PendingRecordError",
    "Priority",
    "Record",
    "RecordMismatchError",
    "TxResult",
    "UnauthorizedError",
    "UnknownDisputeError",
    "UnknownRecordError",
    "Vote",
    "WatermarkKeyTakenError",
    "compute_commitment",
    "watermark_key_hash",
]
