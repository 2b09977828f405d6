"""The JSON-RPC transport that chain reads use without web3: errors, reverts and the bound on a reply.

A small HTTP server in a thread of the test plays the node (127.0.0.1, a free port, shut down after the test):
each case sets the reply it sends.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from eth_abi import encode
from eth_hash.auto import keccak

from registry import chain as chainlib
from registry.chain.connection import Chain
from registry.chain.errors import ChainError, ChainUnavailableError
from registry.chain.rpc import HttpTransport, RpcError
from registry.supervisor import free_port


class FakeNode(ThreadingHTTPServer):
    """Answers every POST with ``reply`` (bytes) and records the JSON-RPC methods it was asked."""

    reply: bytes = b""
    drop_idle = False
    methods: list[str]
    connections = 0

    def process_request(self, request: object, client_address: object) -> None:
        self.connections += 1
        super().process_request(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    server: FakeNode
    protocol_version = "HTTP/1.1"  # keep-alive, as real nodes do

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.methods.append(request["method"])
        body = self.server.reply
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = self.server.drop_idle  # close without saying so, as an idle timeout does

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def node() -> Iterator[FakeNode]:
    server = FakeNode(("127.0.0.1", free_port()), _Handler)
    server.methods = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _url(node: FakeNode) -> str:
    return f"http://127.0.0.1:{node.server_address[1]}"


def _result(value: object) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": value}).encode()


def test_result_comes_back_over_one_kept_alive_connection(node: FakeNode) -> None:
    node.reply = _result("0x539")
    transport = HttpTransport(_url(node))

    assert [transport.request("eth_chainId") for _ in range(3)] == ["0x539"] * 3
    assert node.methods == ["eth_chainId"] * 3 and node.connections == 1


def test_a_kept_alive_connection_the_node_dropped_is_reopened_once(node: FakeNode) -> None:
    node.reply, node.drop_idle = _result("0x539"), True
    transport = HttpTransport(_url(node))

    assert [transport.request("eth_chainId") for _ in range(3)] == ["0x539"] * 3
    assert node.methods == ["eth_chainId"] * 3  # each request reached the node exactly once
    assert node.connections == 3


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:1", "http://127.0.0.1:port", "127.0.0.1:8545"])
def test_a_url_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(ChainError, match="JSON-RPC URL"):
        HttpTransport(url)


def test_unreachable_node_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(ChainUnavailableError, match=f"Ethereum node at {url} is not reachable"):
        HttpTransport(url, timeout_s=2).request("eth_chainId")


def test_a_reply_over_the_bound_is_refused_before_parsing(node: FakeNode) -> None:
    node.reply = _result("0x" + "00" * 4096)

    with pytest.raises(ChainError, match="more than 1000 bytes"):
        HttpTransport(_url(node), max_response_bytes=1000).request("eth_getLogs", [{}])


def test_a_reply_that_is_not_json_rpc_says_so(node: FakeNode) -> None:
    node.reply = b"<html>proxy error</html>"

    with pytest.raises(ChainError, match="no JSON-RPC reply"):
        HttpTransport(_url(node)).request("eth_chainId")


def test_a_json_rpc_error_keeps_code_and_message(node: FakeNode) -> None:
    node.reply = b'{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"method not found"}}'

    with pytest.raises(RpcError) as caught:
        HttpTransport(_url(node)).request("eth_nothing")

    assert caught.value.code == -32601 and "method not found" in str(caught.value)
    assert not caught.value.is_revert


@pytest.mark.parametrize("style", ["anvil", "ganache"])
def test_revert_data_becomes_the_typed_contract_error(node: FakeNode, style: str) -> None:
    """Anvil sends revert data as a hex string, Ganache inside a dict: both decode to the custom error."""
    data = "0x" + (keccak(b"ModelRegistryUnknownRecord(uint256)")[:4] + encode(["uint256"], [7])).hex()
    payload = data if style == "anvil" else {"result": data, "message": "revert"}
    node.reply = _result("0x1")
    chain = Chain.connect(HttpTransport(_url(node)), confirmations=0)  # reads at latest: one eth_call
    node.reply = json.dumps(
        {"jsonrpc": "2.0", "id": 2, "error": {"code": 3, "message": "execution reverted", "data": payload}}
    ).encode()
    registry = chainlib.ModelRegistryClient(chain, "0x" + "12" * 20)

    with pytest.raises(chainlib.UnknownRecordError) as caught:
        registry.record(7)

    assert caught.value.error_args == {"recordId": 7}
    assert node.methods == ["eth_chainId", "eth_call"]


def test_a_revert_without_data_keeps_the_node_message(node: FakeNode) -> None:
    node.reply = _result("0x1")
    chain = Chain.connect(HttpTransport(_url(node)), confirmations=0)  # reads at latest: one eth_call
    node.reply = b'{"jsonrpc":"2.0","id":2,"error":{"code":-32000,"message":"execution reverted"}}'

    with pytest.raises(chainlib.ContractRevertError) as caught:
        chainlib.ModelRegistryClient(chain, "0x" + "12" * 20).record_count()

    assert caught.value.name == "Error" and caught.value.error_args == {"reason": "execution reverted"}
