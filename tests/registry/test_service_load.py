"""The load test at a size CI affords: `bench/service_load.py` with 3 publishers and 12 readers for 8 s.

The full run (20 publishers, 200 readers, 60 s) lives in bench/ and docs/results/service.md; this one proves
the same property on every change: no request fails and every acknowledged record can be read back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_concurrent_publishers_and_readers_lose_nothing(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    command = [
        sys.executable,
        "bench/service_load.py",
        "--publishers",
        "3",
        "--readers",
        "12",
        "--seconds",
        "8",
    ]
    finished = subprocess.run(
        [*command, "--json", str(out)], check=False, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    result = json.loads(out.read_text())
    operations = {row["operation"]: row for row in result["operations"]}
    assert {"publish", "list", "detail", "health (reference)"} <= set(operations)
    assert all(row["errors"] == 0 for row in operations.values()), operations
    assert result["records_acknowledged"] >= 3
    assert result["records_lost"] == []
