"""JSON-RPC transports: how ``registry.chain`` talks to a node, without web3.

Reads need only ``eth_call``, ``eth_getLogs``, ``eth_getCode``, ``eth_getBlockByNumber`` and ``eth_chainId``: a
request and a reply. They go through a ``Transport``, so a read-only command never imports web3, eth-account or
their BLS tables (~1 s of start-up): ``HttpTransport`` (the standard library's ``http.client``, which also
spares the ~0.08 s that importing ``requests`` costs) for Ganache, Anvil and any node URL, or
``ProviderTransport`` over a web3 provider a caller already holds (the in-process EVM). Transactions reuse the
same transport under web3 (``registry.chain.signer``), so one RPC policy covers reads and writes: a node that
cannot be reached is ``ChainUnavailableError`` naming the URL, a JSON-RPC error is ``RpcError``.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import threading
import urllib.parse
from typing import Any

from registry.chain.errors import ChainError, ChainUnavailableError
from verifier.integrity import documents

MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""Bound on one reply, checked before JSON parsing: a node (or something posing as one) cannot exhaust memory."""

DEFAULT_TIMEOUT_S = 30.0


class RpcError(ChainError):
    """The node answered with a JSON-RPC error; ``data`` carries revert data when a call reverted."""

    def __init__(self, url: str, method: str, error: Any) -> None:
        error = error if isinstance(error, dict) else {"message": str(error)}
        self.code = error.get("code")
        self.rpc_message = str(error.get("message", ""))
        self.data = error.get("data")
        super().__init__(f"{method} at {url} failed: {self.rpc_message} (JSON-RPC error {self.code})")

    @property
    def revert_data(self) -> bytes | None:
        return revert_payload(self.data)

    @property
    def is_revert(self) -> bool:
        return self.code == 3 or "revert" in self.rpc_message.lower() or bool(self.revert_data)


def revert_payload(data: Any) -> bytes | None:
    """Revert data as nodes report it: a hex string (geth, Anvil) or a dict with ``result``/``data`` (Ganache)."""
    if isinstance(data, dict):
        data = data.get("result") or data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return None
    return None


class Transport:
    """One JSON-RPC endpoint. ``exchange`` returns the whole reply; ``request`` its result or raises."""

    url: str

    def exchange(self, method: str, params: list[Any]) -> dict[str, Any]:
        raise NotImplementedError

    def request(self, method: str, params: list[Any] | None = None) -> Any:
        """The ``result`` of ``method``; ``RpcError`` when the node answered with an error."""
        reply = self.exchange(method, list(params or []))
        if "error" in reply:
            raise RpcError(self.url, method, reply["error"])
        return reply.get("result")

    def close(self) -> None:
        """Release connections (nothing to do for most transports)."""


class HttpTransport(Transport):
    """JSON-RPC over HTTP(S) with ``http.client``: one kept-alive connection, a timeout, a bound on the reply.

    A lock serialises requests on the one connection, so threads may share a transport (one at a time).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        try:
            self._port = parts.port
        except ValueError as err:
            raise ChainError(f"{url} is not a JSON-RPC URL: {err}") from err
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ChainError(f"{url} is not an http:// or https:// JSON-RPC URL")
        self.url = url
        self.timeout_s = timeout_s
        self.max_response_bytes = max_response_bytes
        self._parts = parts
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if parts.username is not None:
            login = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            self._headers["Authorization"] = "Basic " + base64.b64encode(login.encode()).decode()
        self._conn: http.client.HTTPConnection | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def exchange(self, method: str, params: list[Any]) -> dict[str, Any]:
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        body = json.dumps(payload).encode()
        with self._lock:
            status, data = self._send(body, method)
        return _parse_reply(data, status, self.url, method)

    def _send(self, body: bytes, method: str) -> tuple[int, bytes]:
        reused = self._conn is not None
        try:
            return self._post(body, method)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as err:
            self.close()
            if not reused:  # a fresh connection that fails is a node that is down
                raise ChainUnavailableError(self.url, err) from err
            return self._retry(body, method)  # the node closed an idle kept-alive connection
        except (OSError, http.client.HTTPException) as err:
            self.close()
            raise ChainUnavailableError(self.url, err) from err

    def _retry(self, body: bytes, method: str) -> tuple[int, bytes]:
        try:
            return self._post(body, method)
        except (OSError, http.client.HTTPException) as err:
            self.close()
            raise ChainUnavailableError(self.url, err) from err

    def _post(self, body: bytes, method: str) -> tuple[int, bytes]:
        conn = self._connection()
        conn.request("POST", self._target, body, self._headers)
        reply = conn.getresponse()
        data = self._bounded_body(reply, method)
        if reply.will_close:
            self.close()
        return reply.status, data

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            host, port = self._parts.hostname, self._port
            if self._parts.scheme == "https":
                import ssl  # only for https nodes

                context = ssl.create_default_context()
                self._conn = http.client.HTTPSConnection(host, port, timeout=self.timeout_s, context=context)
            else:
                self._conn = http.client.HTTPConnection(host, port, timeout=self.timeout_s)
        return self._conn

    def _bounded_body(self, reply: http.client.HTTPResponse, method: str) -> bytes:
        """The reply's bytes, refusing more than ``max_response_bytes`` before anything is parsed."""
        declared = reply.getheader("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_response_bytes:
            self.close()
            raise self._too_large(method)
        chunks, size = [], 0
        while chunk := reply.read(1 << 16):
            size += len(chunk)
            if size > self.max_response_bytes:
                self.close()
                raise self._too_large(method)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, method: str) -> ChainError:
        return ChainError(
            f"{self.url} answered {method} with more than {self.max_response_bytes} bytes; "
            "narrow the request (e.g. a shorter block range for event scans)"
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _parse_reply(body: bytes, status: int, url: str, method: str) -> dict[str, Any]:
    """A node's reply is another party's document: strict and shallow (``documents.parse_json``), or refused."""
    try:
        reply = documents.parse_json(
            body, source=f"{url} answer to {method}", max_bytes=len(body), max_depth=64
        )
    except documents.DocumentError as err:
        raise ChainError(
            f"{url} answered {method} with HTTP {status} and no JSON-RPC reply ({err.problem})"
        ) from err
    if not isinstance(reply, dict) or ("result" not in reply and "error" not in reply):
        raise ChainError(f"{url} answered {method} with HTTP {status} and no JSON-RPC reply")
    return reply


class ProviderTransport(Transport):
    """A web3 provider seen as a transport: the in-process EVM, or any provider a caller built.

    eth-tester's provider formats requests in its own middleware, so requests go through ``request_func`` of a
    bare ``Web3``; its reverts arrive as ``TransactionFailed`` exceptions and become ``RpcError`` replies here.
    """

    def __init__(self, provider: Any) -> None:
        from web3 import Web3  # the caller holds a web3 provider: web3 is loaded already

        self.provider = provider
        self.url = provider_url(provider)
        bare = Web3(provider, middleware=[])
        self._send = provider.request_func(bare, bare.middleware_onion)

    def exchange(self, method: str, params: list[Any]) -> dict[str, Any]:
        try:
            return dict(self._send(method, params))
        except provider_unreachable_errors() as err:
            raise ChainUnavailableError(self.url, err) from err
        except Exception as err:
            if not is_tester_failure(err):
                raise
            data = tester_revert_data(err)
            error = {"code": 3, "message": str(err), "data": "0x" + data.hex() if data is not None else None}
            return {"jsonrpc": "2.0", "id": 0, "error": error}


def provider_unreachable_errors() -> tuple[type[BaseException], ...]:
    """What a web3 provider raises when its node cannot be reached (its HTTP providers raise ``requests``'s)."""
    import requests
    from web3.exceptions import ProviderConnectionError

    return (requests.ConnectionError, requests.Timeout, ProviderConnectionError, ConnectionError)


def provider_url(provider: Any) -> str:
    """What to name in messages: the provider's endpoint, else its description."""
    return str(getattr(provider, "endpoint_uri", None) or provider)


def is_tester_failure(err: BaseException) -> bool:
    """eth-tester's ``TransactionFailed``, recognised without importing eth-tester."""
    kind = type(err)
    return kind.__name__ == "TransactionFailed" and kind.__module__.startswith("eth_tester")


def tester_revert_data(err: BaseException) -> bytes | None:
    """eth-tester pastes the revert data into its message as a bytes literal; recover the raw bytes."""
    import ast

    seen: BaseException | None = err
    while seen is not None:
        first = seen.args[0] if seen.args else None
        if isinstance(first, (bytes, bytearray)):
            return bytes(first)
        if isinstance(first, str):
            literal = first.removeprefix("execution reverted: ").strip()
            if literal[:2] in ("b'", 'b"'):
                try:
                    value = ast.literal_eval(literal)
                except (ValueError, SyntaxError):
                    value = None
                if isinstance(value, bytes):
                    return value
        seen = seen.__context__
    return None
