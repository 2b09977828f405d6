"""Run a real js-ipfs daemon (it speaks the Kubo RPC API) on 127.0.0.1, and stop it by process id.

Used by the integration tests and by anyone who wants a real IPFS node without installing Kubo (which cannot
be installed offline here). js-ipfs 0.66.1 needs two fixes on Node 20 (DESIGN.md §2): the npm override of
``@multiformats/mafmt`` (in ``ipfs/jsipfs/package.json``) and ``preload.cjs``, which defines
``Promise.withResolvers`` when Node lacks it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

from ipfs.errors import IpfsError

log = logging.getLogger(__name__)

JSIPFS_DIR = Path(__file__).resolve().parent / "jsipfs"
JSIPFS_BIN = JSIPFS_DIR / "node_modules" / ".bin" / "jsipfs"
PRELOAD = JSIPFS_DIR / "preload.cjs"
HOST = "127.0.0.1"


class DaemonError(IpfsError):
    """The daemon could not be installed, initialised or started; the message carries its log tail."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class JsIpfsDaemon:
    """One js-ipfs node with its own repository, offline, bound to loopback only."""

    def __init__(
        self,
        repo_dir: Path,
        *,
        api_port: int | None = None,
        log_path: Path | None = None,
        start_timeout: float = 90,
    ) -> None:
        self.repo_dir = Path(repo_dir)
        self.api_port = api_port or free_port()
        self.log_path = log_path or self.repo_dir.with_name(self.repo_dir.name + ".log")
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def multiaddr(self) -> str:
        return f"/ip4/{HOST}/tcp/{self.api_port}/http"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> Self:
        if not JSIPFS_BIN.exists():
            raise DaemonError(f"js-ipfs is not installed ({JSIPFS_BIN} is missing): run `make setup`")
        if not (self.repo_dir / "config").exists():
            self._run_init()
        self._bind_to_loopback()
        with open(self.log_path, "ab") as log_file:
            self._process = subprocess.Popen(
                [str(JSIPFS_BIN), "daemon", "--offline"],
                env=self._env(),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() takes node and children down together
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        log.info("js-ipfs daemon pid %s ready at %s", self.pid, self.multiaddr)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the daemon's process group, SIGKILL it if it lingers."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=timeout)
                return
            except subprocess.TimeoutExpired:
                continue

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals -----------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        node_options = f"{os.environ.get('NODE_OPTIONS', '')} --require {PRELOAD}".strip()
        return {**os.environ, "IPFS_PATH": str(self.repo_dir), "NODE_OPTIONS": node_options}

    def _run_init(self) -> None:
        self.repo_dir.parent.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [str(JSIPFS_BIN), "init", "--profile", "test"],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=self.start_timeout,
            check=False,
        )
        if result.returncode != 0:
            raise DaemonError(f"`jsipfs init` failed ({result.returncode}): {result.stderr.strip()[-2000:]}")

    def _bind_to_loopback(self) -> None:
        """Every listener on 127.0.0.1: API on our port, the others on free ports."""
        config_path = self.repo_dir / "config"
        config = json.loads(config_path.read_text())
        addresses = config.setdefault("Addresses", {})
        addresses["API"] = f"/ip4/{HOST}/tcp/{self.api_port}"
        addresses["Gateway"] = f"/ip4/{HOST}/tcp/{free_port()}"
        addresses["RPC"] = f"/ip4/{HOST}/tcp/{free_port()}"
        addresses["Swarm"] = [f"/ip4/{HOST}/tcp/{free_port()}"]
        config_path.write_text(json.dumps(config, indent=2))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        url = f"http://{HOST}:{self.api_port}/api/v0/version"
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise DaemonError(
                    f"js-ipfs daemon exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(
                    urllib.request.Request(url, method="POST"), timeout=2
                ) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise DaemonError(
            f"js-ipfs daemon did not answer on {url} within {self.start_timeout:g} s:\n{self.log_tail()}"
        )
