"""Slither on the contracts: no medium or high finding that ``contracts/slither/ACCEPTED.md`` does not explain.

The harness (``contracts/slither/check.py``) runs Slither with the solc-js shim, so it needs ``make setup``
(node and solc-js); without them the Slither tests skip, as the rebuild test does.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]

REENTRANT_VAULT = """// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

contract Vault {
    mapping(address account => uint256) private _balance;

    function deposit() external payable {
        _balance[msg.sender] += msg.value;
    }

    function withdraw() external {
        (bool ok, ) = msg.sender.call{value: _balance[msg.sender]}("");
        if (!ok) revert();
        _balance[msg.sender] = 0;
    }
}
"""

needs_solcjs = pytest.mark.skipif(
    not (ROOT / "contracts/solcjs/node_modules/solc").is_dir() or shutil.which("node") is None,
    reason="no solc-js: run `make setup`",
)


@pytest.fixture(scope="module")
def check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("slither_check", ROOT / "contracts/slither/check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass resolves annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@needs_solcjs
def test_slither_finds_no_unexplained_medium_or_high_finding_in_the_contracts(
    check: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    code = check.main([])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert ", 0 unexplained" in out


@needs_solcjs
def test_slither_gate_fails_on_an_unaccepted_reentrancy(
    check: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The gate is not vacuous: a classic re-entrancy is reported by name and location, and fails the run."""
    (tmp_path / "Vault.sol").write_text(REENTRANT_VAULT)
    code = check.main(["--contracts", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "unexplained High finding reentrancy-eth at Vault.withdraw():" in out


@needs_solcjs
def test_slither_gate_reports_a_contract_that_does_not_compile(
    check: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Broken.sol").write_text(
        "// SPDX-License-Identifier: Apache-2.0\npragma solidity 0.8.37;\ncontract {"
    )
    assert check.main(["--contracts", str(tmp_path)]) == 2
    assert "slither: slither failed: Invalid compilation" in capsys.readouterr().err


def test_every_accepted_slither_finding_gives_a_reason(check: ModuleType) -> None:
    rows = check.accepted_findings(ROOT / "contracts/slither/ACCEPTED.md")
    table = [
        line
        for line in (ROOT / "contracts/slither/ACCEPTED.md").read_text().splitlines()
        if line.startswith("| ") and not line.startswith(("| detector", "| ---"))
    ]
    assert len(rows) == len(
        table
    )  # a row the parser drops (no reason, bad detector name) would hide a finding
    assert all(len(reason) > 40 for reason in rows.values())


def test_a_finding_is_matched_by_detector_and_function_not_by_line(check: ModuleType) -> None:
    node = {
        "type": "node",
        "name": "(ok,None) = address(to).call{value: amount}()",
        "type_specific_fields": {
            "parent": {
                "type": "function",
                "name": "_pay",
                "type_specific_fields": {
                    "parent": {"type": "contract", "name": "OwnershipDisputes"},
                    "signature": "_pay(uint256,address,uint256)",
                },
            }
        },
    }
    result = {"check": "arbitrary-send-eth", "impact": "High", "description": "d", "elements": [node]}
    finding = check._finding(result)
    assert finding.key == ("arbitrary-send-eth", "OwnershipDisputes._pay(uint256,address,uint256)")
    assert check.unexplained([finding], {finding.key: "why"}) == []
    assert check.unexplained([finding], {("arbitrary-send-eth", "OwnershipDisputes._pay()"): "why"}) == [
        finding
    ]


def test_a_local_variable_finding_is_named_after_its_function(check: ModuleType) -> None:
    function = {
        "type": "function",
        "name": "_open",
        "type_specific_fields": {
            "parent": {"type": "contract", "name": "OwnershipDisputes"},
            "signature": "_open(uint256,uint64,bytes32)",
        },
    }
    local = {"type": "variable", "name": "suspectOwner", "type_specific_fields": {"parent": function}}
    result = {"check": "uninitialized-local", "impact": "Medium", "description": "d", "elements": [local]}
    assert check._finding(result).location == "OwnershipDisputes._open(uint256,uint64,bytes32).suspectOwner"
