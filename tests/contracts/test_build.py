"""The committed artifacts are exactly what the pinned compiler makes of the committed sources."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _compiler_available() -> bool:
    if os.environ.get("SOLC_BINARY"):
        return True
    return (ROOT / "contracts/solcjs/node_modules/solc").is_dir() and shutil.which("node") is not None


@pytest.mark.skipif(
    not _compiler_available(), reason="no solc: run `make setup` (solc-js) or set SOLC_BINARY"
)
def test_rebuild_is_byte_identical() -> None:
    result = subprocess.run(
        [sys.executable, "contracts/build.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_artifacts_target_shanghai_and_carry_abi() -> None:
    for name in ("ModelRegistry", "OwnershipDisputes"):
        artifact = json.loads((ROOT / "registry/chain/artifacts" / f"{name}.json").read_text())
        assert artifact["compiler"]["settings"]["evmVersion"] == "shanghai"
        assert artifact["compiler"]["settings"]["optimizer"] == {"enabled": True, "runs": 10000}
        assert artifact["compiler"]["version"].startswith("0.8.37+commit.")
        assert artifact["bytecode"].startswith("0x6") and len(artifact["deployedBytecode"]) > 1000
        errors = [e for e in artifact["abi"] if e["type"] == "error"]
        assert errors and all(e["name"].startswith(("ModelRegistry", "OwnershipDisputes")) for e in errors)
        documented = {signature.split("(")[0] for signature in artifact["errorDocs"]}
        assert {e["name"] for e in errors} <= documented  # every custom error has NatSpec for messages


def test_build_writes_where_the_package_loads_from() -> None:
    """``contracts/build.py`` writes the package data that ``importlib.resources`` serves at run time."""
    from registry.chain import abi

    spec = importlib.util.spec_from_file_location("contracts_build", ROOT / "contracts/build.py")
    assert spec is not None and spec.loader is not None
    contracts_build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(contracts_build)
    assert contracts_build.BUILD_DIR == ROOT / "registry/chain/artifacts"
    for name in contracts_build.ARTIFACTS:
        on_disk = json.loads((contracts_build.BUILD_DIR / f"{name}.json").read_text())
        assert abi.load_artifact(name) == on_disk


def test_every_external_function_has_natspec() -> None:
    """Every function declared in the interfaces is preceded by a NatSpec comment."""
    for name in ("IModelRegistry.sol", "IOwnershipDisputes.sol"):
        lines = (ROOT / "contracts" / name).read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip().startswith("function "):
                before = lines[i - 1].strip()
                assert before.startswith(("///", "*/")), f"{name}:{i + 1} lacks NatSpec"
