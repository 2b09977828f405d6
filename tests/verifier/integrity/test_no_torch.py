"""verifier.integrity is the buyer's maths: checking a download must not pay for importing torch (DESIGN.md §1)."""

from __future__ import annotations

import subprocess
import sys


def test_the_integrity_modules_import_without_torch() -> None:
    """In a fresh interpreter (this one has torch loaded by other tests), so the check sees only these imports."""
    script = (
        "import sys, verifier.integrity.manifest, verifier.integrity.merkle, verifier.integrity.sealing; "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
