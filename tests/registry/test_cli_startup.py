"""The CLI imports only what a command needs: help, version and `cid` start without web3 or torch.

Each case runs the real CLI in a fresh interpreter through a small wrapper that calls ``registry.cli.main`` and,
at exit, writes the sorted top-level names of ``sys.modules`` to a file. Checking the set, not the time, keeps
the test deterministic on a loaded machine (bench/exp_cli_overhead.py measures the time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.registry.conftest import WatermarkFiles

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


def _modules(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    """Exit code and top-level modules loaded by one `ledgermark ARGS` process with a fresh data dir."""
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERMARK_")}
    env["LEDGERMARK_HOME"] = str(tmp_path / "home")
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
