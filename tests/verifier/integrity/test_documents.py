"""The one parser for untrusted documents: bounded before parsing, strict, and never a crash (issue 10, item 3).

Importing web3 raises Python's recursion limit to 100000 (py_ecc), so ``json.loads`` of ~400 KB of ``[`` used
to overflow the C stack: ``ledgermark show`` on such a manifest died with SIGSEGV, and so did the HTTP server
on such a watermark key. Sizes that were NaN, floats, booleans or 2²⁵⁶ gave tracebacks and HTTP 500s.
Processes that must import web3 run in subprocesses, so a regression shows as exit -11, not a dead pytest.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from verifier.integrity import documents
from verifier.integrity import manifest as manifestlib

NESTED = b"[" * 400_000
"""The audit's document: ~400 KB of nested brackets."""
CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxqaaaaa"
ENTRY = {"cid": CID, "path": "model.pt", "role": "model", "sha256": "ab" * 32, "size": 5}


def _manifest_bytes(size_literal: str) -> bytes:
    """A canonical one-entry manifest whose size is the raw JSON text ``size_literal``."""
    document = {"entries": [{**ENTRY, "size": "SIZE"}], "name": "n", "version": 1}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return text.replace('"SIZE"', size_literal).encode()


def _run_python(code: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=Path(__file__).resolve().parents[3],
    )


# --------------------------------------------------------------------------- the attacks, through the CLI


@pytest.fixture(scope="module")
def chain_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A real Anvil and a data dir holding records whose manifests a malicious publisher wrote."""
    from registry import backends as backendslib
    from registry.chain import localnode
    from registry.config import IPFS_EMBEDDED, Settings
    from tests.fixtures.chain_nodes import require_binary

    require_binary("anvil")
    folder = tmp_path_factory.mktemp("hostile-manifests")
    with localnode.AnvilNode(log_path=folder / "anvil.log") as node:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERMARK_")}
        env |= {
            "LEDGERMARK_HOME": str(folder / "state"),
            "LEDGERMARK_CHAIN": node.url,
            "LEDGERMARK_IPFS": IPFS_EMBEDDED,
            "LEDGERMARK_PRIVATE_KEY": node.private_keys[0],
        }
        settings = Settings(
            data_dir=folder / "state", chain=node.url, ipfs=IPFS_EMBEDDED, private_key=node.private_keys[0]
        )
        backendslib.deploy_on(settings)
        with backendslib.open_backends(settings) as backends:
            for index, data in enumerate([NESTED, *(_manifest_bytes(v) for v in HOSTILE_SIZES)]):
                manifest_cid = backends.store.add_bytes(data)
                record_id, _ = backends.registry.publish(bytes([index + 1]) * 32, 1, manifest_cid)
                assert record_id == index + 1
        yield folder, env


def _show(env: dict[str, str], record_id: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry", "show", str(record_id)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.daemon
def test_deeply_nested_manifest_is_refused_not_a_segfault(chain_home) -> None:
    _, env = chain_home

    shown = _show(env, 1)

    assert shown.returncode == 1, (shown.returncode, shown.stderr[-2000:])
    assert "record 1: manifest " in shown.stderr
    assert "nests deeper than 4 levels: refused unparsed" in shown.stderr
    assert "Traceback" not in shown.stderr


HOSTILE_SIZES = {
    "NaN": "holds NaN, which is not JSON",
    "Infinity": "holds Infinity, which is not JSON",
    "-Infinity": "holds -Infinity, which is not JSON",
    "1e400": "holds the number 1e400, too large for a float",
    "1.5": "size must be a whole number, not a decimal number",
    "5.0": "size must be a whole number, not a decimal number",
    "true": "size must be a whole number, not a boolean",
    '"5"': "size must be a whole number, not a string",
    "null": "size must be a whole number, not null",
    "-1": "size must be from 0 to 9223372036854775807, not -1",
    str(2**63): "size must be from 0 to 9223372036854775807, not 9223372036854775808",
    str(2**256): "size must be from 0 to 9223372036854775807, not a 257-bit number",
}


@pytest.mark.parametrize(("literal", "message"), HOSTILE_SIZES.items(), ids=list(HOSTILE_SIZES))
def test_sizes_that_are_nan_float_bool_or_huge_are_refused(literal: str, message: str) -> None:
    with pytest.raises(manifestlib.ManifestError) as caught:
        manifestlib.Manifest.from_bytes(_manifest_bytes(literal))

    assert message in str(caught.value)
    assert str(caught.value).startswith("manifest: ")


@pytest.mark.daemon
@pytest.mark.parametrize("literal", ["NaN", "1.5", "true", str(2**256)])
def test_sizes_that_are_nan_float_bool_or_huge_are_refused_by_show_with_exit_1(chain_home, literal) -> None:
    _, env = chain_home
    record_id = 2 + list(HOSTILE_SIZES).index(literal)

    shown = _show(env, record_id)

    assert shown.returncode == 1, shown.stderr[-2000:]
    assert f"record {record_id}: manifest " in shown.stderr
    assert HOSTILE_SIZES[literal] in shown.stderr
    assert "Traceback" not in shown.stderr


def test_a_manifest_with_a_duplicate_key_or_an_unknown_field_is_refused() -> None:
    twice = _manifest_bytes("5").replace(b'"name":"n"', b'"name":"n","name":"m"')
    extra = _manifest_bytes("5").replace(b'"size":5', b'"size":5,"z":1')

    with pytest.raises(manifestlib.ManifestError, match="holds the key 'name' twice"):
        manifestlib.Manifest.from_bytes(twice)
    with pytest.raises(manifestlib.ManifestError, match=r"entry 0: the entry has unknown keys \['z'\]"):
        manifestlib.Manifest.from_bytes(extra)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cid", "not-a-cid", "not-a-cid"),
        ("role", "model\x1b[32m", "must be a non-empty word"),
        ("role", "x" * 65, "longer than 64 characters"),
        ("sha256", "AB" * 32, "sha256 must be 64 lower-case hex digits"),
        ("path", ["model.pt"], "path must be a string, not an array"),
    ],
)
def test_a_manifest_entry_of_the_wrong_type_or_shape_is_refused(
    field: str, value: object, message: str
) -> None:
    document = {"entries": [{**ENTRY, field: value}], "name": "n", "version": 1}
    data = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    with pytest.raises(manifestlib.ManifestError) as caught:
        manifestlib.Manifest.from_bytes(data)

    assert message in str(caught.value)


# --------------------------------------------------------------------------- the parser in a web3 process


def test_a_process_that_imported_web3_refuses_every_deep_shape_instead_of_crashing() -> None:
    code = r"""
        import sys, web3
        assert sys.getrecursionlimit() >= 100_000
        from verifier.integrity import documents
        shapes = {
            "brackets": b"[" * 400_000,
            "objects": b'{"a":' * 200_000,
            "mixed": b'[{"k":' * 150_000,
            "after a string with brackets and escapes": b'["]]]\"]]]",' + b"[" * 400_000,
            "after an unterminated string": b"[" * 10 + b'"' + b"[" * 400_000,
        }
        for name, data in shapes.items():
            try:
                documents.parse_json(data, source=name, max_bytes=1 << 20)
            except documents.DocumentError as err:
                print(err)
            else:
                sys.exit(f"{name}: parsed")
    """

    result = _run_python(code)

    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.count("nests deeper than 32 levels: refused unparsed") == 5, result.stdout


# --------------------------------------------------------------------------- properties


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2048))
def test_random_bytes_give_a_value_or_a_document_error(data: bytes) -> None:
    try:
        documents.parse_json(data, source="random", max_bytes=1024, max_depth=8)
    except documents.DocumentError as err:
        assert str(err).startswith("random: ")


@settings(max_examples=200, deadline=None)
@given(
    depth=st.integers(min_value=0, max_value=64),
    opener=st.sampled_from(["[", "{", "[{"]),
    limit=st.integers(min_value=1, max_value=40),
    decoy=st.text(alphabet='[]{}"\\ab', max_size=20),
)
def test_random_nesting_is_parsed_exactly_up_to_the_limit(
    depth: int, opener: str, limit: int, decoy: str
) -> None:
    document = json.dumps(decoy)  # brackets and escapes inside a string never count
    levels = 0
    for char in (opener * depth)[:depth]:
        document = f'{{"k":{document}}}' if char == "{" else f"[{document}]"
        levels += 1
    data = document.encode()

    assert documents.nesting_depth(data) == levels
    if levels > limit:
        with pytest.raises(documents.DocumentError, match=f"nests deeper than {limit} levels"):
            documents.parse_json(data, source="nested", max_bytes=1 << 20, max_depth=limit)
    else:
        assert documents.parse_json(data, source="nested", max_bytes=1 << 20, max_depth=limit) == json.loads(
            document
        )


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**300), max_value=2**300)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
SIZE_LITERALS = JSON_VALUES.map(json.dumps) | st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-0"])


@settings(max_examples=300, deadline=None)
@given(literal=SIZE_LITERALS)
@example(literal="5")  # the one shape that parses: the property is not vacuous
@example(literal=str(2**63 - 1))
def test_random_json_values_in_a_size_field_give_a_manifest_or_a_manifest_error(literal: str) -> None:
    try:
        parsed = manifestlib.Manifest.from_bytes(_manifest_bytes(literal))
    except manifestlib.ManifestError:
        return
    size = parsed.entries[0].size
    assert type(size) is int and 0 <= size < 2**63 and literal == str(size)


@settings(max_examples=200, deadline=None)
@given(value=JSON_VALUES)
def test_the_size_reader_returns_a_small_whole_number_or_a_document_error(value: object) -> None:
    try:
        size = documents.non_negative_int(value, "size", "reader")
    except documents.DocumentError as err:
        assert str(err).startswith("reader: size must be")
    else:
        assert type(size) is int and 0 <= size < 2**63


def test_limits_are_checked_in_order_size_then_depth_then_syntax() -> None:
    with pytest.raises(documents.DocumentError, match=r"larger than 1 KiB \(1,025 bytes\): refused unparsed"):
        documents.parse_json(b"[" * 1025, source="doc", max_bytes=1024)
    with pytest.raises(documents.DocumentError, match="nests deeper than 2 levels"):
        documents.parse_json(b"[[[\xff", source="doc", max_bytes=1024, max_depth=2)
    with pytest.raises(documents.NotJsonError, match="is not UTF-8 text"):
        documents.parse_json(b"[\xff]", source="doc", max_bytes=1024)
    assert math.isclose(documents.parse_json(b"[1.5]", source="doc", max_bytes=8)[0], 1.5)


# --------------------------------------------------------------------------- watermark keys


def test_a_watermark_key_of_nested_brackets_is_refused(tmp_path: Path) -> None:
    key, model = tmp_path / "key.wmk", tmp_path / "model.pt"
    key.write_bytes(NESTED)
    model.write_bytes(b"not even a model")
    code = """
        import sys, web3
        from pathlib import Path
        from fastapi.testclient import TestClient
        from registry.api.main import create_app
        from registry.config import CHAIN_EMBEDDED, IPFS_EMBEDDED, Settings

        settings = Settings(data_dir=Path(sys.argv[1]) / "state", chain=CHAIN_EMBEDDED, ipfs=IPFS_EMBEDDED)
        with TestClient(create_app(settings)) as client:
            files = [("model", ("suspect.pt", b"junk")), ("key", ("key.wmk", Path(sys.argv[2]).read_bytes()))]
            refused = client.post("/watermark/verify", files=files)
            print(refused.status_code, refused.json()["detail"])
            print(client.get("/health").status_code)
    """

    served = _run_python(code, str(tmp_path), str(key), timeout=300)
    verified = subprocess.run(
        [sys.executable, "-m", "registry", "watermark", "verify", str(model), str(key)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "LEDGERMARK_HOME": str(tmp_path / "home")},
    )

    assert served.returncode == 0, (served.returncode, served.stderr[-2000:])
    status, detail = served.stdout.splitlines()[0].split(" ", 1)
    assert 400 <= int(status) < 500
    assert detail == "not a watermark key: nests deeper than 8 levels: refused unparsed"
    assert served.stdout.splitlines()[1] == "200"  # the server still answers
    assert verified.returncode == 2, (verified.returncode, verified.stderr[-2000:])
    assert "not a watermark key: nests deeper than 8 levels" in verified.stderr
    assert "Traceback" not in verified.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labels": [2**256]}, "a label must be from 0 to 9223372036854775807, not a 257-bit number"),
        ({"labels": [True]}, "a label must be a whole number, not a boolean"),
        ({"ridge_lambda": True}, "ridge_lambda must be a number, not a boolean"),
        ({"masks": {"kind": "random", "count": 10**12}}, "masks.count must be from 0 to 16384"),
        ({"masks": {"keep": 2}}, "masks.keep must be a probability from 0 to 1"),
        (
            {"segmentation": {"kind": "feature-groups", "n": 10**9, "input_shape": [4]}},
            "segmentation.n must be",
        ),
        (
            {"triggers": {"dtype": "float32", "shape": [1, 0, 10**12], "data": ""}},
            "a dimension of triggers.shape",
        ),
        ({"triggers": []}, "triggers must be a JSON object, not an array"),
    ],
    ids=[
        "huge label",
        "bool label",
        "bool lambda",
        "10^12 masks",
        "keep 2",
        "10^9 bits",
        "empty dims",
        "list",
    ],
)
def test_a_watermark_key_asking_for_huge_or_mistyped_values_is_refused(change: dict, message: str) -> None:
    from verifier.watermark import errors, keys

    document = {
        "format": keys.KEY_FORMAT,
        "version": keys.KEY_VERSION,
        "seed": "00" * 32,
        "bits": "".join("+" if b > 0 else "-" for b in keys.derive_bits(bytes(32), 4).tolist()),
        "triggers": {"dtype": "float32", "shape": [1, 4], "data": "AAAAAAAAAAAAAAAAAAAAAA=="},
        "labels": [0],
        "segmentation": {"kind": "feature-groups", "n": 4, "input_shape": [4]},
        "masks": {
            "kind": "leave-one-out",
            "count": 0,
            "seed": keys.derive_seed(bytes(32), "masks"),
            "keep": 0.5,
        },
        "metric": "logit",
        "ridge_lambda": 0.001,
        "fill": 0.5,
    }
    assert keys.WatermarkKey.from_bytes(json.dumps(document).encode()).n_bits == 4

    with pytest.raises(errors.WatermarkError) as caught:
        keys.WatermarkKey.from_bytes(json.dumps({**document, **change}).encode())

    assert message in str(caught.value)


def test_a_chain_node_answering_nested_brackets_is_refused_not_a_segfault() -> None:
    code = """
        import threading, web3
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from registry.chain import rpc

        class Hostile(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                body = b"[" * 400_000
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            rpc.HttpTransport(f"http://127.0.0.1:{server.server_port}").request("eth_chainId")
        except rpc.ChainError as err:
            print(str(err).split(" answered ")[1])
        server.shutdown()
    """

    result = _run_python(code)

    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.strip() == (
        "eth_chainId with HTTP 200 and no JSON-RPC reply (nests deeper than 64 levels: refused unparsed)"
    )
