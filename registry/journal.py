"""The publication journal: a crash between storing and registering is finished or undone at the next start.

``publish`` stores every byte first and touches the chain last. Between the two it writes one journal entry (an
owner-only file in ``<data dir>/journal/``) holding everything needed to finish the registration: the root,
the manifest CID, the record's fields, the signer, the chain and the commitment's salt. The publishing process
holds an exclusive ``flock`` on its entry from before the entry has its name until the record exists, then removes
it (50 threads publishing at once each skip the others' live entries).

An entry nobody holds was left by a process that died. ``recover`` (run when the service starts and before each
publication) settles it:
- **already registered** (the crash came after the record, before the entry went): the entry is removed;
- **content complete** (the store still holds the manifest and every block of every artifact it names): the
  registration is finished, with the saved salt while the commitment is young enough, else with a new one;
- **content incomplete**: the entry is dropped and nothing is registered, so no record ever points at content
  the store lacks. The blocks that were stored stay unreferenced (harmless, reused by a retry);
- **the chain refuses or is unreachable**: the entry stays for the next start, and the reason is reported.
Entries of another signer, chain or deployment are left alone for a process that has that key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from registry import chain as chainlib
from registry.backends import Backends
from registry.errors import LedgermarkError
from verifier.integrity import manifest as manifestlib

log = logging.getLogger(__name__)

JOURNAL_FORMAT = "ledgermark-publication-journal/1"
MAX_ENTRY_BYTES = 16 * 1024
"""An entry is a few hundred bytes of hex and numbers; anything bigger was not written by this module."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One publication between its first stored byte and its record: what finishing it needs."""

    root: bytes
    leaf_count: int
    manifest_cid: str
    watermark_key_hash: bytes
    parent_id: int
    derivation: int
    salt: bytes
    signer: str
    chain_id: int
    registry: str

    def to_bytes(self) -> bytes:
        fields = dataclasses.asdict(self)
        for name in ("root", "watermark_key_hash", "salt"):
            fields[name] = fields[name].hex()
        return json.dumps({"format": JOURNAL_FORMAT, **fields}, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Entry:
        """An entry read back from disk; ValueError if it is not one (a stray or truncated file)."""
        if len(data) > MAX_ENTRY_BYTES:
            raise ValueError("too large")
        fields = json.loads(data)
        if not isinstance(fields, dict) or fields.pop("format", None) != JOURNAL_FORMAT:
            raise ValueError("not a journal entry")
        for name in ("root", "watermark_key_hash", "salt"):
            fields[name] = bytes.fromhex(fields[name])
        entry = cls(**fields)
        if len(entry.root) != 32 or len(entry.salt) != 32 or len(entry.watermark_key_hash) != 32:
            raise ValueError("a hash of the wrong length")
        return entry


def journal_dir(backends: Backends) -> Path:
    return backends.settings.data_dir / "journal"


def entry_for(backends: Backends, root: bytes, leaf_count: int, manifest_cid: str, **fields: object) -> Entry:
    """The entry of a publication about to be committed by this process's signer, on this deployment."""
    return Entry(
        root=root,
        leaf_count=leaf_count,
        manifest_cid=manifest_cid,
        signer=backends.chain.address,
        chain_id=backends.chain.chain_id,
        registry=backends.registry.address,
        **fields,  # type: ignore[arg-type]
    )


@contextlib.contextmanager
def recorded(backends: Backends, entry: Entry) -> Iterator[None]:
    """Hold ``entry`` in the journal, locked, while the body registers it; removed when the body succeeds.

    If the body fails in this process (a revert, a chain that went away), the entry is removed too: the error
    reached the user, who may retry. Only a process that dies leaves its entry for ``recover``.
    """
    folder = journal_dir(backends)
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"{entry.root.hex()}.json"
    fd, staged = tempfile.mkstemp(prefix=".entry.", suffix=".tmp", dir=folder)  # 0600: it holds the salt
    with os.fdopen(fd, "wb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # locked before it has its name: ``recover`` never sees it unheld
        handle.write(entry.to_bytes())
        handle.flush()
        os.fsync(handle.fileno())
        os.replace(staged, path)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)


def recover(backends: Backends) -> list[str]:
    """Settle every entry left by a dead process (see the module docstring); returns one line per entry."""
    folder = journal_dir(backends)
    if not folder.is_dir():
        return []
    outcomes = []
    for path in sorted(folder.glob("*.json")):
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below, after the lock decides
        except FileNotFoundError:
            continue  # its publication completed between the listing and the open
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live publication holds it
            if not path.exists():
                continue  # settled by another process between the listing and the lock
            outcome = _settle(backends, path, handle.read(MAX_ENTRY_BYTES + 1))
        if outcome:
            log.warning("%s", outcome)
            outcomes.append(outcome)
    return outcomes


def _settle(backends: Backends, path: Path, data: bytes) -> str | None:
    try:
        entry = Entry.from_bytes(data)
    except (ValueError, TypeError, KeyError):
        path.unlink()
        return f"journal: removed {path.name}, which is not a publication entry"
    if not _ours(backends, entry):
        return None
    root = f"0x{entry.root.hex()}"
    existing = backends.registry.record_id_by_root(entry.root)
    if existing:
        path.unlink()
        return f"journal: the publication of {root} had completed as record {existing}"
    missing = _missing_content(backends, entry.manifest_cid)
    if missing:
        path.unlink()
        return f"journal: rolled back the publication of {root}: the store lacks {missing}; nothing was registered"
    try:
        record_id, _ = register(backends, entry)
    except LedgermarkError as err:  # the chain refused or went away: keep the entry for the next start
        return f"journal: could not yet finish the interrupted publication of {root}: {err}"
    path.unlink()
    return f"journal: finished the interrupted publication of {root} as record {record_id}"


def _ours(backends: Backends, entry: Entry) -> bool:
    return (
        entry.signer == backends.signer_address()
        and entry.chain_id == backends.chain.chain_id
        and entry.registry == backends.registry.address
    )


def _missing_content(backends: Backends, manifest_cid: str) -> str | None:
    """The first thing the store lacks (the manifest, or an artifact's block), or None when all is there."""
    store = backends.store
    try:
        manifest = manifestlib.Manifest.from_bytes(store.cat(manifest_cid), source="journalled manifest")
    except Exception:  # noqa: BLE001 - absent, partial or unreadable: all mean "cannot finish"
        return f"the manifest {manifest_cid}"
    for artifact in manifest.entries:
        try:
            for _ in store.walk(artifact.cid):
                pass
        except Exception:  # noqa: BLE001 - any missing or corrupt block
            return f"{artifact.path} ({artifact.cid})"
    return None


def register(backends: Backends, entry: Entry) -> tuple[int, chainlib.TxResult]:
    """Register what ``entry`` holds, with its salt (its commitment revealed if still young enough, else a new
    one made): a publication's first try and ``recover``'s finishing of a dead one are the same call."""
    return backends.registry.publish(
        entry.root,
        entry.leaf_count,
        entry.manifest_cid,
        entry.watermark_key_hash,
        entry.parent_id,
        chainlib.Derivation(entry.derivation),
        salt=entry.salt,
    )
