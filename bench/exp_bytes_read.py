"""How many bytes do publish, fetch and verify read (and hash) per byte of artifact? Target: ≤ 1.1 read.

Counters come from /proc/self/io around each flow: ``rchar`` (bytes returned by read calls, page cache or
not) and ``read_bytes`` (bytes the kernel fetched from the storage layer: the file's pages are dropped from the
cache with ``posix_fadvise(DONTNEED)`` before each flow, so a second read would show here too). SHA-256 work is
counted by wrapping ``hashlib.sha256`` in the ``ipfs`` modules (file digests and block CIDs alike).

References measured in the same run on the same file: one plain SHA-256 pass (reads 1.0 per byte, hashes 1.0:
it checks the counters), and the previous two-pass design (hash the file, then hand it to the store; fetch,
then hash the downloaded file again). Embedded backends (in-process EVM, embedded block store).

    .venv/bin/python bench/exp_bytes_read.py --json docs/results/bytes_read.json --markdown docs/results/bytes_read.md
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

import ipfs.cid
import ipfs.store
import ipfs.unixfs
from registry import backends as backendslib
from registry import fetch as fetch_flow
from registry import publish as publish_flow
from registry.config import CHAIN_EMBEDDED, IPFS_EMBEDDED, Settings
from verifier.integrity import manifest as manifestlib

COMMAND = (
    ".venv/bin/python bench/exp_bytes_read.py --json docs/results/bytes_read.json "
    "--markdown docs/results/bytes_read.md"
)
TARGET = 1.1
_HASHED = [0]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=44.0, help="artifact size in MB (10^6 bytes)")
    parser.add_argument("--cid-version", type=int, choices=(0, 1), default=0)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--markdown", type=Path, help="write the table here")
    return parser


class _CountedSha256:
    """hashlib.sha256 that adds every byte it is fed to a counter (the bench's only instrumentation)."""

    def __init__(self, data: bytes = b"") -> None:
        self._hash = hashlib.sha256()
        self.update(data)

    def update(self, data: bytes) -> None:
        _HASHED[0] += len(data)
        self._hash.update(data)

    def digest(self) -> bytes:
        return self._hash.digest()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


@contextlib.contextmanager
def counting_hashes() -> Iterator[None]:
    counted = types.SimpleNamespace(sha256=_CountedSha256)
    modules = (ipfs.cid, ipfs.unixfs, ipfs.store)
    originals = [m.hashlib for m in modules]
    for module in modules:
        module.hashlib = counted  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module, original in zip(modules, originals, strict=True):
            module.hashlib = original  # type: ignore[attr-defined]


def io_counters() -> dict[str, int]:
    with open("/proc/self/io") as stream:
        return {k: int(v) for k, v in (line.split(": ") for line in stream)}


def drop_cache(*paths: Path) -> None:
    """Evict clean pages so that ``read_bytes`` sees every read that reaches storage."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def measure(label: str, size: int, fn: Callable[[], object], *cold: Path) -> dict[str, object]:
    """Run ``fn`` once with cold pages for ``cold`` files and return its per-byte counters."""
    drop_cache(*cold)
    before, hashed_before = io_counters(), _HASHED[0]
    with counting_hashes():
        fn()
    after = io_counters()
    return {
        "flow": label,
        "rchar_per_byte": (after["rchar"] - before["rchar"]) / size,
        "read_bytes_per_byte": (after["read_bytes"] - before["read_bytes"]) / size,
        "sha256_per_byte": (_HASHED[0] - hashed_before) / size,
    }


def sha256_pass(path: Path) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    _HASHED[0] += path.stat().st_size  # plain hashlib: counted by hand


def run(size_mb: float, cid_version: int, workdir: Path) -> list[dict[str, object]]:
    size = int(size_mb * 1_000_000)
    model = workdir / "model.pt"
    model.write_bytes(np.random.default_rng(44).bytes(size))
    warm = workdir / "warm.bin"
    warm.write_bytes(b"warm-up: imports and first transactions are not part of any flow")
    settings = Settings(
        data_dir=workdir / "state", chain=CHAIN_EMBEDDED, ipfs=IPFS_EMBEDDED, cid_version=cid_version
    )
    rows = [
        measure("reference: one SHA-256 pass", size, lambda: sha256_pass(model), model),
        measure(
            "cid (CID only, no file SHA-256)",
            size,
            lambda: ipfs.unixfs.compute_cid(model, cid_version=cid_version),
            model,
        ),
    ]
    with backendslib.open_backends(settings) as backends:
        warm_pub = publish_flow.publish(backends, [publish_flow.Artifact(warm, "card")], name="warm")
        fetch_flow.fetch(backends, str(warm_pub.record_id), workdir / "warm-buyer")
        fetch_flow.verify_files(backends, str(warm_pub.record_id), [warm])
        published: list[publish_flow.Publication] = []
        rows.append(
            measure(
                "publish",
                size,
                lambda: published.append(
                    publish_flow.publish(backends, [publish_flow.Artifact(model, "model")], name="bench")
                ),
                model,
            )
        )
        record = str(published[0].record_id)
        packs = sorted((settings.blocks_dir / "packs").glob("*.pack"))
        rows.append(
            measure("fetch", size, lambda: fetch_flow.fetch(backends, record, workdir / "buyer"), *packs)
        )
        rows.append(
            measure(
                "verify (local file)", size, lambda: fetch_flow.verify_files(backends, record, [model]), model
            )
        )
        rows.append(
            measure(
                "reference: previous publish (hash, then store)",
                size,
                lambda: (
                    manifestlib.digest_file(model, cid_version=cid_version),
                    _store_again(workdir, model, cid_version),
                ),
                model,
            )
        )
        cid = published[0].manifest.entries[0].cid
        rows.append(
            measure(
                "reference: previous fetch (get, then hash the copy)",
                size,
                lambda: _fetch_and_rehash(backends.store, cid, workdir / "again" / "model.pt", cid_version),
                *packs,
            )
        )
    for row in rows:
        row["meets_target"] = row["rchar_per_byte"] <= TARGET
    return rows


def _store_again(workdir: Path, model: Path, cid_version: int) -> None:
    from ipfs.embedded import EmbeddedStore

    EmbeddedStore(workdir / "second-store").add_file(model, cid_version=cid_version)


def _fetch_and_rehash(store: ipfs.store.ContentStore, cid: str, dest: Path, cid_version: int) -> None:
    store.get_file(cid, dest)
    drop_cache(dest)
    manifestlib.digest_file(dest, cid_version=cid_version)


def print_table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| flow | rchar / byte | read_bytes / byte | SHA-256 bytes / byte | rchar ≤ 1.1 |",
        "|---|---:|---:|---:|:---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['flow']} | {r['rchar_per_byte']:.3f} | {r['read_bytes_per_byte']:.3f} | "
            f"{r['sha256_per_byte']:.3f} | {'yes' if r['meets_target'] else 'no'} |"
        )
    table = "\n".join(lines)
    print(table)
    return table


def main() -> None:
    args = build_parser().parse_args()
    with tempfile.TemporaryDirectory(prefix="ledgermark-bytes-") as tmp:
        rows = run(args.size_mb, args.cid_version, Path(tmp))
        shutil.rmtree(tmp, ignore_errors=True)
    table = print_table(rows)
    meta = {"size_mb": args.size_mb, "cid_version": args.cid_version, "target": TARGET, "command": COMMAND}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(_markdown(table, args.size_mb, args.cid_version))


def _markdown(table: str, size_mb: float, cid_version: int) -> str:
    return f"""# Bytes read per byte of artifact: publish, fetch, verify

Regenerate (a few seconds on 2 cores):

```
{COMMAND}
```

One {size_mb:g} MB artifact (CIDv{cid_version}), embedded backends (in-process EVM, embedded block store),
counters from /proc/self/io around each flow after a warm-up publication. `read_bytes` is measured with the
file's pages dropped from the cache first; `SHA-256 bytes` counts file digests and block CIDs together (each
byte is hashed once for the file's SHA-256 and once inside its block's CID, so 2.0 is the floor for a flow
that yields both; `cid` yields only the CID and hashes each byte once). The two references are measured in the same run on the same file.

{table}
"""


if __name__ == "__main__":
    main()
