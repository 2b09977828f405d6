"""``KuboStore``: content on any node that speaks the Kubo RPC API (Kubo, or js-ipfs in tests).

Transport only: encoding and verification live in ``unixfs`` and ``ContentStore.get_file``, which re-hashes
what the node returns. Built on ``ipfshttpclient.Client(addr)`` rather than ``connect()``, whose version check
rejects every Kubo since 0.8. Every call carries a timeout: asking a node for a block it does not have waits
forever otherwise.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipfshttpclient
from ipfshttpclient import exceptions as ipfs_exc

from ipfs.cid import Cid
from ipfs.errors import ContentNotFoundError, IpfsError, IpfsUnavailableError
from ipfs.store import ContentStore, Progress

DEFAULT_ADDR = "/ip4/127.0.0.1/tcp/5001/http"
_CHUNK = 1 << 20


class KuboStore(ContentStore):
    def __init__(self, addr: str = DEFAULT_ADDR, *, timeout: float = 30.0) -> None:
        self.addr = addr
        self.timeout = timeout
        try:
            self._client = ipfshttpclient.Client(addr, timeout=timeout)
        except ipfs_exc.AddressError as err:
            raise IpfsError(f"{addr!r} is not a usable IPFS RPC multiaddr: {err}") from err

    def describe(self) -> str:
        return f"Kubo RPC at {self.addr}"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()

    # -- writing -------------------------------------------------------------------------------

    def add_file(self, path: Path, *, cid_version: int = 0, progress: Progress | None = None) -> str:
        with open(path, "rb") as stream:
            cid = self._add(_CountingReader(stream, progress) if progress else stream, cid_version)
        return cid

    def _add_stream(self, stream: io.BufferedIOBase, *, cid_version: int) -> str:
        return self._add(stream, cid_version)

    def _add(self, stream: Any, cid_version: int) -> str:
        with self._translated("add"):
            result = self._client.add(
                stream, cid_version=cid_version, raw_leaves=cid_version == 1, pin=True, timeout=self.timeout
            )
        return str(Cid.parse(str(result["Hash"])))  # canonical string form, whatever base the node prints

    def pin(self, cid: str) -> None:
        with self._translated("pin", cid):
            self._client.pin.add(cid, timeout=self.timeout)

    def pins(self) -> list[str]:
        with self._translated("pin ls"):
            listed = self._client.pin.ls(type="recursive", timeout=self.timeout)
        return sorted(str(Cid.parse(key)) for key in listed["Keys"].as_json())

    # -- reading -------------------------------------------------------------------------------

    def has(self, cid: str) -> bool:
        Cid.parse(cid)
        try:
            with self._translated("block stat", cid):
                self._client.block.stat(cid, offline=True, timeout=self.timeout)
        except ContentNotFoundError:
            return False
        return True

    def _read(self, cid: str) -> Iterator[bytes]:
        Cid.parse(cid)
        with self._translated("cat", cid):
            yield from self._client.cat(cid, stream=True, timeout=self.timeout)

    @contextlib.contextmanager
    def _translated(self, action: str, cid: str | None = None) -> Iterator[None]:
        """Map the client's exceptions to ours: unreachable, not found, or any other node error."""
        try:
            yield
        except (ipfs_exc.ConnectionError, ipfs_exc.TimeoutError) as err:
            if cid is not None and isinstance(err, ipfs_exc.TimeoutError):
                raise ContentNotFoundError(cid, f"{self.describe()} within {self.timeout:g} s") from err
            raise IpfsUnavailableError(self.addr, _first_line(err)) from err
        except ipfs_exc.ErrorResponse as err:
            if cid is not None and _means_missing(str(err)):
                raise ContentNotFoundError(cid, self.describe()) from err
            raise IpfsError(f"IPFS node at {self.addr} refused {action}: {err}") from err
        except ipfs_exc.Error as err:
            raise IpfsError(f"IPFS {action} via {self.addr} failed: {err}") from err


class _CountingReader:
    """Reports bytes as the client streams the file up (a progress bar for uploads)."""

    def __init__(self, stream: io.BufferedIOBase, progress: Progress) -> None:
        self._stream = stream
        self._progress = progress
        self.name = getattr(stream, "name", "file")

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n if n and n > 0 else _CHUNK)
        if data:
            self._progress(len(data))
        return data

    def fileno(self) -> int:  # ipfshttpclient probes for it; refusing keeps it on the read() path
        raise io.UnsupportedOperation("fileno")


def _means_missing(message: str) -> bool:
    lowered = message.lower()
    return any(
        s in lowered for s in ("not found", "blockservice: key not found", "no link named", "could not find")
    )


def _first_line(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text.splitlines()[0][:200]
