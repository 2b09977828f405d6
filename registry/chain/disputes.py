"""``OwnershipDisputesClient``: open, reveal, vote, finalise, and the arbiter role (DESIGN.md §5)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_utils import to_checksum_address

from registry.chain import abi
from registry.chain.client import ContractClient
from registry.chain.registry import ModelRegistryClient
from registry.chain.rpc import RpcError
from registry.chain.types import Dispute, DisputeStatus, Priority, TxResult, Vote, check_bytes32


class OwnershipDisputesClient(ContractClient):
    """Typed binding of ``OwnershipDisputes`` for one signer."""

    contract_name = "OwnershipDisputes"

    # -- writes --------------------------------------------------------------------------------

    def open_dispute(
        self,
        claimant_record: int,
        suspect: int | bytes,
        evidence_hash: bytes,
        evidence_cid: str,
        *,
        bond_wei: int | None = None,
    ) -> tuple[int, TxResult]:
        """Open a dispute against ``suspect`` (a record id, or the Merkle root of any model) with the bond,
        committing to the full report by its SHA-256 (``evidence_cid`` is the public summary)."""
        args, value = self._open_args(claimant_record, suspect, evidence_hash, evidence_cid, bond_wei)
        result = self._transact(self.contract.functions.openDispute(*args), value=value)
        return int(result.event("DisputeOpened")["disputeId"]), result

    def check_open(
        self, claimant_record: int, suspect: int | bytes, evidence_hash: bytes, evidence_cid: str
    ) -> None:
        """Dry-run ``openDispute`` from the signer (``eth_call``, nothing sent): raises the revert it would hit,
        so a refused open is known before anything is pinned."""
        args, value = self._open_args(claimant_record, suspect, evidence_hash, evidence_cid, None)
        self._simulate("openDispute", args, value)

    def reveal_key(self, dispute_id: int, key_cid: str, data_key: bytes, report_cid: str) -> TxResult:
        """Reveal the key CID (checked on-chain against the claimant record), the sealed copy's data key and the
        CID of the full report committed to at opening."""
        check_bytes32(data_key, "data key")
        fn = self.contract.functions.revealKey(dispute_id, key_cid, bytes(data_key), report_cid)
        return self._transact(fn)

    def check_reveal(self, dispute_id: int, key_cid: str, data_key: bytes, report_cid: str) -> None:
        """Dry-run ``revealKey`` from the signer: raises its revert before the report is pinned."""
        check_bytes32(data_key, "data key")
        self._simulate("revealKey", (dispute_id, key_cid, bytes(data_key), report_cid))

    def vote(self, dispute_id: int, uphold: bool, report_cid: str) -> TxResult:
        """An arbiter's ruling on the watermark evidence, with the CID of its report."""
        return self._transact(self.contract.functions.vote(dispute_id, bool(uphold), report_cid))

    def finalise(self, dispute_id: int) -> tuple[DisputeStatus, TxResult]:
        """Resolve after the deadline (anyone may); returns the outcome."""
        result = self._transact(self.contract.functions.finalise(dispute_id))
        return DisputeStatus(result.event("DisputeResolved")["outcome"]), result

    def withdraw(self) -> TxResult:
        """Collect bonds credited after a failed direct payment."""
        return self._transact(self.contract.functions.withdraw())

    def grant_admin(self, account: str) -> TxResult:
        return self._transact(
            self.contract.functions.grantRole(self.admin_role(), to_checksum_address(account))
        )

    def grant_arbiter(self, account: str) -> TxResult:
        return self._transact(
            self.contract.functions.grantRole(self.arbiter_role(), to_checksum_address(account))
        )

    def revoke_arbiter(self, account: str) -> TxResult:
        return self._transact(
            self.contract.functions.revokeRole(self.arbiter_role(), to_checksum_address(account))
        )

    # -- reads ---------------------------------------------------------------------------------

    def dispute(self, dispute_id: int) -> Dispute:
        """The dispute; ``UnknownDisputeError`` for an unknown id."""
        raw = self.call("dispute", dispute_id)
        return _dispute_from_tuple(dispute_id, raw)

    def votes(self, dispute_id: int) -> list[Vote]:
        """Every vote on the dispute with its report CID (from ``VoteCast`` events)."""
        return [
            Vote(
                int(e["args"]["disputeId"]),
                e["args"]["arbiter"],
                bool(e["args"]["uphold"]),
                e["args"]["reportCid"],
                e["block_number"],
            )
            for e in self.events("VoteCast", disputeId=dispute_id)
        ]

    def is_arbiter(self, account: str) -> bool:
        return bool(self.call("hasRole", self.arbiter_role(), to_checksum_address(account)))

    def has_voted(self, dispute_id: int, account: str) -> bool:
        return bool(self.call("hasVoted", dispute_id, to_checksum_address(account)))

    def arbiter_count(self) -> int:
        return int(self.call("arbiterCount"))

    def dispute_count(self) -> int:
        return int(self.call("disputeCount"))

    def credited(self, account: str) -> int:
        return int(self.call("credited", to_checksum_address(account)))

    def bond(self) -> int:
        return int(self.call("bond"))

    def quorum(self) -> int:
        return int(self.call("quorum"))

    def voting_period(self) -> int:
        return int(self.call("votingPeriod"))

    def registry_address(self) -> str:
        return to_checksum_address(self.call("registry"))

    def treasury(self) -> str:
        return to_checksum_address(self.call("treasury"))

    def admin_role(self) -> bytes:
        return bytes(self.call("ADMIN_ROLE"))

    def arbiter_role(self) -> bytes:
        return bytes(self.call("ARBITER_ROLE"))

    # -- internals -----------------------------------------------------------------------------

    def _open_args(
        self,
        claimant_record: int,
        suspect: int | bytes,
        evidence_hash: bytes,
        evidence_cid: str,
        bond_wei: int | None,
    ) -> tuple[tuple[Any, ...], int]:
        check_bytes32(evidence_hash, "evidence hash")
        args = (claimant_record, self._suspect_root(suspect), bytes(evidence_hash), evidence_cid)
        return args, self.bond() if bond_wei is None else bond_wei

    def _simulate(self, function: str, args: tuple[Any, ...], value: int = 0) -> None:
        """``eth_call`` of a write at the latest block, from the signer: a revert raises its typed error."""
        data = abi.encode_call(self.contract_name, function, args)
        call = {
            "from": self.chain.address,
            "to": self.address,
            "data": "0x" + data.hex(),
            "value": hex(value),
        }
        try:
            self.chain.request("eth_call", [call, "latest"])
        except RpcError as err:
            if not err.is_revert:
                raise
            raise abi.revert_from_rpc(err.revert_data, err.rpc_message) from err

    def _suspect_root(self, suspect: int | bytes) -> bytes:
        if isinstance(suspect, (bytes, bytearray)):
            check_bytes32(suspect, "suspect root")
            return bytes(suspect)
        registry = ModelRegistryClient(self.chain, self.registry_address())
        return registry.record(int(suspect)).root


def _dispute_from_tuple(dispute_id: int, raw: Sequence[Any]) -> Dispute:
    (
        claimant,
        claimant_record,
        priority,
        status,
        key_revealed,
        suspect_owner,
        suspect_record,
        suspect_root,
        data_key,
        evidence_hash,
        opened_at,
        deadline,
        uphold,
        reject,
        bond,
        evidence_cid,
        key_cid,
        report_cid,
    ) = raw
    return Dispute(
        dispute_id=int(dispute_id),
        claimant=to_checksum_address(claimant),
        claimant_record=int(claimant_record),
        suspect_root=bytes(suspect_root),
        suspect_record=int(suspect_record),
        suspect_owner=to_checksum_address(suspect_owner),
        priority=Priority(priority),
        status=DisputeStatus(status),
        key_revealed=bool(key_revealed),
        key_cid=str(key_cid),
        data_key=bytes(data_key),
        evidence_cid=str(evidence_cid),
        evidence_hash=bytes(evidence_hash),
        report_cid=str(report_cid),
        opened_at=int(opened_at),
        deadline=int(deadline),
        uphold_votes=int(uphold),
        reject_votes=int(reject),
        bond=int(bond),
    )
