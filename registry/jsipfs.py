"""Run a real js-ipfs daemon (it speaks the Kubo RPC API) on 127.0.0.1 through the shared supervisor.

Used by the integration tests and by anyone who wants a real IPFS node without installing Kubo (which cannot
be installed offline here). It lives in ``registry/`` beside ``registry.supervisor`` because ``ipfs/`` imports
nothing from ``registry``; the npm folder stays in ``ipfs/jsipfs/``. js-ipfs 0.66.1 needs two fixes on Node 20
(DESIGN.md §2): the npm override of ``@multiformats/mafmt`` (in ``ipfs/jsipfs/package.json``) and
``preload.cjs``, which defines ``Promise.withResolvers`` when Node lacks it.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

import ipfs
from ipfs.errors import IpfsError
from registry import supervisor

JSIPFS_DIR = Path(ipfs.__file__).resolve().parent / "jsipfs"
JSIPFS_BIN = JSIPFS_DIR / "node_modules" / ".bin" / "jsipfs"
PRELOAD = JSIPFS_DIR / "preload.cjs"
HOST = supervisor.HOST


class DaemonError(IpfsError):
    """The daemon could not be installed, initialised or started; the message carries its log tail."""


class JsIpfsDaemon(supervisor.Supervised):
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
        self.api_port = api_port or supervisor.free_port()
        self.log_path = log_path or self.repo_dir.with_name(self.repo_dir.name + ".log")
        self.start_timeout = start_timeout
        self._daemon: supervisor.Daemon | None = None

    @property
    def multiaddr(self) -> str:
        return f"/ip4/{HOST}/tcp/{self.api_port}/http"

    def start(self) -> Self:
        """Init the repository if needed, bind it to loopback, start the daemon and wait for its API."""
        if not JSIPFS_BIN.exists():
            raise DaemonError(f"js-ipfs is not installed ({JSIPFS_BIN} is missing): run `make setup`")
        if not (self.repo_dir / "config").exists():
            self._run_init()
        self._bind_to_loopback()
        try:
            self._daemon = supervisor.start(
                [str(JSIPFS_BIN), "daemon", "--offline"],
                log_path=self.log_path,
                ready=self._answers,
                name="js-ipfs",
                pidfile=self.repo_dir / "ledgermark-daemon.json",
                facts={"api_port": self.api_port},
                env=self._env(),
                timeout_s=self.start_timeout,
            )
        except supervisor.SupervisorError as err:
            raise DaemonError(str(err)) from err
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the daemon's process group, SIGKILL it if it lingers."""
        daemon, self._daemon = self._daemon, None
        if daemon is not None:
            daemon.stop(timeout)

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
        addresses["Gateway"] = f"/ip4/{HOST}/tcp/{supervisor.free_port()}"
        addresses["RPC"] = f"/ip4/{HOST}/tcp/{supervisor.free_port()}"
        addresses["Swarm"] = [f"/ip4/{HOST}/tcp/{supervisor.free_port()}"]
        config_path.write_text(json.dumps(config, indent=2))

    def _answers(self) -> bool:
        """The readiness probe: the RPC API answers ``/api/v0/version``."""
        url = f"http://{HOST}:{self.api_port}/api/v0/version"
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=2) as reply:
                return bool(reply.status == 200)
        except (urllib.error.URLError, OSError):
            return False
