"""``Follower``: the service's background thread that keeps its ``RecordIndex`` at the confirmed head.

One sync every ``interval_s`` (sooner after a sync that had work left: a large backlog is read in a row). A
failed sync (node down, store down) is logged and tried again on the next tick; ``RecordIndex.status`` carries
the last error for the readiness check. The thread stops when the service does.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.index.store import RecordIndex

if TYPE_CHECKING:
    from registry.backends import Backends

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 1.0
MANIFESTS_PER_SYNC = 2_000
"""Bound on the manifests fetched by one sync, so that a backlog never starves the chain's next blocks."""


class Follower:
    def __init__(
        self,
        index: RecordIndex,
        backends: Backends,
        *,
        lock: contextlib.AbstractContextManager[Any] | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        self.index = index
        self.backends = backends
        self.lock = lock
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ledgermark-index", daemon=True)

    def start(self) -> Follower:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask the thread to stop and wait for the sync in progress to finish."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                busy = self._tick()
                self._stop.wait(0 if busy else self.interval_s)
        finally:
            self.index.close()

    def _tick(self) -> bool:
        """One sync; True when it stopped with work left (manifests due at its bound)."""
        try:
            report = self.index.sync(self.backends, lock=self.lock, max_manifests=MANIFESTS_PER_SYNC)
        except Exception as err:  # noqa: BLE001 - the next tick retries; the status shows the error
            log.warning("index sync failed: %s", err)
            return False
        if report.records_added or report.reorgs:
            log.info("index: +%d records to block %d", report.records_added, report.to_block)
        return report.manifests_fetched + report.manifests_missing >= MANIFESTS_PER_SYNC


@contextlib.contextmanager
def following(
    backends: Backends, path: Path, *, lock: contextlib.AbstractContextManager[Any] | None = None
) -> Iterator[RecordIndex]:
    """The index at ``path``, kept synced by a ``Follower`` for as long as the block runs (the service's life)."""
    index = RecordIndex.open(path)
    follower = Follower(index, backends, lock=lock).start()
    try:
        yield index
    finally:
        follower.stop()
        index.close()
