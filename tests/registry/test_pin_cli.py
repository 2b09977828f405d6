"""`ledgermark pin` and `ledgermark pins` on the default chain, against a real js-ipfs node and a pinning service.

The pinning service is the in-process spec server (tests/fixtures/pinning_service.py): it fetches what it is asked
to pin from the owner's real `ledgermark serve` gateway, so a pin there means the blocks crossed the network.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ipfs.kubo import KuboStore
from registry import supervisor
from registry.cli import app
from registry.jsipfs import JsIpfsDaemon
from tests.fixtures import servers
from tests.fixtures.chain_nodes import require_binary
from tests.fixtures.pinning_service import running_pinning_service
from tests.registry.conftest import write_artifacts

pytestmark = pytest.mark.daemon

runner = CliRunner()
TOKEN = "pin-cli-token"
_CLEARED = (
    "LEDGERMARK_CHAIN",
    "LEDGERMARK_IPFS",
    "LEDGERMARK_PRIVATE_KEY",
    "LEDGERMARK_GATEWAYS",
    "LEDGERMARK_NETWORK",
    "LEDGERMARK_PINNING_TOKEN",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    require_binary("anvil")
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)


def _invoke(home: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, ["--data-dir", str(home), *args], env=env)


def _json(home: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = _invoke(home, *args, "--json", env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _publish(home: Path, folder: Path, seed: int) -> tuple[str, list[str], dict[str, bytes]]:
    """Publish a two-chunk model and a trigger set; return the record id, its CIDs and the bytes by CID."""
    artifacts = write_artifacts(folder, seed=seed)
    document = _json(home, "publish", f"{artifacts[0].path}:model", f"{artifacts[1].path}:trigger")
    content = {a["cid"]: (folder / a["path"]).read_bytes() for a in document["artifacts"]}
    return str(document["record_id"]), [document["manifest_cid"], *content], content


@contextlib.contextmanager
def _serving(home: Path, log: Path) -> Iterator[str]:
    """The owner's `ledgermark serve` (a real process on the same data dir); yields its base URL."""
    port = supervisor.free_port()
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "registry", "--data-dir", str(home), "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        servers.wait_until_up(f"{url}/docs", process, log, what="`ledgermark serve`", timeout_s=60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_pin_to_a_kubo_node_sends_and_pins_every_cid(
    tmp_path: Path, jsipfs_daemon: JsIpfsDaemon, kubo_store: KuboStore
) -> None:
    home = tmp_path / "home"
    record, cids, content = _publish(home, tmp_path / "owner", seed=9101)
    target = f"kubo:{jsipfs_daemon.multiaddr}"
    before = _json(home, "pins", record, "--at", target)

    pinned = _json(home, "pin", record, "--to", target)

    assert [row["pins"][target] for row in before["items"]] == ["absent"] * 3
    assert pinned["complete"] is True
    assert [(row["cid"], row["status"]) for row in pinned["items"]] == [(c, "pinned") for c in cids]
    assert set(cids) <= set(kubo_store.pins())  # the node's own pin list
    for cid, data in content.items():  # every block is on the (offline) node, each verified on the way out
        assert kubo_store.cat(cid, max_size=len(data)) == data
    as_url = f"kubo:http://127.0.0.1:{jsipfs_daemon.api_port}"
    after = _json(home, "pins", record, "--at", as_url)
    assert after["places"] == ["local", as_url]
    assert [(row["role"], row["pins"]) for row in after["items"]] == [
        ("manifest", {"local": "pinned", as_url: "pinned"}),
        ("model", {"local": "pinned", as_url: "pinned"}),
        ("trigger", {"local": "pinned", as_url: "pinned"}),
    ]


def test_a_tampered_store_is_never_pinned_elsewhere(
    tmp_path: Path, jsipfs_daemon: JsIpfsDaemon, kubo_store: KuboStore
) -> None:
    home = tmp_path / "home"
    record, cids, _ = _publish(home, tmp_path / "owner", seed=9102)
    pack = max(home.rglob("*.pack"), key=lambda p: p.stat().st_size)  # the model's blocks
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.write_bytes(bytes(data))

    result = _invoke(home, "pin", record, "--to", f"kubo:{jsipfs_daemon.multiaddr}")

    assert result.exit_code == 1, result.output
    assert "does not match its content address" in result.stderr
    assert not set(cids) & set(kubo_store.pins())


def test_pin_to_a_pinning_service_that_fetches_from_the_owners_gateway(tmp_path: Path) -> None:
    home = tmp_path / "home"
    record, cids, _ = _publish(home, tmp_path / "owner", seed=9103)
    env = {"LEDGERMARK_PINNING_TOKEN": TOKEN}
    with running_pinning_service(TOKEN) as service, _serving(home, tmp_path / "serve.log") as gateway:
        target = f"psa:{service.url}"

        pinned = _json(home, "pin", record, "--to", target, "--origin", gateway, "--wait", "60", env=env)
        again = _json(home, "pin", record, "--to", target, "--origin", gateway, env=env)
        report = _json(home, "pins", record, "--at", target, env=env)

    assert pinned["complete"] is True
    assert [row["status"] for row in pinned["items"]] == ["pinned"] * 3
    assert all(service.holds(cid) for cid in cids)  # the service fetched every block, each verified
    assert [r["requestid"] for r in again["items"]] == [r["requestid"] for r in pinned["items"]]
    assert len(service.requests) == 3  # asking again made no new request
    request = service.requests[pinned["items"][1]["requestid"]]
    assert request.pin["origins"] == [gateway]
    assert request.pin["meta"] == {"app": "ledgermark", "record": record, "role": "model", "path": "model.pt"}
    assert [row["pins"] for row in report["items"]] == [{"local": "pinned", target: "pinned"}] * 3


def test_waiting_for_a_service_that_cannot_fetch_exits_2_with_each_status(tmp_path: Path) -> None:
    home = tmp_path / "home"
    record, _, _ = _publish(home, tmp_path / "owner", seed=9104)
    with running_pinning_service(TOKEN) as service:
        target = f"psa:{service.url}"
        env = {"LEDGERMARK_PINNING_TOKEN": TOKEN}

        waited = _invoke(home, "pin", record, "--to", target, "--wait", "0.5", env=env)
        refused = _invoke(home, "pin", record, "--to", target, env={"LEDGERMARK_PINNING_TOKEN": "wrong"})
        tokenless = _invoke(home, "pins", record, "--at", target)

    assert waited.exit_code == 2, waited.output
    assert f"{target} had not pinned everything after 0.5 s: (manifest): queued" in waited.stderr
    assert refused.exit_code == 2
    assert "refused the token in LEDGERMARK_PINNING_TOKEN (401 UNAUTHORIZED" in refused.stderr
    assert tokenless.exit_code == 2
    assert "set LEDGERMARK_PINNING_TOKEN" in tokenless.stderr
    assert "Traceback" not in waited.output + refused.output + tokenless.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["pin", "1", "--to", "ftp://example.com"], "--to 'ftp://example.com' is not a pinning target"),
        (["pin", "1", "--to", "kubo:"], "--to 'kubo:' is not a pinning target"),
        (
            ["pin", "1", "--to", "kubo:http://127.0.0.1:5001/api"],
            "expected http(s)://host:port and nothing more",
        ),
        (["pin", "1", "--to", "psa:example.com/pins"], "--to 'psa:example.com/pins' is not a pinning target"),
        (["pins", "1", "--at", "somewhere"], "--at 'somewhere' is not a pinning target"),
        (
            ["pin", "1", "--to", "kubo:/ip4/127.0.0.1/tcp/5001/http", "--origin", "http://x"],
            "--origin is for",
        ),
    ],
)
def test_a_bad_target_exits_2_naming_the_option(tmp_path: Path, args: list[str], expected: str) -> None:
    result = _invoke(tmp_path / "home", *args)

    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert not (tmp_path / "home").exists()  # refused before any backend was opened
