"""Network profiles: hostile files refused with their reason, layering beneath options and variables, and a
profile exported by an owner taking a buyer with no key and an empty data dir to the same records (Anvil)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from registry import network
from registry.cli import app
from tests.registry.conftest import write_artifacts

runner = CliRunner()

REGISTRY = "0x" + "11" * 20
DISPUTES = "0x" + "22" * 20


def cli(args: list[str], env: dict[str, str] | None = None) -> Any:
    """Run the CLI with no LEDGERMARK_* variable from outside except the node binaries' locations."""
    clean: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith("LEDGERMARK_") and not name.endswith("_BIN")
    }
    return runner.invoke(app, args, env={**clean, **(env or {})})


def profile_document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": network.FORMAT,
        "chain_id": 1337,
        "rpc": ["http://127.0.0.1:8545"],
        "contracts": {
            "registry": {"address": REGISTRY, "block": 7},
            "disputes": {"address": DISPUTES, "block": 7},
        },
        "confirmations": 3,
        "content": {"kubo": ["/ip4/127.0.0.1/tcp/5001/http"], "gateways": ["http://gw.example:8080"]},
    }
    document.update(changes)
    return document


def write_profile(path: Path, document: Any) -> Path:
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


# --------------------------------------------------------------------------- parsing hostile files


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (" " * (network.MAX_BYTES + 1), "larger than 64 KiB"),
        ("[" * 10_000 + "]" * 10_000, "nests deeper than 8 levels"),
        ('{"a": "' + "[" * 5_000 + '"}', "unknown keys ['a']"),  # brackets in a string do not nest
        ("{not json", "is not valid JSON"),
        ([], "the document must be a JSON object, not a list"),
        (
            profile_document(format="ledgermark-network/2"),
            "this Ledgermark reads 'ledgermark-network/1' only",
        ),
        (profile_document(chain_id="1337"), "chain_id must be a whole number"),
        (profile_document(chain_id=True), "chain_id must be a whole number"),
        (profile_document(rpc="http://127.0.0.1:8545"), "rpc must be a list of strings"),
        (profile_document(rpc=[]), "rpc lists no URL"),
        (profile_document(rpc=["ftp://x"]), "is not an http(s):// URL"),
        (profile_document(confirmations=-1), "confirmations must be a whole number from 0"),
        (profile_document(extra=1), "unknown keys ['extra']"),
        (profile_document(contracts={"registry": {"address": REGISTRY}}), "contracts lacks ['disputes']"),
        (
            profile_document(
                contracts={"registry": {"address": "0x1234"}, "disputes": {"address": DISPUTES}}
            ),
            "contracts.registry.address is not an address",
        ),
        (
            profile_document(
                contracts={"registry": {"address": REGISTRY, "block": "7"}, "disputes": {"address": DISPUTES}}
            ),
            "contracts.registry.block must be a whole number",
        ),
        (profile_document(content={"gateways": ["javascript:alert(1)"]}), "content.gateways"),
        (profile_document(content={"kubo": ["/ip4/1.2.3.4/tcp/5001 /x"]}), "is not a multiaddr"),
    ],
)
def test_a_malformed_profile_exits_2_naming_the_file_and_the_fault(
    tmp_path: Path, content: Any, message: str
) -> None:
    path = write_profile(tmp_path / "net.json", content)

    result = cli(["--data-dir", str(tmp_path / "home"), "--network", str(path), "network", "show"])

    assert result.exit_code == 2, result.output
    assert f"network profile {path}" in result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_missing_profile_says_how_to_make_one(tmp_path: Path) -> None:
    result = cli(["network", "show"], {"LEDGERMARK_NETWORK": str(tmp_path / "nope.json")})

    assert result.exit_code == 2
    assert "does not exist (write one with `ledgermark network export`)" in result.output


# --------------------------------------------------------------------------- layering


def test_network_show_names_the_profile_as_the_source_beneath_options_and_variables(tmp_path: Path) -> None:
    path = write_profile(tmp_path / "net.json", profile_document())

    result = cli(
        [
            "--data-dir",
            str(tmp_path / "home"),
            "--network",
            str(path),
            "--gateway",
            "http://mine:1",
            "network",
            "show",
            "--json",
        ],
        {"LEDGERMARK_CONFIRMATIONS": "5"},
    )

    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    from_profile = f"network {path}"
    assert shown["chain"] == {"value": "http://127.0.0.1:8545", "source": from_profile}
    assert shown["registry_address"] == {"value": REGISTRY, "source": from_profile}
    assert shown["disputes_address"] == {"value": DISPUTES, "source": from_profile}
    assert shown["chain_id"] == {"value": "1337", "source": from_profile}
    assert shown["deployment_block"] == {"value": "7", "source": from_profile}
    assert shown["kubo_nodes"] == {"value": "/ip4/127.0.0.1/tcp/5001/http", "source": from_profile}
    assert shown["confirmations"] == {"value": "5", "source": "LEDGERMARK_CONFIRMATIONS"}
    assert shown["gateways"] == {"value": "http://mine:1", "source": "--gateway"}
    assert shown["network"] == {"value": str(path), "source": "--network"}
    assert shown["private_key"] == {"value": "(not set)", "source": "default"}


def test_a_variable_naming_other_contracts_drops_the_profiles_deployment_block(tmp_path: Path) -> None:
    path = write_profile(tmp_path / "net.json", profile_document())
    other = "0x" + "33" * 20

    result = cli(
        ["--data-dir", str(tmp_path / "home"), "network", "show", "--json"],
        {
            "LEDGERMARK_NETWORK": str(path),
            "LEDGERMARK_REGISTRY_ADDRESS": other,
            "LEDGERMARK_DISPUTES_ADDRESS": other,
        },
    )

    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["registry_address"] == {"value": other, "source": "LEDGERMARK_REGISTRY_ADDRESS"}
    assert shown["deployment_block"]["value"] == "0"


def test_a_secret_is_shown_only_as_set(tmp_path: Path) -> None:
    key = "0x" + "ab" * 32

    result = cli(["--data-dir", str(tmp_path), "network", "show"], {"LEDGERMARK_PRIVATE_KEY": key})

    assert result.exit_code == 0, result.output
    assert "ab" * 32 not in result.output
    assert "private_key" in result.output and "(set)  (LEDGERMARK_PRIVATE_KEY)" in result.output


@pytest.mark.parametrize("chain", ["embedded", "local"])
def test_export_refuses_a_chain_nobody_else_can_reach(tmp_path: Path, chain: str) -> None:
    result = cli(["--data-dir", str(tmp_path), "--chain", chain, "network", "export"])

    assert result.exit_code == 2, result.output
    assert ("chain start" in result.output) and (
        "not running" in result.output or "embedded" in result.output
    )


# --------------------------------------------------------------------------- on a real chain


@pytest.fixture
def owner(anvil_node, jsipfs_daemon, tmp_path: Path) -> dict[str, Any]:
    """An owner on Anvil (contracts deployed, one record published through js-ipfs) and its exported profile."""
    env = {"LEDGERMARK_PRIVATE_KEY": anvil_node.first_key}
    base = [
        "--data-dir",
        str(tmp_path / "owner"),
        "--chain",
        anvil_node.url,
        "--ipfs",
        jsipfs_daemon.multiaddr,
    ]
    assert cli([*base, "chain", "deploy"], env).exit_code == 0
    artifacts = write_artifacts(tmp_path / "files", seed=3, model_size=20_000)
    published = cli(
        [*base, "publish", f"{artifacts[0].path}:model", f"{artifacts[1].path}:trigger", "--json"], env
    )
    assert published.exit_code == 0, published.output
    profile = tmp_path / "profile.json"
    exported = cli(
        [*base, "network", "export", "--out", str(profile), "--kubo", jsipfs_daemon.multiaddr]
        + ["--gateway", "http://127.0.0.1:9/"],
        env,
    )
    assert exported.exit_code == 0, exported.output
    return {
        "record": json.loads(published.stdout),
        "profile": profile,
        "files": artifacts,
        "ipfs": jsipfs_daemon.multiaddr,
        "node": anvil_node,
    }


@pytest.mark.daemon
def test_an_exported_profile_gives_a_keyless_buyer_the_same_record(
    owner: dict[str, Any], tmp_path: Path
) -> None:
    document = json.loads(owner["profile"].read_text())
    assert document["chain_id"] == 1337 and document["rpc"] == [owner["node"].url]
    assert document["confirmations"] == 0  # a dev chain
    assert document["content"] == {"kubo": [owner["ipfs"]], "gateways": ["http://127.0.0.1:9/"]}
    assert oct(owner["profile"].stat().st_mode & 0o777) == "0o644"
    buyer_home = tmp_path / "buyer"
    buyer = ["--data-dir", str(buyer_home), "--network", str(owner["profile"])]  # content: the profile's
    record = str(owner["record"]["record_id"])

    shown = cli([*buyer, "show", record, "--json"])
    fetched = cli([*buyer, "fetch", record, "--out", str(tmp_path / "got")])
    verified = cli([*buyer, "verify", record, *(str(a.path) for a in owner["files"])])
    lineage = cli([*buyer, "lineage", record])

    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["root"] == owner["record"]["root"]
    assert fetched.exit_code == 0, fetched.output
    assert (tmp_path / "got" / "model.pt").read_bytes() == owner["files"][0].path.read_bytes()
    assert verified.exit_code == 0, verified.output
    assert lineage.exit_code == 0, lineage.output
    assert not (buyer_home / "deployments.json").exists()


@pytest.mark.daemon
def test_a_write_without_any_signer_names_all_three_ways_to_give_one(
    owner: dict[str, Any], tmp_path: Path
) -> None:
    buyer = [
        "--data-dir",
        str(tmp_path / "buyer"),
        "--network",
        str(owner["profile"]),
        "--ipfs",
        owner["ipfs"],
    ]

    result = cli([*buyer, "revoke", str(owner["record"]["record_id"])])

    assert result.exit_code == 2, result.output
    for way in ("LEDGERMARK_PRIVATE_KEY", "--keystore", "--account"):
        assert way in result.output


@pytest.mark.daemon
def test_a_profile_for_another_chain_is_refused_naming_both_ids(
    owner: dict[str, Any], tmp_path: Path
) -> None:
    document = json.loads(owner["profile"].read_text())
    path = write_profile(tmp_path / "other.json", {**document, "chain_id": 5})

    result = cli(["--data-dir", str(tmp_path / "b"), "--network", str(path), "show", "1"])

    assert result.exit_code == 2, result.output
    assert (
        f"network profile {path} says chain 5, the node at {owner['node'].url} is chain 1337" in result.output
    )


@pytest.mark.daemon
def test_a_profile_naming_an_address_without_code_is_refused(owner: dict[str, Any], tmp_path: Path) -> None:
    document = json.loads(owner["profile"].read_text())
    document["contracts"]["disputes"]["address"] = "0x" + "44" * 20
    path = write_profile(tmp_path / "nocode.json", document)

    result = cli(["--data-dir", str(tmp_path / "b"), "--network", str(path), "show", "1"])

    assert result.exit_code == 2, result.output
    assert "0x" + "44" * 20 in result.output and "has no code there" in result.output


@pytest.mark.daemon
def test_an_arbiter_with_only_a_profile_shows_reviews_and_tests_a_dispute(
    anvil_node, jsipfs_daemon, watermark_files, tmp_path: Path
) -> None:
    key = tmp_path / "key.wmk"
    key.write_bytes(watermark_files.key.read_bytes())
    stolen = tmp_path / "stolen.pt"
    stolen.write_bytes(watermark_files.watermarked.read_bytes())
    env = {"LEDGERMARK_PRIVATE_KEY": anvil_node.first_key}
    owner = [
        "--data-dir",
        str(tmp_path / "owner"),
        "--chain",
        anvil_node.url,
        "--ipfs",
        jsipfs_daemon.multiaddr,
    ]
    assert cli([*owner, "chain", "deploy"], env).exit_code == 0
    published = cli(
        [*owner, "publish", f"{watermark_files.watermarked}:model", "--watermark-key", str(key), "--json"],
        env,
    )
    assert published.exit_code == 0, published.output
    record = str(json.loads(published.stdout)["record_id"])
    opened = cli(
        [*owner, "dispute", "open", record, "--model", str(stolen), "--key", str(key)]
        + ["--report-dir", str(tmp_path / "claim"), "--json"],
        env,
    )
    assert opened.exit_code == 0, opened.output
    dispute = str(json.loads(opened.stdout)["dispute_id"])
    assert cli([*owner, "dispute", "reveal", dispute, "--key", str(key)], env).exit_code == 0
    profile = tmp_path / "profile.json"
    exported = cli(
        [*owner, "network", "export", "--out", str(profile), "--kubo", jsipfs_daemon.multiaddr], env
    )
    assert exported.exit_code == 0, exported.output
    arbiter = ["--data-dir", str(tmp_path / "arbiter"), "--network", str(profile)]

    shown = cli([*arbiter, "dispute", "show", dispute, "--json"])
    reviewed = cli(
        [
            *arbiter,
            "dispute",
            "review",
            dispute,
            "--model",
            str(stolen),
            "--report-dir",
            str(tmp_path / "review"),
        ]
        + ["--json"]
    )
    tested = cli([*arbiter, "watermark", "verify", str(stolen), str(key)])

    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["key_check"].startswith("ok: ")
    assert reviewed.exit_code == 0, reviewed.output
    assert json.loads(reviewed.stdout)["recommendation"] == "uphold"
    assert tested.exit_code == 0, tested.output
    assert not (tmp_path / "arbiter" / "deployments.json").exists()


@pytest.mark.daemon
def test_export_on_the_local_chain_names_the_running_nodes_url(tmp_path: Path) -> None:
    from tests.fixtures.chain_nodes import require_binary

    require_binary("anvil")
    home = ["--data-dir", str(tmp_path / "home")]
    started = cli([*home, "chain", "start"])
    assert started.exit_code == 0, started.output
    try:
        model = write_artifacts(tmp_path / "files", model_size=5_000)[0].path
        assert cli([*home, "publish", str(model)]).exit_code == 0  # deploys the contracts on first use
        exported = cli([*home, "network", "export"])
        status = cli([*home, "chain", "status"])
    finally:
        assert cli([*home, "chain", "stop"]).exit_code == 0

    assert exported.exit_code == 0, exported.output
    document = json.loads(exported.stdout)
    url = started.stdout.split(" running at ")[1].split()[0]
    assert document["rpc"] == [url] and document["chain_id"] == 1337
    assert document["contracts"]["registry"]["address"] in status.stdout
    assert network.parse(exported.stdout.encode(), "stdout").registry.block >= 1
