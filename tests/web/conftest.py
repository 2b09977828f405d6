"""Fixtures for the web pages: the real service app under uvicorn on a free port (a thread of this process), a
chromium page driven by Playwright, and the folder its screenshots go to (the test's tmp dir unless
LEDGERMARK_SCREENSHOTS names one: `LEDGERMARK_SCREENSHOTS=docs/screenshots .venv/bin/python -m pytest tests/web`
refreshes the docs' pictures)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from registry import supervisor
from registry.api.main import create_app
from registry.config import Settings
from tests.fixtures import servers

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS_ENV = "LEDGERMARK_SCREENSHOTS"
CLI = [sys.executable, "-m", "registry"]


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[tuple[str, FastAPI]]:
    """``create_app(settings)`` on 127.0.0.1 until the block ends; yields its base URL and the app (whose
    ``state.backends`` the test may use to publish, as the operator would)."""
    app = create_app(settings)
    with servers.serving(app) as url:
        yield url, app


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the pages' screenshots go: the test's tmp dir, so a run leaves the tree clean, unless
    LEDGERMARK_SCREENSHOTS names a folder (docs/screenshots to refresh the docs' pictures)."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(chosen) if chosen else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Any]:
    """A chromium page on a fresh profile; fails (never skips) when chromium or Playwright is missing."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium package")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright Python package is missing: `make setup` installs the test extra")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def cli(*args: str | Path, env: dict[str, str] | None = None) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERMARK_")}
    done = subprocess.run(
        [*CLI, *map(str, args)],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stderr}"
    return done.stdout


def watch(page: Any, *origins: str) -> dict[str, list[str]]:
    """Collect requests to any origin but these (and their blob: URLs), console errors (CSP violations are
    errors), page errors, responses >= 400 and dialogs."""
    ours = tuple(origins) + tuple(f"blob:{origin}" for origin in origins)
    seen: dict[str, list[str]] = {"elsewhere": [], "errors": []}
    page.on("request", lambda r: None if r.url.startswith(ours) else seen["elsewhere"].append(r.url))
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("response", lambda r: seen["errors"].append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("dialog", lambda d: seen["errors"].append(f"a dialog opened: {d.message}"))
    return seen


def wait_for_records(page: Any, url: str, count: int) -> None:
    """The list reads the service's index, which follows the chain in the background: reload until it has all."""
    for _ in range(120):
        page.goto(f"{url}/")
        if len(listed(page)) == count:
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"the list never showed {count} records: {listed(page)}")


def listed(page: Any) -> list[str]:
    return [cell.strip() for cell in page.locator("#records tbody tr td:first-child").all_text_contents()]


@contextlib.contextmanager
def cli_service(args: list[Any], env: dict[str, str], log: Path) -> Iterator[str]:
    """`ledgermark <args> serve` on a free port in its own session (stopped by its pid); yields its URL."""
    port = supervisor.free_port()
    url = f"http://127.0.0.1:{port}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERMARK_")}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*CLI, *map(str, args), "serve", "--port", str(port)],
            env={**clean, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        servers.wait_until_up(f"{url}/health", process, log, what="ledgermark serve", timeout_s=60)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):  # it exited by itself: wait_until_up says why
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
