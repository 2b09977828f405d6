"""Fetch and verify: prove that bytes are exactly what a record anchors.

The chain is the root of trust. From the record we take the Merkle root, the leaf count and the manifest CID;
the manifest must be canonical and hash back to that root; each artifact must match its entry (size, SHA-256,
CID recomputed locally), and the contract itself must accept the artifact's Merkle proof. Downloads go to a
staging folder inside the destination and are moved into place only when everything holds, never through a link
nor over an existing file unasked (``registry.files.OutputFolder``), so a failed fetch leaves nothing behind.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import logging
from collections.abc import Container, Sequence
from pathlib import Path

from ipfs.errors import ContentIntegrityError
from ipfs.sources import CORRUPT, DOWN, FAILED, SERVED
from registry import chain as chainlib
from registry import files, layout
from registry.backends import Backends
from registry.errors import LedgermarkError, RecordError, VerificationFailed
from registry.publish import ProgressFactory
from verifier.integrity import manifest as manifestlib

log = logging.getLogger(__name__)

_STAGING_PREFIX = ".ledgermark-partial-"


@dataclasses.dataclass(frozen=True)
class FetchResult:
    record: chainlib.Record
    manifest: manifestlib.Manifest
    comparison: manifestlib.Comparison
    files: tuple[Path, ...]
    sources: tuple[SourceNote, ...] = ()
    """Which read sources served (or failed) each artifact, when content came from beyond the store."""

    def to_dict(self) -> dict[str, object]:
        return {
            "record_id": self.record.record_id,
            "root": "0x" + self.record.root.hex(),
            "revoked": self.record.revoked,
            "files": [str(p) for p in self.files],
            "sources": [dataclasses.asdict(note) for note in self.sources],
            **self.comparison.to_dict(),
        }


@dataclasses.dataclass(frozen=True)
class SourceNote:
    """What one read source did for one artifact: a buyer sees who served the bytes and who lied."""

    path: str
    source: str
    outcome: str
    blocks: int
    detail: str = ""


# --------------------------------------------------------------------------- records and manifests


def resolve_record(backends: Backends, reference: str) -> chainlib.Record:
    """A record by id (``7``) or by Merkle root (``0x`` + 64 hex digits)."""
    reference = reference.strip()
    record_id: int | None
    if reference.isdecimal():
        record_id = int(reference)
        if record_id >= 2**256:
            raise RecordError(f"record id {reference[:20]}… is not a record id: ids are below 2^256")
    elif reference.lower().startswith("0x") and len(reference) == 66:
        try:
            root = bytes.fromhex(reference[2:])
        except ValueError as err:
            raise RecordError(f"{reference!r} is not a hex Merkle root") from err
        record_id = backends.registry.record_id_by_root(root)
    else:
        raise RecordError(f"{reference!r} is neither a record id nor a 0x-prefixed 32-byte Merkle root")
    if not record_id:
        raise RecordError(_unknown(backends, reference))
    try:
        return backends.registry.record(record_id)
    except chainlib.PendingRecordError as err:
        raise RecordError(str(err)) from err  # registered, not final yet: say how far it is
    except chainlib.UnknownRecordError as err:
        raise RecordError(_unknown(backends, reference)) from err


def load_manifest(backends: Backends, record: chainlib.Record) -> manifestlib.Manifest:
    """The record's manifest, checked against the anchored root and leaf count."""
    try:
        manifest = manifestlib.Manifest.from_bytes(backends.store.cat(record.manifest_cid))
    except (manifestlib.ManifestError, ContentIntegrityError) as err:
        raise VerificationFailed(
            f"record {record.record_id}: manifest {record.manifest_cid} rejected: {err}"
        ) from err
    if len(manifest.entries) != record.leaf_count:
        raise VerificationFailed(
            f"record {record.record_id}: manifest lists {len(manifest.entries)} artifacts, "
            f"the chain anchors {record.leaf_count}"
        )
    root = manifest.root()
    if root != record.root:
        raise VerificationFailed(
            f"record {record.record_id}: manifest root 0x{root.hex()} differs from the anchored root "
            f"0x{record.root.hex()}"
        )
    return manifest


# --------------------------------------------------------------------------- fetch


def fetch(
    backends: Backends,
    reference: str,
    dest: Path,
    *,
    force: bool = False,
    progress: ProgressFactory | None = None,
) -> FetchResult:
    """Download every artifact of a record into ``dest``, all verified, or nothing at all.

    Everything is written inside ``dest`` and through no link; an existing file is replaced only with ``force``
    (atomically). Targets are checked before any download and again before the first rename, and a move that
    fails midway is undone, so on any failure ``dest`` is as it was.
    """
    record = resolve_record(backends, reference)
    manifest = load_manifest(backends, record)
    targets = [e.path for e in manifest.entries]
    with files.output_folder(dest, prefix=_STAGING_PREFIX) as out:
        out.check(targets, force=force)  # before downloading gigabytes that could not be placed
        actual, problems, notes = _download_all(backends, manifest, out.staging, progress)
        comparison = manifestlib.compare(manifest, actual)
        corrupt = {note.path for note in notes if note.outcome == CORRUPT}
        comparison = dataclasses.replace(  # a corrupt download is reported once, as corrupt
            comparison, missing=tuple(e for e in comparison.missing if e.path not in corrupt)
        )
        problems += _prove_on_chain(backends, record, manifest, comparison.intact)
        if not comparison.ok or problems:
            raise VerificationFailed(
                f"record {record.record_id}: downloaded artifacts do not match the anchored record; "
                "nothing was written",
                comparison,
                problems,
            )
        out.place_all([(_staged_name(i), path) for i, path in enumerate(targets)], force=force)
    placed = tuple(dest / path for path in targets)
    return FetchResult(record=record, manifest=manifest, comparison=comparison, files=placed, sources=notes)


def _download_all(
    backends: Backends, manifest: manifestlib.Manifest, staging: Path, progress: ProgressFactory | None
) -> tuple[list[manifestlib.ManifestEntry], list[str], tuple[SourceNote, ...]]:
    actual, problems, notes = [], [], []
    for index, entry in enumerate(manifest.entries):
        try:
            actual.append(_download(backends, entry, staging / _staged_name(index), progress))
        except ContentIntegrityError as err:
            problems.append(f"corrupt: {entry.path}: {err}")
        finally:
            notes += _source_notes(backends, entry.path)
    return actual, problems, tuple(notes)


def _source_notes(backends: Backends, path: str) -> list[SourceNote]:
    """The read sources that mattered for the last get: those that served, other than the store, and any that
    failed in a way a buyer should know of (down, corrupt, failed); a source merely lacking it is normal."""
    reports = getattr(backends.store, "last_report", ())
    return [
        SourceNote(path, r.source, r.outcome, r.blocks, r.detail)
        for i, r in enumerate(reports)
        if (r.outcome == SERVED and i > 0) or r.outcome in (CORRUPT, DOWN, FAILED)
    ]


def _download(
    backends: Backends, entry: manifestlib.ManifestEntry, target: Path, progress: ProgressFactory | None
) -> manifestlib.ManifestEntry:
    digest = backends.store.get_file(
        entry.cid,
        target,
        max_size=entry.size,
        progress=progress(f"download {entry.path}", entry.size) if progress else None,
    )
    return manifestlib.entry_from_digest(digest, role=entry.role, name=entry.path)


def _staged_name(index: int) -> str:
    """Staged files are flat and numbered: a manifest path never names anything inside the staging folder."""
    return str(index)


def read_artifact(backends: Backends, record: chainlib.Record, role: str, *, max_size: int) -> bytes:
    """A record's one artifact with ``role``, in memory, through the checks ``fetch`` makes: the manifest against
    the anchored root, the bytes against their CID (as they leave the store), size and SHA-256 against the
    entry, and the entry's Merkle proof accepted by the contract. For small artifacts (a sealed key)."""
    manifest = load_manifest(backends, record)
    matches = [e for e in manifest.entries if e.role == role]
    if len(matches) != 1:
        raise RecordError(
            f"record {record.record_id} has {len(matches)} artifacts with role {role!r} (need exactly one)"
        )
    entry = matches[0]
    data = backends.store.cat(entry.cid, max_size=max_size, declared_size=entry.size)
    actual = dataclasses.replace(entry, size=len(data), sha256=hashlib.sha256(data).hexdigest())
    comparison = dataclasses.replace(manifestlib.compare(manifest, [actual]), missing=())
    problems = _prove_on_chain(backends, record, manifest, comparison.intact)
    if not comparison.ok or problems:
        raise VerificationFailed(
            f"record {record.record_id}: its {role} artifact {entry.path} does not match the anchored record",
            comparison,
            problems,
        )
    return data


# --------------------------------------------------------------------------- verify local files


def verify_files(
    backends: Backends, reference: str, paths: Sequence[Path], *, allow_extra: bool = False
) -> tuple[chainlib.Record, manifestlib.Comparison]:
    """Check local files against a record; files match manifest entries by name (or relative path in a folder).

    Folders are walked without following links (reported as ``skipped``). Unlisted files are named, never
    read: they are ``extra`` (a failure) or, with ``allow_extra``, ``ignored``.
    """
    record = resolve_record(backends, reference)
    manifest = load_manifest(backends, record)
    by_path = {e.path: e for e in manifest.entries}
    tree = _expand(paths)
    actual = []
    for local, name in tree.files:
        known = by_path.get(name)
        if known is None:
            continue
        role = known.role
        profile = known.import_profile  # the recorded one, else what its CID version implies
        actual.append(manifestlib.entry_for_file(local, role=role, name=name, profile=profile))
    comparison = _with_unlisted(manifestlib.compare(manifest, actual), tree, by_path, allow_extra)
    problems = _prove_on_chain(backends, record, manifest, comparison.intact)
    if problems:
        raise VerificationFailed(
            f"record {record.record_id}: the contract rejected a proof", comparison, problems
        )
    return record, comparison


def _expand(paths: Sequence[Path]) -> layout.Tree:
    """Files as given (matched by name), folders walked (matched by path relative to the folder, links not
    followed); a name that two arguments give is refused rather than one of them silently checked."""
    files: list[tuple[Path, str]] = []
    skipped: list[str] = []
    for path in paths:
        if path.is_dir():
            tree = layout.walk(path)
            files += tree.files
            skipped += tree.skipped
        elif path.is_file():
            files.append((path, path.name))
        else:
            raise RecordError(f"{path} is not a readable file or folder")
    counts = collections.Counter([name for _, name in files] + skipped)
    twice = sorted(name for name, n in counts.items() if n > 1)
    if twice:
        raise LedgermarkError(f"{twice[0]!r} is given by two arguments: name each file or folder once")
    return layout.Tree(files=tuple(files), skipped=tuple(skipped))


def _with_unlisted(
    comparison: manifestlib.Comparison,
    tree: layout.Tree,
    listed: Container[str],
    allow_extra: bool,
) -> manifestlib.Comparison:
    """Add what the manifest does not list (files and links alike): extra, or ignored when allowed."""
    found = sorted([name for _, name in tree.files] + list(tree.skipped))
    unlisted = tuple(name for name in found if name not in listed)
    field = "ignored" if allow_extra else "extra"
    return dataclasses.replace(comparison, **{field: unlisted}, skipped=tuple(sorted(tree.skipped)))


# --------------------------------------------------------------------------- shared


def _prove_on_chain(
    backends: Backends, record: chainlib.Record, manifest: manifestlib.Manifest, paths: Sequence[str]
) -> list[str]:
    """Ask the contract to check each intact artifact's Merkle proof: the buyer trusts the chain, not us."""
    leaves, proofs = manifest.leaves(), manifest.proofs()
    position = {entry.path: i for i, entry in enumerate(manifest.entries)}
    problems = []
    for path in paths:
        index = position[path]
        if not backends.registry.verify_artifact(
            record.record_id, record.root, leaves[index], index, proofs[index]
        ):
            problems.append(f"proof rejected: {path} (leaf {index}) is not under the anchored root")
    return problems


def _unknown(backends: Backends, reference: str) -> str:
    return (
        f"record {reference} is not registered on chain {backends.chain.chain_id} "
        f"(registry {backends.registry.address})"
    )
