"""Publication manifests: what an owner anchors, and how a buyer compares bytes against it.

A manifest lists one entry per artifact ``{role, path, size, sha256, cid, profile}`` (DESIGN.md §4); ``profile``
names the CID import profile (``ipfs.unixfs.PROFILES``) that produced ``cid``, so a verifier recomputes the CID
the same way. It is not in the Merkle leaf: the manifest's CID, anchored beside the root, covers it. Manifests
written before profiles existed have no ``profile``; the CID version then implies it. Its canonical
form (sorted keys, no spaces, UTF-8, entries sorted by POSIX path) is what goes to IPFS, so one publication
has exactly one manifest CID. The Merkle leaves are derived from the entries in that same order.

A comparison never stops at the first problem: like OpenSSF model signing, it reports every missing, extra
and mismatched artifact with the expected and actual values, as structured fields.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import posixpath
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from ipfs import cid as cidlib
from ipfs import unixfs
from verifier.errors import VerifierError
from verifier.integrity import merkle

MANIFEST_VERSION = 1
KNOWN_ROLES = ("model", "trigger", "watermark-key", "card", "tokenizer", "config", "artifact")
"""Roles Ledgermark assigns itself; any non-empty word is accepted (``registry.layout`` maps a Hugging Face
folder's files to ``model``, ``tokenizer``, ``config``, ``card`` and ``artifact``)."""


class ManifestError(VerifierError, ValueError):
    """A manifest (or an entry in it) is malformed, non-canonical or self-contradictory."""


@dataclasses.dataclass(frozen=True)
class ManifestEntry:
    """One artifact of a publication, as anchored on-chain through its Merkle leaf."""

    role: str
    path: str  # POSIX, relative, no '..'
    size: int
    sha256: str  # lower-case hex
    cid: str
    profile: str | None = None  # canonical import profile name; None: not recorded (an older manifest)

    def __post_init__(self) -> None:
        check_path(self.path)
        check_role(self.role, self.path)
        if self.profile is not None:
            _check_profile(self.profile, self.cid, self.path)
        if self.size < 0:
            raise ManifestError(f"artifact {self.path!r}: negative size {self.size}")
        if len(self.sha256) != 64 or self.sha256 != self.sha256.lower():
            raise ManifestError(f"artifact {self.path!r}: sha256 must be 64 lower-case hex digits")
        try:
            bytes.fromhex(self.sha256)
        except ValueError as err:
            raise ManifestError(f"artifact {self.path!r}: sha256 is not hex") from err

    def leaf(self) -> bytes:
        """The Merkle leaf of this entry (DESIGN.md §4)."""
        return merkle.leaf_hash(
            self.role, self.path, self.size, bytes.fromhex(self.sha256), cidlib.cid_to_bytes(self.cid)
        )

    @property
    def import_profile(self) -> unixfs.ImportProfile:
        """The profile to recompute ``cid`` with: the recorded one, else the one its CID version implies."""
        if self.profile is not None:
            return unixfs.profile_named(self.profile)
        return unixfs.profile_for_version(cidlib.Cid.parse(self.cid).version)

    def to_dict(self) -> dict[str, object]:
        """The entry as the manifest's JSON holds it (no ``profile`` key when none was recorded)."""
        document = dataclasses.asdict(self)
        if self.profile is None:
            del document["profile"]
        return document


@dataclasses.dataclass(frozen=True)
class Manifest:
    """A canonical, ordered list of entries plus a human name."""

    name: str
    entries: tuple[ManifestEntry, ...]

    @classmethod
    def create(cls, name: str, entries: Iterable[ManifestEntry]) -> Manifest:
        """Sort entries into canonical order and reject duplicate paths."""
        ordered = tuple(sorted(entries, key=lambda e: e.path))
        if not ordered:
            raise ManifestError("a publication needs at least one artifact")
        for before, after in itertools.pairwise(ordered):
            if before.path == after.path:
                raise ManifestError(f"two artifacts share the path {before.path!r}")
        _check_no_file_is_a_folder(e.path for e in ordered)
        return cls(name=name, entries=ordered)

    def to_bytes(self) -> bytes:
        """Canonical JSON: sorted keys, no whitespace, UTF-8."""
        document = {
            "entries": [e.to_dict() for e in self.entries],
            "name": self.name,
            "version": MANIFEST_VERSION,
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse a manifest and insist it is byte-for-byte canonical, so it has one CID only."""
        try:
            document = json.loads(data.decode("utf-8"))
            if document.get("version") != MANIFEST_VERSION:
                raise ManifestError(f"unsupported manifest version {document.get('version')!r}")
            manifest = cls.create(
                str(document["name"]), (ManifestEntry(**raw) for raw in document["entries"])
            )
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
            raise ManifestError(f"manifest is not valid: {err}") from err
        if manifest.to_bytes() != data:
            raise ManifestError(
                "manifest is not in canonical form (entries must be sorted by path, keys sorted, no spaces)"
            )
        return manifest

    @functools.cached_property
    def _leaves(self) -> tuple[bytes, ...]:
        """Each entry hashed once per manifest, however many roots and proofs are asked for."""
        return tuple(e.leaf() for e in self.entries)

    def leaves(self) -> list[bytes]:
        return list(self._leaves)

    def root(self) -> bytes:
        return merkle.merkle_root(self._leaves)

    def proof(self, index: int) -> list[bytes]:
        """One artifact's proof (builds the tree: for several, ``proofs`` builds it once for all)."""
        return merkle.merkle_proof(self._leaves, index)

    def proofs(self) -> list[list[bytes]]:
        """Every artifact's proof, in entry order, from one tree build (O(n) hashing)."""
        return merkle.merkle_proofs(self._leaves)


# --------------------------------------------------------------------------- hashing local files

FileDigest = unixfs.FileDigest  # size, SHA-256, CID of one pass (re-exported for callers)


def digest_file(
    path: Path,
    *,
    profile: unixfs.ImportProfile | str | None = None,
    cid_version: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> FileDigest:
    """Size, SHA-256 and IPFS CID of a file in one streaming pass (each byte read once)."""
    return unixfs.digest_file(path, profile=profile, cid_version=cid_version, progress=progress)


def entry_from_digest(
    digest: FileDigest, *, role: str, name: str, profile: unixfs.ImportProfile | str | None = None
) -> ManifestEntry:
    """The manifest entry for bytes already digested (by a store's put or get): no second read.

    ``profile`` is the one the digest's CID was computed with; None records none (as old manifests did).
    """
    recorded = None if profile is None else unixfs.resolve_profile(profile).name
    return ManifestEntry(
        role=role, path=name, size=digest.size, sha256=digest.sha256, cid=digest.cid, profile=recorded
    )


def entry_for_file(
    path: Path,
    *,
    role: str,
    name: str | None = None,
    profile: unixfs.ImportProfile | str | None = None,
    cid_version: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ManifestEntry:
    """The entry for a local file, its CID computed (and recorded) under ``profile`` (or ``cid_version``'s)."""
    chosen = unixfs.resolve_profile(profile, cid_version)
    digest = digest_file(path, profile=chosen, progress=progress)
    return entry_from_digest(digest, role=role, name=name or path.name, profile=chosen)


# --------------------------------------------------------------------------- comparing


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """One artifact whose bytes differ from the anchored entry: which fields, expected vs actual."""

    path: str
    role: str
    fields: tuple[str, ...]
    expected: dict[str, object]
    actual: dict[str, object]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Itemised outcome of checking artifacts against a manifest."""

    missing: tuple[ManifestEntry, ...] = ()
    extra: tuple[str, ...] = ()
    mismatched: tuple[Mismatch, ...] = ()
    intact: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()  # unlisted, but the caller allowed extra files: reported, not a failure
    skipped: tuple[
        str, ...
    ] = ()  # symbolic links and special files found, never read (listed ones are missing)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.mismatched)

    def describe(self) -> list[str]:
        """One plain line a problem, for terminals and error messages."""
        lines = [f"missing: {e.path} ({e.role}, expected sha256 {e.sha256})" for e in self.missing]
        lines += [f"extra: {p} (not in the manifest)" for p in self.extra]
        for m in self.mismatched:
            diffs = ", ".join(f"{f} expected {m.expected[f]} got {m.actual[f]}" for f in m.fields)
            lines.append(f"mismatch: {m.path} ({m.role}): {diffs}")
        return lines

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "intact": list(self.intact),
            "missing": [e.to_dict() for e in self.missing],
            "extra": list(self.extra),
            "mismatched": [dataclasses.asdict(m) for m in self.mismatched],
            "ignored": list(self.ignored),
            "skipped": list(self.skipped),
        }


_COMPARED_FIELDS = ("size", "sha256", "cid")


def compare(manifest: Manifest, actual: Sequence[ManifestEntry]) -> Comparison:
    """Compare actual artifacts (matched by path) against the manifest, reporting every difference."""
    expected_by_path = {e.path: e for e in manifest.entries}
    actual_by_path = {a.path: a for a in actual}
    mismatched, intact = [], []
    for path, want in expected_by_path.items():
        got = actual_by_path.get(path)
        if got is None:
            continue
        fields = tuple(f for f in _COMPARED_FIELDS if getattr(want, f) != getattr(got, f))
        if fields:
            mismatched.append(
                Mismatch(
                    path=path,
                    role=want.role,
                    fields=fields,
                    expected={f: getattr(want, f) for f in fields},
                    actual={f: getattr(got, f) for f in fields},
                )
            )
        else:
            intact.append(path)
    return Comparison(
        missing=tuple(e for p, e in expected_by_path.items() if p not in actual_by_path),
        extra=tuple(sorted(p for p in actual_by_path if p not in expected_by_path)),
        mismatched=tuple(mismatched),
        intact=tuple(intact),
    )


def check_path(path: str) -> None:
    """Refuse a path that could name something outside the folder it is written to (or differ by platform)."""
    if not path or path.startswith("/") or "\\" in path or "\0" in path:
        raise ManifestError(f"artifact path {path!r} must be a relative POSIX path")
    if posixpath.normpath(path) != path or path.split("/")[0] in ("..", "."):
        raise ManifestError(f"artifact path {path!r} is not normalised")


def _check_profile(name: str, cid: str, path: str) -> None:
    """A recorded profile must be a canonical name this verifier knows, and agree with the CID's version."""
    try:
        profile = unixfs.profile_named(name) if isinstance(name, str) else None
        version = cidlib.Cid.parse(cid).version
    except (unixfs.UnknownProfileError, cidlib.InvalidCidError) as err:
        raise ManifestError(f"artifact {path!r}: {err}") from err
    if profile is None or profile.name != name:
        raise ManifestError(f"artifact {path!r}: profile {name!r} must be a canonical profile name")
    if profile.cid_version != version:
        raise ManifestError(
            f"artifact {path!r}: profile {name} makes CIDv{profile.cid_version}, but its CID is CIDv{version}"
        )


def check_role(role: str, path: str = "") -> None:
    """A role is one word: it is hashed into the leaf and printed in columns."""
    if not role or any(c.isspace() for c in role):
        raise ManifestError(f"artifact {path!r}: role {role!r} must be a non-empty word")


def _check_no_file_is_a_folder(paths: Iterable[str]) -> None:
    """``a`` and ``a/b`` cannot both be written to one folder: refuse such a manifest before any download."""
    paths = list(paths)
    folders = {prefix for p in paths for prefix in _parents(p)}
    clash = sorted(folders.intersection(paths))
    if clash:
        raise ManifestError(f"artifact path {clash[0]!r} is both a file and a folder of other artifacts")


def _parents(path: str) -> Iterator[str]:
    parts = path.split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[:i])
