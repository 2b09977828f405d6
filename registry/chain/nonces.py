"""One nonce manager per account and chain: transactions from one key, sent by many threads and processes.

A nonce read from the node and then used is a race: two senders that read the same pending nonce send two
transactions with one nonce, and the node refuses the second ("nonce too low", "replacement transaction
underpriced"). The manager closes the race by serialising *sending* (not waiting for receipts): a thread lock
per account and chain inside a process, and an ``fcntl`` lock file in ``nonce_dir`` across processes. Under the
lock the nonce is ``max(the node's pending count, the last nonce used + 1)``: the remembered value covers a node
(or a load balancer in front of several) whose pending count lags behind a transaction just accepted. The lock
file also carries that last nonce, for the next process, and the holder's pid and command line, for whoever
waits more than ``LOCK_NOTICE_S``. A remembered nonce is trusted for ``MEMORY_S`` only: a chain that was reset
must not leave every later transaction queued behind a nonce gap.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TypeVar

from registry import supervisor
from registry.chain.errors import ChainError
from registry.chain.rpc import RpcError

log = logging.getLogger(__name__)

T = TypeVar("T")

LOCK_NOTICE_S = supervisor.LOCK_NOTICE_S
"""How long a sender waits for the account's lock (thread or file) before it says who holds it."""
MAX_SEND_ATTEMPTS = 6
"""Sends of one transaction refused for its nonce before giving up (each re-reads the pending nonce)."""
MEMORY_S = 60.0
"""How long a remembered last nonce outranks the node's pending count."""
NONCE_CONFLICTS = (
    "nonce too low",
    "replacement transaction underpriced",
    "already known",
    "already imported",
)
"""What nodes say (geth, Anvil, Ganache) when a nonce was taken by another transaction."""


class NonceError(ChainError):
    """The node kept refusing the nonces offered for one transaction."""


def is_nonce_conflict(err: RpcError) -> bool:
    """True when the node refused a transaction because its nonce is taken (by another sender, or already)."""
    message = err.rpc_message.lower()
    return any(phrase in message for phrase in NONCE_CONFLICTS)


@dataclasses.dataclass
class _Slot:
    """One account on one chain inside this process: the thread lock and the last nonce sent from here."""

    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    holder: str = ""
    last: int | None = None
    at: float = 0.0


Slots = dict[str, _Slot]
"""Slots by key: one table per lock file folder's account (module-wide), or per connection without one."""

_FILE_SLOTS: Slots = {}
_SLOTS_LOCK = threading.Lock()


def _slot(slots: Slots, key: str) -> _Slot:
    with _SLOTS_LOCK:
        return slots.setdefault(key, _Slot())


class NonceManager:
    """Serialises the sends of one account on one chain; ``send`` picks the nonce and retries conflicts.

    ``pending`` returns the node's pending transaction count for the account. With ``nonce_dir``, every
    manager of this process for the same lock file shares one thread lock and memory; without one, the
    managers sharing ``slots`` (one connection's table) do, and other processes are not serialised (the
    embedded chain, tests). Keying memory by connection, not by chain id, keeps one dev chain's nonces from
    leaking into the next one started with the same chain id. ``memory_s`` 0 ignores remembered nonces: a
    single dev node's pending count is exact, and one restarted from its state file may have lost a
    transaction that a remembered nonce would leave a gap behind.
    """

    def __init__(
        self,
        chain_id: int,
        address: str,
        pending: Callable[[], int],
        nonce_dir: Path | None = None,
        *,
        slots: Slots | None = None,
        memory_s: float = MEMORY_S,
    ) -> None:
        self.chain_id = chain_id
        self.address = address
        self._pending = pending
        self.memory_s = memory_s
        if nonce_dir is None:
            self.lock_path = None
            self._slot = _slot({} if slots is None else slots, address.lower())
        else:
            self.lock_path = Path(nonce_dir) / f"{chain_id}-{address.lower()}.lock"
            self._slot = _slot(_FILE_SLOTS, str(self.lock_path))

    def send(self, submit: Callable[[int], T]) -> tuple[int, T]:
        """Call ``submit(nonce)`` (sign and send) under the account's locks; returns the nonce and its result.

        A refusal for the nonce re-reads the pending nonce and tries the next one, ``MAX_SEND_ATTEMPTS`` times
        at most; any other error propagates and leaves the remembered nonce as it was.
        """
        with self._locked() as shared:
            floor = 0
            for _ in range(MAX_SEND_ATTEMPTS):
                nonce = max(self._pending(), floor, self._remembered(shared) + 1)
                try:
                    result = submit(nonce)
                except RpcError as err:
                    if not is_nonce_conflict(err):
                        raise
                    log.info(
                        "nonce %d of %s was taken (%s); re-reading", nonce, self.address, err.rpc_message
                    )
                    floor = nonce + 1
                    continue
                self._remember(nonce, shared)
                return nonce, result
        raise NonceError(
            f"the node refused {MAX_SEND_ATTEMPTS} nonces in a row for {self.address} on chain {self.chain_id} "
            "(another sender uses this key without Ledgermark's lock?); try again"
        )

    # -- memory ----------------------------------------------------------------------------------

    def _remembered(self, shared: IO[str] | None) -> int:
        """The last nonce sent from this account, by this process or another, while it is recent; else -1."""
        candidates = [(self._slot.last, self._slot.at)]
        if shared is not None:
            candidates.append(_read_last(shared))
        # a stamp rounded up past now (or from a clock ahead) is age 0: never trusted at memory 0
        now = time.time()
        fresh = [n for n, at in candidates if n is not None and max(0.0, now - at) < self.memory_s]
        return max(fresh, default=-1)

    def _remember(self, nonce: int, shared: IO[str] | None) -> None:
        self._slot.last, self._slot.at = nonce, time.time()
        if shared is not None:
            _write(shared, f"last {nonce} {self._slot.at:.3f}\n")

    # -- locks -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[IO[str] | None]:
        """The thread lock, then the lock file (holding our pid while we send): yields the file, or None."""
        slot = self._slot
        if not slot.lock.acquire(timeout=LOCK_NOTICE_S):
            log.warning(
                "waiting for the nonce lock of %s, held by %s", self.address, slot.holder or "a thread"
            )
            slot.lock.acquire()
        try:
            slot.holder = f"thread {threading.current_thread().name} of pid {os.getpid()}"
            if self.lock_path is None:
                yield None
                return
            with self._file_locked() as shared:
                yield shared
        finally:
            slot.holder = ""
            slot.lock.release()

    @contextlib.contextmanager
    def _file_locked(self) -> Iterator[IO[str]]:
        assert self.lock_path is not None
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.lock_path, "a+")  # noqa: SIM115 - closed below, after the unlock
        except OSError as err:
            raise ChainError(f"cannot open the nonce lock {self.lock_path}: {err}") from err
        with handle:
            supervisor.lock_exclusively(handle, "nonce lock")
            try:
                last = _read_last(handle)
                _write(
                    handle,
                    supervisor.holder_line()
                    + (f"last {last[0]} {last[1]:.3f}\n" if last[0] is not None else ""),
                )
                yield handle
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _read_last(handle: IO[str]) -> tuple[int | None, float]:
    """The ``last <nonce> <time>`` line of the lock file, or (None, 0) when absent or unreadable."""
    handle.seek(0)
    for line in handle.read(4096).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "last":
            try:
                return int(parts[1]), float(parts[2])
            except ValueError:
                break
    return None, 0.0


def _write(handle: IO[str], text: str) -> None:
    """Replace the lock file's text, keeping the holder line when only the nonce changes."""
    if text.startswith("last "):
        handle.seek(0)
        first = handle.readline(300)
        text = (first if first.startswith("pid ") else "") + text
    handle.seek(0)
    handle.truncate()
    handle.write(text)
    handle.flush()
