"""ModelRegistry on the in-process EVM: the happy path, lineage, and every revert with its custom error."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from ipfs.cid import Cid
from ipfs.errors import InvalidCidError
from registry import chain as chainlib
from registry.chain import abi, deployments
from tests.contracts.conftest import KEY_CID, MANIFEST_CID, expect_revert

SALT = b"\x5a" * 32


def _key_hash(root: bytes) -> bytes:
    """A key hash of the record's own: a key hash is anchored by one record only."""
    return chainlib.watermark_key_hash(f"key-of-{root.hex()}")


def _commit(client: chainlib.ModelRegistryClient, root: bytes, salt: bytes = SALT) -> int:
    key_hash = _key_hash(root)
    return client.commit(client.compute_commitment(root, key_hash, salt)).block_number


def _register(client: chainlib.ModelRegistryClient, root: bytes, salt: bytes = SALT, **kw: object) -> int:
    key_hash = _key_hash(root)
    record_id, _ = client.register(root, 3, MANIFEST_CID, key_hash, salt=salt, **kw)  # type: ignore[arg-type]
    return record_id


def test_publish_creates_a_full_record(registry: chainlib.ModelRegistryClient, chain: chainlib.Chain) -> None:
    root = os.urandom(32)
    key_hash = chainlib.watermark_key_hash(KEY_CID)
    record_id, tx = registry.publish(root, 7, MANIFEST_CID, key_hash)
    rec = registry.record(record_id)
    assert rec == chainlib.Record(
        record_id=1,
        owner=chain.address,
        root=root,
        leaf_count=7,
        manifest_cid=MANIFEST_CID,
        watermark_key_hash=key_hash,
        parent_id=0,
        derivation=chainlib.Derivation.NONE,
        commit_block=rec.commit_block,
        registered_block=tx.block_number,
        registered_at=chain.w3.eth.get_block(tx.block_number)["timestamp"],
        revoked=False,
    )
    assert rec.registered_block - rec.commit_block >= 2
    assert registry.record_id_by_root(root) == 1
    assert registry.record_id_by_root(os.urandom(32)) is None
    assert registry.record_count() == 1
    assert tx.event("ModelRegistered")["root"] == root


def test_commitment_binds_chain_contract_sender_root_key_and_salt(
    registry: chainlib.ModelRegistryClient, chain: chainlib.Chain
) -> None:
    root, key_hash = os.urandom(32), os.urandom(32)
    local = registry.compute_commitment(root, key_hash, SALT)
    onchain = registry.contract.functions.computeCommitment(chain.address, root, key_hash, SALT).call()
    assert local == onchain
    others = {
        chainlib.compute_commitment(
            chain.chain_id + 1, registry.address, chain.address, root, key_hash, SALT
        ),
        chainlib.compute_commitment(chain.chain_id, chain.address, chain.address, root, key_hash, SALT),
        chainlib.compute_commitment(chain.chain_id, registry.address, registry.address, root, key_hash, SALT),
        registry.compute_commitment(os.urandom(32), key_hash, SALT),
        registry.compute_commitment(root, os.urandom(32), SALT),
        registry.compute_commitment(root, key_hash, os.urandom(32)),
    }
    assert local not in others and len(others) == 6


def test_commitment_too_new(registry: chainlib.ModelRegistryClient) -> None:
    root = os.urandom(32)
    _commit(registry, root)  # min age 2: the reveal in the next block is 1 block old
    err = expect_revert(
        "ModelRegistryCommitmentTooNew", lambda: _register(registry, root), chainlib.CommitmentError
    )
    assert err.error_args["age"] == 1 and err.error_args["minAge"] == 2


def test_commitment_too_old(registry: chainlib.ModelRegistryClient, chain: chainlib.Chain) -> None:
    root = os.urandom(32)
    _commit(registry, root)
    chain.mine(10)  # max age 10: the reveal lands 11 blocks later
    err = expect_revert(
        "ModelRegistryCommitmentTooOld", lambda: _register(registry, root), chainlib.CommitmentError
    )
    assert err.error_args["age"] == 11 and err.error_args["maxAge"] == 10


def test_commitment_at_age_bounds_is_accepted(
    registry: chainlib.ModelRegistryClient, chain: chainlib.Chain
) -> None:
    first, second = os.urandom(32), os.urandom(32)
    _commit(registry, first)
    chain.mine(1)
    assert registry.record(_register(registry, first)).root == first  # exactly min age
    _commit(registry, second, salt=b"\x01" * 32)
    chain.mine(9)
    assert registry.record(_register(registry, second, salt=b"\x01" * 32)).root == second  # exactly max age


def test_commitment_missing(registry: chainlib.ModelRegistryClient) -> None:
    expect_revert(
        "ModelRegistryCommitmentNotFound",
        lambda: _register(registry, os.urandom(32)),
        chainlib.CommitmentError,
    )


def test_consumed_commitment_is_deleted_and_cannot_be_replayed(
    registry: chainlib.ModelRegistryClient, chain: chainlib.Chain
) -> None:
    root = os.urandom(32)
    commitment = registry.compute_commitment(root, _key_hash(root), SALT)
    made_at = _commit(registry, root)
    assert registry.commitment_state(commitment) == made_at
    chain.mine(2)
    _register(registry, root)
    assert registry.commitment_state(commitment) == 0  # deleted: a storage refund
    expect_revert(
        "ModelRegistryCommitmentNotFound", lambda: _register(registry, root), chainlib.CommitmentError
    )
    registry.commit(commitment)  # committing again is possible, revealing again is not
    chain.mine(2)
    expect_revert(
        "ModelRegistryRootAlreadyRegistered", lambda: _register(registry, root), chainlib.DuplicateRootError
    )


def test_zero_and_repeated_commitments_rejected(registry: chainlib.ModelRegistryClient) -> None:
    expect_revert("ModelRegistryZeroCommitment", lambda: registry.commit(bytes(32)))
    commitment = os.urandom(32)
    registry.commit(commitment)
    expect_revert(
        "ModelRegistryCommitmentExists", lambda: registry.commit(commitment), chainlib.CommitmentError
    )


def test_front_run_reveal_by_another_sender_fails(
    registry: chainlib.ModelRegistryClient, accounts: list[chainlib.Chain], chain: chainlib.Chain
) -> None:
    """An attacker copies the pending reveal (same root, key hash, salt) from their own account."""
    root = os.urandom(32)
    _commit(registry, root)
    chain.mine(2)
    attacker = registry.using(accounts[3])
    expect_revert(
        "ModelRegistryCommitmentNotFound", lambda: _register(attacker, root), chainlib.CommitmentError
    )
    # …and copying the commitment itself does not help either: it binds the original sender
    commitment = registry.compute_commitment(root, _key_hash(root), SALT)
    attacker.commit(commitment)
    chain.mine(2)
    expect_revert(
        "ModelRegistryCommitmentNotFound", lambda: _register(attacker, root), chainlib.CommitmentError
    )
    assert registry.record(_register(registry, root)).owner == chain.address


def test_duplicate_root(
    registry: chainlib.ModelRegistryClient, publish: Callable[..., int], chain: chainlib.Chain
) -> None:
    root = os.urandom(32)
    first = publish(root=root)
    _commit(registry, root)
    chain.mine(2)
    err = expect_revert(
        "ModelRegistryRootAlreadyRegistered", lambda: _register(registry, root), chainlib.DuplicateRootError
    )
    assert err.error_args == {"root": root, "recordId": first}
    with pytest.raises(chainlib.DuplicateRootError):  # publish refuses before spending a commit
        registry.publish(root, 3, MANIFEST_CID)


@pytest.mark.parametrize(
    ("root", "leaf_count", "digest", "codec", "name"),
    [
        (bytes(32), 3, b"\x01" * 32, 0x55, "ModelRegistryZeroRoot"),
        (None, 0, b"\x01" * 32, 0x55, "ModelRegistryEmptyManifest"),
        (None, 3, bytes(32), 0x55, "ModelRegistryEmptyManifestCid"),
        (None, 3, b"\x01" * 32, 0x71, "ModelRegistryUnsupportedManifestCodec"),
    ],
)
def test_invalid_registration_values(
    registry: chainlib.ModelRegistryClient,
    chain: chainlib.Chain,
    root: bytes | None,
    leaf_count: int,
    digest: bytes,
    codec: int,
    name: str,
) -> None:
    root = root if root is not None else os.urandom(32)
    _commit(registry, root)
    chain.mine(2)
    fn = registry.contract.functions.register(root, leaf_count, digest, codec, _key_hash(root), 0, 0, SALT)
    expect_revert(name, lambda: registry._transact(fn))


@pytest.mark.parametrize(
    "cid",
    [
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o",  # CIDv0
        "bafybeibnoelefnzgwbcacyt4vh52ymxvzbjq7mmqhtcnwarfq4lzegsiqe",  # CIDv1 dag-pb
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",  # CIDv1 raw
    ],
)
def test_manifest_cid_is_rebuilt_from_digest_and_codec(
    registry: chainlib.ModelRegistryClient, cid: str
) -> None:
    record_id, tx = registry.publish(os.urandom(32), 1, cid)
    assert registry.record(record_id).manifest_cid == cid
    assert tx.event("ModelRegistered")["manifestDigest"] == Cid.parse(cid).digest


def test_an_unrebuildable_manifest_cid_is_refused_before_any_transaction(
    registry: chainlib.ModelRegistryClient,
) -> None:
    with pytest.raises(InvalidCidError):
        registry.publish(os.urandom(32), 1, "bafymanifest")
    assert registry.events("CommitmentRecorded") == []


def test_lineage_and_derivation_rules(
    registry: chainlib.ModelRegistryClient, publish: Callable[..., int], chain: chainlib.Chain
) -> None:
    base = publish(key_cid=None)
    tuned = publish(parent_id=base, derivation=chainlib.Derivation.FINE_TUNE)
    small = publish(parent_id=tuned, derivation=chainlib.Derivation.QUANTIZE, key_cid=None)
    sibling = publish(parent_id=base, derivation=chainlib.Derivation.DISTILL, key_cid=None)
    assert [r.record_id for r in registry.ancestry(small)] == [small, tuned, base]
    assert registry.parent_of(small) == (tuned, chainlib.Derivation.QUANTIZE)
    assert registry.parent_of(base) == (0, chainlib.Derivation.NONE)
    assert registry.children(base) == [tuned, sibling]

    root = os.urandom(32)
    _commit(registry, root)
    chain.mine(2)
    expect_revert(
        "ModelRegistryUnknownRecord",
        lambda: _register(registry, root, parent_id=99, derivation=chainlib.Derivation.PRUNE),
        chainlib.UnknownRecordError,
    )
    expect_revert("ModelRegistryInvalidDerivation", lambda: _register(registry, root, parent_id=base))
    expect_revert(
        "ModelRegistryInvalidDerivation",
        lambda: _register(registry, root, derivation=chainlib.Derivation.OTHER),
    )


def test_transfer_and_revoke(
    registry: chainlib.ModelRegistryClient, publish: Callable[..., int], accounts: list[chainlib.Chain]
) -> None:
    record_id = publish()
    buyer = accounts[1]
    tx = registry.transfer(record_id, buyer.address)
    assert tx.event("RecordTransferred") == {
        "recordId": record_id,
        "previousOwner": accounts[0].address,
        "newOwner": buyer.address,
    }
    assert registry.record(record_id).owner == buyer.address
    expect_revert(
        "ModelRegistryUnauthorizedAccount",
        lambda: registry.transfer(record_id, accounts[2].address),
        chainlib.UnauthorizedError,
    )
    expect_revert(
        "ModelRegistryUnauthorizedAccount", lambda: registry.revoke(record_id), chainlib.UnauthorizedError
    )
    as_buyer = registry.using(buyer)
    expect_revert("ModelRegistryInvalidOwner", lambda: as_buyer.transfer(record_id, "0x" + "00" * 20))
    as_buyer.revoke(record_id)
    rec = registry.record(record_id)
    assert rec.revoked and rec.owner == buyer.address  # still readable, reported revoked
    expect_revert("ModelRegistryRecordRevoked", lambda: as_buyer.revoke(record_id))
    expect_revert("ModelRegistryRecordRevoked", lambda: as_buyer.transfer(record_id, accounts[2].address))
    assert [e["event"] for e in registry.events("RecordRevoked")] == ["RecordRevoked"]


def test_unknown_record_reads(registry: chainlib.ModelRegistryClient) -> None:
    err = expect_revert("ModelRegistryUnknownRecord", lambda: registry.record(5), chainlib.UnknownRecordError)
    assert err.error_args == {"recordId": 5} and "No record has this id" in str(err)
    expect_revert("ModelRegistryUnknownRecord", lambda: registry.parent_of(0), chainlib.UnknownRecordError)
    expect_revert(
        "ModelRegistryUnknownRecord",
        lambda: registry.verify_artifact(1, bytes(32), bytes(32), 0, []),
        chainlib.UnknownRecordError,
    )
    expect_revert(
        "ModelRegistryUnknownRecord",
        lambda: registry.transfer(5, registry.address),
        chainlib.UnknownRecordError,
    )


def test_constructor_rejects_bad_ages(chain: chainlib.Chain) -> None:
    expect_revert(
        "ModelRegistryInvalidCommitAges",
        lambda: deployments.deploy_registry(chain, min_commit_age=0, max_commit_age=5),
    )
    expect_revert(
        "ModelRegistryInvalidCommitAges",
        lambda: deployments.deploy_registry(chain, min_commit_age=6, max_commit_age=5),
    )
    client = chainlib.ModelRegistryClient(chain, deployments.deploy_registry(chain))
    assert (
        client.commit_ages()
        == (deployments.DEFAULT_MIN_COMMIT_AGE, deployments.DEFAULT_MAX_COMMIT_AGE)
        == (1, 7200)
    )


def test_events_are_decoded(
    registry: chainlib.ModelRegistryClient, publish: Callable[..., int], chain: chainlib.Chain
) -> None:
    record_id = publish()
    committed = registry.events("CommitmentRecorded")
    assert committed[0]["args"]["committer"] == chain.address
    registered = registry.events("ModelRegistered", recordId=record_id)
    assert registered[0]["args"]["manifestDigest"] == Cid.parse(MANIFEST_CID).digest
    assert registered[0]["args"]["manifestCodec"] == 0x55


def test_unreachable_node_names_url() -> None:
    from web3 import HTTPProvider

    provider = HTTPProvider("http://127.0.0.1:9", exception_retry_configuration=None)
    with pytest.raises(chainlib.ChainUnavailableError, match="127.0.0.1:9"):
        chainlib.Chain.connect(provider, "0x" + "11" * 32)


def test_a_node_that_drops_or_forges_the_registration_event_is_caught(
    registry: chainlib.ModelRegistryClient, publish: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record's hashes come from its event: a node that drops it (expired history), answers another record's
    event under this id (the root and key indexes in chain state disagree) or garbles its CID tag is refused."""
    first, second = publish(), publish(key_cid="bafkreisecondkey")
    honest = registry.chain.get_logs

    def topic(record_id: int) -> str | None:
        return abi.event_topics("ModelRegistry", "ModelRegistered", {"recordId": record_id})[1]

    def forging(address: str, topics: list[str | None], **window: Any) -> list[dict[str, Any]]:
        if topics[1:2] != [topic(second)]:
            return honest(address, topics, **window)
        [log] = honest(address, [topics[0], topic(first)])
        return [{**log, "topics": [log["topics"][0], topics[1], *log["topics"][2:]]}]

    monkeypatch.setattr(registry.chain, "get_logs", forging)
    assert registry.record(first).record_id == first
    with pytest.raises(chainlib.RecordMismatchError, match=f"record {second} .* does not index to it"):
        registry.record(second)

    monkeypatch.setattr(registry.chain, "get_logs", lambda *args, **kwargs: [])
    with pytest.raises(
        chainlib.RecordMismatchError, match="returned 0 registration events .* expired its log"
    ):
        registry.record(first)

    def bad_tag(address: str, topics: list[str | None], **window: Any) -> list[dict[str, Any]]:
        [log] = honest(address, topics, **window)
        data = bytearray(abi.to_bytes(log["data"]))
        data[4 * 32 - 1] = 0x99  # the manifest CID tag, the fourth data word
        return [{**log, "data": "0x" + data.hex()}]

    monkeypatch.setattr(registry.chain, "get_logs", bad_tag)
    with pytest.raises(chainlib.RecordMismatchError, match="manifest CID tag is not a CID codec"):
        registry.record(first)


def test_verify_artifact_refuses_a_root_that_is_not_the_records(
    registry: chainlib.ModelRegistryClient, publish: Callable[..., int]
) -> None:
    """The caller names the root; the root index must say it is this record's, or the check reverts."""
    mine, other_root = publish(leaf_count=1), os.urandom(32)
    other = publish(root=other_root, key_cid=None, leaf_count=1)
    leaf = registry.record(other).root  # a one-leaf tree's root is its leaf
    assert registry.verify_artifact(other, other_root, leaf, 0, [])
    err = expect_revert(
        "ModelRegistryNotRecordRoot", lambda: registry.verify_artifact(mine, other_root, leaf, 0, [])
    )
    assert err.error_args == {"recordId": mine, "root": other_root}
