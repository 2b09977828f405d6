"""Shared dependencies: the settings and the backends the service opened at start-up.

The service owns its backends for its whole life (the managed local chain, if the chain is `local` and none runs
yet, runs exactly as long as the service, and CLI commands on the same data dir share it meanwhile). Tests swap them with ``app.dependency_overrides``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from typing import Annotated

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


def get_backends(request: Request) -> Iterator[Backends]:
    """The service's backends, one request at a time (web3 signers and nonces are not thread-safe)."""
    with _backends_lock:
        yield request.app.state.backends


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
