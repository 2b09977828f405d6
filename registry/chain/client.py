"""One base for the typed contract clients: a contract at an address, seen and signed through one ``Chain``."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from eth_utils import to_checksum_address

from registry.chain.abi import event_dict
from registry.chain.connection import Chain
from registry.chain.types import TxResult


class ContractClient:
    """A deployed contract plus the signer that sends its transactions.

    ``deployed_at`` is the block the contract was deployed in (0 when unknown): event scans start there, not at
    genesis, so listing lineage or votes on a long chain does not read every block before the contract existed.
    """

    contract_name: ClassVar[str]

    def __init__(self, chain: Chain, address: str, *, deployed_at: int = 0) -> None:
        self.chain = chain
        self.address = to_checksum_address(address)
        self.deployed_at = deployed_at
        self.contract = chain.contract(self.contract_name, self.address)

    def using(self, chain: Chain) -> Self:
        """The same contract, signed by another account (an arbiter, a buyer, the suspect's owner…)."""
        return type(self)(chain, self.address, deployed_at=self.deployed_at)

    def events(
        self, name: str, from_block: int | None = None, **argument_filters: Any
    ) -> list[dict[str, Any]]:
        """Decoded logs of event ``name``, oldest first, from ``from_block`` (default: the deployment block)."""
        logs = self.contract.events[name].get_logs(
            from_block=self.deployed_at if from_block is None else from_block,
            argument_filters=argument_filters or None,
        )
        return [event_dict(log) for log in logs]

    def _transact(self, fn: Any, *, value: int = 0) -> TxResult:
        return self.chain.transact(fn, value=value, events_from=self.contract)
