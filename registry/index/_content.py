"""What IPFS says about a record: its manifest (name, artifacts) and a small card text, fetched bounded and
verified.

The manifest CID is anchored on chain, and the store proves every block against its CID on arrival, so what
arrives is what the owner published; it is then parsed strictly (``Manifest.from_bytes``) and its Merkle root
and leaf count are kept, for the index to compare with each record that names the CID. A card is an artifact
with role ``card`` or a README-like path, read only when the manifest declares it small, checked against its
SHA-256, and kept as text for full-text search.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import posixpath

from ipfs.errors import LedgermarkError
from ipfs.store import ContentStore
from verifier.integrity import manifest as manifestlib

log = logging.getLogger(__name__)

MAX_MANIFEST_BYTES = manifestlib.MAX_MANIFEST_BYTES
MAX_CARD_BYTES = 64 * 1024
"""A card larger than this is not read: search covers the name and the small cards only."""
CARD_NAMES = frozenset({"readme", "readme.md", "readme.txt", "model_card.md", "modelcard.md", "card.md"})


@dataclasses.dataclass(frozen=True)
class Fetched:
    """The outcome for one manifest CID: ``ok``, ``partial`` (manifest ok, card unavailable: retried),
    ``missing`` (not available: retried) or ``invalid`` (not a manifest: never retried, the CID is fixed)."""

    status: str
    root: str | None = None
    leaf_count: int | None = None
    name: str | None = None
    document: str | None = None
    """The manifest as fetched (canonical JSON, so it is exactly what the CID names)."""
    card: str | None = None
    error: str | None = None


def fetch(store: ContentStore, cid: str) -> Fetched:
    """Fetch, verify and parse the manifest ``cid`` and its card."""
    try:
        data = store.cat(cid, max_size=MAX_MANIFEST_BYTES)
    except LedgermarkError as err:  # not found, a source lied, or the DAG is too large: another may serve it
        return Fetched("missing", error=str(err)[:500])
    try:
        manifest = manifestlib.Manifest.from_bytes(data, source=f"manifest {cid}")
    except manifestlib.ManifestError as err:
        return Fetched("invalid", error=str(err)[:500])
    card, problem = _card(store, manifest)
    return Fetched(
        "ok" if problem is None else "partial",
        root="0x" + manifest.root().hex(),
        leaf_count=len(manifest.entries),
        name=manifest.name,
        document=data.decode(),
        card=card,
        error=problem,
    )


def _card(store: ContentStore, manifest: manifestlib.Manifest) -> tuple[str | None, str | None]:
    """(text of the small card artifacts, None) or (None, why they could not be read)."""
    chosen = [e for e in manifest.entries if _is_card(e) and e.size <= MAX_CARD_BYTES][:2]
    texts = []
    for entry in chosen:
        try:
            data = store.cat(entry.cid, max_size=MAX_CARD_BYTES, declared_size=entry.size)
        except LedgermarkError as err:
            return None, f"card {entry.path}: {str(err)[:300]}"
        if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
            return None, f"card {entry.path}: its bytes do not match the manifest's size and SHA-256"
        texts.append(data.decode("utf-8", errors="replace"))
    return ("\n\n".join(texts) if texts else None), None


def _is_card(entry: manifestlib.ManifestEntry) -> bool:
    return entry.role == "card" or posixpath.basename(entry.path).lower() in CARD_NAMES
