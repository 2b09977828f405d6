"""The Pinning Service API client against an in-process server written to the spec, and against bad answers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from ipfs import pinning
from ipfs.cid import Cid
from tests.fixtures.pinning_service import PinningService, running_pinning_service

ROOT = Path(__file__).resolve().parents[2]

HELLO_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
HELLO_V1 = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
EMPTY_V0 = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"


@pytest.fixture
def service() -> Iterator[PinningService]:
    with running_pinning_service(token="secret") as running:
        yield running


@pytest.fixture
def client(service: PinningService) -> Iterator[pinning.PinningServiceClient]:
    with pinning.PinningServiceClient(
        service.url, "secret", timeout=5, token_source="LEDGERMARK_PINNING_TOKEN"
    ) as opened:
        yield opened


def test_add_returns_a_queued_pin_status_with_what_was_asked(client: pinning.PinningServiceClient) -> None:
    status = client.add(HELLO_V0, name="hello", meta={"app": "ledgermark"})

    assert status.status == "queued"
    assert status.pin == pinning.Pin(cid=HELLO_V0, name="hello", meta={"app": "ledgermark"})
    assert status.requestid and status.delegates
    assert status.created.tzinfo is not None
    assert client.get(status.requestid) == status


def test_list_filters_by_cid_status_name_and_meta(client: pinning.PinningServiceClient) -> None:
    first = client.add(HELLO_V0, name="hello.txt", meta={"record": "1"})
    client.add(HELLO_V1, name="hello-raw.txt", meta={"record": "2"})

    by_cid = client.list_pins(cids=[HELLO_V0])
    assert [r.requestid for r in by_cid.results] == [first.requestid]
    assert client.list_pins(statuses=["pinned"]).count == 0  # nothing could be fetched: no origins
    assert client.list_pins(statuses=["queued"]).count == 2
    assert [r.pin.name for r in client.list_pins(name="hello-raw.txt").results] == ["hello-raw.txt"]
    assert [r.pin.cid for r in client.list_pins(meta={"record": "2"}).results] == [HELLO_V1]


def test_listing_pages_newest_first_with_before_and_limit(client: pinning.PinningServiceClient) -> None:
    made = [client.add(cid, name=f"n{i}") for i, cid in enumerate([HELLO_V0, HELLO_V1, EMPTY_V0] * 3)]

    page = client.list_pins(limit=4)
    everything = list(client.iter_pins(page=4))

    assert page.count == 9 and len(page.results) == 4
    assert [r.requestid for r in page.results] == [m.requestid for m in reversed(made)][:4]
    assert [r.requestid for r in everything] == [m.requestid for m in reversed(made)]
    oldest = made[0].created
    assert client.list_pins(after=oldest).count == 8
    assert client.list_pins(before=oldest + timedelta(microseconds=1)).count == 1


def test_iter_pins_queries_more_than_ten_cids_in_batches(client: pinning.PinningServiceClient) -> None:
    cids = [str(Cid.for_block(bytes([i]), version=1, codec=0x55)) for i in range(12)]
    for cid in cids:
        client.add(cid)

    found = {r.pin.cid for r in client.iter_pins(cids=cids)}

    assert found == set(cids)


def test_delete_removes_the_request_and_a_second_delete_is_not_found(
    client: pinning.PinningServiceClient,
) -> None:
    status = client.add(HELLO_V0)

    client.delete(status.requestid)

    with pytest.raises(pinning.PinRequestNotFoundError, match="404 NOT_FOUND"):
        client.get(status.requestid)
    with pytest.raises(pinning.PinRequestNotFoundError):
        client.delete(status.requestid)


def test_a_refused_token_names_where_it_came_from(service: PinningService) -> None:
    bad = pinning.PinningServiceClient(service.url, "wrong", token_source="LEDGERMARK_PINNING_TOKEN")
    with bad, pytest.raises(pinning.PinningAuthError) as caught:
        bad.list_pins()

    message = str(caught.value)
    assert "refused the token in LEDGERMARK_PINNING_TOKEN (401 UNAUTHORIZED" in message
    assert "wrong" not in message


def test_wait_returns_the_last_status_when_time_runs_out(client: pinning.PinningServiceClient) -> None:
    status = client.add(HELLO_V0)  # no origin: the service keeps searching

    last = client.wait(status.requestid, timeout=0.3, poll=0.1)

    assert last.status == "queued" and not last.done
    assert last.info == {"status_details": "searching the network for providers"}


def test_a_bad_request_is_reported_with_the_services_reason(client: pinning.PinningServiceClient) -> None:
    with pytest.raises(pinning.PinningServiceError, match=r"refused GET /pins \(400 BAD_REQUEST: limit"):
        client._call("GET", "/pins", params=[("limit", "0")], expect=(200,))


def _status(**changes: object) -> dict[str, object]:
    good: dict[str, object] = {
        "requestid": "r1",
        "status": "queued",
        "created": "2026-01-02T03:04:05Z",
        "pin": {"cid": HELLO_V0},
        "delegates": ["/ip4/1.2.3.4/tcp/4001"],
    }
    return {**good, **changes}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b"not json", "not JSON"),
        (200, json.dumps({"count": -1, "results": []}).encode(), "count -1"),
        (200, json.dumps({"count": 1, "results": [_status(status="done")]}).encode(), "status 'done'"),
        (200, json.dumps({"count": 1, "results": [_status(created="yesterday")]}).encode(), "RFC 3339"),
        (200, json.dumps({"count": 1, "results": [_status(pin={"cid": "QmNope"})]}).encode(), "is not a CID"),
        (200, json.dumps({"count": 1, "results": [_status(delegates="x")]}).encode(), "PinStatus.delegates"),
        (200, json.dumps({"count": 1, "results": [_status(requestid=7)]}).encode(), "PinStatus.requestid"),
        (200, b"[" * 10 + b" " * pinning.MAX_RESPONSE, "it announces"),
    ],
)
def test_malformed_answers_are_refused(
    service: PinningService, client: pinning.PinningServiceClient, status: int, body: bytes, expected: str
) -> None:
    service.misbehave(status, body)

    with pytest.raises(pinning.PinningServiceError, match="malformed") as caught:
        client.list_pins()

    assert expected in str(caught.value)


def test_a_deeply_nested_answer_is_refused_unparsed_in_a_process_that_imported_web3(tmp_path: Path) -> None:
    """web3 raises the recursion limit to 100000, so json.loads of deep input would overflow the C stack."""
    script = (
        "import web3, sys\n"
        "from tests.fixtures.pinning_service import running_pinning_service\n"
        "from ipfs import pinning\n"
        "with running_pinning_service('t') as service:\n"
        "    service.misbehave(200, b'[' * 3_000_000)\n"
        "    with pinning.PinningServiceClient(service.url, 't') as client:\n"
        "        try:\n"
        "            client.list_pins()\n"
        "        except pinning.PinningServiceError as err:\n"
        "            print(err)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert "nests deeper than 16 levels" in result.stdout


def test_an_endless_answer_is_cut_off_before_it_is_parsed(
    service: PinningService, client: pinning.PinningServiceClient
) -> None:
    service.misbehave(200, b"[" * (pinning.MAX_RESPONSE + 1), declare_length=False)

    with pytest.raises(pinning.PinningServiceError, match="longer than the 4194304 bytes allowed"):
        client.list_pins()


def test_an_unreachable_service_is_an_environment_error() -> None:
    client = pinning.PinningServiceClient("http://127.0.0.1:9", "t", timeout=2)
    with client, pytest.raises(pinning.PinningServiceError, match="is not reachable"):
        client.list_pins()


def test_a_non_http_endpoint_is_refused() -> None:
    with pytest.raises(pinning.PinningServiceError, match="is not an http"):
        pinning.PinningServiceClient("ftp://example.com", "t")
