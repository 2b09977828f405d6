"""verifier.report and verifier._render: the PNG encoder, the JSON and HTML evidence, and atomic writing.

Most tests use small stand-in key and extraction objects (the report is duck-typed against
``verifier.watermark``), so they run in milliseconds; one test goes through the real watermark code.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import html
import json
import os
import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from verifier.watermark import _render, explain, keys, report, segments, stats

N_BITS = 16
IMAGE_SHAPE = (1, 8, 8)
CREATED = datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
HOSTILE_FACT = '<script>alert("x")</script>'


# ---- stand-ins for verifier.watermark ------------------------------------------------------------------------


@dataclasses.dataclass
class FakeSegmentation:
    kind: str
    n: int
    input_shape: tuple[int, ...]

    def assignment(self) -> torch.Tensor:
        if self.kind == "image-grid":  # √n × √n blocks over (C, H, W), as segments.ImageGrid
            side = int(self.n**0.5)
            _, height, width = self.input_shape
            grid = (torch.arange(height) * side // height)[:, None] * side + torch.arange(
                width
            ) * side // width
            return grid.expand(self.input_shape).clone()
        features = self.input_shape[0]
        return torch.arange(features) * self.n // features


@dataclasses.dataclass
class FakeKey:
    bits: torch.Tensor
    triggers: torch.Tensor
    labels: torch.Tensor
    segmentation: FakeSegmentation
    metric: str = "logit"
    sha256: str = "5e" * 32
    seed: bytes = bytes(range(32))

    @property
    def n_bits(self) -> int:
        return int(self.bits.numel())


@dataclasses.dataclass
class FakeExtraction:
    attributions: torch.Tensor
    bits: torch.Tensor
    reference: torch.Tensor
    predictions: torch.Tensor
    seconds: float = 0.25
    queries: int = 34


def make_case(
    segmentation: FakeSegmentation, flips: tuple[list[int], ...], predictions: list[int] | None = None
) -> tuple[FakeKey, FakeExtraction, stats.OwnershipResult]:
    """A key and an extraction whose trigger t disagrees with the reference exactly at ``flips[t]``."""
    generator = torch.Generator().manual_seed(0)
    count, n = len(flips), segmentation.n
    bits = torch.where(torch.rand(n, generator=generator) > 0.5, 1, -1).to(torch.int8)
    key = FakeKey(
        bits=bits,
        triggers=torch.rand(count, *segmentation.input_shape, generator=generator),
        labels=torch.arange(count, dtype=torch.int64) + 3,
        segmentation=segmentation,
    )
    signs = bits.repeat(count, 1).float()  # (T, n)
    for t, indices in enumerate(flips):
        signs[t, indices] *= -1
    attributions = signs * (0.1 + torch.rand(count, n, generator=generator))
    extraction = FakeExtraction(
        attributions=attributions,
        bits=torch.where(attributions > 0, 1, -1).to(torch.int8).reshape(-1),
        reference=bits.repeat(count),
        predictions=torch.tensor(predictions if predictions else key.labels.tolist()),
    )
    return key, extraction, stats.ownership_test(extraction.bits, extraction.reference)


def image_case(flips: tuple[list[int], ...]) -> tuple[FakeKey, FakeExtraction, stats.OwnershipResult]:
    return make_case(FakeSegmentation("image-grid", N_BITS, IMAGE_SHAPE), flips)


def build(case: tuple[FakeKey, FakeExtraction, stats.OwnershipResult]) -> report.EvidenceReport:
    key, extraction, result = case
    return report.build_report(
        key=key,
        extraction=extraction,
        result=result,
        model_sha256="ab" * 32,
        extra_facts={"chain id": "1337", "suspect": HOSTILE_FACT},
        created=CREATED,
    )


# ---- PNG -----------------------------------------------------------------------------------------------------


def decode_png(data: bytes) -> tuple[dict[str, int], np.ndarray]:
    """A minimal PNG reader for what ``encode_png`` writes: checks CRCs, returns IHDR fields and pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        offset += 12 + length
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    header = {"width": width, "height": height, "depth": depth, "colour": colour, "interlace": interlace}
    assert (compression, filtering) == (0, 0)
    rows = np.frombuffer(zlib.decompress(chunks[1][1]), dtype=np.uint8).reshape(height, 1 + width * 3)
    assert np.all(rows[:, 0] == 0)  # filter type 0 (None) on every row
    return header, rows[:, 1:].reshape(height, width, 3)


def test_png_round_trips_through_a_hand_written_decoder() -> None:
    pixels = np.random.default_rng(1).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    header, decoded = decode_png(_render.encode_png(pixels))
    assert header == {"width": 7, "height": 5, "depth": 8, "colour": 2, "interlace": 0}
    np.testing.assert_array_equal(decoded, pixels)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 3)), np.zeros((0, 4, 3))],
)
def test_png_encoder_rejects_what_is_not_rgb_uint8(bad: np.ndarray) -> None:
    with pytest.raises(_render.RenderError):
        _render.encode_png(bad)


@pytest.mark.parametrize(("n", "layout"), [(16, (4, 4)), (64, (8, 8)), (5, (1, 5))])
def test_bit_pictures_are_square_when_possible_with_cells_of_at_least_8_px(
    n: int, layout: tuple[int, int]
) -> None:
    bits = np.where(np.random.default_rng(n).random(n) > 0.5, 1, -1)
    image = _render.bits_image(bits)
    rows, cols = _render.bit_layout(n)
    cell = _render.cell_px(rows, cols)
    assert (rows, cols) == layout
    assert cell - 1 >= 8  # one pixel of each cell is grid line
    assert image.shape == (rows * cell + 1, cols * cell + 1, 3)
    centres = image[cell // 2 :: cell, cell // 2 :: cell, 0][:rows, :cols].reshape(-1)
    np.testing.assert_array_equal(np.where(centres == 255, 1, -1), bits)


def test_attribution_map_tints_positive_segments_red_and_negative_blue() -> None:
    segmentation = FakeSegmentation("image-grid", 4, (1, 8, 8))
    weights = np.array([1.0, -1.0, 0.0, 0.5])
    image = _render.attribution_image(np.full((1, 8, 8), 0.5), segmentation.assignment().numpy(), weights)
    quarter = image.shape[0] // 4  # the centre of each 2×2 block of the grid
    red, blue, plain = image[quarter, quarter], image[quarter, 3 * quarter], image[3 * quarter, quarter]
    assert red[0] > red[2] and blue[2] > blue[0]
    assert plain[0] == plain[1] == plain[2]  # W = 0: the trigger shows untinted
    assert image.shape[0] >= _render.TARGET_PX


# ---- the report ----------------------------------------------------------------------------------------------

PERFECT = ([], [])
MISMATCHING = ([0, 5, 15], [7, 9])  # 5 of 32 bits differ


@pytest.mark.parametrize("flips", [PERFECT, MISMATCHING], ids=["perfect", "mismatching"])
def test_json_records_the_verdict_and_every_triggers_bits(flips: tuple[list[int], ...]) -> None:
    key, extraction, result = case = image_case(flips)
    document = json.loads(build(case).to_json())
    assert document["format"] == "ledgermark-evidence" and document["version"] == 1
    assert document["created"] == "2025-01-02T03:04:05Z"
    assert document["verdict"] == result.verdict and document["is_copy"] == result.is_copy
    assert (document["p_value"], document["chi2_p_value"], document["chi2"]) == (
        result.p_value,
        result.chi2_p_value,
        result.chi2,
    )
    assert "Fisher" in document["decided_by"] and document["positive_association"] is True
    assert document["n_bits"] == 32 and document["matches"] == 32 - sum(map(len, flips))
    assert document["table"] == [list(row) for row in result.table]
    assert (document["key_sha256"], document["model_sha256"]) == (key.sha256, "ab" * 32)
    assert document["key_seed"] == bytes(range(32)).hex()
    assert document["segmentation"] == "image-grid" and document["metric"] == "logit"
    assert document["facts"] == {"chain id": "1337", "suspect": HOSTILE_FACT}
    reference = "".join("+" if b > 0 else "-" for b in key.bits.tolist())
    for t, (entry, indices) in enumerate(zip(document["triggers"], flips, strict=True)):
        extracted = "".join("-+"[c == "-"] if i in indices else c for i, c in enumerate(reference))
        assert (entry["reference_bits"], entry["extracted_bits"]) == (reference, extracted)
        assert entry["mismatches"] == len(indices)
        assert entry["wsr"] == 1 - len(indices) / N_BITS
        assert entry["label"] == entry["predicted"] == t + 3
        assert entry["attributions"] == pytest.approx(extraction.attributions[t].tolist())


def test_a_perfect_extraction_is_a_copy_with_a_tiny_p_value_that_survives_json() -> None:
    document = json.loads(build(image_case(PERFECT)).to_json())
    assert document["is_copy"] is True and document["wsr"] == 1.0
    assert 0 < document["p_value"] < 1e-7  # Fisher: 1 / C(32, 10), the stand-in bits unbalanced


@pytest.mark.parametrize("flips", [PERFECT, MISMATCHING], ids=["perfect", "mismatching"])
def test_html_is_self_contained_and_shows_verdict_pictures_and_mismatches(
    flips: tuple[list[int], ...],
) -> None:
    built = build(image_case(flips))
    page = built.to_html()
    assert f">{html.escape(built.result.verdict)}</h1>" in page
    assert 'class="verdict copy"' in page if built.result.is_copy else 'class="verdict not-copy"' in page
    assert "p-value, Fisher exact (one-sided; decides)" in page and "reported only" in page
    assert page.count("data:image/png;base64,") == 4 * 2  # reference, extracted, mismatches, attribution
    for t, indices in enumerate(flips):
        assert f"{len(indices)} of {N_BITS} bits differ" in page
        assert f'id="trigger-{t}"' in page
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<(link|script)\b", page)


def test_mismatch_picture_marks_exactly_the_differing_bits() -> None:
    page = build(image_case(MISMATCHING)).to_html()
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    _, mismatches = decode_png(base64.b64decode(uris[2]))  # trigger 0: reference, extracted, mismatches
    cell = _render.cell_px(4, 4)
    centres = mismatches[cell // 2 :: cell, cell // 2 :: cell][:4, :4].reshape(-1, 3)
    marked = [i for i, (r, g, _) in enumerate(centres) if r > 200 and g < 100]
    assert marked == MISMATCHING[0]


def test_facts_from_users_are_escaped() -> None:
    page = build(image_case(PERFECT)).to_html()
    assert HOSTILE_FACT not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "1337" in page and "ab" * 32 in page and "5e" * 32 in page


def test_a_misclassified_trigger_is_flagged() -> None:
    case = make_case(FakeSegmentation("image-grid", N_BITS, IMAGE_SHAPE), PERFECT, predictions=[3, 9])
    page = build(case).to_html()
    assert '<span class="misclassified">9' in page


def test_a_tabular_key_with_a_non_square_watermark_gets_bar_charts() -> None:
    case = make_case(FakeSegmentation("feature-groups", 5, (12,)), ([1], []))
    built = build(case)
    page = built.to_html()
    assert page.count("<svg") == 2 and page.count("<rect") == 2 * 5
    assert page.count("data:image/png;base64,") == 3 * 2  # bit pictures only
    assert "1 of 5 bits differ" in page and "http://" not in page
    assert json.loads(built.to_json())["triggers"][0]["mismatches"] == 1


def test_inconsistent_inputs_are_refused() -> None:
    key, extraction, result = image_case(PERFECT)
    key.segmentation = FakeSegmentation("image-grid", 4, IMAGE_SHAPE)
    with pytest.raises(report.ReportError, match="4 segments but 16"):
        build((key, extraction, result))
    key, extraction, result = image_case(PERFECT)
    with pytest.raises(report.ReportError, match="pooled"):
        build((key, extraction, stats.ownership_test([1] * 8, [1] * 8)))


# ---- writing -------------------------------------------------------------------------------------------------


def test_write_creates_the_folder_and_both_documents(tmp_path: Path) -> None:
    built = build(image_case(MISMATCHING))
    json_path, html_path = built.write(tmp_path / "new" / "folder")
    assert (json_path.name, html_path.name) == ("evidence.json", "evidence.html")
    assert (
        json_path.read_text(encoding="utf-8")
        == json.dumps(built.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )
    assert html_path.read_text(encoding="utf-8") == built.to_html()
    assert sorted(p.name for p in json_path.parent.iterdir()) == ["evidence.html", "evidence.json"]


def test_writing_over_a_file_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "report"
    target.write_text("not a folder")
    with pytest.raises(report.ReportError, match="not a folder"):
        build(image_case(PERFECT)).write(target)
    assert target.read_text() == "not a folder"
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def failing_replace_of(name: str) -> Callable[[str | Path, str | Path], None]:
    """``os.replace`` that fails for the target ``name`` ("*": every target)."""
    real_replace = os.replace

    def replace(source: str | Path, target: str | Path) -> None:
        if name in ("*", Path(target).name):
            raise OSError("disk full")
        real_replace(source, target)

    return replace


@pytest.mark.parametrize("failing", ["*", "evidence.html"], ids=["first-move", "second-move"])
def test_a_failed_move_leaves_no_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    monkeypatch.setattr(os, "replace", failing_replace_of(failing))
    with pytest.raises(report.ReportError, match="disk full"):
        build(image_case(PERFECT)).write(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rendering_leaves_no_file_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(rgb: np.ndarray) -> bytes:
        raise RuntimeError("renderer broke")

    monkeypatch.setattr(_render, "encode_png", broken)
    with pytest.raises(RuntimeError, match="renderer broke"):
        build(image_case(PERFECT)).write(tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---- the real watermark objects ------------------------------------------------------------------------------


def test_a_report_of_a_real_extraction(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))  # untrained: no watermark
    triggers, labels = torch.rand(2, *IMAGE_SHAPE), torch.tensor([1, 2])
    key = keys.create_key(triggers, labels, segments.ImageGrid(N_BITS, IMAGE_SHAPE), seed=b"s" * 32)
    extraction = explain.extract(model, key)
    result = stats.ownership_test(extraction.bits, extraction.reference)
    built = report.build_report(
        key=key, extraction=extraction, result=result, model_sha256="cd" * 32, extra_facts=None
    )
    json_path, html_path = built.write(tmp_path)
    document = json.loads(json_path.read_text(encoding="utf-8"))
    assert document["key_sha256"] == key.sha256 and document["wsr"] == pytest.approx(extraction.wsr)
    assert keys.derive_bits(bytes.fromhex(document["key_seed"]), N_BITS).tolist() == key.bits.tolist()
    assert [t["wsr"] for t in document["triggers"]] == pytest.approx(extraction.per_trigger_wsr)
    assert document["queries"] == extraction.queries and document["facts"] == {}
    assert html_path.read_text(encoding="utf-8").count("data:image/png;base64,") == 8
