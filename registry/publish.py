"""Publish: artifacts → manifest → IPFS → Merkle root → on-chain record.

The order matters for "loses nothing": every byte is stored (and pinned) on IPFS before the chain is touched,
and the chain transaction is the single commit point. A failure before it leaves only unreferenced, pinned
blocks (harmless, re-used by a retry); no record points at content that is not there. A process that dies
between the two leaves a journal entry that the next start finishes or rolls back (``registry.journal``).
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from ipfs import unixfs
from registry import chain as chainlib
from registry import journal
from registry.backends import Backends
from registry.errors import LedgermarkError
from verifier.integrity import manifest as manifestlib
from verifier.integrity import sealing

log = logging.getLogger(__name__)

ProgressFactory = Callable[[str, int], Callable[[int], None]]
"""Given a label and a total byte count, returns a callback taking byte increments (e.g. a tqdm bar)."""


@dataclasses.dataclass(frozen=True)
class Artifact:
    """A local file to publish, with its role and the path it will have in the manifest."""

    path: Path
    role: str
    name: str | None = None

    @property
    def manifest_path(self) -> str:
        return self.name or self.path.name


@dataclasses.dataclass(frozen=True)
class Publication:
    record_id: int
    root: bytes
    manifest_cid: str
    tx_hash: str
    manifest: manifestlib.Manifest

    def to_dict(self) -> dict[str, object]:
        return {
            "record_id": self.record_id,
            "root": "0x" + self.root.hex(),
            "manifest_cid": self.manifest_cid,
            "tx_hash": self.tx_hash,
            "artifacts": [e.to_dict() for e in self.manifest.entries],
        }


def publish(
    backends: Backends,
    artifacts: Sequence[Artifact],
    *,
    name: str,
    watermark_key_hash: bytes = bytes(32),
    parent_id: int = 0,
    derivation: chainlib.Derivation = chainlib.Derivation.NONE,
    progress: ProgressFactory | None = None,
) -> Publication:
    """Store every artifact and the manifest on IPFS, then anchor the Merkle root on-chain."""
    _check_artifacts(artifacts)
    _ = backends.chain.address  # the signer now: a missing or bad key fails before anything is stored
    journal.recover(backends)  # a publication a crash interrupted comes first (it may hold this key hash)
    _check_key_free(backends, watermark_key_hash)
    profile = backends.settings.import_profile
    entries = [_store_artifact(backends, a, profile, progress) for a in artifacts]
    manifest = manifestlib.Manifest.create(name, entries)
    root = manifest.root()
    existing = backends.registry.record_id_by_root(root)
    if existing:
        raise LedgermarkError(f"these exact artifacts are already registered as record {existing}")
    manifest_cid = backends.store.add_bytes(manifest.to_bytes(), profile=profile)
    entry = journal.entry_for(
        backends,
        root,
        len(manifest.entries),
        manifest_cid,
        watermark_key_hash=watermark_key_hash,
        parent_id=parent_id,
        derivation=int(derivation),
        salt=os.urandom(32),
    )
    with journal.recorded(backends, entry):
        record_id, tx = journal.register(backends, entry)
    log.info("published record %s (root 0x%s) in tx %s", record_id, root.hex(), tx.tx_hash)
    return Publication(
        record_id=record_id, root=root, manifest_cid=manifest_cid, tx_hash=tx.tx_hash, manifest=manifest
    )


def key_cid(key_bytes: bytes) -> str:
    """The CID a watermark key is revealed under in a dispute (CIDv1, raw leaves), computed locally."""
    return unixfs.import_stream(io.BytesIO(key_bytes), cid_version=1)


def key_hash(key_bytes: bytes) -> bytes:
    """What a record anchors for a watermark key: keccak256 of its reveal CID (see IModelRegistry)."""
    return chainlib.watermark_key_hash(key_cid(key_bytes))


@dataclasses.dataclass(frozen=True)
class SealedKey:
    """A watermark key sealed for publication: the ciphertext is an artifact, the data key stays with the owner."""

    artifact: Artifact
    data_key: bytes
    key_hash: bytes


def seal_watermark_key(key_path: Path, workdir: Path) -> SealedKey:
    """Encrypt the key file (DESIGN.md §7) into ``workdir``; the record will anchor the plaintext's hash.

    Only the ciphertext is published; the plaintext stays local. The caller keeps ``data_key`` secret until a
    dispute, whose reveal publishes it so that anyone can open the anchored copy (``dispute.reveal``).
    """
    plaintext = key_path.read_bytes()
    if plaintext.startswith(sealing.MAGIC):
        raise LedgermarkError(
            f"{key_path} is already a sealed key; pass the plaintext watermark key (the record anchors its hash)"
        )
    sealed, data_key = sealing.seal(plaintext)
    sealed_path = workdir / "watermark-key.sealed"
    sealed_path.write_bytes(sealed)
    return SealedKey(
        artifact=Artifact(sealed_path, role="watermark-key"), data_key=data_key, key_hash=key_hash(plaintext)
    )


def _store_artifact(
    backends: Backends,
    artifact: Artifact,
    profile: unixfs.ImportProfile,
    progress: ProgressFactory | None,
) -> manifestlib.ManifestEntry:
    """Read the file once: the store keeps the bytes and returns the size, SHA-256 and CID of what it kept.

    A Kubo node's CID is checked against ours inside the store, so the manifest never names content the node
    holds under another address. The entry records ``profile``, so a verifier recomputes the CID the same way.
    """
    size = artifact.path.stat().st_size
    digest = backends.store.put_file(
        artifact.path,
        profile=profile,
        progress=progress(f"store {artifact.manifest_path}", size) if progress else None,
    )
    return manifestlib.entry_from_digest(
        digest, role=artifact.role, name=artifact.manifest_path, profile=profile
    )


def _check_key_free(backends: Backends, watermark_key_hash: bytes) -> None:
    """Refuse, before anything is stored, a watermark key that another record already anchors: the registry
    lets the first registration own a key hash, so a second record could never be registered with it."""
    if watermark_key_hash == bytes(32):
        return
    holder = backends.registry.record_of_key_hash(watermark_key_hash)
    if holder:
        raise LedgermarkError(
            f"the watermark key (--watermark-key) is already anchored by record {holder}, and a key anchors one "
            "record only: embed a fresh key for this model (`ledgermark watermark embed … --key NEW.wmk`)"
        )


def _check_artifacts(artifacts: Sequence[Artifact]) -> None:
    if not artifacts:
        raise LedgermarkError("nothing to publish: name at least one file")
    seen: dict[str, Path] = {}
    for artifact in artifacts:
        if not artifact.path.is_file():
            raise LedgermarkError(f"{artifact.path} is not a readable file")
        if artifact.manifest_path in seen:  # caught before anything is stored, not by the manifest after
            raise LedgermarkError(
                f"{seen[artifact.manifest_path]} and {artifact.path} would both be published as "
                f"{artifact.manifest_path!r}"
            )
        seen[artifact.manifest_path] = artifact.path
