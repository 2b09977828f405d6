"""``GatewayStore``: read-only content from any HTTP server speaking the IPFS Trustless Gateway protocol.

https://specs.ipfs.tech/http-gateways/trustless-gateway/ : ``GET /ipfs/{cid}?format=car`` streams a DAG as a
CARv1 and ``?format=raw`` returns one block. A gateway is another party: nothing it sends is trusted. Every
block is verified against its CID by ``ContentStore`` (the walk), the CAR is read only while it follows that
walk, and every response is bounded before it is read whole: a block over ``max_block`` bytes is refused
from its ``Content-Length`` or, without one, at the first byte past the bound. Bodies are read undecoded (we
ask for ``identity``), so a compressed answer cannot inflate in memory; it simply fails verification.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import BinaryIO, NoReturn
from urllib.parse import urlsplit

import requests
from urllib3 import exceptions as urllib3_exc

from ipfs import unixfs
from ipfs.car import CarReader
from ipfs.cid import Cid
from ipfs.errors import ContentNotFoundError, IpfsError, IpfsUnavailableError
from ipfs.store import ContentStore, FileDigest, Progress

MAX_BLOCK = 2 << 20  # the largest block the IPFS network exchanges (bitswap's limit)
_READ = 64 << 10
_CAR = "application/vnd.ipld.car"
_RAW = "application/vnd.ipld.raw"
_MISSING = {404, 410, 504}  # 504: the gateway could not find the content in time

log = logging.getLogger(__name__)


class GatewayUnavailableError(IpfsUnavailableError):
    """The gateway could not be reached, or its connection broke mid-answer."""

    def __init__(self, url: str, cause: BaseException | str) -> None:
        self.address = url
        IpfsError.__init__(
            self,
            f"IPFS gateway {url} is not reachable ({cause}); check the address (--gateway, "
            "LEDGERMARK_GATEWAYS or the network profile) or leave it out",
        )


class GatewayStore(ContentStore):
    """Blocks and DAGs from one trustless gateway; it stores and pins nothing."""

    def __init__(self, url: str, *, timeout: float = 30.0, max_block: int = MAX_BLOCK) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise IpfsError(f"{url!r} is not a gateway URL: expected http(s)://host[:port]")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.max_block = max_block
        self._session = requests.Session()
        self._session.headers["Accept-Encoding"] = "identity"

    def describe(self) -> str:
        return f"gateway {self.url}"

    def close(self) -> None:
        self._session.close()

    # -- writing: refused ----------------------------------------------------------------------

    def _put_stream(
        self, stream: BinaryIO, *, profile: unixfs.ImportProfile, progress: Progress | None
    ) -> FileDigest:
        self._read_only("store content")

    def pin(self, cid: str) -> None:
        self._read_only(f"pin {cid}")

    def pins(self) -> list[str]:
        self._read_only("list pins")

    def _read_only(self, action: str) -> NoReturn:
        raise IpfsError(
            f"cannot {action} on {self.describe()}: a gateway is read-only (use --ipfs for the store that "
            "keeps and pins content)"
        )

    # -- reading -------------------------------------------------------------------------------

    def has(self, cid: str) -> bool:
        parsed = Cid.parse(cid)
        with self._request("HEAD", parsed, _RAW, stream=False) as response:
            if response.status_code in _MISSING:
                return False
            self._expect_ok(response, str(parsed))
        return True

    def _get_block(self, cid: Cid, root: str) -> bytes:
        with self._request("GET", cid, _RAW, root=root) as response:
            self._expect_ok(response, root)
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_block:
                self._too_big(cid, root)
            data = bytearray()
            for chunk in self._chunks(response, root):
                data += chunk
                if len(data) > self.max_block:
                    self._too_big(cid, root)
        return bytes(data)

    @contextlib.contextmanager
    def _block_source(self, root: str) -> Iterator[Callable[[Cid], bytes]]:
        """Blocks from one CAR while it follows the walk, single ``format=raw`` requests otherwise."""
        with self._request("GET", Cid.parse(root), _CAR, root=root) as response:
            if response.status_code in _MISSING:
                self._expect_ok(response, root)
            car = None
            if response.status_code == 200:
                car = CarReader(self._chunks(response, root), max_section=self.max_block + 64)
            else:  # a gateway without CAR support still serves blocks
                log.info(
                    "%s answered %s for a CAR of %s; asking block by block",
                    self.url,
                    response.status_code,
                    root,
                )

            def get(node: Cid) -> bytes:
                block = car.take(node) if car is not None and car.live else None
                return block if block is not None else self._get_block(node, root)

            try:
                yield get
            finally:
                if car is not None:
                    car.close()

    # -- HTTP ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _request(
        self, method: str, cid: Cid, accept: str, *, root: str | None = None, stream: bool = True
    ) -> Iterator[requests.Response]:
        fmt = "car" if accept == _CAR else "raw"
        try:
            response = self._session.request(
                method,
                f"{self.url}/ipfs/{cid}",
                params={"format": fmt},
                headers={"Accept": accept},
                timeout=self.timeout,
                stream=stream,
                allow_redirects=False,
            )
        except requests.Timeout as err:
            raise ContentNotFoundError(
                root or str(cid), f"{self.describe()} within {self.timeout:g} s"
            ) from err
        except requests.RequestException as err:
            raise GatewayUnavailableError(self.url, _first_line(err)) from err
        with response:
            yield response

    def _chunks(self, response: requests.Response, root: str) -> Iterator[bytes]:
        """The body as it arrives, undecoded; a broken connection is the gateway's failure, named."""
        try:
            yield from response.raw.stream(_READ, decode_content=False)
        except urllib3_exc.ReadTimeoutError as err:  # urllib3's errors arrive unwrapped while streaming
            raise ContentNotFoundError(root, f"{self.describe()} within {self.timeout:g} s") from err
        except (urllib3_exc.HTTPError, OSError) as err:
            raise GatewayUnavailableError(self.url, _first_line(err)) from err

    def _expect_ok(self, response: requests.Response, cid: str) -> None:
        if response.status_code == 200:
            return
        if response.status_code in _MISSING:
            raise ContentNotFoundError(cid, f"{self.describe()} (HTTP {response.status_code})")
        raise IpfsError(f"{self.describe()} answered HTTP {response.status_code} for {cid}")

    def _too_big(self, cid: Cid, root: str) -> NoReturn:
        raise IpfsError(
            f"{self.describe()} sent more than {self.max_block} bytes for block {cid} of {root}: no block is "
            "that large; refused unread"
        )


def _first_line(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text.splitlines()[0][:200]
