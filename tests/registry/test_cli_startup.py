"""The CLI imports only what a command needs: help, version and `cid` start without web3 or torch.

Each case runs the real CLI in a fresh interpreter through a small wrapper that calls ``registry.cli.main`` and,
at exit, writes the sorted top-level names of ``sys.modules`` to a file. Checking the set, not the time, keeps
the test deterministic on a loaded machine (bench/exp_cli_overhead.py measures the time).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import WatermarkFiles

WRAPPER = """
import json, sys
out = sys.argv.pop(1)
sys.argv[0] = "ledgermark"
code = 0
try:
    from registry.cli import main
    main()
except SystemExit as stop:
    code = stop.code
finally:
    roots = sorted({name.split(".")[0] for name in sys.modules})
    with open(out, "w") as f:
        json.dump({"code": code, "modules": roots}, f)
"""

HEAVY = {"web3", "torch", "eth_tester", "aiohttp", "sklearn"}
"""What a command that neither touches the chain nor runs a model must not import (~1 s of CPU or more)."""
CHAIN = {"web3", "eth_tester", "aiohttp"}
MODEL = {"torch", "sklearn"}


def _modules(tmp_path: Path, *args: str, **variables: str) -> tuple[int, set[str]]:
    """Exit code and top-level modules loaded by one `ledgermark ARGS` process with a fresh data dir."""
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERMARK_")}
    env["LEDGERMARK_HOME"] = str(tmp_path / "home")
    env.update(variables)
    subprocess.run(
        [sys.executable, "-c", WRAPPER, str(out), *args],
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    found = json.loads(out.read_text())
    return found["code"], set(found["modules"])


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.bin"
    path.write_bytes(b"hello world\n")
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-h"],
        ["--version"],
        ["cid", "-h"],
        ["cid", "--cid-version", "x", "{file}"],
        ["publish", "--help"],
        ["chain", "-h"],
        ["dispute", "--help"],
        ["dispute", "open", "-h"],
        ["watermark", "-h"],
        ["watermark", "verify", "--help"],
    ],
    ids=" ".join,
)
def test_help_version_and_cid_import_neither_web3_nor_torch(
    tmp_path: Path, small_file: Path, args: list[str]
) -> None:
    code, modules = _modules(tmp_path, *(a.replace("{file}", str(small_file)) for a in args))

    assert code in (0, 2, None)
    assert "registry" in modules and "typer" in modules  # the wrapper really ran the CLI
    assert modules.isdisjoint(HEAVY), sorted(modules & HEAVY)


@pytest.mark.parametrize(
    "args",
    [
        ["cid", "{file}"],
        ["--cid-version", "1", "cid", "{file}"],
        ["--data-dir", "{dir}", "cid", "--cid-version", "1", "{file}"],
        ["cid", "{file}", "--cid-version", "0"],
    ],
    ids=" ".join,
)
def test_plain_cid_imports_not_even_typer(tmp_path: Path, small_file: Path, args: list[str]) -> None:
    filled = [a.replace("{file}", str(small_file)).replace("{dir}", str(tmp_path / "d")) for a in args]

    code, modules = _modules(tmp_path, *filled)

    assert code in (0, None)
    assert "ipfs" in modules  # it did hash the file
    assert modules.isdisjoint(HEAVY | {"typer", "pydantic", "click"}), sorted(modules & (HEAVY | {"typer"}))


@pytest.mark.parametrize(
    "args",
    [
        ["show", "1"],
        ["lineage", "1"],
        ["verify", "1", "{file}"],
        ["fetch", "1", "--out", "{dir}"],
        ["publish", "{file}:model"],
        ["dispute", "show", "1"],
    ],
    ids=" ".join,
)
def test_chain_commands_do_not_import_torch(tmp_path: Path, small_file: Path, args: list[str]) -> None:
    filled = [a.replace("{file}", str(small_file)).replace("{dir}", str(tmp_path / "out")) for a in args]

    code, modules = _modules(tmp_path, "--chain", "embedded", *filled)

    assert code in (0, 2)  # publish succeeds; the others find no record 1 on a fresh chain
    assert "web3" in modules  # they did reach the chain
    assert modules.isdisjoint(MODEL), sorted(modules & MODEL)


SIGNING = {"web3", "eth_account", "eth_keyfile", "py_ecc", "aiohttp", "eth_tester"}
"""What a read of the chain must not import: web3 and the signing stack (~1 s of start-up together)."""


def test_reads_on_the_default_chain_import_no_web3(tmp_path: Path, small_file: Path) -> None:
    """show, fetch, verify, lineage, dispute show read the default chain (Anvil) without web3 or a key.

    Each command starts its own Anvil for the command's duration and stops it by pid on exit (the CLI's
    per-command node); the test checks that no node is left recorded in the data dir.
    """
    from tests.fixtures.chain_nodes import require_binary

    require_binary("anvil")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERMARK_")}
    env["LEDGERMARK_HOME"] = str(tmp_path / "home")
    published = subprocess.run(
        [sys.executable, "-m", "registry", "publish", f"{small_file}:model"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert published.returncode == 0, published.stderr
    out = tmp_path / "out"

    for args, expected in [
        (["show", "1"], 0),
        (["fetch", "1", "--out", str(out)], 0),
        (["verify", "1", str(small_file)], 0),
        (["lineage", "1"], 0),
        (["dispute", "show", "1"], 2),  # no dispute 1: an error, but read without web3 all the same
    ]:
        code, modules = _modules(tmp_path, *args)

        assert (code or 0) == expected, (args, code)
        assert "eth_abi" in modules and "http" in modules, args  # it did read the chain
        assert modules.isdisjoint(SIGNING), (args, sorted(modules & SIGNING))
    assert (out / small_file.name).read_bytes() == small_file.read_bytes()
    assert not (tmp_path / "home" / "chain" / "node.json").exists(), "a per-command node outlived its command"

    # The same chain as a URL (any JSON-RPC node): a copy of the state, served by an Anvil this test stops by pid.
    from registry import supervisor
    from registry.chain import localnode

    state = tmp_path / "url-state.json"
    shutil.copyfile(tmp_path / "home" / "chain" / localnode.AnvilNode.data_name, state)
    with localnode.AnvilNode(state, log_path=tmp_path / "anvil.log") as node:
        pid = node.pid
        key = "0x" + "11" * 32  # a URL chain asks for a key up front; a read never derives it
        code, modules = _modules(tmp_path, "--chain", node.url, "show", "1", LEDGERMARK_PRIVATE_KEY=key)
    assert pid is not None and not supervisor.alive(pid)
    assert code in (0, None)
    assert "http" in modules and modules.isdisjoint(SIGNING), sorted(modules & SIGNING)


def test_watermark_verify_imports_neither_web3_nor_sklearn(
    tmp_path: Path, watermark_files: WatermarkFiles
) -> None:
    """Testing a model file needs torch, not the chain, and no bundled data set (scikit-learn costs ~1 s)."""
    code, modules = _modules(
        tmp_path, "watermark", "verify", str(watermark_files.watermarked), str(watermark_files.key)
    )

    assert code in (0, None)
    assert "torch" in modules
    assert modules.isdisjoint(CHAIN), sorted(modules & CHAIN)
    assert "sklearn" not in modules


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    from importlib import metadata

    result = subprocess.run(
        [sys.executable, "-m", "registry", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0
    assert result.stdout == f"ledgermark {metadata.version('ledgermark')}\n"


def test_version_falls_back_when_the_package_is_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    import registry

    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)

    assert registry.__version__ == "0+unknown"


def test_help_shows_the_environment_variables_and_readable_placeholders() -> None:
    long = subprocess.run(
        [sys.executable, "-m", "registry", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    short = subprocess.run(
        [sys.executable, "-m", "registry", "-h"], capture_output=True, text=True, timeout=60, check=False
    )

    assert long.returncode == short.returncode == 0
    assert long.stdout == short.stdout
    text = " ".join(long.stdout.split())  # help wraps lines
    for variable in ("LEDGERMARK_HOME", "LEDGERMARK_CHAIN", "LEDGERMARK_IPFS", "LEDGERMARK_CID_VERSION"):
        assert f"env var: {variable}" in text
    assert "--data-dir DIR" in text and "--chain local|embedded|URL" in text
    assert long.stdout.startswith("Usage: ledgermark ")
