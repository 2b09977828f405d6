"""Run Slither on the contracts; fail on any medium or high finding that ACCEPTED.md does not explain.

    python contracts/slither/check.py     # exit 0: none unexplained; 1: some (listed); 2: Slither could not run

There is no native solc here, so Slither (through crytic-compile's ``solc-json`` platform) gets the solc-js
shim ``contracts/solcjs/solc`` (``--version`` and ``--standard-json``) and one standard-JSON input holding
every ``contracts/*.sol`` inline, with the build's own settings (``contracts/build.py``: shanghai, optimizer
10,000 runs), so Slither analyses what the artifacts were compiled from. Detector choice and severity filter
live in ``slither.config.json``; each accepted finding is a row ``| detector | location | reason |`` of
ACCEPTED.md, where location is ``Contract.function(types)`` (or ``Contract.variable``, or ``Contract``) as
Slither names the finding's first element: line numbers are not used, so an edit elsewhere keeps a row valid.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CONTRACTS_DIR = HERE.parent
CONFIG = HERE / "slither.config.json"
ACCEPTED = HERE / "ACCEPTED.md"
SHIM = CONTRACTS_DIR / "solcjs" / "solc"
TIMEOUT_S = 300
_ROW = re.compile(r"^\|\s*`?([a-z0-9-]+)`?\s*\|\s*`?([^|`]+?)`?\s*\|\s*(.*?)\s*\|\s*$")


class SlitherRunError(RuntimeError):
    """Slither did not produce a result (compile error, missing tool, timeout)."""


@dataclass(frozen=True)
class Finding:
    """One Slither result, keyed the way ACCEPTED.md names it."""

    detector: str
    location: str
    impact: str
    description: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.detector, self.location)


def build_settings() -> dict[str, Any]:
    """The compiler settings of ``contracts/build.py`` (one source of truth), minus its output selection."""
    spec = importlib.util.spec_from_file_location("contracts_build", CONTRACTS_DIR / "build.py")
    if spec is None or spec.loader is None:
        raise SlitherRunError(f"cannot load {CONTRACTS_DIR / 'build.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {k: v for k, v in module.SETTINGS.items() if k != "outputSelection"}


def standard_json_input(contracts_dir: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """Every ``*.sol`` of ``contracts_dir`` inline, named by file name as in the build."""
    sources = {
        p.name: {"content": p.read_text(encoding="utf-8")} for p in sorted(contracts_dir.glob("*.sol"))
    }
    if not sources:
        raise SlitherRunError(f"no *.sol file in {contracts_dir}")
    return {"language": "Solidity", "sources": sources, "settings": dict(settings)}


def run_slither(contracts_dir: Path, settings: dict[str, Any]) -> list[Finding]:
    """Slither's findings (medium and high only, per the config) on the sources of ``contracts_dir``."""
    with tempfile.TemporaryDirectory(prefix="ledgermark-slither-") as tmp:
        request = Path(tmp) / "input.json"
        request.write_text(json.dumps(standard_json_input(contracts_dir, settings)), encoding="utf-8")
        command = [sys.executable, "-m", "slither", str(request), "--config-file", str(CONFIG)]
        command += ["--solc", str(SHIM), "--solc-working-dir", str(contracts_dir), "--json", "-"]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as err:
            raise SlitherRunError(f"slither ran over {TIMEOUT_S} s") from err
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as err:
        raise SlitherRunError(
            f"slither printed no JSON (exit {proc.returncode}): {proc.stderr[-2000:]}"
        ) from err
    if not report.get("success"):
        raise SlitherRunError(f"slither failed: {report.get('error')}")
    return [_finding(r) for r in report.get("results", {}).get("detectors", [])]


def _finding(result: dict[str, Any]) -> Finding:
    first = result["elements"][0] if result.get("elements") else {}
    return Finding(result["check"], _location(first), result["impact"], result["description"].strip())


def _location(element: dict[str, Any]) -> str:
    """``Contract.function(types)`` for a function or a node in one; a variable is named after its parent."""
    kind, name = element.get("type"), element.get("name", "?")
    parent = element.get("type_specific_fields", {}).get("parent", {})
    if kind == "node":
        return _location(parent)
    if kind == "function":
        signature = element.get("type_specific_fields", {}).get("signature", name)
        return f"{parent.get('name', '?')}.{signature}"
    if kind == "contract" or not parent:
        return name
    return f"{_location(parent)}.{name}"  # a state variable in its contract, a local in its function


def accepted_findings(path: Path) -> dict[tuple[str, str], str]:
    """``(detector, location) -> reason`` from the table rows of ACCEPTED.md; a row without a reason is not one."""
    accepted = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line.strip())
        if (
            match
            and match.group(1) != "detector"
            and match.group(3)
            and not set(match.group(3)) <= set("-: ")
        ):
            accepted[(match.group(1), match.group(2))] = match.group(3)
    return accepted


def unexplained(findings: list[Finding], accepted: dict[tuple[str, str], str]) -> list[Finding]:
    """The findings no row of ACCEPTED.md explains."""
    return [f for f in findings if f.key not in accepted]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contracts", type=Path, default=CONTRACTS_DIR, help="folder of *.sol to analyse")
    parser.add_argument("--accepted", type=Path, default=ACCEPTED, help="table of accepted findings")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        findings = run_slither(args.contracts.resolve(), build_settings())
    except SlitherRunError as err:
        print(f"slither: {err}", file=sys.stderr)
        return 2
    accepted = accepted_findings(args.accepted)
    for finding in unexplained(findings, accepted):
        print(f"unexplained {finding.impact} finding {finding.detector} at {finding.location}:")
        print(f"  {finding.description}".replace("\n", "\n  "))
    seen = {f.key for f in findings}
    for detector, location in sorted(set(accepted) - seen):
        print(
            f"note: accepted {detector} at {location} no longer occurs; remove its row from {args.accepted.name}"
        )
    bad = unexplained(findings, accepted)
    print(f"slither: {len(findings)} medium/high finding(s), {len(bad)} unexplained")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
