"""CID parsing and encoding: the vectors of DESIGN.md §3 and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipfs import cid as cidlib
from ipfs.errors import InvalidCidError

VECTORS = [
    ("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH", 0, cidlib.DAG_PB),
    ("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o", 0, cidlib.DAG_PB),
    ("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", 1, cidlib.RAW),
    ("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4", 1, cidlib.RAW),
]


@pytest.mark.parametrize(("text", "version", "codec"), VECTORS)
def test_known_cids_parse_and_print_back(text: str, version: int, codec: int) -> None:
    parsed = cidlib.Cid.parse(text)

    assert (parsed.version, parsed.codec) == (version, codec)
    assert str(parsed) == text
    assert cidlib.cid_from_bytes(cidlib.cid_to_bytes(text)) == text


def test_binary_forms() -> None:
    v0 = cidlib.cid_to_bytes("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
    v1 = cidlib.cid_to_bytes("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4")

    assert v0[:2] == b"\x12\x20" and len(v0) == 34
    assert v1[:4] == b"\x01\x55\x12\x20" and len(v1) == 36


def test_base58_cidv1_from_js_ipfs_is_normalised_to_base32() -> None:
    assert str(cidlib.Cid.parse("zb2rhi36Gc9GJWijLEL6zW45MBux5FcFv5gJmjXA7VAMozEXY")) == (
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "Qm" + "1" * 44,
        "bafkrei!!!",
        "BAFKREIHDWDCEFGH4DQKJV67UZCMW7OJEE6XEDZDETOJUZJEVTENXQUVYKU",
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk",
    ],
)
def test_invalid_cids_are_rejected(text: str) -> None:
    with pytest.raises(InvalidCidError):
        cidlib.Cid.parse(text)


@given(st.binary(max_size=64))
def test_base58_and_base32_round_trip(data: bytes) -> None:
    assert cidlib.b58decode(cidlib.b58encode(data)) == data
    assert cidlib.b32decode(cidlib.b32encode(data)) == data


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_varint_round_trip(value: int) -> None:
    encoded = cidlib.encode_varint(value)

    assert cidlib.decode_varint(encoded, 0) == (value, len(encoded))
