"""The real local chains, Anvil and Ganache, run through the shared supervisor (``registry.supervisor``).

Their configuration (dev mnemonic, chain id 1337, hardfork, account count and balance, each node's argv) lives
in ``ganache/localchain.json``, shipped as package data of ``registry.chain``; nothing here repeats it.
Binaries are found by ``find_binary``: the ``LEDGERMARK_<NODE>_BIN`` variable when set (an explicit choice
wins), else the project's npm folder ``ganache/node_modules/.bin``, else ``PATH``.

The default persistent chain is Anvil with its state in a file of the data dir (``docs/results/default_chain.md``
has the measurement behind that choice). Anvil keeps state in memory, so ``StateSavingTransport`` asks it for
``anvil_dumpState`` whenever a transaction receipt names a new block and replaces the file atomically: a
record reported published is on disk before the command says so, and a SIGKILL at any moment leaves the
previous complete state.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import importlib.resources
import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from registry import supervisor
from registry.chain.errors import ChainError, ChainUnavailableError
from registry.chain.rpc import DEFAULT_TIMEOUT_S, HttpTransport

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "ganache" / "node_modules"
PIDFILE_NAME = "node.json"
STATE_MAX_BYTES = 1 << 30
"""Bound on a state dump's reply (a dev chain's whole state; far above any the CLI makes)."""


class DevChainError(ChainError):
    """A local chain could not be found, started or stopped; the message says why and what to do."""


@functools.cache
def config() -> dict[str, Any]:
    """The local-chain configuration, ``registry/chain/localchain.json`` (-> ``ganache/localchain.json``)."""
    return json.loads((importlib.resources.files("registry.chain") / "localchain.json").read_text())


DEV_MNEMONIC: str = config()["mnemonic"]
DEV_CHAIN_ID: int = config()["chain_id"]
DEV_ACCOUNT_COUNT: int = config()["accounts"]
HOST: str = config()["host"]


def dev_accounts(count: int = DEV_ACCOUNT_COUNT) -> list[LocalAccount]:
    """The first ``count`` accounts of the dev wallet (BIP-44 m/44'/60'/0'/0/i: derive only what you use).

    eth-account is imported here, not at the top: reads never need a key, and importing it is most of a chain
    command's start-up.
    """
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return [Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)]


def find_binary(kind: str) -> Path:
    """The executable of node ``kind``: ``$LEDGERMARK_<KIND>_BIN``, else the npm folder, else ``PATH``."""
    spec = config()["nodes"][kind]
    variable, name = spec["env"], spec["binary"]
    explicit = os.environ.get(variable)
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise DevChainError(f"{variable}={explicit} (environment) is not an executable file")
    npm = NODE_MODULES / ".bin" / name
    if npm.is_file() and os.access(npm, os.X_OK):
        return npm
    found = shutil.which(name)
    if found:
        return Path(found)
    raise DevChainError(
        f"{kind} not found: looked in {variable} (environment, unset), the project's npm folder {npm.parent} "
        f"and PATH; install it with {spec['install']}, or set {variable} to its path"
    )


def chain_id_at(url: str, timeout_s: float = 1.0) -> int | None:
    """``eth_chainId`` of the node at ``url``, or None when nothing answers."""
    try:
        return int(_rpc(url, "eth_chainId", [], timeout_s=timeout_s), 16)
    except (ChainError, ValueError, TypeError, AttributeError):
        return None


class LocalNode(supervisor.Supervised):
    """One local chain process. Use as a context manager, or ``start()``/``stop()`` explicitly."""

    kind: ClassVar[str] = "node"
    data_name: ClassVar[str] = "data"  # the data file or folder ``managed`` puts in the data dir

    def __init__(
        self,
        data_path: Path | None = None,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        pidfile: Path | None = None,
        startup_timeout_s: float = 30.0,
        die_with_parent: bool = False,
    ) -> None:
        self.data_path = Path(data_path) if data_path is not None else None
        self.port = port
        self.log_path = Path(log_path) if log_path is not None else None
        self.pidfile = Path(pidfile) if pidfile is not None else None
        self.startup_timeout_s = startup_timeout_s
        self.die_with_parent = die_with_parent
        self._daemon: supervisor.Daemon | None = None
        self._own_log = False

    @property
    def url(self) -> str:
        if self.port is None:
            raise DevChainError(f"{self.kind} has no port yet: start it first")
        return f"http://{HOST}:{self.port}"

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
        """The key of dev account 0, the default signer (derived alone: each derivation is a PBKDF2 + BIP-32 walk)."""
        return dev_accounts(1)[0].key.to_0x_hex()

    def command(self) -> list[str]:
        """The argv from ``localchain.json``, with the data argument when there is data to use."""
        cfg, spec = config(), config()["nodes"][self.kind]
        values = {**cfg, "host": HOST, "port": self.port, "data": self.data_path}
        argv = [str(find_binary(self.kind))] + [a.format(**values) for a in spec["argv"]]
        if self._uses_data():
            argv += [a.format(**values) for a in spec["data_argv"]]
        return argv

    def start(self) -> Self:
        """Start the process and wait until ``eth_chainId`` answers; ``DevChainError`` carries the log tail."""
        if self.is_running():
            return self
        find_binary(self.kind)  # fail on a missing binary before anything is created
        self.port = self.port or supervisor.free_port()
        argv = self.command()
        if self.data_path is not None:
            self.data_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._daemon = supervisor.start(
                argv,
                log_path=self._log_path(),
                ready=lambda: chain_id_at(self.url, timeout_s=0.5) is not None,
                name=self.kind,
                pidfile=self.pidfile,
                facts={
                    "port": self.port,
                    "url": self.url,
                    "chain_id": self.chain_id,
                    "data_path": str(self.data_path) if self.data_path else None,
                },
                cwd=ROOT if ROOT.is_dir() else None,
                timeout_s=self.startup_timeout_s,
                die_with_parent=self.die_with_parent,
            )
        except supervisor.SupervisorError as err:
            raise DevChainError(str(err)) from err
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM the node's process group, SIGKILL after ``timeout_s``; idempotent."""
        if self._daemon is not None:
            self._daemon.stop(timeout_s)
            self._daemon = None
        if self._own_log and self.log_path is not None:
            with contextlib.suppress(OSError):
                self.log_path.unlink()

    def transport(self) -> HttpTransport:
        """JSON-RPC to this node (Anvil's saves its state file on every receipt of a new block)."""
        return HttpTransport(self.url)

    @classmethod
    def managed(cls, data_dir: Path, *, port: int | None = None, die_with_parent: bool = False) -> Self:
        """A node whose data, log and pidfile all live in ``data_dir`` (not started yet)."""
        data_dir = Path(data_dir)
        return cls(
            data_dir / cls.data_name,
            port=port,
            log_path=data_dir / f"{cls.kind}.log",
            pidfile=data_dir / PIDFILE_NAME,
            die_with_parent=die_with_parent,
        )

    @classmethod
    def find_running(cls, data_dir: Path) -> Self | None:
        """The node in ``data_dir``'s pidfile if that very process runs and answers; else None."""
        daemon = supervisor.find_running(Path(data_dir) / PIDFILE_NAME, cls.kind)
        if daemon is None or chain_id_at(str(daemon.facts.get("url")), timeout_s=2.0) is None:
            return None
        node = cls.managed(Path(data_dir), port=int(daemon.facts["port"]))
        node._daemon = daemon
        return node

    def _uses_data(self) -> bool:
        return self.data_path is not None

    def _log_path(self) -> Path:
        if self.log_path is None:
            self.log_path = (
                Path(os.environ.get("TMPDIR", "/tmp"))
                / f"ledgermark-{self.kind}-{os.getpid()}-{id(self)}.log"
            )
            self._own_log = True
        return self.log_path


class GanacheNode(LocalNode):
    """Ganache 7.9.2: its LevelDB database in ``data_path`` (``--database.dbPath``), shanghai EVM; ~1 s to start."""

    kind = "ganache"
    data_name = "ganache-db"

    def start(self) -> Self:
        if self.data_path is not None:
            self.data_path.mkdir(parents=True, exist_ok=True)
        return super().start()


class AnvilNode(LocalNode):
    """Anvil 1.7.1 (the default managed chain; its start-up cost is in docs/results/default_chain.md); loads ``data_path`` when it exists."""

    kind = "anvil"
    data_name = "anvil-state.json"

    @property
    def state_path(self) -> Path | None:
        return self.data_path

    def _uses_data(self) -> bool:
        return self.data_path is not None and self.data_path.exists()

    def transport(self) -> HttpTransport:
        if self.data_path is None:
            return super().transport()
        return StateSavingTransport(self.url, self.data_path)

    def start(self) -> Self:
        """Start, then set the clock to now (never back in time): see ``_set_clock``."""
        super().start()
        try:
            self._set_clock()
        except (ChainError, ValueError, KeyError, TypeError) as err:
            self.stop()
            raise DevChainError(f"anvil at {self.url} did not accept anvil_setTime: {err}") from err
        return self

    def _set_clock(self) -> None:
        """Blocks get wall-clock times again, after the latest loaded block.

        The genesis timestamp is pinned in ``localchain.json``: Anvil re-creates block 0 at each start, and
        with a new timestamp its hash would change, so a reloaded chain would no longer match its own history
        (nor the deployment book, which is keyed by genesis hash). Pinning it leaves the clock at that date.
        """
        latest = _rpc(self.url, "eth_getBlockByNumber", ["latest", False])
        now = max(int(time.time()), int(latest["timestamp"], 16))
        _rpc(self.url, "anvil_setTime", [now])

    def save_state(self) -> None:
        """Write the node's whole state to ``data_path`` now (atomically; see ``save_state``)."""
        if self.data_path is None:
            raise DevChainError("this anvil has no state file to save to")
        save_state(self.url, self.data_path)


def _rpc(url: str, method: str, params: list[Any], *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Any:
    """One JSON-RPC request on its own connection (node start-up, clock, state dumps)."""
    transport = HttpTransport(url, timeout_s=timeout_s, max_response_bytes=STATE_MAX_BYTES)
    try:
        return transport.request(method, params)
    finally:
        transport.close()


def save_state(url: str, state_path: Path) -> None:
    """``anvil_dumpState`` into ``state_path``: temp file, fsync, rename (the old state or the new, never half)."""
    try:
        packed = bytes.fromhex(_rpc(url, "anvil_dumpState", []).removeprefix("0x"))
    except ChainUnavailableError:
        raise
    except (ChainError, ValueError, TypeError, AttributeError) as err:
        raise ChainUnavailableError(url, err) from err
    data = gzip.decompress(packed) if packed[:2] == b"\x1f\x8b" else packed
    tmp = state_path.with_name(f".{state_path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, state_path)


class StateSavingTransport(HttpTransport):
    """HTTP to an Anvil whose state lives in a file: it saves the state when a block matters.

    Every transaction receipt for a block above the last one saved triggers a save, before the receipt reaches
    the caller, so nothing is reported that is not on disk. Blocks made without transactions (``evm_mine``,
    time travel) only mark the state dirty: they are saved with the next receipt, or by ``flush`` when the
    command ends, which spares a publish one save per block of commitment age. Reads and web3's writes share
    this one transport (``registry.chain.signer.TransportProvider``), so every request passes here.
    """

    _BLOCK_MAKERS = frozenset({"evm_mine", "anvil_mine", "evm_increaseTime", "evm_setNextBlockTimestamp"})

    def __init__(self, url: str, state_path: Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(url, timeout_s=timeout_s)
        self.state_path = Path(state_path)
        self._saved_block = -1
        self._dirty = False

    def exchange(self, method: str, params: list[Any]) -> dict[str, Any]:
        response = super().exchange(method, params)
        result = response.get("result") if "error" not in response else None
        if method in self._BLOCK_MAKERS and "error" not in response:
            self._dirty = True
        elif method == "eth_getTransactionReceipt" and isinstance(result, dict):
            block = int(str(result.get("blockNumber") or "0x0"), 16)
            if block > self._saved_block or self._dirty:
                self._save()
                self._saved_block = max(block, self._saved_block)
        return response

    def flush(self) -> None:
        """Save what is not saved yet (blocks mined without a transaction since the last save)."""
        if self._dirty:
            self._save()

    def _save(self) -> None:
        save_state(self.url, self.state_path)
        self._dirty = False


NODES: dict[str, type[LocalNode]] = {"anvil": AnvilNode, "ganache": GanacheNode}


def default_node_class() -> type[LocalNode]:
    """The node class ``localchain.json`` names as the default managed chain."""
    return NODES[config()["default_node"]]
