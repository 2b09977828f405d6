"""/health and /ready: is the process alive, and can it serve requests now?

``/health`` answers from the process alone (a supervisor restarts a service that stops answering it).
``/ready`` asks every backend now: the chain node (its head block), the content store (a lookup), and the
record index when the service keeps one (how far it trails the chain). A 503 problem names what is not ready,
so a load balancer holds traffic back and a person sees why.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from registry.api import dependencies, problems, schemas

router = APIRouter(tags=["service"], generate_unique_id_function=lambda route: route.name)

STORE_PROBE = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
"""The empty raw block's CID: any store answers whether it has it, and the answer does not matter."""
MAX_INDEX_LAG_BLOCKS = 64
"""An index further behind the chain's confirmed head than this serves stale lists: not ready."""
LOCK_WAIT_S = 15.0
"""How long /ready waits for whoever holds the chain client (a publish, an arbiter's review, the index's sync, which
under load held it past 5 s and made a stopped node read as ready)."""


@router.get("/health", response_model=schemas.HealthOut)
def health() -> Any:
    """Liveness: the process answers HTTP. It touches no backend, so it stays cheap under any load."""
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=schemas.ReadyOut,
    responses={
        503: {**problems.responses(503)[503], "description": "A backend is not ready: `checks` says which."}
    },
)
def ready(request: Request) -> Any:
    """Readiness: the chain node answers, the content store answers, and the record index (when the service
    keeps one) trails the chain by at most 64 blocks. Each check is reported with what it found."""
    checks = {"chain": _chain_check(request), "store": _store_check(request)}
    index = getattr(request.app.state, "index", None)
    if index is not None:
        checks["index"] = _check(lambda: _index_detail(index))
    scrubber = getattr(request.app.state, "scrubber", None)
    for check in checks.values():  # a message may name the data dir or a store's folder
        check["detail"] = scrubber.scrub(check["detail"]) if scrubber else check["detail"]
    if all(check["ok"] for check in checks.values()):
        return {"status": "ready", "checks": checks}
    failing = ", ".join(name for name, check in checks.items() if not check["ok"])
    response: JSONResponse = problems.problem(503, f"not ready: {failing}", checks=checks)
    return response


def _chain_check(request: Request) -> dict[str, Any]:
    backends = request.app.state.backends
    with _held(dependencies._backends_lock) as held:
        if not held:
            return {"ok": True, "detail": "busy: another request holds the chain client (not checked now)"}
        return _check(lambda: f"block {backends.chain.block_number()} on chain id {backends.chain.chain_id}")


def _store_check(request: Request) -> dict[str, Any]:
    store = request.app.state.backends.store
    return _check(lambda: f"{store.describe()} answers (probe held: {store.has(STORE_PROBE)})")


def _index_detail(index: Any) -> str:
    status = index.status()
    detail = (
        f"block {status.indexed_block} of {status.head_block} (lag {status.lag_blocks} blocks), "
        f"{status.records} records"
    )
    if status.lag_blocks > MAX_INDEX_LAG_BLOCKS:
        raise RuntimeError(f"{detail}: more than {MAX_INDEX_LAG_BLOCKS} blocks behind")
    return detail


def _check(probe: Callable[[], str]) -> dict[str, Any]:
    """Run one probe: ok with what it found, or not ok with why (the scrubber cleans the final message)."""
    try:
        return {"ok": True, "detail": probe()}
    except Exception as err:  # noqa: BLE001 -- a check reports any failure; it never fails the request
        return {"ok": False, "detail": f"{type(err).__name__}: {err}"[:500]}


@contextlib.contextmanager
def _held(lock: threading.Lock) -> Iterator[bool]:
    """``lock`` acquired with a timeout; yields whether it was acquired."""
    acquired = lock.acquire(timeout=LOCK_WAIT_S)
    try:
        yield acquired
    finally:
        if acquired:
            lock.release()
