"""Fixtures for the web pages: the real service app under uvicorn on a free port (a thread of this process)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from registry import supervisor
from registry.api.main import create_app
from registry.config import Settings


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[tuple[str, FastAPI]]:
    """``create_app(settings)`` on 127.0.0.1 until the block ends; yields its base URL and the app (whose
    ``state.backends`` the test may use to publish, as the operator would)."""
    app = create_app(settings)
    port = supervisor.free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=30)
