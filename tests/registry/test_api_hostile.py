"""The HTTP service under hostile input: every refusal is a 4xx problem, nothing leaks a path, nothing kills it.

A real `ledgermark serve` in its own process (a request that crashes the interpreter would otherwise take the
test run with it), spoken to over real sockets: a client that lies about, or never states, its body size is
exactly what an attacker sends.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from registry import supervisor
from registry.api import problems
from tests.fixtures import servers

LIMIT = 1 << 20
"""The upload limit the service under test runs with (LEDGERMARK_MAX_UPLOAD_BYTES): small, so tests are cheap."""
PROBLEM = "application/problem+json"
BOUNDARY = "hostileboundary"
TOKEN = "operator-token-for-tests-0123456789"
"""The API token every `ledgermark_serve` runs with (LEDGERMARK_API_TOKEN), unless the test passes its own."""
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextlib.contextmanager
def ledgermark_serve(
    data_dir: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`ledgermark serve` on the in-process chain and a free port; yields its base URL and the process."""
    port = supervisor.free_port()
    command = [sys.executable, "-m", "registry", "--data-dir", str(data_dir), "--chain", "embedded"]
    log = data_dir.parent / "serve.log"  # a file, not a pipe: a full pipe would stall the server mid-test
    with open(log, "wb") as stderr:
        process = subprocess.Popen(
            [*command, "serve", "--port", str(port)],
            env={**os.environ, "LEDGERMARK_API_TOKEN": TOKEN, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        servers.wait_until_up(f"{url}/health", process, log, what="ledgermark serve", timeout_s=120)
        yield url, process
    finally:
        servers.stop(process, timeout_s=30)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("hostile") / "state"
    env = {"LEDGERMARK_MAX_UPLOAD_BYTES": str(LIMIT), "LEDGERMARK_MAX_WATERMARK_UPLOAD_BYTES": str(4 * LIMIT)}
    with ledgermark_serve(data_dir, env) as (url, process):
        yield {"url": url, "process": process, "data_dir": data_dir}


@pytest.fixture
def http(service: dict[str, Any]) -> Iterator[httpx.Client]:
    """The operator's own client (it holds the token): what is refused here is refused for the body's sake."""
    with httpx.Client(base_url=service["url"], timeout=60, headers=AUTH) as client:
        yield client


def multipart(*parts: tuple[str, bytes, bytes]) -> tuple[bytes, dict[str, str]]:
    """A multipart body written by hand, so file names reach the server byte for byte (clients escape them)."""
    body = b""
    for field, filename, data in parts:
        body += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="'.encode()
            + filename
            + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
            + data
            + b"\r\n"
        )
    return body + f"--{BOUNDARY}--\r\n".encode(), {
        "content-type": f"multipart/form-data; boundary={BOUNDARY}"
    }


def streamed_form(field: str, filename: str, chunks: Iterable[bytes], **fields: str) -> Iterator[bytes]:
    """A multipart body sent as it is made: the plain ``fields``, then one file of ``chunks`` (never whole)."""
    for name, value in fields.items():
        yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n\r\n'.encode()
    yield from chunks
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The one error shape: RFC 9457 problem details, with the status the route documents."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == problems.type_uri(body["code"]) and body["status"] == status
    assert body["title"] and body["detail"]
    return body


def huge_model_file() -> bytes:
    """A ~1 KB model file whose spec asks for an MLP with two hidden layers of width 20000 (400M weights)."""
    spec = {"arch": "mlp", "num_classes": 10, "input_shape": [64], "width": 64, "hidden": [20000, 20000]}
    buffer = io.BytesIO()
    torch.save({"format": "ledgermark-model", "version": 1, "spec": spec, "state_dict": {}}, buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------- body size


def _send_chunked_until_answered(url: str, path: str, total: int) -> tuple[int, bytes]:
    """POST a chunked multipart body of ``total`` bytes with no Content-Length, stopping as soon as the
    server answers; returns how many body bytes were sent by then and the raw response."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n"
    ).encode()
    preamble = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'.encode()
    )
    chunk = b"\0" * (64 << 10)
    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + b"%x\r\n%s\r\n" % (len(preamble), preamble))
        while sent < total:
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered: stop sending
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        return sent, _read_response(sock)


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    with contextlib.suppress(ConnectionResetError, TimeoutError):
        while part := sock.recv(65536):
            data += part
            if b"\r\n\r\n" in data and data.rstrip().endswith(b"}"):
                break
    return data


def test_an_oversized_upload_is_refused_with_413_while_streaming(
    service: dict[str, Any], http: httpx.Client
) -> None:
    total = 512 * LIMIT  # 512 MiB would arrive if the service read to the end before counting

    sent, raw = _send_chunked_until_answered(service["url"], "/cid", total)

    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), raw[:300]
    assert f"content-type: {PROBLEM}".encode() in head.lower()
    problem = json.loads(body)
    assert problem["status"] == 413
    assert problem["detail"] == f"the request body is larger than this route's limit of {LIMIT} bytes"
    assert sent < total // 8, f"the client sent {sent} bytes before the refusal"
    assert http.get("/health").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/cid",
        "/records",
        "/records/1/verify",
        "/watermark/verify",
        "/disputes",
        "/disputes/1/reveal",
        "/health",
    ],
)
def test_a_declared_oversized_body_is_refused_before_it_is_read(service: dict[str, Any], path: str) -> None:
    host, port = service["url"].removeprefix("http://").split(":")
    request = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {3 << 30}\r\n"
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"{request}Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n".encode())
        raw = _read_response(sock)  # not one body byte was sent: the answer cannot wait for them

    assert raw.startswith(b"HTTP/1.1 413 "), raw[:300]
    assert json.loads(raw.partition(b"\r\n\r\n")[2])["status"] == 413


# --------------------------------------------------------------------------- names and ids


@pytest.mark.parametrize(
    ("filename", "detail"),
    [
        (b"model\0.pt", "upload name 'model\\x00.pt' holds a control character"),
        (b"m" * 300, f"upload name {'m' * 32!r}… is longer than 255 bytes"),
        (b"../../etc/passwd", "upload name '../../etc/passwd' holds a path separator: send a bare file name"),
        (b"sub/model.pt", "upload name 'sub/model.pt' holds a path separator: send a bare file name"),
        (b"..\\\\model.pt", "upload name '..\\\\model.pt' holds a path separator: send a bare file name"),
        (b"..", "upload has no usable file name: '..'"),
        (b"\x1b[32mALL VERIFIED", "upload name '\\x1b[32mALL VERIFIED' holds a control character"),
    ],
    ids=["nul", "300-chars", "dot-dot", "separator", "backslash", "parent", "escape"],
)
@pytest.mark.parametrize("path", ["/cid", "/records/1/verify"])
def test_nul_and_long_file_names_are_4xx(http: httpx.Client, path: str, filename: bytes, detail: str) -> None:
    body, headers = multipart(("file" if path == "/cid" else "files", filename, b"weights"))

    response = http.post(path, content=body, headers=headers)

    assert assert_problem(response, 422)["detail"] == detail
    assert http.get("/health").status_code == 200


@pytest.mark.parametrize(
    ("reference", "status", "detail"),
    [
        (
            str(2**256),
            404,
            f"{str(2**256)[:20]}… is above 2^256 - 1, the largest record id: no record has it",
        ),
        (
            str(2**256 + 12345),
            404,
            f"{str(2**256)[:20]}… is above 2^256 - 1, the largest record id: no record has it",
        ),
        ("9" * 80, 404, f"{'9' * 20}… is above 2^256 - 1, the largest record id: no record has it"),
        ("9" * 81, 422, "path.reference: String should have at most 80 characters"),
        ("-1", 404, "'-1' is neither a record id nor a 0x-prefixed 32-byte Merkle root"),
        ("0x" + "zz" * 32, 404, f"'0x{'zz' * 32}' is not a hex Merkle root"),
    ],
    ids=["2^256", "2^256+n", "80-digits", "81-digits", "negative", "bad-root"],
)
@pytest.mark.parametrize("route", ["", "/lineage", "/verify"])
def test_ids_above_2_256_are_4xx(
    http: httpx.Client, route: str, reference: str, status: int, detail: str
) -> None:
    if route == "/verify":
        response = http.post(f"/records/{reference}/verify", files={"files": ("model.pt", b"weights")})
    else:
        response = http.get(f"/records/{reference}{route}")

    assert assert_problem(response, status)["detail"] == detail
    assert http.get("/health").status_code == 200


# --------------------------------------------------------------------------- paths and survival


def test_error_messages_leak_no_server_paths(
    service: dict[str, Any], http: httpx.Client, watermark_files
) -> None:
    key = watermark_files.key.read_bytes()
    responses = [
        http.post(
            "/watermark/verify",
            files=[("model", ("suspect.pt", b"not a torch file")), ("key", ("k.wmk", key))],
        ),
        http.post(
            "/watermark/verify", files=[("model", ("suspect.pt", huge_model_file())), ("key", ("k.wmk", key))]
        ),
        http.post("/records", files=[("files", ("model.pt", b"w"))], data={"roles": ["model", "extra"]}),
        http.get("/records/42"),
        http.get("/records/42/lineage"),
    ]

    leaks = {
        str(service["data_dir"]),
        str(service["data_dir"].resolve()),
        tempfile.gettempdir(),
        "ledgermark-upload-",
    }
    for response in responses:
        assert 400 <= response.status_code < 500, response.text
        assert not [leak for leak in leaks if leak in response.text], response.text
    model_error = responses[0].json()["detail"]
    assert model_error.startswith("suspect.pt: not a readable torch file"), model_error


HOSTILE: list[tuple[str, dict[str, Any], int]] = [
    (
        "an upload over the limit",
        {"method": "POST", "url": "/cid", "files": {"file": ("a", b"\0" * (LIMIT + 1))}},
        413,
    ),
    ("a NUL in a file name", {"method": "POST", "url": "/cid", "raw_name": b"a\0b"}, 422),
    ("a 300-character file name", {"method": "POST", "url": "/cid", "raw_name": b"n" * 300}, 422),
    ("a record id of 2^256", {"method": "GET", "url": f"/records/{2**256}"}, 404),
    ("a negative record id", {"method": "GET", "url": "/records/-7/lineage"}, 404),
    ("a malformed CID", {"method": "GET", "url": "/ipfs/Qm%00..?format=raw"}, 400),
    ("an overlong CID", {"method": "GET", "url": "/ipfs/" + "b" * 5000, "params": {"format": "car"}}, 400),
    (
        "JSON where a form belongs",
        {"method": "POST", "url": "/records", "json": {"files": ["x"], "roles": ["model"]}},
        422,
    ),
    (
        "a truncated multipart body",
        {
            "method": "POST",
            "url": "/cid",
            "content": b"--x\r\nContent-Disp",
            "headers": {"content-type": "multipart/form-data; boundary=x"},
        },
        422,
    ),
    (
        "text where a file belongs",
        {"method": "POST", "url": "/cid", "content": b"hello", "headers": {"content-type": "text/plain"}},
        422,
    ),
    (
        "no roles for a publication",
        {"method": "POST", "url": "/records", "files": {"files": ("m.pt", b"w")}},
        422,
    ),
    (
        "a key of 400 KB of nested brackets",
        {
            "method": "POST",
            "url": "/watermark/verify",
            "files": [("model", ("m.pt", b"w")), ("key", ("k.wmk", b"[" * 400_000))],
        },
        400,
    ),
    (
        "a model asking for 400M weights",
        {"method": "POST", "url": "/watermark/verify", "huge_model": True},
        400,
    ),
    (
        "an alpha of NaN",
        {
            "method": "POST",
            "url": "/watermark/verify?alpha=nan",
            "files": [("model", ("m.pt", b"w")), ("key", ("k.wmk", b"{}"))],
        },
        422,
    ),
    (
        "a CID version of 2^256",
        {"method": "POST", "url": f"/cid?cid_version={2**256}", "files": {"file": ("a", b"x")}},
        422,
    ),
]


@pytest.mark.parametrize(("attack", "request_args", "status"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_the_service_survives_every_hostile_request(
    service: dict[str, Any],
    http: httpx.Client,
    watermark_files,
    attack: str,
    request_args: dict[str, Any],
    status: int,
) -> None:
    args = dict(request_args)
    if raw_name := args.pop("raw_name", None):
        args["content"], args["headers"] = multipart(("file", raw_name, b"x"))
    if args.pop("huge_model", False):
        args["files"] = [
            ("model", ("m.pt", huge_model_file())),
            ("key", ("k.wmk", watermark_files.key.read_bytes())),
        ]

    response = http.request(**args)

    assert_problem(response, status)
    assert service["process"].poll() is None, f"the service died on {attack}"
    assert http.get("/health").status_code == 200


def test_a_bad_size_limit_variable_stops_serve_with_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "LEDGERMARK_MAX_UPLOAD_BYTES": "2GiB"}
    command = [sys.executable, "-m", "registry", "--data-dir", str(tmp_path), "--chain", "embedded", "serve"]

    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "error: LEDGERMARK_MAX_UPLOAD_BYTES (environment variable) must be a positive whole number of bytes, "
        "not '2GiB'"
    )


def _peak_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])


def test_a_large_upload_is_streamed_to_disk_not_held_in_memory(tmp_path: Path) -> None:
    size, chunk = 192 * LIMIT, b"\x5a" * LIMIT

    with ledgermark_serve(tmp_path / "state") as (url, process):
        before = _peak_rss_kib(process.pid)
        response = httpx.post(
            f"{url}/cid",
            content=streamed_form("file", "big.bin", (chunk for _ in range(size // len(chunk)))),
            headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
            timeout=120,
        )
        growth_mib = (_peak_rss_kib(process.pid) - before) / 1024

    assert response.status_code == 200, response.text
    assert response.json()["size"] == size
    assert growth_mib < 48, f"the service's peak memory grew by {growth_mib:.0f} MiB for a 192 MiB upload"


def test_server_paths_are_scrubbed_but_content_paths_are_kept(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"
    scrubber = problems.Scrubber.for_service(data_dir)
    upload = Path(tempfile.gettempdir()) / "ledgermark-upload-k2x_9a" / "suspect.pt"

    assert scrubber.scrub(f"{upload}: not a readable torch file") == "suspect.pt: not a readable torch file"
    assert scrubber.scrub(f"cannot read '{data_dir}/blocks/ab'") == "cannot read '<data dir>/blocks/ab'"
    assert scrubber.scrub(f"{tempfile.gettempdir()}/x full") == "<tmp>/x full"
    assert (
        scrubber.scrub("GET /ipfs/QmX and /records/7 and /tmpfoo")
        == "GET /ipfs/QmX and /records/7 and /tmpfoo"
    )


def test_a_large_publication_and_its_download_stream_through_the_service(tmp_path: Path) -> None:
    """64 MiB of distinct bytes published (to disk, then the store, in chunks) and downloaded (verified to a temp
    file, then streamed): the service's peak memory grows by under a quarter of the file (5 MiB measured)."""
    size, sent, received = 64 * LIMIT, hashlib.sha256(), hashlib.sha256()

    def chunks() -> Iterator[bytes]:
        for _ in range(size // LIMIT):
            chunk = os.urandom(LIMIT)
            sent.update(chunk)
            yield chunk

    with ledgermark_serve(tmp_path / "state") as (url, process):
        before = _peak_rss_kib(process.pid)
        published = httpx.post(
            f"{url}/records",
            content=streamed_form("files", "big.pt", chunks(), roles="model"),
            headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}", **AUTH},
            timeout=300,
        )
        assert published.status_code == 201, published.text
        with httpx.stream("GET", f"{url}/records/1/artifacts/big.pt", timeout=300) as download:
            assert download.status_code == 200
            for piece in download.iter_bytes():
                received.update(piece)
        growth_mib = (_peak_rss_kib(process.pid) - before) / 1024

    assert received.hexdigest() == sent.hexdigest() == published.json()["artifacts"][0]["sha256"]
    assert growth_mib < 16, f"the service's peak memory grew by {growth_mib:.0f} MiB for a 64 MiB file"
