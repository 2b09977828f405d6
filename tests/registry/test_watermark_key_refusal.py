"""Keys whose bits were chosen, not drawn from their seed, are refused by every command that reads a key.

The false claim the audit measured: bits set to the natural attribution pattern that models trained on the
same data share convicted 54–84 % of innocent models. Key format v2 derives the bits from the seed the key
carries, so such a key no longer loads: `watermark verify` exits 2 and a dispute is never opened.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from registry import backends as backendslib
from registry import dispute as flow
from registry import publish as publish_flow
from registry.cli import app
from tests.conftest import WatermarkFiles
from verifier.watermark import errors, explain, keys, models

runner = CliRunner()


def natural_pattern_key(files: WatermarkFiles, folder: Path) -> Path:
    """The owner's key with its bits replaced by the base model's own (pre-embedding) explanation: bits that
    innocent relatives of the base would share. Everything else, the seed included, is the genuine key's."""
    key = keys.WatermarkKey.from_bytes(files.key.read_bytes())
    natural = explain.extract(models.load_model(files.base), key).attributions.sum(dim=0) > 0  # (n,)
    document = key.to_dict()
    document["bits"] = "".join("+" if positive else "-" for positive in natural.tolist())
    assert document["bits"] != key.to_dict()["bits"]
    crafted = folder / "crafted.wmk"
    crafted.write_text(json.dumps(document, sort_keys=True, separators=(",", ":")))
    return crafted


def version_1_key(files: WatermarkFiles, folder: Path) -> Path:
    document = json.loads(files.key.read_bytes())
    del document["seed"]
    old = folder / "v1.wmk"
    old.write_text(json.dumps({**document, "version": 1}))
    return old


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (natural_pattern_key, "bits do not re-derive from the key's seed"),
        (version_1_key, "version-1 watermark key"),
    ],
    ids=["natural-pattern bits", "v1 key"],
)
def test_watermark_verify_refuses_the_key_with_exit_2(
    watermark_files: WatermarkFiles, tmp_path: Path, make, message: str
) -> None:
    key = make(watermark_files, tmp_path)
    report = tmp_path / "report"
    args = ["watermark", "verify", str(watermark_files.base), str(key), "--report", str(report)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert not report.exists()


def test_a_dispute_with_a_crafted_key_is_never_opened(
    backends: backendslib.Backends, watermark_files: WatermarkFiles, tmp_path: Path
) -> None:
    """Even anchored in a record (the commitment), a key with chosen bits cannot support a claim."""
    crafted = natural_pattern_key(watermark_files, tmp_path)
    sealed = publish_flow.seal_watermark_key(crafted, tmp_path)
    publication = publish_flow.publish(
        backends,
        [publish_flow.Artifact(watermark_files.watermarked, role="model"), sealed.artifact],
        name="claimant",
        watermark_key_hash=sealed.key_hash,
    )
    with pytest.raises(errors.WatermarkError, match="bits do not re-derive from the key's seed"):
        flow.claim(
            backends,
            str(publication.record_id),
            watermark_files.base,
            crafted.read_bytes(),
            report_dir=tmp_path / "claim",
        )
    assert backends.disputes.dispute_count() == 0
    assert not (tmp_path / "claim").exists()
