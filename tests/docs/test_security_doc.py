"""docs/security.md names the test behind each line: every test and test file it names must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_the_threat_model_names_exists() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    defined = {
        name
        for path in (ROOT / "tests").rglob("test_*.py")
        for name in re.findall(r"^\s*def (test_\w+)", path.read_text(), re.MULTILINE)
    }
    files = {path.name for path in (ROOT / "tests").rglob("test_*.py")}

    named = set(re.findall(r"\b(test_\w+)(?!\.py)\b", text)) - {Path(f).stem for f in files}
    named_files = set(re.findall(r"\b(test_\w+\.py)\b", text))

    assert named, "the threat model names no tests"
    assert sorted(named - defined) == []
    assert sorted(named_files - files) == []
