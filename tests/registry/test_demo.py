"""`make demo` is the main job: it must run end to end and say what it proved."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry import demo


@pytest.mark.slow
def test_the_demo_runs_every_step_and_settles_the_dispute(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert demo.run(tmp_path / "demo") == 0
    out = capsys.readouterr().out
    assert "triggers still predicted correctly: True" in out
    assert out.count("(sha256, CID and on-chain Merkle proof all match)") == 3
    assert "mismatch: model.pt (model): sha256 expected" in out
    assert "refused: record 42 is not registered" in out
    assert "copy: the model carries the watermark" in out
    assert "dispute 1 upheld; bond of 0.1 ETH returned to" in out
