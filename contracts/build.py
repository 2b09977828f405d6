"""Compile the contracts into the committed package data ``registry/chain/artifacts/`` (DESIGN.md §6).

    python contracts/build.py            # rebuild and write the artifacts
    python contracts/build.py --check    # rebuild in memory; exit 1 if any committed artifact differs

Settings are pinned (solc 0.8.37, optimizer on with 10,000 runs (cheaper calls, larger deployment), ``evmVersion: shanghai`` because Ganache 7.9.2
knows no later fork) so a rebuild is byte-identical and the ``--check`` test catches stale bytecode.

Compiler resolution, first match wins:
1. ``SOLC_BINARY`` from the environment;
2. a native solc 0.8.37 that py-solc-x already installed (``solcx.get_installed_solc_versions()``);
3. ``contracts/solcjs/solc``, a shim over npm ``solc`` (needs ``make setup``).

Nothing at run time needs this script: the registry loads the JSON artifacts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import solcx
from packaging.version import Version

CONTRACTS_DIR = Path(__file__).resolve().parent
BUILD_DIR = CONTRACTS_DIR.parent / "registry" / "chain" / "artifacts"  # package data (importlib.resources)
SHIM = CONTRACTS_DIR / "solcjs" / "solc"
SOLC_VERSION = Version("0.8.37")
SOURCES = (
    "LedgermarkMerkle.sol",
    "IModelRegistry.sol",
    "ModelRegistry.sol",
    "IOwnershipDisputes.sol",
    "OwnershipDisputes.sol",
)
ARTIFACTS = {"ModelRegistry": "ModelRegistry.sol", "OwnershipDisputes": "OwnershipDisputes.sol"}
SETTINGS: dict[str, Any] = {
    "evmVersion": "shanghai",
    "optimizer": {"enabled": True, "runs": 10000},
    "outputSelection": {"*": {"*": ["abi", "devdoc", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}


class BuildError(RuntimeError):
    """No usable compiler, or the compiler rejected the sources."""


def resolve_solc() -> Path:
    """The compiler binary to use, following the order in the module docstring."""
    env = os.environ.get("SOLC_BINARY")
    if env:
        return Path(env)
    if SOLC_VERSION in solcx.get_installed_solc_versions():
        return Path(solcx.get_executable(SOLC_VERSION))
    if not (CONTRACTS_DIR / "solcjs" / "node_modules" / "solc").is_dir():
        raise BuildError("no solc found: set SOLC_BINARY, or run `make setup` to install the solc-js shim")
    return SHIM


def compiler_version(solc: Path) -> str:
    """``0.8.37+commit.<hash>``: the platform suffix is dropped so native solc and solc-js agree."""
    version = solcx.wrapper.get_version_str_from_solc_binary(solc)
    if Version(re.sub(r"\+.*", "", version)) != SOLC_VERSION:
        raise BuildError(f"{solc} is solc {version}; the build is pinned to {SOLC_VERSION}")
    return version


def compile_contracts(solc: Path) -> dict[str, Any]:
    """Standard-JSON compile of every source, passed inline so no import path depends on the machine."""
    sources = {name: {"content": (CONTRACTS_DIR / name).read_text(encoding="utf-8")} for name in SOURCES}
    request = {"language": "Solidity", "sources": sources, "settings": SETTINGS}
    try:
        return solcx.compile_standard(request, solc_binary=solc)
    except solcx.exceptions.SolcError as err:
        raise BuildError(str(err)) from err


def artifacts(output: dict[str, Any], version: str) -> dict[str, str]:
    """Artifact file name -> its exact text (sorted keys, two-space indent, final newline)."""
    settings = {k: v for k, v in SETTINGS.items() if k != "outputSelection"}
    texts: dict[str, str] = {}
    for name, source in ARTIFACTS.items():
        compiled = output["contracts"][source][name]
        artifact = {
            "contractName": name,
            "sourceName": source,
            "compiler": {"name": "solc", "version": version, "settings": settings},
            "abi": compiled["abi"],
            "errorDocs": _error_docs(compiled.get("devdoc", {})),
            "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
            "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
        }
        texts[f"{name}.json"] = json.dumps(artifact, indent=2, sort_keys=True) + "\n"
    return texts


def _error_docs(devdoc: dict[str, Any]) -> dict[str, str]:
    """Error signature -> its NatSpec ``@dev`` text, so the Python side can explain a revert in words."""
    docs = {}
    for signature, entries in sorted(devdoc.get("errors", {}).items()):
        details = " ".join(e.get("details", "") for e in entries).strip()
        if details:
            docs[signature] = details
    return docs


def build() -> dict[str, str]:
    """Compile and return the artifact texts (nothing written)."""
    solc = resolve_solc()
    return artifacts(compile_contracts(solc), compiler_version(solc))


def stale_artifacts(texts: dict[str, str]) -> list[str]:
    """Names of committed artifacts that differ from ``texts`` (or are missing)."""
    stale = []
    for name, text in texts.items():
        path = BUILD_DIR / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed artifacts are stale")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        texts = build()
    except BuildError as err:
        print(f"build failed: {err}", file=sys.stderr)
        return 2
    if args.check:
        stale = stale_artifacts(texts)
        for name in stale:
            print(
                f"stale artifact: registry/chain/artifacts/{name} (run `python contracts/build.py`)",
                file=sys.stderr,
            )
        return 1 if stale else 0
    BUILD_DIR.mkdir(exist_ok=True)
    for name, text in texts.items():
        (BUILD_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote registry/chain/artifacts/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
