"""What does trusting nothing cost a buyer who downloads through another party's gateway?

A buyer reads an artifact from the owner's `ledgermark serve` (a trustless gateway on 127.0.0.1) and checks
every block against its CID on arrival. Reference, in the same run: a plain HTTP download of the same bytes from
a static file server plus one SHA-256 pass (what a buyer who trusted the server and checked only a published
hash would do). Also the local embedded store (no network) and the gateway's per-block path (``format=raw``,
one request a block: what a gateway that cannot stream a CAR costs).

    .venv/bin/python bench/exp_gateway_fetch.py --json docs/results/gateway_fetch.json \
        --markdown docs/results/gateway_fetch.md
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

from ipfs.embedded import EmbeddedStore
from ipfs.gateway import GatewayStore
from ipfs.store import ContentStore
from registry import supervisor

COMMAND = (
    ".venv/bin/python bench/exp_gateway_fetch.py --json docs/results/gateway_fetch.json "
    "--markdown docs/results/gateway_fetch.md"
)


class RawBlocksOnly(GatewayStore):
    """The gateway client without its CAR stream: one ``format=raw`` request per block."""

    _block_source = ContentStore._block_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        rows = measure(Path(scratch), args.size_mb << 20, args.repeat)
    print(table(rows, args.size_mb, args.repeat))
    if args.json:
        args.json.write_text(
            json.dumps({"size_mb": args.size_mb, "repeat": args.repeat, "rows": rows}, indent=2)
        )
    if args.markdown:
        args.markdown.write_text(page(rows, args.size_mb, args.repeat))


def measure(scratch: Path, size: int, repeat: int) -> list[dict[str, object]]:
    artifact = scratch / "static" / "model.bin"
    artifact.parent.mkdir()
    artifact.write_bytes(os.urandom(size))
    home = scratch / "owner"
    store = EmbeddedStore(home / "ipfs")
    cid = store.add_file(artifact)
    out = scratch / "out.bin"
    with _static_server(artifact.parent) as static_url, _ledgermark_serve(home) as gateway_url:
        methods: dict[str, Callable[[], None]] = {
            "plain HTTP download + SHA-256 (reference)": lambda: _plain_download(
                f"{static_url}/model.bin", out
            ),
            "local embedded store, verified": lambda: store.get_file(cid, out),
            "ledgermark serve, CAR, every block verified": lambda: _via(GatewayStore(gateway_url), cid, out),
            "ledgermark serve, one raw block a request": lambda: _via(RawBlocksOnly(gateway_url), cid, out),
        }
        times = {name: [] for name in methods}
        for _ in range(repeat):  # interleaved, so drift hits every method alike
            for name, method in methods.items():
                started = time.perf_counter()
                method()
                times[name].append(time.perf_counter() - started)
                assert (
                    hashlib.sha256(out.read_bytes()).digest()
                    == hashlib.sha256(artifact.read_bytes()).digest()
                )
    reference = statistics.median(next(iter(times.values())))
    return [
        {
            "method": name,
            "median_s": round(statistics.median(samples), 4),
            "mb_per_s": round(size / 2**20 / statistics.median(samples), 1),
            "vs_reference": round(statistics.median(samples) / reference, 2),
        }
        for name, samples in times.items()
    ]


def _via(store: ContentStore, cid: str, out: Path) -> None:
    with store:
        store.get_file(cid, out)


def _plain_download(url: str, out: Path) -> None:
    digest = hashlib.sha256()
    with requests.get(url, stream=True, timeout=60) as response, open(out, "wb") as sink:
        response.raise_for_status()
        for piece in response.iter_content(1 << 20):
            sink.write(piece)
            digest.update(piece)


@contextlib.contextmanager
def _static_server(folder: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _ledgermark_serve(home: Path) -> Iterator[str]:
    port = supervisor.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERMARK_")}
    command = [sys.executable, "-m", "registry", "--data-dir", str(home), "--chain", "embedded", "serve"]
    process = subprocess.Popen(
        [*command, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        supervisor.wait_http(f"{url}/health")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def table(rows: list[dict[str, object]], size_mb: int, repeat: int) -> str:
    lines = [
        f"{size_mb} MiB artifact, median of {repeat} interleaved runs",
        "",
        "| method | median s | MiB/s | × reference |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {r['method']} | {r['median_s']} | {r['mb_per_s']} | {r['vs_reference']} |" for r in rows]
    return "\n".join(lines)


def page(rows: list[dict[str, object]], size_mb: int, repeat: int) -> str:
    return "\n".join(
        [
            "# Fetching through another party's gateway",
            "",
            f"Regenerate with `{COMMAND}`; this file is written by that command.",
            "",
            "A buyer reads one artifact from the owner's `ledgermark serve` (a trustless gateway on 127.0.0.1),",
            "checking every block against its CID as it arrives; the reference is a plain HTTP download of the",
            "same bytes from a static file server with one SHA-256 pass, measured in the same run (2 shared",
            "cores: absolute times drift, ratios less).",
            "",
            table(rows, size_mb, repeat),
            "",
        ]
    )


if __name__ == "__main__":
    main()
