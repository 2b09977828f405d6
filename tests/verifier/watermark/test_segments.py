"""verifier.watermark.segments: segmentations cover the input; impossible settings fail clearly."""

from __future__ import annotations

import re

import pytest
import torch

from verifier.watermark import errors, segments


@pytest.mark.parametrize(
    ("segmentation", "shape"),
    [
        (segments.ImageGrid(64, (3, 32, 32)), (3, 32, 32)),
        (segments.ImageGrid(9, (1, 28, 28)), (1, 28, 28)),
        (segments.SequenceSpans(10, (100,)), (100,)),
        (segments.SequenceSpans(4, (2, 10)), (2, 10)),
        (segments.FeatureGroups(5, (13,)), (13,)),
    ],
)
def test_segmentations_cover_the_input_with_n_nonempty_segments(segmentation, shape) -> None:
    assignment = segmentation.assignment()
    assert tuple(assignment.shape) == shape
    assert torch.equal(assignment.unique(), torch.arange(segmentation.n))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: segments.ImageGrid(10, (1, 8, 8)), "perfect-square number of bits, not 10"),
        (lambda: segments.ImageGrid(16, (8, 8)), "needs (C, H, W) inputs"),
        (lambda: segments.FeatureGroups(20, (13,)), "F ≥ 20"),
        (lambda: segments.MaskScheme(kind="random", count=3).matrix(16), "at least as many masks as bits"),
        (lambda: segments.MaskScheme(kind="lime").matrix(4), "unknown mask scheme 'lime'"),
    ],
)
def test_impossible_settings_raise_a_clear_error(build, message: str) -> None:
    with pytest.raises(errors.WatermarkError, match=re.escape(message)):
        build()
