"""The `ledgermark` command line: output, exit codes (0 ok, 1 mismatch, 2 usage/environment)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from registry.cli import app
from tests.registry.conftest import files_under, write_artifacts

runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("content", "version", "expected"),
    [
        (b"", 0, "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"),
        (b"", 1, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"),
        (b"hello world\n", 0, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"),
        (b"hello world\n", 1, "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"),
    ],
)
def test_cid_prints_what_kubo_prints(tmp_path: Path, content: bytes, version: int, expected: str) -> None:
    target = tmp_path / "file"
    target.write_bytes(content)

    result = runner.invoke(app, ["cid", str(target), "--cid-version", str(version)])

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == expected


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["cid", "{f}"], {}, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"),
        (
            ["--cid-version", "1", "cid", "{f}"],
            {},
            "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
        ),
        (
            ["cid", "--cid-version", "1", "{f}"],
            {},
            "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
        ),
        (
            ["cid", "{f}", "--cid-version", "1"],
            {},
            "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
        ),
        (
            ["cid", "{f}"],
            {"LEDGERMARK_CID_VERSION": "1"},
            "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
        ),
        (
            ["cid", "{f}", "--cid-version", "0"],
            {"LEDGERMARK_CID_VERSION": "1"},
            "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o",
        ),
        (
            ["-v", "cid", "{f}"],
            {"LEDGERMARK_CID_VERSION": "1"},
            "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
        ),
    ],
)
def test_cid_honours_the_global_option_its_own_and_the_environment(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    """In a real process (the plain forms take the fast path in `main`) and through the typer app alike."""
    target = tmp_path / "file"
    target.write_bytes(b"hello world\n")
    argv = [a.replace("{f}", str(target)) for a in args]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERMARK_")}

    process = subprocess.run(
        [sys.executable, "-m", "registry", *argv],
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    in_app = runner.invoke(app, argv, env={"LEDGERMARK_CID_VERSION": None, **env})

    assert (process.returncode, process.stdout) == (0, expected + "\n"), process.stderr
    assert (in_app.exit_code, in_app.stdout) == (0, expected + "\n"), in_app.output


def test_cid_rejects_an_unknown_version(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")

    result = runner.invoke(app, ["cid", str(tmp_path / "f"), "--cid-version", "2"])

    assert result.exit_code == 2
    assert "error: --cid-version must be 0 or 1" in result.stderr


def test_publish_json_on_the_embedded_backends(tmp_path: Path) -> None:
    artifacts = write_artifacts(tmp_path / "owner")
    args = [
        "--data-dir",
        str(tmp_path / "state"),
        "--chain",
        "embedded",
        "publish",
        "--json",
        "--name",
        "tiny",
    ]

    result = runner.invoke(app, [*args, f"{artifacts[0].path}:model", f"{artifacts[1].path}:trigger"])

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["record_id"] == 1
    assert [(a["path"], a["role"]) for a in document["artifacts"]] == [
        ("model.pt", "model"),
        ("triggers.npz", "trigger"),
    ]
    assert document["root"].startswith("0x") and len(document["root"]) == 66


def test_unknown_record_exits_2_with_the_reason(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--data-dir", str(tmp_path), "--chain", "embedded", "show", "7"])

    assert result.exit_code == 2
    assert result.stderr.startswith("error: record 7 is not registered on chain ")


def test_ipfs_node_down_exits_2(tmp_path: Path) -> None:
    artifacts = write_artifacts(tmp_path / "owner")
    port = _free_port()

    result = runner.invoke(
        app,
        [
            "--data-dir",
            str(tmp_path / "s"),
            "--chain",
            "embedded",
            "--ipfs",
            f"/ip4/127.0.0.1/tcp/{port}/http",
            "publish",
            str(artifacts[0].path),
        ],
    )

    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert f"127.0.0.1/tcp/{port}" in result.stderr


def test_chain_down_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGERMARK_PRIVATE_KEY", "0x" + "11" * 32)
    port = _free_port()

    result = runner.invoke(
        app, ["--data-dir", str(tmp_path), "--chain", f"http://127.0.0.1:{port}", "show", "1"]
    )

    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert f"http://127.0.0.1:{port}" in result.stderr


@pytest.mark.daemon
def test_url_chain_reads_need_no_key_and_writes_say_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, anvil_node
) -> None:
    """A buyer reads a URL chain with no key at all; only a transaction asks for LEDGERMARK_PRIVATE_KEY."""
    monkeypatch.delenv("LEDGERMARK_PRIVATE_KEY", raising=False)
    base = ["--data-dir", str(tmp_path / "home"), "--chain", anvil_node.url]
    deployed = runner.invoke(
        app, [*base, "chain", "deploy"], env={"LEDGERMARK_PRIVATE_KEY": anvil_node.first_key}
    )
    assert deployed.exit_code == 0, deployed.output
    artifacts = write_artifacts(tmp_path / "owner")

    read = runner.invoke(app, [*base, "show", "1"])
    write = runner.invoke(app, [*base, "publish", f"{artifacts[0].path}:model"])

    assert read.exit_code == 2 and "record 1 is not registered" in read.stderr  # the read reached the chain
    assert write.exit_code == 2 and "set LEDGERMARK_PRIVATE_KEY" in write.stderr
    assert "Traceback" not in read.output + write.output
    assert not list((tmp_path / "home").rglob("*.pack"))  # the key was asked for before anything was stored


def test_bad_chain_setting_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--data-dir", str(tmp_path), "--chain", "mainnet", "show", "1"])

    assert result.exit_code == 2
    assert "--chain 'mainnet' is not understood" in result.stderr


# --------------------------------------------------------------------------- default backends, new processes


def _ledgermark(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "LEDGERMARK_HOME": str(home)}
    for name in ("LEDGERMARK_CHAIN", "LEDGERMARK_IPFS", "LEDGERMARK_PRIVATE_KEY"):
        environment.pop(name, None)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "registry", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.daemon
def test_publish_then_fetch_in_new_processes_with_no_configuration(tmp_path: Path) -> None:
    """The default chain (a per-command Anvil, its state in the data dir) keeps records between commands."""
    home = tmp_path / "home"
    artifacts = write_artifacts(tmp_path / "owner")

    published = _ledgermark(
        home, "publish", "--json", f"{artifacts[0].path}:model", f"{artifacts[1].path}:trigger"
    )
    assert published.returncode == 0, published.stderr
    record_id = str(json.loads(published.stdout)["record_id"])

    fetched = _ledgermark(home, "fetch", record_id, "--out", str(tmp_path / "buyer"))
    assert fetched.returncode == 0, fetched.stderr
    assert f"record {record_id}: all 2 artifacts verified against the chain" in fetched.stdout
    assert files_under(tmp_path / "buyer") == ["model.pt", "triggers.npz"]

    intact = _ledgermark(home, "verify", record_id, str(tmp_path / "buyer"))
    assert intact.returncode == 0, intact.stderr
    assert f"record {record_id}: intact (2 artifacts)" in intact.stdout

    tampered = tmp_path / "tampered"
    shutil.copytree(tmp_path / "buyer", tampered)
    data = bytearray((tampered / "model.pt").read_bytes())
    data[10] ^= 0xFF
    (tampered / "model.pt").write_bytes(bytes(data))
    mismatch = _ledgermark(home, "verify", record_id, str(tampered), "--json")
    assert mismatch.returncode == 1
    report = json.loads(mismatch.stdout)
    assert report["ok"] is False
    assert [m["path"] for m in report["mismatched"]] == ["model.pt"]
    assert report["intact"] == ["triggers.npz"]

    shown = _ledgermark(home, "show", record_id, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["leaf_count"] == 2
    assert not (home / "chain" / "node.json").exists(), "the per-command Ganache must be stopped"


def test_publish_with_a_watermark_key_writes_an_owner_only_data_key(tmp_path: Path) -> None:
    artifacts = write_artifacts(tmp_path / "owner")
    key = tmp_path / "owner" / "key.wmk"
    key.write_bytes(b"key material")

    result = runner.invoke(
        app,
        [
            "--data-dir",
            str(tmp_path / "s"),
            "--chain",
            "embedded",
            "publish",
            "--json",
            "--watermark-key",
            str(key),
            f"{artifacts[0].path}:model",
        ],
    )

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    data_key = Path(document["sealed_key_data_key_file"])
    assert data_key == tmp_path / "owner" / "key.wmk.datakey"
    assert data_key.stat().st_mode & 0o777 == 0o600
    assert len(bytes.fromhex(data_key.read_text().strip())) == 32
    assert [a["role"] for a in document["artifacts"]] == ["model", "watermark-key"]


def test_publish_rejects_an_unknown_derivation(tmp_path: Path) -> None:
    artifacts = write_artifacts(tmp_path / "owner")

    result = runner.invoke(
        app,
        [
            "--data-dir",
            str(tmp_path),
            "--chain",
            "embedded",
            "publish",
            "--parent",
            "1",
            "--derivation",
            "merge",
            str(artifacts[0].path),
        ],
    )

    assert result.exit_code == 2
    assert "--derivation 'merge': use fine-tune, quantize, prune, distill or other" in result.stderr


@pytest.mark.daemon
def test_background_chain_transfer_and_revoke(tmp_path: Path) -> None:
    """`chain start` keeps one Ganache for a series of commands; only the owner may transfer or revoke."""
    from registry.chain.localnode import dev_accounts

    home = tmp_path / "home"
    artifacts = write_artifacts(tmp_path / "owner")
    started = _ledgermark(home, "chain", "start")
    assert started.returncode == 0, started.stderr
    try:
        published = _ledgermark(home, "publish", "--json", f"{artifacts[0].path}:model")
        record_id = str(json.loads(published.stdout)["record_id"])
        stranger = dev_accounts(2)[1]

        env_key = {"LEDGERMARK_PRIVATE_KEY": stranger.key.hex()}
        refused = _ledgermark(home, "revoke", record_id, env=env_key)
        assert refused.returncode == 2
        assert "ModelRegistryUnauthorizedAccount" in refused.stderr

        moved = _ledgermark(home, "transfer", record_id, stranger.address)
        assert moved.returncode == 0, moved.stderr
        revoked = _ledgermark(home, "revoke", record_id, env=env_key)
        assert revoked.returncode == 0, revoked.stderr

        shown = _ledgermark(home, "show", record_id)
        assert f"record      {record_id}  (REVOKED)" in shown.stdout
        assert f"owner       {stranger.address}" in shown.stdout
        checked = _ledgermark(home, "verify", record_id, str(artifacts[0].path))
        assert checked.returncode == 0
        assert "WARNING: the owner has revoked this record" in checked.stdout
    finally:
        stopped = _ledgermark(home, "chain", "stop")
    assert stopped.returncode == 0 and "stopped anvil (pid" in stopped.stdout
    assert not (home / "chain" / "node.json").exists()


@pytest.mark.daemon
def test_a_dispute_from_the_command_line_on_a_persistent_chain(tmp_path: Path, watermark_files) -> None:
    """Claimant and arbiter in separate processes on one default chain: open, reveal, review, vote, finalise."""
    from registry.chain.localnode import dev_accounts

    home = tmp_path / "home"
    key = tmp_path / "key.wmk"
    shutil.copy(watermark_files.key, key)
    stolen = tmp_path / "stolen.pt"
    shutil.copy(watermark_files.watermarked, stolen)
    arbiter = {"LEDGERMARK_PRIVATE_KEY": dev_accounts(2)[1].key.hex()}
    assert _ledgermark(home, "chain", "start").returncode == 0
    try:
        published = _ledgermark(
            home, "publish", "--json", f"{watermark_files.watermarked}:model", "--watermark-key", str(key)
        )
        assert published.returncode == 0, published.stderr
        record_id = str(json.loads(published.stdout)["record_id"])

        innocent = _ledgermark(
            home,
            "dispute",
            "open",
            record_id,
            "--model",
            str(watermark_files.base),
            "--key",
            str(key),
            "--report-dir",
            str(tmp_path / "no"),
        )
        assert innocent.returncode == 2
        assert "the test does not support a claim (not a copy" in innocent.stderr

        # a key whose bits were chosen (here: reversed), anchored by its own record, supports no claim
        document = json.loads(key.read_bytes())
        crafted = tmp_path / "crafted.wmk"
        crafted.write_text(json.dumps({**document, "bits": document["bits"][::-1]}))
        assert document["bits"][::-1] != document["bits"]
        anchored = _ledgermark(
            home, "publish", "--json", f"{watermark_files.base}:model", "--watermark-key", str(crafted)
        )
        assert anchored.returncode == 0, anchored.stderr
        refused = _ledgermark(
            home,
            "dispute",
            "open",
            str(json.loads(anchored.stdout)["record_id"]),
            "--model",
            str(watermark_files.base),
            "--key",
            str(crafted),
            "--report-dir",
            str(tmp_path / "crafted"),
        )
        assert refused.returncode == 2, refused.stderr
        assert "bits do not re-derive from the key's seed" in refused.stderr
        assert "Traceback" not in refused.stderr

        opened = _ledgermark(
            home,
            "dispute",
            "open",
            record_id,
            "--model",
            str(stolen),
            "--key",
            str(key),
            "--report-dir",
            str(tmp_path / "ev"),
            "--json",
        )
        assert opened.returncode == 0, opened.stderr
        claim = json.loads(opened.stdout)
        assert claim["verdict"].startswith("copy") and claim["priority"] == "suspect_unregistered"
        dispute_id = str(claim["dispute_id"])

        assert _ledgermark(home, "dispute", "reveal", dispute_id, "--key", str(key)).returncode == 0
        assert _ledgermark(home, "dispute", "grant-arbiter", dev_accounts(2)[1].address).returncode == 0
        reviewed = _ledgermark(
            home,
            "dispute",
            "review",
            dispute_id,
            "--model",
            str(stolen),
            "--report-dir",
            str(tmp_path / "rev"),
            "--json",
            env=arbiter,
        )
        assert reviewed.returncode == 0, reviewed.stderr
        review = json.loads(reviewed.stdout)
        assert review["recommendation"] == "uphold" and review["p_value"] == claim["p_value"]
        voted = _ledgermark(
            home, "dispute", "vote", dispute_id, "--uphold", "--report", review["report_cid"], env=arbiter
        )
        assert voted.returncode == 0, voted.stderr

        finalised = _ledgermark(home, "dispute", "finalise", dispute_id, "--skip-wait")
        assert finalised.returncode == 0, finalised.stderr
        assert "outcome            upheld" in finalised.stdout
        shown = json.loads(_ledgermark(home, "dispute", "show", dispute_id, "--json").stdout)
        assert shown["status"] == "upheld" and shown["reports"][0]["report_cid"] == review["report_cid"]
    finally:
        assert _ledgermark(home, "chain", "stop").returncode == 0


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["show", str(2**256 + 1)], "is not a record id: ids are below 2^256"),
        (["dispute", "show", str(2**256 + 1)], "OwnershipDisputes.dispute: an argument cannot be sent"),
    ],
)
def test_an_id_above_2_256_is_a_usage_error_not_a_traceback(
    tmp_path: Path, command: list[str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "registry", "--data-dir", str(tmp_path), "--chain", "embedded", *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
