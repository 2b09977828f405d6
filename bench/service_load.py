"""Does `ledgermark serve` stay correct under load? Concurrent publishers and readers against one service.

Starts `ledgermark serve` on 127.0.0.1 (a free port, a fresh data directory, the embedded defaults), then for a
fixed time runs ``--publishers`` threads that each publish small distinct models (POST /records) and
``--readers`` threads that read (GET /records, GET /records/{id}, and GET /health as the reference: the
cheapest answer the same server gives under the same load). Afterwards every record a publisher was told about
is read back: a record the service acknowledged but cannot show is "lost". The load is bounded: each thread
waits for its answer before it sends the next request (a closed loop), so the numbers are the service's, not a
queue's.

    .venv/bin/python bench/service_load.py --json docs/results/service.json --markdown docs/results/service.md
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from registry import supervisor

COMMAND = ".venv/bin/python bench/service_load.py --json docs/results/service.json --markdown docs/results/service.md"
TOKEN_VARIABLE = "LEDGERMARK_API_TOKEN"


@dataclass
class Tally:
    """Latencies (seconds) and errors per operation, shared by all threads under one lock."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    published: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, operation: str, seconds: float, error: str | None = None) -> None:
        with self.lock:
            if error is None:
                self.latencies[operation].append(seconds)
            else:
                self.errors[operation].append(error)


@contextlib.contextmanager
def running_service(data_dir: Path, token: str) -> Iterator[str]:
    """`ledgermark serve` in its own process on a free port; stopped by process id whatever happens."""
    port = supervisor.free_port()
    env = {**os.environ, "LEDGERMARK_HOME": str(data_dir), TOKEN_VARIABLE: token}
    log = (data_dir / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "registry", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        supervisor.wait_http(f"{base}/health", timeout_s=120)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def timed(
    tally: Tally, operation: str, request: httpx.Request, client: httpx.Client
) -> httpx.Response | None:
    """Send one request; an exception or a status ≥ 400 is an error of ``operation``."""
    started = time.perf_counter()
    try:
        response = client.send(request)
    except httpx.HTTPError as err:
        tally.add(operation, 0.0, f"{type(err).__name__}: {err}")
        return None
    elapsed = time.perf_counter() - started
    if response.status_code >= 400:
        tally.add(operation, elapsed, f"HTTP {response.status_code}: {response.text[:200]}")
        return None
    tally.add(operation, elapsed)
    return response


def publisher(base: str, token: str, tally: Tally, stop: threading.Event, number: int) -> None:
    """Publish distinct small models until told to stop; remember every record id the service returned."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=120, headers=headers) as client:
        count = 0
        while not stop.is_set():
            body = secrets.token_bytes(4096)
            files = [("files", (f"model-{number}-{count}.bin", body, "application/octet-stream"))]
            request = client.build_request(
                "POST", "/records", files=files, data={"roles": "model", "name": f"load-{number}-{count}"}
            )
            response = timed(tally, "publish", request, client)
            if response is not None:
                with tally.lock:
                    tally.published.append(int(response.json()["record_id"]))
            count += 1


def reader(base: str, tally: Tally, stop: threading.Event, number: int) -> None:
    """Cycle through the reference (/health), the list and one record's detail until told to stop."""
    with httpx.Client(base_url=base, timeout=120) as client:
        turn = number
        while not stop.is_set():
            kind = ("health", "list", "detail")[turn % 3]
            turn += 1
            if kind == "health":
                timed(tally, "health (reference)", client.build_request("GET", "/health"), client)
            elif kind == "list":
                timed(tally, "list", client.build_request("GET", "/records", params={"limit": 20}), client)
            else:
                with tally.lock:
                    known = tally.published[-1] if tally.published else None
                if known is not None:
                    timed(tally, "detail", client.build_request("GET", f"/records/{known}"), client)


def run_load(publishers: int, readers: int, seconds: float) -> dict[str, object]:
    """Start a service, load it, then read every acknowledged record back."""
    token = secrets.token_hex(16)
    tally = Tally()
    with tempfile.TemporaryDirectory() as scratch, running_service(Path(scratch), token) as base:
        stop = threading.Event()
        threads = [
            threading.Thread(target=publisher, args=(base, token, tally, stop, i)) for i in range(publishers)
        ] + [threading.Thread(target=reader, args=(base, tally, stop, i)) for i in range(readers)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        lost = missing_records(base, tally.published)
    return summary(tally, elapsed, lost, publishers, readers, seconds)


def missing_records(base: str, record_ids: list[int]) -> list[int]:
    """Acknowledged records the service cannot show afterwards."""
    with httpx.Client(base_url=base, timeout=120) as client:
        return [i for i in record_ids if client.get(f"/records/{i}").status_code != 200]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(
    tally: Tally, elapsed: float, lost: list[int], publishers: int, readers: int, seconds: float
) -> dict[str, object]:
    operations = sorted(set(tally.latencies) | set(tally.errors))
    rows = []
    for operation in operations:
        done = tally.latencies.get(operation, [])
        rows.append(
            {
                "operation": operation,
                "requests": len(done),
                "errors": len(tally.errors.get(operation, [])),
                "per_second": len(done) / elapsed,
                "p50_ms": 1000 * statistics.median(done) if done else None,
                "p95_ms": 1000 * percentile(done, 0.95) if done else None,
                "p99_ms": 1000 * percentile(done, 0.99) if done else None,
                "first_errors": tally.errors.get(operation, [])[:3],
            }
        )
    return {
        "load_average": os.getloadavg(),
        "publishers": publishers,
        "readers": readers,
        "seconds": seconds,
        "elapsed_s": elapsed,
        "records_acknowledged": len(tally.published),
        "records_lost": lost,
        "operations": rows,
    }


def table(result: dict[str, object]) -> str:
    heading = (
        f"{result['publishers']} publishers, {result['readers']} readers, {result['seconds']:g} s "
        f"(closed loop); records acknowledged {result['records_acknowledged']}, "
        f"lost {len(result['records_lost'])}"  # type: ignore[arg-type]
    )
    lines = [
        heading,
        "",
        "| operation | requests | errors | per s | p50 ms | p95 ms | p99 ms |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for row in result["operations"]:  # type: ignore[attr-defined]
        cells = [_ms(row[k]) for k in ("p50_ms", "p95_ms", "p99_ms")]
        lines.append(
            f"| {row['operation']} | {row['requests']} | {row['errors']} | {row['per_second']:.1f} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publishers", type=int, default=20)
    parser.add_argument("--readers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    result = run_load(args.publishers, args.readers, args.seconds)
    text = table(result)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(
            "# Service under load\n\nRegenerate with `" + COMMAND + "`.\n\n"
            "Measured on this project's 2-core machine, shared with other jobs (load average "
            + " / ".join(f"{v:.1f}" for v in result["load_average"])  # type: ignore[attr-defined]
            + " at the end of the run), on the default backends (a managed local Anvil and the embedded block "
            "store) behind `ledgermark serve`, load generator in the same machine; `health` is the reference: "
            "the cheapest answer of the same server under the same load.\n\n" + text + "\n"
        )
    failed = any(row["errors"] for row in result["operations"]) or result["records_lost"]  # type: ignore[attr-defined]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
