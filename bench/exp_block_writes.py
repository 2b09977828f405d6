"""How should the embedded store write an import's blocks? Per-block temp file + rename vs one pack per import.

Same run, same file (44 MB by default, CIDv0: 168 leaves + 1 root), fresh store folder per attempt, minimum of
``--repeat`` attempts:

- ``per-block temp + rename``: the previous layout (``blocks/<2 hex>/<64 hex>``, one temp file and one rename
  per 256 KiB block, no fsync);
- ``per-block temp + fsync + rename``: the same, made durable block by block;
- ``pack + 1 fsync`` (the choice): blocks appended to one pack file, one fsync, then its index written, fsynced
  and renamed into place (``ipfs.embedded``);
- ``pack, no fsync``: the same without any fsync, to separate layout from durability;
- references: ``copy`` (``shutil.copyfile``) and ``copy + fsync`` of the same bytes.

Each store is then read back with ``get_file`` (warm cache: the cost of the layout, not of the disk).

    .venv/bin/python bench/exp_block_writes.py --json docs/results/block_writes.json --markdown docs/results/block_writes.md
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import numpy as np

from ipfs import unixfs
from ipfs.cid import Cid
from ipfs.embedded import EmbeddedStore

COMMAND = (
    ".venv/bin/python bench/exp_block_writes.py --json docs/results/block_writes.json "
    "--markdown docs/results/block_writes.md"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=44.0, help="file size in MB (10^6 bytes)")
    parser.add_argument("--repeat", type=int, default=5, help="attempts per variant; the minimum is reported")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--markdown", type=Path, help="write the table here")
    return parser


def per_block_sink(root: Path, *, durable: bool) -> Callable[[Cid, bytes], None]:
    """The previous write path: one temp file and one rename per block (optionally one fsync per block)."""
    blocks = root / "blocks"

    def put(cid: Cid, block: bytes) -> None:
        name = cid.digest.hex()
        path = blocks / name[:2] / name
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            out.write(block)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, path)

    return put


def write_per_block(source: Path, root: Path, durable: bool) -> None:
    """Same single pass as the store's (file SHA-256 + CIDs), only the block sink differs."""
    with open(source, "rb") as stream:
        unixfs.digest_stream(stream, on_block=per_block_sink(root, durable=durable))


def write_pack(source: Path, root: Path, durable: bool) -> None:
    no_fsync = mock.patch("os.fsync") if not durable else contextlib.nullcontext()
    with no_fsync:
        EmbeddedStore(root).put_file(source)


def copy(source: Path, root: Path, durable: bool) -> None:
    root.mkdir(parents=True)
    shutil.copyfile(source, root / "copy.bin")
    if durable:
        fd = os.open(root / "copy.bin", os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)


VARIANTS: dict[str, tuple[Callable[[Path, Path, bool], None], bool, bool]] = {
    # label: (writer, durable, readable by EmbeddedStore)
    "per-block temp + rename (previous)": (write_per_block, False, True),
    "per-block temp + fsync + rename": (write_per_block, True, True),
    "pack + 1 fsync (chosen)": (write_pack, True, True),
    "pack, no fsync": (write_pack, False, True),
    "reference: copy": (copy, False, False),
    "reference: copy + fsync": (copy, True, False),
}


def files_in(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())


@contextlib.contextmanager
def fresh(workdir: Path, name: str) -> Iterator[Path]:
    root = workdir / name
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def measure(source: Path, workdir: Path, repeat: int) -> list[dict[str, object]]:
    """Attempts interleave the variants (round robin), so load from other processes hits them alike."""
    cid = unixfs.compute_cid(source)
    writes: dict[str, list[float]] = {label: [] for label in VARIANTS}
    reads: dict[str, list[float]] = {label: [] for label in VARIANTS}
    files: dict[str, int] = {}
    for _ in range(repeat):
        for label, (writer, durable, readable) in VARIANTS.items():
            with fresh(workdir, "store") as root:
                started = time.perf_counter()
                writer(source, root, durable)
                writes[label].append(time.perf_counter() - started)
                files[label] = files_in(root)
                if readable:
                    store = EmbeddedStore(root)
                    started = time.perf_counter()
                    store.get_file(cid, workdir / "out.bin")
                    reads[label].append(time.perf_counter() - started)
    base = min(next(iter(writes.values())))
    return [
        {
            "variant": label,
            "write_s": min(writes[label]),
            "read_s": min(reads[label]) if reads[label] else None,
            "files": files[label],
            "write_vs_previous": min(writes[label]) / base,
        }
        for label in VARIANTS
    ]


def table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| variant | write s | write / previous | read back s | files on disk |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        read = f"{r['read_s']:.3f}" if r["read_s"] is not None else "–"
        lines.append(
            f"| {r['variant']} | {r['write_s']:.3f} | {r['write_vs_previous']:.2f} | {read} | {r['files']} |"
        )
    return "\n".join(lines)


def main() -> None:
    args = build_parser().parse_args()
    with tempfile.TemporaryDirectory(prefix="ledgermark-blocks-") as tmp:
        source = Path(tmp) / "model.bin"
        source.write_bytes(np.random.default_rng(44).bytes(int(args.size_mb * 1_000_000)))
        rows = measure(source, Path(tmp), args.repeat)
    text = table(rows)
    print(text)
    meta = {"size_mb": args.size_mb, "repeat": args.repeat, "command": COMMAND}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(
            f"""# Embedded store: per-block files vs one pack per import

Regenerate (under a minute on 2 cores):

```
{COMMAND}
```

One {args.size_mb:g} MB file (CIDv0, 256 KiB chunks), a fresh store folder per attempt, minimum of {args.repeat}
attempts; every store variant makes the same single pass (file SHA-256 + block CIDs) and differs only in how
blocks reach the disk; every variant and both references are measured in the same run on the same bytes. "read back" is
`get_file` of the whole file from that layout (every block verified), with a warm page cache.

{text}
"""
        )


if __name__ == "__main__":
    main()
