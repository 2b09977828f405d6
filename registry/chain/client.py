"""One base for the typed contract clients: a contract at an address, read through one path, signed lazily.

Reads are ``eth_call`` and ``eth_getLogs`` encoded and decoded with the packaged ABI (``registry.chain.abi``),
whatever the chain or provider, so a read-only command never imports web3. ``contract`` (the web3 object that
builds transactions) is made on the first write.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, ClassVar, Self

from eth_utils import to_checksum_address

from registry.chain import abi
from registry.chain.connection import Chain
from registry.chain.types import TxResult

if TYPE_CHECKING:
    from web3.contract import Contract


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

    @functools.cached_property
    def contract(self) -> Contract:
        """The web3 contract (imports web3): only transactions need it."""
        return self.chain.contract(self.contract_name, self.address)

    def using(self, chain: Chain) -> Self:
        """The same contract, signed by another account (an arbiter, a buyer, the suspect's owner…)."""
        return type(self)(chain, self.address, deployed_at=self.deployed_at)

    def call(self, function: str, *args: Any) -> Any:
        """Call the view ``function`` at the latest block; a revert raises its typed ``ContractRevertError``."""
        data = abi.encode_call(self.contract_name, function, args)
        return abi.decode_result(self.contract_name, function, self.chain.call(self.address, data))

    def events(
        self,
        name: str,
        from_block: int | None = None,
        to_block: int | None = None,
        **argument_filters: Any,
    ) -> list[dict[str, Any]]:
        """Decoded logs of event ``name``, oldest first, from ``from_block`` (default: the deployment block) to
        ``to_block`` (default: the confirmed block)."""
        topics = abi.event_topics(self.contract_name, name, argument_filters)
        start = self.deployed_at if from_block is None else from_block
        logs = self.chain.get_logs(self.address, topics, from_block=start, to_block=to_block)
        return abi.decode_logs(self.contract_name, self.address, logs)

    def _transact(self, fn: Any, *, value: int = 0) -> TxResult:
        return self.chain.transact(fn, value=value, events_from=(self.contract_name, self.address))
