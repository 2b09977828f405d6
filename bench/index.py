"""Does the record index keep listing, search and detail fast as the registry grows? (issue 12)

Informs: whether `ledgermark serve` can answer a marketplace's list, search and detail pages from its SQLite
index at 100,000 records. Targets: indexing at least 500 records/s, and p95 at most 50 ms through HTTP. The
reference, measured in the same run, is what the index replaces: enumerating records by scanning the
registry's events from the deployment block, and reading one record from the chain and the store.

    .venv/bin/python bench/index.py --records 100000 --json docs/results/index.json \
        --markdown docs/results/index.md

Set-up (not measured): a real Anvil with the real contracts; records are registered in batches through a
bench-only helper contract (`bench/contracts/BulkRegistrar.sol`, commit then register, 500 per transaction),
each with a real manifest stored in the embedded IPFS store (kept on tmpfs when /dev/shm exists: the store
fsyncs every import, which would make set-up, not indexing, the slow part). One record in ten is the child of
the one before. Indexing is ``RecordIndex.sync`` from an empty file (on disk, in the work folder): events then
manifests, each manifest fetched, verified against its CID and root, parsed and added to full-text search.
HTTP latencies are sequential requests (one client, keep-alive) to `ledgermark serve` in its own process on
127.0.0.1, after a warm-up.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

TREE_ENV = "LEDGERMARK_BENCH_TREE"
if os.environ.get(TREE_ENV):  # an indexing worker of --compare-with: the project's packages from that tree
    sys.meta_path[:] = [
        f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")
    ]
    sys.path.insert(0, os.environ[TREE_ENV])

import httpx
import solcx

from ipfs.cid import Cid
from registry import backends as backendslib
from registry import fetch as fetch_flow
from registry import supervisor
from registry.chain import Chain, deployments, localnode
from registry.config import IPFS_EMBEDDED, Settings
from registry.index import RecordIndex, _follow
from registry.index.store import encode_cursor
from verifier.integrity import manifest as manifestlib

ROOT = Path(__file__).resolve().parents[1]
COMPARE_COMMAND = (
    ".venv/bin/python bench/index.py --records {records} --compare-with {commit} --rounds {rounds} "
    "--json {json} --markdown {markdown}"
)
COMMAND = (
    ".venv/bin/python bench/index.py --records {records} --json docs/results/index.json "
    "--markdown docs/results/index.md"
)
WORDS = (
    "digits",
    "speech",
    "vision",
    "translate",
    "summarise",
    "detect",
    "segment",
    "classify",
    "caption",
    "forecast",
)
SIZES = ("tiny", "small", "base", "large", "huge")
TARGET_RECORDS_PER_S = 500
TARGET_P95_MS = 50.0
GAS_LIMIT = 2_000_000_000
COMMIT_GAS = 60_000
REGISTER_GAS = 250_000
"""Per record, above what each costs (docs/results/gas.md); what is not used is not paid."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records to register and index")
    parser.add_argument("--batch", type=int, default=500, help="registrations per transaction")
    parser.add_argument("--samples", type=int, default=200, help="HTTP requests per measured query")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep the chain's work here (default: temp)"
    )
    parser.add_argument(
        "--compare-with",
        metavar="COMMIT",
        default=None,
        help="index the same chain with this commit's code and with the checkout's, in turns (indexing only)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="turns of each code with --compare-with")
    parser.add_argument("--index-worker", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--markdown", type=Path, default=None, help="write the table here")
    return parser


# --------------------------------------------------------------------------- set-up


def compile_bulk_registrar() -> dict[str, Any]:
    """ABI and bytecode of the bench's helper, compiled with the project's pinned solc (solc-js shim)."""
    sys.path.insert(0, str(ROOT))
    from contracts import build  # the checkout's build script: same compiler and settings as the contracts

    sources = {
        "IModelRegistry.sol": {"content": (ROOT / "contracts" / "IModelRegistry.sol").read_text()},
        "BulkRegistrar.sol": {"content": (ROOT / "bench" / "contracts" / "BulkRegistrar.sol").read_text()},
    }
    request = {"language": "Solidity", "sources": sources, "settings": build.SETTINGS}
    output = solcx.compile_standard(request, solc_binary=build.resolve_solc())
    compiled = output["contracts"]["BulkRegistrar.sol"]["BulkRegistrar"]
    return {"abi": compiled["abi"], "bytecode": "0x" + compiled["evm"]["bytecode"]["object"]}


def manifests(settings: Settings, count: int) -> Iterator[tuple[bytes, bytes, int]]:
    """(root, manifest digest, parent id) of each record, its manifest stored in the settings' store."""
    with backendslib.open_store(settings) as store:
        for i in range(count):
            name = f"{WORDS[i % len(WORDS)]}-{SIZES[i // len(WORDS) % len(SIZES)]}-{i + 1:06d}"
            data = f"bench model {i}".encode()
            entry = manifestlib.ManifestEntry(
                "model", "model.pt", len(data), hashlib.sha256(data).hexdigest(), _fake_cid(i)
            )
            manifest = manifestlib.Manifest.create(name, [entry])
            cid = store.add_bytes(manifest.to_bytes(), profile="unixfs-v0-2015")
            parent = i if i % 10 == 9 else 0  # ids start at 1: record i + 1 derives from record i
            yield manifest.root(), Cid.parse(cid).digest, parent


def _fake_cid(i: int) -> str:
    """A valid CIDv0 for the artifact (its bytes are never fetched: only the manifest is)."""
    return str(Cid(version=0, codec=0x70, digest=hashlib.sha256(i.to_bytes(8, "big")).digest()))


def register(chain: Chain, registry: str, rows: list[tuple[bytes, bytes, int]], batch: int) -> float:
    """Commit then register every row through the helper contract; returns seconds spent."""
    started = time.perf_counter()
    artifact = compile_bulk_registrar()
    factory = chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    deployed = chain.transact(factory.constructor(registry))
    receipt = chain.request("eth_getTransactionReceipt", [deployed.tx_hash])
    bulk = chain.w3.eth.contract(
        address=chain.w3.to_checksum_address(receipt["contractAddress"]), abi=artifact["abi"]
    )
    batches = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    for part in batches:
        _send(chain, bulk.functions.commitMany([r for r, _, _ in part]), COMMIT_GAS * len(part))
    chain.mine(1)
    for part in batches:
        roots, digests, parents = zip(*part)
        _send(
            chain,
            bulk.functions.registerMany(list(roots), list(digests), list(parents)),
            REGISTER_GAS * len(part),
        )
    return time.perf_counter() - started


def _send(chain: Chain, fn: Any, gas: int) -> None:
    """Send from Anvil's unlocked dev account with a fixed gas limit (no estimate: it would run the batch twice)."""
    tx_hash = fn.transact({"from": chain.address, "gas": gas})
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=600)
    if receipt["status"] != 1:
        raise SystemExit(f"a bench batch reverted: {tx_hash.hex()}")


# --------------------------------------------------------------------------- measuring


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 2),
        "max_ms": round(ordered[-1], 2),
        "n": len(ordered),
    }


def timed(call: Callable[[], Any], samples: int, warmup: int = 10) -> list[float]:
    for _ in range(warmup):
        call()
    out = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def http_queries(
    base: str, owner: str, count: int, samples: int, rng: random.Random
) -> dict[str, dict[str, Any]]:
    """p50/p95 of each query shape, through HTTP."""
    results: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=base, timeout=30) as client:

        def get(path: str, params: dict[str, Any] | None = None) -> Callable[[], Any]:
            def call() -> Any:
                response = client.get(
                    path if not callable(path) else path(), params=params() if callable(params) else params
                )
                response.raise_for_status()
                return response

            return call

        shapes: dict[str, tuple[str, Any]] = {
            "list, newest 50": ("/records", {"limit": 50}),
            "list, a page deep in the list (cursor)": (
                "/records",
                lambda: {"limit": 50, "cursor": encode_cursor(rng.randint(100, count))},
            ),
            "list by owner (all records match)": ("/records", {"owner": owner, "limit": 50}),
            "list children of a record": ("/records", lambda: {"parent": rng.randrange(9, count, 10)}),
            "search a word (10% of records match)": ("/records", lambda: {"q": rng.choice(WORDS)}),
            "search two words (2% match)": (
                "/records",
                lambda: {"q": f"{rng.choice(WORDS)} {rng.choice(SIZES)}"},
            ),
            "search a unique name": ("/records", lambda: {"q": f"{rng.randint(1, count):06d}"}),
            "detail of a record": (lambda: f"/records/{rng.randint(1, count)}", None),
        }
        for label, (path, params) in shapes.items():
            results[label] = {**percentiles(timed(get(path, params), samples)), "kind": "HTTP"}  # type: ignore[arg-type]
        first = client.get("/records", params={"q": WORDS[0]}).json()
        results["search a word (10% of records match)"]["total"] = first["total"]
    return results


@contextlib.contextmanager
def serving(settings: Settings, node_url: str, work: Path) -> Iterator[str]:
    """`ledgermark serve` in its own process on a free port, stopped by pid."""
    port = supervisor.free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LEDGERMARK_")},
        "LEDGERMARK_REGISTRY_ADDRESS": str(settings.registry_address),
        "LEDGERMARK_DISPUTES_ADDRESS": str(settings.disputes_address),
    }
    argv = [
        str(Path(sys.executable).with_name("ledgermark")),
        "--data-dir",
        str(settings.data_dir),
        "--chain",
        node_url,
        "serve",
        "--port",
        str(port),
    ]
    base = f"http://127.0.0.1:{port}"
    daemon = supervisor.start(
        argv,
        log_path=work / "serve.log",
        ready=lambda: _answers(base + "/records?limit=1"),
        name="ledgermark serve",
        env=env,
        timeout_s=300,
        die_with_parent=True,
    )
    try:
        yield base
    finally:
        daemon.stop(10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# --------------------------------------------------------------------------- the run


@contextlib.contextmanager
def registered(
    args: argparse.Namespace, work: Path
) -> Iterator[tuple[str, deployments.Deployment, Settings, dict[str, float]]]:
    """A real Anvil with the contracts and ``args.records`` records registered, each manifest in the store
    (set-up, not measured); yields the node's URL, the deployment, the settings and the set-up seconds."""
    with localnode.AnvilNode(log_path=work / "anvil.log", die_with_parent=True) as node:
        chain = Chain.connect(node.url, node.first_key)
        chain.request("evm_setBlockGasLimit", [hex(GAS_LIMIT)])
        deployment = deployments.deploy_contracts(chain)
        settings = _settings(work, node.url, deployment)
        started = time.perf_counter()
        rows = list(manifests(settings, args.records))
        store_s = time.perf_counter() - started
        chain_s = register(chain, deployment.registry, rows, args.batch)
        print(
            f"set-up: {args.records} manifests stored in {store_s:.1f} s, registered in {chain_s:.1f} s",
            flush=True,
        )
        yield (
            node.url,
            deployment,
            settings,
            {"store_manifests": round(store_s, 1), "register_on_chain": round(chain_s, 1)},
        )


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    started = time.perf_counter()
    with registered(args, work) as (node_url, _, settings, setup_s):
        with backendslib.open_backends(settings) as backends:
            indexing = measure_indexing(backends, settings, args.records)
            print(f"indexing: {indexing}", flush=True)
            reference = measure_reference(backends, args.records, rng)
            print(f"reference: {reference}", flush=True)
            owner = backends.registry.record(1).owner
        with serving(settings, node_url, work) as base:
            queries = http_queries(base, owner, args.records, args.samples, rng)
    return {
        "records": args.records,
        "setup_s": setup_s,
        "indexing": indexing,
        "queries": queries,
        "reference": reference,
        "targets": {"records_per_s": TARGET_RECORDS_PER_S, "p95_ms": TARGET_P95_MS},
        "run_s": round(time.perf_counter() - started, 1),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "command": COMMAND.format(records=args.records),
    }


def _settings(work: Path, url: str, deployment: deployments.Deployment) -> Settings:
    """The data dir on disk (the index file lives there); its block store on tmpfs when there is one."""
    data_dir = work / "home"
    data_dir.mkdir(parents=True, exist_ok=True)
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        blocks = Path(tempfile.mkdtemp(prefix="ledgermark-bench-ipfs-", dir=shm))
        (data_dir / "ipfs").symlink_to(blocks, target_is_directory=True)
    return Settings(
        data_dir=data_dir,
        chain=url,
        ipfs=IPFS_EMBEDDED,
        registry_address=deployment.registry,
        disputes_address=deployment.disputes,
        deployment_block=deployment.block,
    )


def measure_indexing(backends: backendslib.Backends, settings: Settings, count: int) -> dict[str, Any]:
    """Index from an empty file: events first (no manifests), then the manifests."""
    index = RecordIndex.open(settings.index_path)
    started = time.perf_counter()
    events = index.sync(backends, max_manifests=0)
    events_s = time.perf_counter() - started
    fetched = index.sync(backends)
    total_s = time.perf_counter() - started
    status = index.status()
    index.close()
    if status.records != count or status.manifests_missing:
        raise SystemExit(
            f"the index holds {status.records} records, {status.manifests_missing} without manifest"
        )
    return {
        "events_s": round(events_s, 2),
        "manifests_s": round(total_s - events_s, 2),
        "total_s": round(total_s, 2),
        "records_per_s": round(count / total_s),
        "events_records_per_s": round(events.records_added / events_s),
        "manifests_per_s": round(fetched.manifests_fetched / max(total_s - events_s, 1e-9)),
        "index_bytes": settings.index_path.stat().st_size,
    }


# --------------------------------------------------------------------------- old code beside new


def compare(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Register once, then index the same chain from an empty file with ``--compare-with``'s code and the
    checkout's in turns, each in a fresh process (so neither inherits the other's caches)."""
    started = time.perf_counter()
    reference = _export(args.compare_with, work / "reference-tree")
    with registered(args, work) as (node_url, deployment, settings, setup_s):
        spec = {
            "chain": node_url,
            "registry": deployment.registry,
            "disputes": deployment.disputes,
            "block": deployment.block,
            "ipfs": str((settings.data_dir / "ipfs").resolve()),
            "records": args.records,
        }
        runs = []
        for turn in range(args.rounds):
            for code, tree in ((f"{args.compare_with} (reference)", reference), ("checkout", None)):
                run_dir = work / f"run-{turn}-{'ref' if tree else 'new'}"
                result = _index_in_process(spec, run_dir, tree)
                runs.append({"code": code, "turn": turn + 1, **result})
                print(f"{code} turn {turn + 1}: {result}", flush=True)
                shutil.rmtree(run_dir, ignore_errors=True)
    return {
        "records": args.records,
        "setup_s": setup_s,
        "runs": runs,
        "targets": {"records_per_s": TARGET_RECORDS_PER_S},
        "run_s": round(time.perf_counter() - started, 1),
        "command": COMPARE_COMMAND.format(
            records=args.records,
            commit=args.compare_with,
            rounds=args.rounds,
            json=args.json or "OUT.json",
            markdown=args.markdown or "OUT.md",
        ),
    }


def _export(commit: str, dest: Path) -> Path:
    """The project's files at ``commit`` (``git archive``), for the reference worker's imports."""
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise SystemExit(f"--compare-with {commit}: git archive failed: {archive.stderr.decode()[:300]}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def _index_in_process(spec: dict[str, Any], run_dir: Path, tree: Path | None) -> dict[str, Any]:
    """One indexing from an empty file by ``--index-worker`` in a child process (``tree``: the code to use)."""
    run_dir.mkdir(parents=True)
    (run_dir / "spec.json").write_text(json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if k != TREE_ENV}
    if tree is not None:
        env[TREE_ENV] = str(tree)
    before = os.getloadavg()[0]
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--index-worker", str(run_dir / "spec.json")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"indexing worker failed ({done.returncode}):\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "load_average": [round(before, 1), round(os.getloadavg()[0], 1)]}


def index_worker(spec_path: Path) -> int:
    """Child of ``compare``: index the spec's chain into a fresh file beside the spec, print the result."""
    spec = json.loads(spec_path.read_text())
    data_dir = spec_path.parent / "home"
    data_dir.mkdir()
    (data_dir / "ipfs").symlink_to(spec["ipfs"], target_is_directory=True)
    settings = Settings(
        data_dir=data_dir,
        chain=spec["chain"],
        ipfs=IPFS_EMBEDDED,
        registry_address=spec["registry"],
        disputes_address=spec["disputes"],
        deployment_block=spec["block"],
    )
    with backendslib.open_backends(settings) as backends:
        result = measure_indexing(backends, settings, spec["records"])
    code_from = Path(str(sys.modules[RecordIndex.__module__].__file__)).parents[2]
    print(json.dumps({**result, "code_from": str(code_from)}))
    return 0


RATES = ("records_per_s", "events_records_per_s", "manifests_per_s")


def compare_markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Record index: indexing throughput, previous code beside the current",
        "",
        (
            f"`{result['command']}` (whole run {result['run_s']} s; set-up {result['setup_s']['store_manifests']} s "
            f"storing manifests, {result['setup_s']['register_on_chain']} s registering {result['records']:,} "
            "records on Anvil). Both codes index the same registered chain and the same store from an empty "
            "index file, each in a fresh process, in turns; 2-core machine shared with other jobs."
        ),
        "",
        "| code | turn | events s | manifests s | total s | records/s | events/s | manifests/s | load avg before → after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in result["runs"]:
        load = run["load_average"]
        lines.append(
            f"| {run['code']} | {run['turn']} | {run['events_s']} | {run['manifests_s']} | {run['total_s']} | "
            f"**{run['records_per_s']:,}** | {run['events_records_per_s']:,} | {run['manifests_per_s']:,} | "
            f"{load[0]} → {load[1]} |"
        )
    medians = {
        code: {key: statistics.median(r[key] for r in result["runs"] if r["code"] == code) for key in RATES}
        for code in dict.fromkeys(r["code"] for r in result["runs"])
    }
    lines += ["", "Medians over the turns:", ""]
    for code, rates in medians.items():
        lines.append(
            f"- {code}: **{rates['records_per_s']:,.0f} records/s** (events {rates['events_records_per_s']:,.0f}/s, "
            f"manifests {rates['manifests_per_s']:,.0f}/s)"
        )
    lines += ["", f"Target: ≥ {result['targets']['records_per_s']} records/s.", ""]
    return "\n".join(lines)


def measure_reference(backends: backendslib.Backends, count: int, rng: random.Random) -> dict[str, Any]:
    """Without the index: enumerate records by scanning the registry's events; read a record from chain+store."""
    contracts = _follow.Contracts.of(backends)
    started = time.perf_counter()
    events, _ = _follow.events(
        backends.chain, contracts, contracts.deployed_at, backends.chain.block_number()
    )
    scan_s = time.perf_counter() - started
    assert sum(e.name == "ModelRegistered" for e in events) == count

    def read() -> None:
        record = fetch_flow.resolve_record(backends, str(rng.randint(1, count)))
        fetch_flow.load_manifest(backends, record)

    return {
        "list by scanning the chain's events (once)": {"seconds": round(scan_s, 2), "kind": "Python"},
        "detail from chain + store": {**percentiles(timed(read, 50, warmup=3)), "kind": "Python"},
    }


# --------------------------------------------------------------------------- report


def markdown(result: dict[str, Any]) -> str:
    indexing, targets = result["indexing"], result["targets"]
    lines = [
        "# Record index: indexing rate and read latency",
        "",
        (
            f"`{result['command']}` (whole run {result['run_s']} s, of which set-up: manifests stored in "
            f"{result['setup_s']['store_manifests']} s, {result['records']:,} records registered on Anvil in "
            f"{result['setup_s']['register_on_chain']} s). 2-core machine shared with other jobs (load average "
            f"{result.get('load_average', ['?'])[0]} at the end)."
        ),
        "",
        (
            f"Indexing {result['records']:,} records from an empty index: **{indexing['records_per_s']:,} records/s** "
            f"(target ≥ {targets['records_per_s']}): events {indexing['events_s']} s "
            f"({indexing['events_records_per_s']:,}/s), manifests fetched, verified and made searchable "
            f"{indexing['manifests_s']} s ({indexing['manifests_per_s']:,}/s); index file "
            f"{indexing['index_bytes'] / 2**20:.1f} MiB."
        ),
        "",
        f"| query at {result['records']:,} records | via | p50 ms | p95 ms | max ms | n | p95 ≤ {targets['p95_ms']:g} ms |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for label, row in result["queries"].items():
        ok = "yes" if row["p95_ms"] <= targets["p95_ms"] else "**no**"
        lines.append(
            f"| {label} | {row['kind']} | {row['p50_ms']} | {row['p95_ms']} | {row['max_ms']} | {row['n']} | {ok} |"
        )
    ref = result["reference"]
    scan = ref["list by scanning the chain's events (once)"]
    detail = ref["detail from chain + store"]
    lines += [
        f"| *reference:* list by scanning the chain's events | Python | {scan['seconds'] * 1000:.0f} | | | 1 | |",
        (
            f"| *reference:* detail read from chain + store | Python | {detail['p50_ms']} | {detail['p95_ms']} | "
            f"{detail['max_ms']} | {detail['n']} | |"
        ),
        "",
        (
            "HTTP rows: sequential requests from one keep-alive client to `ledgermark serve` (its own process) on "
            "127.0.0.1, after 10 warm-up requests. Each list answer carries `total` (a COUNT over the filter) and "
            "51 rows; search is FTS5 over names and cards, each word a prefix term. References are Python calls "
            "in the bench process: what listing and reading cost without the index. A listing's `total` is "
            "remembered until the index changes (a new block with events), so repeated filters count once."
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.index_worker is not None:
        return index_worker(args.index_worker)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="ledgermark-bench-index-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = compare(args, work) if args.compare_with else run(args, work)
    finally:
        link = work / "home" / "ipfs"
        if link.is_symlink():
            shutil.rmtree(link.resolve(), ignore_errors=True)
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    table = compare_markdown(result) if args.compare_with else markdown(result)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
