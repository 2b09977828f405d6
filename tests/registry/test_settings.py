"""Settings: where each value comes from, and a bad value of every setting exits 2 naming its source.

The CLI cases run `ledgermark` in a real process: a traceback would only show there (CliRunner swallows it).
`cid` is the vehicle because it reads the settings and needs no chain, so each case takes a fraction of a second.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from registry.config import Settings
from registry.errors import ConfigError

KEY = "0x" + "11" * 32
CHECKSUMMED = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
BAD_CHECKSUM = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"
LOWER = CHECKSUMMED.lower()


def _clean_environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERMARK_")}
    return {**env, "LEDGERMARK_HOME": str(home)}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "file"
    path.write_bytes(b"hello world\n")
    return path


# (extra environment, options before the command, options after it, the source the message must name, and a
# phrase that says what is wrong)
BAD_SETTINGS = [
    ({"LEDGERMARK_CID_VERSION": "x"}, [], [], "LEDGERMARK_CID_VERSION", "must be 0 or 1"),
    ({"LEDGERMARK_CID_VERSION": "2"}, [], [], "LEDGERMARK_CID_VERSION", "must be 0 or 1"),
    ({}, ["--cid-version", "x"], [], "--cid-version", "must be 0 or 1"),
    ({}, [], ["--cid-version", "7"], "--cid-version", "must be 0 or 1"),
    ({"LEDGERMARK_CHAIN": "ftp://node"}, [], [], "LEDGERMARK_CHAIN", "is not understood"),
    ({}, ["--chain", "bogus"], [], "--chain", "is not understood"),
    ({"LEDGERMARK_IPFS": "localhost:5001"}, [], [], "LEDGERMARK_IPFS", "is not understood"),
    ({}, ["--ipfs", "localhost:5001"], [], "--ipfs", "is not understood"),
    ({"LEDGERMARK_HOME": "{file}"}, [], [], "LEDGERMARK_HOME", "is a file, not a folder"),
    ({}, ["--data-dir", "{file}"], [], "--data-dir", "is a file, not a folder"),
    ({"LEDGERMARK_PRIVATE_KEY": "0x1234"}, [], [], "LEDGERMARK_PRIVATE_KEY", "is not a 32-byte hex key"),
    ({"LEDGERMARK_PRIVATE_KEY": "zz" * 32}, [], [], "LEDGERMARK_PRIVATE_KEY", "is not a 32-byte hex key"),
    ({"LEDGERMARK_PRIVATE_KEY": "00" * 32}, [], [], "LEDGERMARK_PRIVATE_KEY", "not a valid secp256k1"),
    (
        {"LEDGERMARK_REGISTRY_ADDRESS": "0x1234", "LEDGERMARK_DISPUTES_ADDRESS": LOWER},
        [],
        [],
        "LEDGERMARK_REGISTRY_ADDRESS",
        "is not an address",
    ),
    (
        {"LEDGERMARK_REGISTRY_ADDRESS": LOWER, "LEDGERMARK_DISPUTES_ADDRESS": BAD_CHECKSUM},
        [],
        [],
        "LEDGERMARK_DISPUTES_ADDRESS",
        "EIP-55 checksum",
    ),
    ({"LEDGERMARK_REGISTRY_ADDRESS": CHECKSUMMED}, [], [], "LEDGERMARK_DISPUTES_ADDRESS", "is not set"),
]


@pytest.mark.parametrize(
    ("extra", "before", "after", "source", "phrase"),
    BAD_SETTINGS,
    ids=[f"{case[3]}-{i}" for i, case in enumerate(BAD_SETTINGS)],
)
def test_a_bad_setting_exits_2_naming_its_source(
    tmp_path: Path,
    target: Path,
    extra: dict[str, str],
    before: list[str],
    after: list[str],
    source: str,
    phrase: str,
) -> None:
    def fill(text: str) -> str:
        return text.replace("{file}", str(target))

    env = {**_clean_environment(tmp_path / "home"), **{k: fill(v) for k, v in extra.items()}}

    result = _run([*map(fill, before), "cid", str(target), *map(fill, after)], env)

    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {source} ") and phrase in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_the_message_never_echoes_the_private_key(tmp_path: Path, target: Path) -> None:
    secret = "ab" * 31 + "zz"
    env = {**_clean_environment(tmp_path / "home"), "LEDGERMARK_PRIVATE_KEY": secret}

    result = _run(["cid", str(target)], env)

    assert result.returncode == 2 and "LEDGERMARK_PRIVATE_KEY" in result.stderr
    assert secret not in result.stderr and "ab" * 31 not in result.stderr


def test_an_option_wins_over_the_environment_and_is_named(tmp_path: Path, target: Path) -> None:
    env = {**_clean_environment(tmp_path / "home"), "LEDGERMARK_CHAIN": "bogus"}

    ok = _run(["--chain", "embedded", "cid", str(target)], env)
    bad = _run(["--chain", "also-bogus", "cid", str(target)], {**env, "LEDGERMARK_CHAIN": "embedded"})

    assert ok.returncode == 0, ok.stderr
    assert bad.returncode == 2 and bad.stderr.startswith("error: --chain 'also-bogus'")


def test_a_bad_address_argument_exits_2(tmp_path: Path) -> None:
    env = _clean_environment(tmp_path / "home")

    result = _run(["--chain", "embedded", "transfer", "1", "0xnot-an-address"], env)

    assert result.returncode == 2
    assert "error: ADDRESS is not an address: '0xnot-an-address'" in result.stderr
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- Settings.load, no process


def test_sources_record_option_environment_and_default(tmp_path: Path) -> None:
    environ = {"LEDGERMARK_CHAIN": "embedded", "LEDGERMARK_PRIVATE_KEY": KEY, "LEDGERMARK_CID_VERSION": "1"}

    settings = Settings.load(data_dir=tmp_path, environ=environ)

    assert {name: source for name, source in settings.sources.items() if source != "default"} == {
        "data_dir": "--data-dir",
        "chain": "LEDGERMARK_CHAIN",
        "cid_version": "LEDGERMARK_CID_VERSION",
        "private_key": "LEDGERMARK_PRIVATE_KEY",
    }
    assert settings.source("ipfs") == "default"
    assert (settings.chain, settings.cid_version, settings.private_key) == ("embedded", 1, KEY)


def test_empty_variables_count_as_unset(tmp_path: Path) -> None:
    environ = {"LEDGERMARK_CHAIN": "", "LEDGERMARK_CID_VERSION": "", "LEDGERMARK_PRIVATE_KEY": ""}

    settings = Settings.load(data_dir=tmp_path, environ=environ)

    assert (settings.chain, settings.cid_version, settings.private_key) == ("local", 0, None)
    assert settings.source("chain") == "default"


@pytest.mark.parametrize("key", [KEY, KEY.removeprefix("0x"), KEY.upper().replace("0X", "0x")])
def test_private_keys_with_or_without_0x_are_accepted(tmp_path: Path, key: str) -> None:
    assert Settings.load(data_dir=tmp_path, environ={"LEDGERMARK_PRIVATE_KEY": key}).private_key == key


@pytest.mark.parametrize("address", [CHECKSUMMED, LOWER, "0x" + LOWER[2:].upper()])
def test_checksummed_and_single_case_addresses_are_accepted(tmp_path: Path, address: str) -> None:
    environ = {"LEDGERMARK_REGISTRY_ADDRESS": address, "LEDGERMARK_DISPUTES_ADDRESS": address}

    assert Settings.load(data_dir=tmp_path, environ=environ).registry_address == address


def test_a_value_set_in_code_is_named_by_its_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--cid-version must be 0 or 1, not 5$"):
        Settings(data_dir=tmp_path, cid_version=5)
