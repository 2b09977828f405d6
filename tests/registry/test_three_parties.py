"""Three parties, three data directories, one Anvil: an owner who publishes and serves, a buyer with no key and
only the owner's network profile, an arbiter with its own keystore, and a dishonest gateway in between.

Everything runs through the real CLI as subprocesses (``python -m registry``) with no ``LEDGERMARK_*`` variable
from outside. The parties share no disk: only the files one deliberately hands another (a profile, a suspect
model) cross over, and content travels through the owner's ``ledgermark serve`` gateway or a js-ipfs node.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ipfs.embedded import EmbeddedStore
from ipfs.gateway import GatewayStore
from ipfs.unixfs import decode_file_node
from registry import supervisor
from registry.jsipfs import JsIpfsDaemon
from tests.conftest import WatermarkFiles
from tests.fixtures.gateway_server import GatewayServer
from tests.registry.conftest import files_under

pytestmark = pytest.mark.daemon

CLI = [sys.executable, "-m", "registry"]
PASSWORD = "arbiter's own password"
MODEL_SIZE = 1_500_000  # six 256 KiB chunks under the default profile


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The outside environment without any LEDGERMARK_* variable, plus what this party sets."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERMARK_")}
    return {**clean, **(extra or {})}


def _cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)], env=_env(env), capture_output=True, text=True, timeout=180, check=False
    )


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args[3:]} exited {result.returncode}:\n{result.stderr}"
    return result


@pytest.fixture
def serving(tmp_path: Path, anvil_node) -> Iterator[dict[str, Any]]:
    """The owner's home on Anvil with the contracts deployed, and its `ledgermark serve` running (stopped by
    pid at the end, pass or fail)."""
    home = tmp_path / "owner"
    owner = ["--data-dir", str(home), "--chain", anvil_node.url]
    env = {"LEDGERMARK_PRIVATE_KEY": anvil_node.first_key}
    _ok(_cli(*owner, "chain", "deploy", env=env))
    port = supervisor.free_port()
    service = subprocess.Popen(
        [*CLI, *owner, "serve", "--port", str(port)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        supervisor.wait_http(f"{url}/health")
        yield {"args": owner, "env": env, "url": url, "node": anvil_node, "home": home}
    finally:
        os.killpg(service.pid, signal.SIGTERM)
        service.wait(timeout=30)


def test_owner_buyer_and_arbiter_on_three_data_dirs_share_one_chain(
    serving: dict[str, Any], jsipfs_daemon: JsIpfsDaemon, watermark_files: WatermarkFiles, tmp_path: Path
) -> None:
    owner = {**serving, "kubo": jsipfs_daemon.multiaddr, "files": tmp_path / "owner-files"}
    buyer = ["--data-dir", str(tmp_path / "buyer")]  # no key, an empty home: only the profiles it is handed

    profiles, published = _owner_publishes_and_exports(owner, tmp_path)
    manifest_cid = _buyer_fetches_through_the_gateway_then_js_ipfs(
        owner, buyer, profiles, published, tmp_path
    )
    _a_dishonest_gateway_is_named_and_never_trusted(owner, buyer, profiles["gateway"], manifest_cid, tmp_path)
    _arbiter_reviews_and_votes(owner, buyer, profiles["network"], watermark_files, tmp_path)

    assert not (tmp_path / "buyer" / "deployments.json").exists()
    assert not (tmp_path / "buyer" / "keystore").exists()
    assert not (tmp_path / "arbiter" / "deployments.json").exists()


def _owner_publishes_and_exports(owner: dict[str, Any], tmp_path: Path) -> tuple[dict[str, Path], Any]:
    """Record 1 (a multi-chunk model and a card) and three profiles: gateway and js-ipfs, each alone, both."""
    args, env, files = owner["args"], owner["env"], owner["files"]
    files.mkdir()
    (files / "model.bin").write_bytes(os.urandom(MODEL_SIZE))
    (files / "card.md").write_text("# tiny\n\nA random model, for the three-parties test.\n")
    published = json.loads(
        _ok(
            _cli(*args, "publish", files / "model.bin", f"{files / 'card.md'}:card", "--json", env=env)
        ).stdout
    )
    assert published["record_id"] == 1
    profiles = {name: tmp_path / f"{name}.json" for name in ("network", "gateway", "kubo")}
    sources = {
        "network": ["--gateway", owner["url"], "--kubo", owner["kubo"]],
        "gateway": ["--gateway", owner["url"]],
        "kubo": ["--kubo", owner["kubo"]],
    }
    for name, path in profiles.items():
        _ok(_cli(*args, "network", "export", "--out", path, *sources[name]))
    document = json.loads(profiles["network"].read_text())
    assert document["content"] == {"kubo": [owner["kubo"]], "gateways": [owner["url"]]}
    assert document["rpc"] == [owner["node"].url]
    return profiles, published


def _buyer_fetches_through_the_gateway_then_js_ipfs(
    owner: dict[str, Any], buyer: list[str], profiles: dict[str, Path], published: Any, tmp_path: Path
) -> str:
    """show, fetch and verify with each profile; js-ipfs only once the owner has pinned the record there.
    Returns the record's manifest CID."""
    files, via_gateway = owner["files"], [*buyer, "--network", str(profiles["gateway"])]
    shown = json.loads(_ok(_cli(*via_gateway, "show", "1", "--json")).stdout)
    assert shown["root"] == published["root"]
    fetched = _ok(_cli(*via_gateway, "fetch", "1", "--out", tmp_path / "got-gateway"))
    assert "record 1: all 2 artifacts verified against the chain" in fetched.stdout
    _assert_same_files(files, tmp_path / "got-gateway")
    verified = _ok(_cli(*via_gateway, "verify", "1", files / "model.bin", files / "card.md"))
    assert "record 1: intact (2 artifacts)" in verified.stdout

    pinned = json.loads(
        _ok(_cli(*owner["args"], "pin", "1", "--to", f"kubo:{owner['kubo']}", "--json")).stdout
    )
    assert pinned["complete"] and [(i["path"], i["status"]) for i in pinned["items"]] == [
        ("(manifest)", "pinned"),
        ("card.md", "pinned"),
        ("model.bin", "pinned"),
    ]
    _ok(_cli(*buyer, "--network", profiles["kubo"], "fetch", "1", "--out", tmp_path / "got-kubo"))
    _assert_same_files(files, tmp_path / "got-kubo")

    full = [*buyer, "--network", str(profiles["network"])]
    assert json.loads(_ok(_cli(*full, "show", "1", "--json")).stdout)["root"] == published["root"]
    _ok(_cli(*full, "fetch", "1", "--out", tmp_path / "got-full"))
    _assert_same_files(files, tmp_path / "got-full")
    got = tmp_path / "got-full"
    assert (
        "record 1: intact (2 artifacts)"
        in _ok(_cli(*full, "verify", "1", got / "model.bin", got / "card.md")).stdout
    )
    return str(shown["manifest_cid"])


def _a_dishonest_gateway_is_named_and_never_trusted(
    owner: dict[str, Any], buyer: list[str], profile: Path, manifest_cid: str, tmp_path: Path
) -> None:
    """Listed before the owner's gateway, the liar is named and the fetch completes from the owner's; alone,
    the fetch exits 1 and leaves nothing behind."""
    via_gateway = [*buyer, "--network", str(profile)]
    with _dishonest_gateway(
        tmp_path / "mallory", owner["url"], manifest_cid, tmp_path / "got-gateway"
    ) as mallory:
        both = ["--gateway", mallory.url, "--gateway", owner["url"]]
        rescued = _cli(*via_gateway, *both, "fetch", "1", "--out", tmp_path / "got-rescued")
        asked = len(mallory.requests)
        alone = _cli(*via_gateway, "--gateway", mallory.url, "fetch", "1", "--out", tmp_path / "got-lied")

    assert asked > 0  # the buyer did ask the liar first
    _ok(rescued)
    _assert_same_files(owner["files"], tmp_path / "got-rescued")
    assert f"WARNING: gateway {mallory.url} was corrupt for model.bin" in rescued.stdout  # the liar is named
    assert f"from gateway {owner['url']}: " in rescued.stdout  # and who served the bytes instead
    assert alone.returncode == 1, alone.stderr
    assert f"gateway {mallory.url}: corrupt after" in alone.stderr
    assert "downloaded artifacts do not match the anchored record; nothing was written" in alone.stderr
    assert files_under(tmp_path / "got-lied") == []  # no file, no partial, no staging folder


def _arbiter_reviews_and_votes(
    owner: dict[str, Any], buyer: list[str], profile: Path, watermark_files: WatermarkFiles, tmp_path: Path
) -> None:
    """The owner publishes the watermarked model (record 2), funds and grants a new arbiter account, opens
    dispute 1 on a suspect copy and reveals; the arbiter, with the profile and its own keystore, reviews and
    votes; the buyer sees the vote."""
    args, env, files = owner["args"], owner["env"], owner["files"]
    arbiter_home, secret = tmp_path / "arbiter", {"LEDGERMARK_KEYSTORE_PASSWORD": PASSWORD}
    address = _ok(_cli("--data-dir", arbiter_home, "account", "new", "--quiet", env=secret)).stdout.strip()
    keystore = arbiter_home / "keystore" / f"{address}.json"
    assert keystore.is_file()
    _ok(_cli(*args, "account", "send", address, "1", env=env))
    _ok(_cli(*args, "dispute", "grant-arbiter", address, env=env))

    key, model = files / "key.wmk", files / "watermarked.pt"
    shutil.copyfile(watermark_files.key, key)
    shutil.copyfile(watermark_files.watermarked, model)
    marked = _ok(_cli(*args, "publish", f"{model}:model", "--watermark-key", key, "--json", env=env))
    assert json.loads(marked.stdout)["record_id"] == 2
    _ok(
        _cli(*args, "pin", "2", "--to", f"kubo:{owner['kubo']}")
    )  # its sealed key, for readers of the profile
    suspect = tmp_path / "suspect" / "stolen.pt"  # found by the owner, handed to the arbiter
    suspect.parent.mkdir()
    shutil.copyfile(watermark_files.watermarked, suspect)
    claim = ["dispute", "open", "2", "--model", suspect, "--key", key, "--report-dir", tmp_path / "claim"]
    assert json.loads(_ok(_cli(*args, *claim, "--json", env=env)).stdout)["dispute_id"] == 1
    _ok(_cli(*args, "dispute", "reveal", "1", "--key", key, env=env))

    arbiter = ["--data-dir", str(arbiter_home), "--network", str(profile), "--keystore", str(keystore)]
    review_args = [
        "dispute",
        "review",
        "1",
        "--model",
        suspect,
        "--report-dir",
        tmp_path / "review",
        "--json",
    ]
    review = json.loads(_ok(_cli(*arbiter, *review_args, env=secret)).stdout)
    assert review["recommendation"] == "uphold"
    report = tmp_path / "review" / "evidence.json"
    _ok(_cli(*arbiter, "dispute", "vote", "1", "--report", report, "--uphold", env=secret))

    seen = json.loads(_ok(_cli(*buyer, "--network", profile, "dispute", "show", "1", "--json")).stdout)
    assert seen["key_check"].startswith("ok: ")
    assert seen["status"] == "open"
    assert seen["votes"] == {"arbiters": 1, "quorum": 1, "reject": 0, "uphold": 1}
    assert seen["reports"] == [{"arbiter": address, "uphold": True, "report_cid": review["report_cid"]}]


def _assert_same_files(expected: Path, got: Path) -> None:
    assert files_under(got) == ["card.md", "model.bin"]
    for name in ("card.md", "model.bin"):
        assert (got / name).read_bytes() == (expected / name).read_bytes(), name


@contextlib.contextmanager
def _dishonest_gateway(home: Path, honest: str, manifest_cid: str, fetched: Path) -> Iterator[GatewayServer]:
    """A gateway holding the whole record (the manifest from the owner's gateway, the files a buyer fetched)
    that alters one leaf in the middle of the model's DAG."""
    with EmbeddedStore(home / "ipfs") as store, GatewayStore(honest) as owner:
        assert store.add_bytes(owner.cat(manifest_cid)) == manifest_cid
        store.add_file(fetched / "card.md")
        leaves = decode_file_node(store.get_block(store.add_file(fetched / "model.bin"))).children
        assert len(leaves) > 2  # a multi-chunk model
        with GatewayServer(store, corrupt=leaves[len(leaves) // 2]) as server:
            yield server
