"""Signing keys: keystores made, imported and listed by the CLI; a keystore, a dev account or nothing signing on
Anvil; hostile keystores refused before any key derivation runs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from typer.testing import CliRunner

from registry import accounts
from registry.chain import localnode
from registry.cli import app
from registry.errors import ConfigError
from tests.registry.conftest import write_artifacts

runner = CliRunner()
PASSWORD = {"LEDGERMARK_KEYSTORE_PASSWORD": "correct horse"}
KEY = "0x" + "4c" * 32


def cli(args: list[str], env: dict[str, str] | None = None) -> Any:
    """Run the CLI with no LEDGERMARK_* variable from outside except the node binaries' locations."""
    clean: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith("LEDGERMARK_") and not name.endswith("_BIN")
    }
    return runner.invoke(app, args, env={**clean, **(env or {})})


# --------------------------------------------------------------------------- keystores on disk


def test_account_new_writes_an_owner_only_standard_keystore_named_by_address(tmp_path: Path) -> None:
    created = cli(["--data-dir", str(tmp_path), "account", "new", "--json"], PASSWORD)

    assert created.exit_code == 0, created.output
    made = json.loads(created.stdout)
    path = Path(made["path"])
    assert path == tmp_path / "keystore" / f"{made['address']}.json"
    assert path.stat().st_mode & 0o777 == 0o600
    key = Account.decrypt(json.loads(path.read_text()), PASSWORD["LEDGERMARK_KEYSTORE_PASSWORD"])
    assert Account.from_key(key).address == made["address"]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left

    listed = cli(["--data-dir", str(tmp_path), "account", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)["keystores"] == [made]


def test_account_import_from_a_key_file_and_from_the_variable(tmp_path: Path) -> None:
    key_file = tmp_path / "key.hex"
    key_file.write_text(KEY + "\n")
    expected = Account.from_key(KEY).address

    from_file = cli(
        ["--data-dir", str(tmp_path), "account", "import", "--key-file", str(key_file), "--json"], PASSWORD
    )
    again = cli(
        ["--data-dir", str(tmp_path), "account", "import", "--json"],
        {**PASSWORD, "LEDGERMARK_PRIVATE_KEY": KEY},
    )
    elsewhere = tmp_path / "elsewhere.json"
    to_out = cli(
        ["--data-dir", str(tmp_path), "account", "import", "--out", str(elsewhere)],
        {**PASSWORD, "LEDGERMARK_PRIVATE_KEY": KEY},
    )

    assert from_file.exit_code == 0, from_file.output
    assert json.loads(from_file.stdout)["address"] == expected
    assert again.exit_code == 2 and "already exists" in again.output  # never overwritten
    assert to_out.exit_code == 0, to_out.output
    assert accounts.address_of(accounts.read(elsewhere)) == expected
    assert KEY[2:] not in from_file.output + again.output + to_out.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("0x1234", "not a 32-byte hex key"),
        ("00" * 32, "not a valid secp256k1 private key"),
        ("ab" * 600, "larger than"),
    ],
)
def test_a_bad_key_file_is_refused_without_echoing_it(tmp_path: Path, content: str, message: str) -> None:
    key_file = tmp_path / "key.hex"
    key_file.write_text(content)

    result = cli(["--data-dir", str(tmp_path), "account", "import", "--key-file", str(key_file)], PASSWORD)

    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "keystore").exists()


def test_no_password_and_no_terminal_names_the_variable(tmp_path: Path) -> None:
    result = cli(["--data-dir", str(tmp_path), "account", "new"])

    assert result.exit_code == 2
    assert "set LEDGERMARK_KEYSTORE_PASSWORD" in result.output
    assert not (tmp_path / "keystore").exists()


def test_a_wrong_password_names_the_keystore(tmp_path: Path) -> None:
    made = accounts.import_key(KEY, "right", tmp_path, iterations=1024)

    with pytest.raises(ConfigError, match=f"wrong password for keystore {made.path}"):
        accounts.unlock(made.path, "wrong")
    assert accounts.unlock(made.path, "right") == bytes.fromhex(KEY[2:])


def _keystore(**crypto_changes: Any) -> dict[str, Any]:
    document = Account.encrypt(KEY, "pw", iterations=1024)
    document["crypto"].update(crypto_changes)
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("x" * (accounts.MAX_KEYSTORE_BYTES + 1), "larger than 16 KiB"),
        ("{not json", "is not valid JSON"),
        ("[" * 5000 + "]" * 5000, "nests deeper than 4 levels"),
        ({"version": 1}, "not a version 3 JSON keystore"),
        (_keystore(kdfparams={"n": 2**30, "r": 8, "p": 1, "dklen": 32, "salt": "00"}), "costs more than"),
        (_keystore(kdfparams={"n": 1000, "r": 8, "p": 1, "dklen": 32, "salt": "00"}), "costs more than"),
        (
            _keystore(kdf="pbkdf2", kdfparams={"c": 10**9, "dklen": 32, "prf": "hmac-sha256", "salt": "00"}),
            "rounds",
        ),
        (_keystore(kdf="argon9"), "not supported"),
        (_keystore(cipher="aes-256-gcm"), "only aes-128-ctr"),
        (_keystore(mac="zz"), "mac is not 64 hex digits"),
    ],
)
def test_a_hostile_keystore_is_refused_before_any_key_derivation(
    tmp_path: Path, document: Any, message: str
) -> None:
    path = tmp_path / "evil.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))

    with pytest.raises(ConfigError, match=message):
        accounts.unlock(path, "pw")


def test_account_list_reports_a_file_that_is_not_a_keystore(tmp_path: Path) -> None:
    accounts.import_key(KEY, "pw", tmp_path / "keystore", iterations=1024)
    (tmp_path / "keystore" / "junk.json").write_text("{}")

    result = cli(["--data-dir", str(tmp_path), "account", "list"])

    assert result.exit_code == 0, result.output
    assert Account.from_key(KEY).address in result.output
    assert (
        "skipped: keystore" in result.output and "junk.json is not a version 3 JSON keystore" in result.output
    )


@pytest.mark.parametrize(
    ("version", "dev"),
    [
        ("anvil/v1.7.1", True),
        ("Ganache/v7.9.2/EthereumJS TestRPC/v7.9.2/ethereum-js", True),
        ("Geth/v1.14.11-stable-f3c696fa/linux-amd64/go1.23.2", False),
        ("erigon/2.60.10/linux-amd64/go1.22.5", False),
        ("Nethermind/v1.29.0+1234/linux-x64/dotnet8.0.10", False),
        ("reth/v1.1.0-1234/x86_64-unknown-linux-gnu", False),
    ],
)
def test_only_anvil_and_ganache_count_as_dev_clients(version: str, dev: bool) -> None:
    assert accounts.is_dev_client(version) is dev


# --------------------------------------------------------------------------- signing on Anvil


@pytest.fixture
def deployed(anvil_node, tmp_path: Path) -> dict[str, Any]:
    """Anvil with the contracts deployed by dev account 0, and a small file to publish (embedded store)."""
    base = ["--data-dir", str(tmp_path / "home"), "--chain", anvil_node.url]
    result = cli([*base, "chain", "deploy"], {"LEDGERMARK_PRIVATE_KEY": anvil_node.first_key})
    assert result.exit_code == 0, result.output
    model = write_artifacts(tmp_path / "files", model_size=5_000)[0].path
    return {"base": base, "model": model, "node": anvil_node}


def _owner_of(deployed: dict[str, Any], published: Any) -> str:
    assert published.exit_code == 0, published.output
    shown = cli([*deployed["base"], "show", str(json.loads(published.stdout)["record_id"]), "--json"])
    assert shown.exit_code == 0, shown.output
    return json.loads(shown.stdout)["owner"]


@pytest.mark.daemon
def test_a_keystore_signs_a_transaction_on_anvil(deployed: dict[str, Any], tmp_path: Path) -> None:
    made = cli(["--data-dir", str(tmp_path / "home"), "account", "new", "--json"], PASSWORD)
    assert made.exit_code == 0, made.output
    keystore = json.loads(made.stdout)
    deployed["node"].transport().request("anvil_setBalance", [keystore["address"], hex(10**18)])

    published = cli(
        [*deployed["base"], "--keystore", keystore["path"], "publish", str(deployed["model"]), "--json"],
        PASSWORD,
    )

    assert _owner_of(deployed, published) == keystore["address"]


@pytest.mark.daemon
def test_a_wrong_keystore_password_exits_2_and_sends_nothing(
    deployed: dict[str, Any], tmp_path: Path
) -> None:
    made = accounts.import_key(KEY, "right", tmp_path / "ks", iterations=1024)
    node = deployed["node"]
    before = node.transport().request("eth_blockNumber")

    result = cli(
        [*deployed["base"], "--keystore", str(made.path), "publish", str(deployed["model"])],
        {"LEDGERMARK_KEYSTORE_PASSWORD": "wrong"},
    )

    assert result.exit_code == 2, result.output
    assert f"wrong password for keystore {made.path}" in result.output
    assert node.transport().request("eth_blockNumber") == before


@pytest.mark.daemon
def test_account_1_signs_as_dev_account_1_on_anvil(deployed: dict[str, Any]) -> None:
    published = cli([*deployed["base"], "--account", "1", "publish", str(deployed["model"]), "--json"])

    assert _owner_of(deployed, published) == localnode.dev_accounts(2)[1].address


@pytest.mark.daemon
def test_the_private_key_variable_wins_over_a_keystore_and_an_account(
    deployed: dict[str, Any], tmp_path: Path
) -> None:
    key = localnode.dev_accounts(3)[2].key.to_0x_hex()

    published = cli(
        [
            *deployed["base"],
            "--keystore",
            str(tmp_path / "absent.json"),
            "--account",
            "1",
            "publish",
            str(deployed["model"]),
            "--json",
        ],
        {"LEDGERMARK_PRIVATE_KEY": key},
    )

    assert _owner_of(deployed, published) == Account.from_key(key).address


def test_a_new_password_is_asked_twice_and_must_match(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["first", "second", "same", "same"])
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))

    with pytest.raises(ConfigError, match="the two passwords differ"):
        accounts.ask_password("the new keystore", confirm=True)
    assert accounts.ask_password("the new keystore", confirm=True) == "same"


@pytest.mark.daemon
def test_account_send_pays_a_new_account_that_then_signs(deployed: dict[str, Any], tmp_path: Path) -> None:
    made = cli(["--data-dir", str(tmp_path / "arbiter"), "account", "new", "--quiet"], PASSWORD)
    assert made.exit_code == 0, made.output
    address = made.stdout.strip()
    keystore = tmp_path / "arbiter" / "keystore" / f"{address}.json"
    transport = deployed["node"].transport()

    sent = cli(
        [*deployed["base"], "account", "send", address, "0.25", "--json"],
        {"LEDGERMARK_PRIVATE_KEY": deployed["node"].first_key},
    )

    assert sent.exit_code == 0, sent.output
    assert int(transport.request("eth_getBalance", [address, "latest"]), 16) == 25 * 10**16
    published = cli(
        [*deployed["base"], "--keystore", str(keystore), "publish", str(deployed["model"]), "--json"],
        PASSWORD,
    )
    assert _owner_of(deployed, published) == address


@pytest.mark.parametrize("amount", ["0", "1e-19", "nan", "lots"])
def test_account_send_refuses_a_bad_amount_before_connecting(tmp_path: Path, amount: str) -> None:
    result = cli(
        [
            "--data-dir",
            str(tmp_path),
            "--chain",
            "http://127.0.0.1:9",
            "account",
            "send",
            "0x" + "11" * 20,
            amount,
        ]
    )

    assert result.exit_code == 2, result.output
    assert f"ETH must be a positive amount of ether (such as 1 or 0.05), not {amount!r}" in result.output
