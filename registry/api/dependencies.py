"""Shared dependencies: the settings and the backends the service opened at start-up.

The service owns its backends for its whole life (the managed local chain, if the chain is `local` and none runs
yet, runs exactly as long as the service, and CLI commands on the same data dir share it meanwhile). Tests swap them with ``app.dependency_overrides``.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import Path, Request

from registry.backends import Backends
from registry.config import Settings
from registry.errors import RecordError

MAX_RECORD_ID = 2**256 - 1
"""Record ids are uint256 on chain: anything larger names no record (and would not even encode)."""


@functools.lru_cache
def get_settings() -> Settings:
    return Settings.load()


_backends_lock = threading.Lock()
"""One chain caller at a time (web3 signers, nonces and the in-process EVM are not thread-safe): requests, the
index's follower thread and the readiness check take it."""
_POLL_S = 0.002


@contextlib.asynccontextmanager
async def backends_turn(request: Request) -> AsyncIterator[Backends]:
    """The service's backends for one request; requests wait their turn in the event loop, holding no thread.

    Why not a blocking wait in the route's worker thread: under 100 concurrent readers (bench/service_load.py)
    the waiters filled AnyIO's 40 worker threads, and the holder's release, which needs a worker thread of its
    own to run a dependency's exit, never came: the service deadlocked. Here the turn is an event-loop lock and
    the thread lock (shared with the index's thread) is polled without blocking, so a cancelled request never
    leaves it held."""
    async with request.app.state.backends_turn:
        while not _backends_lock.acquire(blocking=False):
            await anyio.sleep(_POLL_S)
        try:
            yield request.app.state.backends
        finally:
            _backends_lock.release()


async def get_backends(request: Request) -> AsyncIterator[Backends]:
    """The service's backends, one request at a time (see ``backends_turn``)."""
    async with backends_turn(request) as backends:
        yield backends


def record_reference(
    reference: Annotated[
        str, Path(max_length=80, description="A record id (decimal) or its 0x-prefixed 32-byte Merkle root.")
    ],
) -> str:
    """The path's record reference, refused here when it is a number no uint256 record id can be."""
    text = reference.strip()
    if text.isdecimal() and int(text) > MAX_RECORD_ID:
        raise RecordError(f"{text[:20]}… is above 2^256 - 1, the largest record id: no record has it")
    return reference
