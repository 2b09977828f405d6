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
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from ipfs import cid as cidlib
from ipfs import unixfs
from verifier.errors import VerifierError
from verifier.integrity import documents, merkle

MANIFEST_VERSION = 1
KNOWN_ROLES = ("model", "trigger", "watermark-key", "card", "tokenizer", "config", "artifact")
"""Roles Ledgermark assigns itself (``registry.layout`` maps a Hugging Face folder's files to ``model``,
``tokenizer``, ``config``, ``card`` and ``artifact``); any other role must match ``ROLE_PATTERN``."""
ROLE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
"""A role is one printable ASCII word of at most 64 characters: it is hashed into the leaf and printed in
columns, so it can hold no space, control character or terminal escape."""
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
"""A manifest entry is ~300 bytes: 16 MiB holds tens of thousands of artifacts, and is refused unparsed above."""
MAX_MANIFEST_DEPTH = 4
"""The manifest nests 3 deep (document → entries → entry); anything deeper is not a manifest."""
MAX_ENTRIES = 100_000
MAX_PATH_LENGTH = 4096
_ENTRY_KEYS = ("role", "path", "size", "sha256", "cid")


class ManifestError(VerifierError, ValueError):
    """A manifest (or an entry in it) is malformed, non-canonical or self-contradictory."""


class _Checked:
    """Turns the typed readers' ``DocumentError`` into this module's ``ManifestError`` (same message)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: object) -> None:
        if isinstance(error, documents.DocumentError | cidlib.InvalidCidError):
            raise ManifestError(str(error)) from None


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
        with _Checked():
            documents.text(self.path, "path", "an artifact", max_length=MAX_PATH_LENGTH)
        source = f"artifact {self.path!r}"
        check_path(self.path)
        check_role(self.role, self.path)
        with _Checked():
            documents.non_negative_int(self.size, "size", source)
            documents.hex_digest(self.sha256, "sha256", source)
            cidlib.Cid.parse(documents.text(self.cid, "cid", source, max_length=256))
        if self.profile is not None:
            _check_profile(self.profile, self.cid, self.path)

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
    def from_bytes(cls, data: bytes, *, source: str = "manifest") -> Manifest:
        """Parse a manifest (bounded, strict, every field typed) and insist it is byte-for-byte canonical,
        so it has one CID only. ``source`` names it in messages."""
        with _Checked():
            document = documents.mapping(
                documents.parse_json(
                    data, source=source, max_bytes=MAX_MANIFEST_BYTES, max_depth=MAX_MANIFEST_DEPTH
                ),
                "the document",
                source,
                required=("entries", "name", "version"),
            )
            version = documents.non_negative_int(document["version"], "version", source)
            if version != MANIFEST_VERSION:
                raise ManifestError(f"{source}: unsupported manifest version {version}")
            name = documents.text(document["name"], "name", source)
            raw_entries = documents.array(document["entries"], "entries", source, max_items=MAX_ENTRIES)
            manifest = cls.create(
                name, [_entry(raw, f"{source}: entry {i}") for i, raw in enumerate(raw_entries)]
            )
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
    """A role is a known one or one short printable word (``ROLE_PATTERN``): it is hashed into the leaf and
    printed in columns."""
    if not isinstance(role, str) or not (role in KNOWN_ROLES or ROLE_PATTERN.fullmatch(role)):
        raise ManifestError(
            f"artifact {path!r}: role {str(role)[:80]!r} must be a non-empty word of letters, digits and "
            "._+- (at most 64 characters)"
        )


def _entry(raw: object, source: str) -> ManifestEntry:
    """One entry of a parsed manifest: known keys only, each of its type (the dataclass checks the values)."""
    entry = documents.mapping(raw, "the entry", source, required=_ENTRY_KEYS, optional=("profile",))
    profile = entry.get("profile")
    return ManifestEntry(
        role=documents.text(entry["role"], "role", source, max_length=64),
        path=documents.text(entry["path"], "path", source, max_length=MAX_PATH_LENGTH),
        size=documents.non_negative_int(entry["size"], "size", source),
        sha256=documents.hex_digest(entry["sha256"], "sha256", source),
        cid=documents.text(entry["cid"], "cid", source, max_length=256),
        profile=None if profile is None else documents.text(profile, "profile", source, max_length=64),
    )


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
