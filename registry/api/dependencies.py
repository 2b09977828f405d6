"""Shared dependencies: the settings and the backends the service opened at start-up.

The service owns its backends for its whole life (the managed local chain, if the chain is `local` and none runs
yet, runs exactly as long as the service, and CLI commands on the same data dir share it meanwhile). Tests swap them with ``app.dependency_overrides``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator

from fastapi import Request

from registry.backends import Backends
from registry.config import Settings


@functools.lru_cache
def get_settings() -> Settings:
    return Settings.load()


_backends_lock = threading.Lock()


def get_backends(request: Request) -> Iterator[Backends]:
    """The service's backends, one request at a time (web3 signers and nonces are not thread-safe)."""
    with _backends_lock:
        yield request.app.state.backends
