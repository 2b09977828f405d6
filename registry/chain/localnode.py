"""Launchers for the real local chains: Ganache 7.9.2 and Anvil 1.7.1 from ``ganache/node_modules``.

Both start on 127.0.0.1 (a chosen or a free port) with the same deterministic wallet (``DEV_MNEMONIC``, ten
accounts of 1000 ETH each) and chain id 1337, so the dev keys are known without asking the node. Ganache keeps
its database in ``db_path`` (``--database.dbPath``); Anvil loads and dumps ``state_path`` (``--state``).

A node runs in its own process group and is stopped by process id only (SIGTERM to the group, then SIGKILL):
never by name, so parallel test runs and other users' nodes are left alone. With ``pidfile`` set, the pid and
port are written to a small JSON file so a later process can find the node (``find_running``) and reuse or
stop it; that is how ``ledgermark chain start``/``stop`` keep one Ganache across commands.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount

from registry.chain.errors import ChainError

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "ganache" / "node_modules"
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_CHAIN_ID = 1337
DEV_ACCOUNT_COUNT = 10
DEV_BALANCE_ETH = 1000
HOST = "127.0.0.1"
PIDFILE_NAME = "node.json"


class DevChainError(ChainError):
    """A local chain could not be started, found or stopped; the message carries the log tail."""


def dev_accounts(count: int = DEV_ACCOUNT_COUNT) -> list[LocalAccount]:
    """The first ``count`` accounts of the dev wallet: BIP-44 m/44'/60'/0'/0/i of ``DEV_MNEMONIC`` (~30 ms each)."""
    Account.enable_unaudited_hdwallet_features()
    return [Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)]


def free_port() -> int:
    """A port that was free a moment ago (the node binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def chain_id_at(url: str, timeout_s: float = 1.0) -> int | None:
    """``eth_chainId`` of the node at ``url``, or None when nothing answers."""
    try:
        reply = requests.post(
            url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=timeout_s
        )
        return int(reply.json()["result"], 16)
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None


class LocalNode:
    """One local chain process. Use as a context manager, or ``start()``/``stop()`` explicitly."""

    kind: ClassVar[str] = "node"
    binary_name: ClassVar[str] = ""

    def __init__(
        self,
        data_path: Path | None = None,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        pidfile: Path | None = None,
        startup_timeout_s: float = 30.0,
    ) -> None:
        self.data_path = Path(data_path) if data_path is not None else None
        self.port = port
        self.log_path = Path(log_path) if log_path is not None else None
        self.pidfile = Path(pidfile) if pidfile is not None else None
        self.startup_timeout_s = startup_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        self._own_log = False

    # -- identity ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise DevChainError(f"{self.kind} has no port yet: start it first")
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def chain_id(self) -> int:
        return DEV_CHAIN_ID

    @property
    def accounts(self) -> list[LocalAccount]:
        return dev_accounts()

    @property
    def private_keys(self) -> list[str]:
        return [a.key.to_0x_hex() for a in self.accounts]

    @property
    def first_key(self) -> str:
        """The key of dev account 0, the default signer (derived alone: deriving all ten costs ~0.3 s)."""
        return dev_accounts(1)[0].key.to_0x_hex()

    # -- lifecycle -----------------------------------------------------------------------------

    def command(self) -> list[str]:
        """The argv that starts this node on ``self.port``."""
        raise NotImplementedError

    def start(self) -> Self:
        """Start the process and wait until ``eth_chainId`` answers; raise ``DevChainError`` with the log tail."""
        if self.is_running():
            return self
        binary = NODE_MODULES / ".bin" / self.binary_name
        if not binary.exists():
            raise DevChainError(
                f"{binary} is missing: run `make setup` to install the npm packages in ganache/"
            )
        if self.port is None:
            self.port = free_port()
        self._prepare_data()
        log = self._open_log()
        try:
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() signals exactly this tree
                cwd=ROOT,
            )
        finally:
            log.close()
        self._pid = self._proc.pid
        self._wait_ready()
        self._write_pidfile()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM the node's process group, SIGKILL after ``timeout_s``; idempotent."""
        pid = self._pid
        if pid is not None:
            _signal_group(pid, signal.SIGTERM)
            if not self._wait_exit(timeout_s):
                _signal_group(pid, signal.SIGKILL)
                self._wait_exit(5.0)
        self._pid = None
        self._proc = None
        self._remove_pidfile()
        if self._own_log and self.log_path is not None:
            with contextlib.suppress(OSError):
                self.log_path.unlink()

    def is_running(self) -> bool:
        """True while the process lives (it may still be starting)."""
        if self._proc is not None:
            return self._proc.poll() is None
        return self._pid is not None and _alive(self._pid)

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:]) or "(empty log)"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- reuse across processes ----------------------------------------------------------------

    @classmethod
    def managed(cls, data_dir: Path, *, port: int | None = None) -> LocalNode:
        """A node whose data, log and pidfile all live in ``data_dir`` (not started yet)."""
        raise NotImplementedError

    @classmethod
    def find_running(cls, data_dir: Path) -> LocalNode | None:
        """The node recorded in ``data_dir``'s pidfile if it still runs and answers; else None (stale file removed)."""
        pidfile = Path(data_dir) / PIDFILE_NAME
        info = _read_json(pidfile)
        if not info or info.get("kind") != cls.kind:
            return None
        node = cls.managed(Path(data_dir), port=int(info["port"]))
        node._pid = int(info["pid"])
        if (
            _alive(node._pid)
            and _is_our_process(node._pid, cls.binary_name)
            and chain_id_at(node.url) is not None
        ):
            return node
        with contextlib.suppress(OSError):
            pidfile.unlink()
        return None

    # -- internals -----------------------------------------------------------------------------

    def _prepare_data(self) -> None:
        if self.data_path is not None:
            self.data_path.parent.mkdir(parents=True, exist_ok=True)

    def _open_log(self) -> Any:
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix=f"ledgermark-{self.kind}-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
            self._own_log = True
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        return open(self.log_path, "ab")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if not self.is_running():
                code = self._proc.returncode if self._proc is not None else "?"
                tail = self.log_tail()
                self.stop()
                raise DevChainError(f"{self.kind} exited with code {code} during start-up; log tail:\n{tail}")
            if chain_id_at(self.url, timeout_s=0.5) is not None:
                return
            time.sleep(0.05)
        tail = self.log_tail()
        self.stop()
        raise DevChainError(
            f"{self.kind} did not answer eth_chainId at {self.url} within {self.startup_timeout_s:.0f} s; "
            f"log tail:\n{tail}"
        )

    def _wait_exit(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None:
                if self._proc.poll() is not None:
                    return True
            elif self._pid is None or not _alive(self._pid):
                return True
            time.sleep(0.05)
        return False

    def _write_pidfile(self) -> None:
        if self.pidfile is None:
            return
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        info = {
            "kind": self.kind,
            "pid": self._pid,
            "port": self.port,
            "url": self.url,
            "chain_id": self.chain_id,
            "data_path": str(self.data_path) if self.data_path else None,
            "log_path": str(self.log_path) if self.log_path else None,
            "started_at": int(time.time()),
        }
        tmp = self.pidfile.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.pidfile)

    def _remove_pidfile(self) -> None:
        if self.pidfile is None:
            return
        info = _read_json(self.pidfile)
        if info is not None and info.get("port") == self.port:
            with contextlib.suppress(OSError):
                self.pidfile.unlink()


class GanacheNode(LocalNode):
    """Ganache 7.9.2 (the default managed chain): persistent database in ``db_path``, shanghai EVM."""

    kind = "ganache"
    binary_name = "ganache"

    def __init__(
        self,
        db_path: Path | None = None,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        pidfile: Path | None = None,
        startup_timeout_s: float = 30.0,
    ) -> None:
        super().__init__(
            db_path, port=port, log_path=log_path, pidfile=pidfile, startup_timeout_s=startup_timeout_s
        )

    @property
    def db_path(self) -> Path | None:
        return self.data_path

    def command(self) -> list[str]:
        cmd = [
            str(NODE_MODULES / ".bin" / "ganache"),
            "--server.host",
            HOST,
            "--server.port",
            str(self.port),
            "--chain.chainId",
            str(DEV_CHAIN_ID),
            "--chain.hardfork",
            "shanghai",
            "--wallet.mnemonic",
            DEV_MNEMONIC,
            "--wallet.totalAccounts",
            str(DEV_ACCOUNT_COUNT),
            "--wallet.defaultBalance",
            str(DEV_BALANCE_ETH),
            "--logging.quiet",
            "false",
        ]
        if self.data_path is not None:
            cmd += ["--database.dbPath", str(self.data_path)]
        return cmd

    def _prepare_data(self) -> None:
        if self.data_path is not None:
            self.data_path.mkdir(parents=True, exist_ok=True)

    @classmethod
    def managed(cls, data_dir: Path, *, port: int | None = None) -> GanacheNode:
        data_dir = Path(data_dir)
        return cls(
            data_dir / "ganache-db",
            port=port,
            log_path=data_dir / "ganache.log",
            pidfile=data_dir / PIDFILE_NAME,
        )


class AnvilNode(LocalNode):
    """Anvil 1.7.1: fast; with ``state_path`` it loads the state at start and dumps it on exit."""

    kind = "anvil"
    binary_name = "anvil"

    def __init__(
        self,
        state_path: Path | None = None,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        pidfile: Path | None = None,
        startup_timeout_s: float = 30.0,
    ) -> None:
        super().__init__(
            state_path, port=port, log_path=log_path, pidfile=pidfile, startup_timeout_s=startup_timeout_s
        )

    @property
    def state_path(self) -> Path | None:
        return self.data_path

    def command(self) -> list[str]:
        cmd = [
            str(NODE_MODULES / ".bin" / "anvil"),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--chain-id",
            str(DEV_CHAIN_ID),
            "--hardfork",
            "shanghai",
            "--mnemonic",
            DEV_MNEMONIC,
            "--accounts",
            str(DEV_ACCOUNT_COUNT),
            "--balance",
            str(DEV_BALANCE_ETH),
        ]
        if self.data_path is not None:
            cmd += ["--state", str(self.data_path)]
        return cmd

    @classmethod
    def managed(cls, data_dir: Path, *, port: int | None = None) -> AnvilNode:
        data_dir = Path(data_dir)
        return cls(
            data_dir / "anvil-state.json",
            port=port,
            log_path=data_dir / "anvil.log",
            pidfile=data_dir / PIDFILE_NAME,
        )


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group led by ``pid`` (nodes start in their own session), or just ``pid``."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _is_our_process(pid: int, binary_name: str) -> bool:
    """Guard against a recycled pid: the process's command line must name the node binary."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return True  # no /proc: trust the pid and the eth_chainId answer
    return binary_name in cmdline


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
