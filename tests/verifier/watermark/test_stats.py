"""The ownership test: p-values against scipy on hand-made tables, the verdict rules, degenerate inputs."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import stats as scipy_stats

from verifier.watermark import stats


def bits_for_table(table: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Extracted and reference bit vectors whose 2×2 table (rows extracted −/+, columns reference −/+) is ``table``."""
    extracted, reference = [], []
    for row, e in enumerate((-1, 1)):
        for col, r in enumerate((-1, 1)):
            extracted += [e] * table[row][col]
            reference += [r] * table[row][col]
    return np.array(extracted), np.array(reference)


TABLES = [
    [[32, 0], [0, 32]],
    [[20, 12], [9, 23]],
    [[5, 3], [2, 6]],
    [[1, 40], [37, 2]],
    [[100, 90], [80, 110]],
]


@pytest.mark.parametrize("table", TABLES)
def test_chi2_matches_scipy_yates(table: list[list[int]]) -> None:
    expected = scipy_stats.chi2_contingency(np.array(table), correction=True)
    result = stats.ownership_test(*bits_for_table(table))
    assert result.table == (tuple(table[0]), tuple(table[1]))
    assert result.chi2 == pytest.approx(expected.statistic, rel=1e-12)
    assert result.chi2_p_value == pytest.approx(expected.pvalue, rel=1e-9)


@pytest.mark.parametrize("table", TABLES)
def test_the_deciding_p_is_fishers_one_sided_exact_test(table: list[list[int]]) -> None:
    """Conditional on both margins: the hypergeometric tail of the agreeing cell, summed by hand here."""
    (a, b), (c, d) = table
    rows, column, total = a + b, a + c, a + b + c + d
    tail = sum(scipy_stats.hypergeom.pmf(k, total, column, rows) for k in range(a, min(rows, column) + 1))
    result = stats.ownership_test(*bits_for_table(table))
    assert result.p_value == pytest.approx(tail, rel=1e-9)
    assert result.positive_association == (a * d > b * c)


@pytest.mark.parametrize(("n", "reference_p"), [(64, 9.2e-15), (256, 9.4e-57)])
def test_perfect_extraction_is_a_copy_and_keeps_the_reference_chi2(n: int, reference_p: float) -> None:
    """DESIGN.md §7: perfect extraction of balanced bits gives chi-squared p ≈ 9.2e-15 (n = 64) and ≈ 9.4e-57
    (n = 256); Fisher's exact p is 1 / C(n, n/2)."""
    bits = np.array([1, -1] * (n // 2))
    result = stats.ownership_test(bits, bits)
    assert result.chi2_p_value == pytest.approx(reference_p, rel=0.02)
    assert result.p_value == pytest.approx(1 / math.comb(n, n // 2), rel=1e-9)
    assert result.is_copy and result.wsr == 1.0 and result.positive_association


def test_a_flipped_watermark_is_significant_but_not_a_copy() -> None:
    """The reference code's two-sided test counted a fully inverted watermark as ownership."""
    bits = np.array([1, -1] * 32)
    result = stats.ownership_test(-bits, bits)
    assert result.chi2_p_value < 1e-10 and result.p_value == 1.0
    assert result.wsr == 0.0
    assert not result.is_copy
    assert result.verdict.startswith("not a copy: the bits are significantly *inverted*")


@pytest.mark.parametrize("plus", [40, 48, 56, 63])
def test_a_negatively_associated_table_is_never_a_copy_even_with_most_bits_matching(plus: int) -> None:
    """Unbalanced reference bits: extracted all "+" matches most of a mostly-"+" reference (WSR > 0.5, the old
    rule's copy), yet carries no information; extracted = −reference is negatively associated outright."""
    reference = np.array([1] * plus + [-1] * (64 - plus))
    constant = stats.ownership_test(np.ones(64), reference)
    assert constant.wsr > 0.5 and constant.p_value == 1.0 and not constant.is_copy
    inverted = stats.ownership_test(-reference, reference)
    assert not inverted.positive_association and not inverted.is_copy


def test_mostly_matching_but_negatively_associated_bits_are_not_a_copy() -> None:
    """WSR 0.75 with a negative association (odds ratio < 1): the margins explain all the agreement and more."""
    table = [[1, 7], [9, 47]]  # a·d = 47 < b·c = 63, 48 of 64 agree
    result = stats.ownership_test(*bits_for_table(table))
    assert result.wsr == 0.75 and not result.positive_association
    assert result.p_value > 0.5 and not result.is_copy


def test_all_extracted_bits_with_one_sign_do_not_crash() -> None:
    """An empty table row made the reference code (and scipy) raise; it is simply no evidence."""
    reference = np.array([1, -1] * 32)
    result = stats.ownership_test(np.ones(64), reference)
    assert (result.chi2, result.chi2_p_value, result.p_value) == (0.0, 1.0, 1.0)
    assert not result.is_copy


def test_the_result_says_which_test_decides() -> None:
    bits = np.array([1, -1] * 8)
    document = stats.ownership_test(bits, bits).to_dict()
    assert document["test"] == "fisher-exact-greater" and "Fisher" in document["decided_by"]
    assert {"p_value", "chi2_p_value", "positive_association", "is_copy"} <= set(document)
    assert "p_binomial" not in document


def test_inputs_are_not_mutated_and_accept_torch_tensors() -> None:
    torch = pytest.importorskip("torch")
    extracted = torch.tensor([1, -1, 1, 1], dtype=torch.int8)
    reference = torch.tensor([1, -1, -1, 1], dtype=torch.int8)
    before = extracted.clone(), reference.clone()
    result = stats.ownership_test(extracted, reference)
    assert result.matches == 3
    assert torch.equal(extracted, before[0]) and torch.equal(reference, before[1])


@pytest.mark.parametrize(
    ("extracted", "reference", "alpha", "message"),
    [
        ([1, -1], [1, -1, 1], 0.01, "extracted has 2 bits but the reference has 3"),
        ([], [], 0.01, "extracted holds no bits"),
        ([1, 0], [1, -1], 0.01, "extracted bits must all be −1 or +1"),
        ([1, -1], [1, -1], 1.5, "alpha must lie in (0, 1)"),
    ],
)
def test_malformed_inputs_raise_a_clear_error(
    extracted: list[int], reference: list[int], alpha: float, message: str
) -> None:
    with pytest.raises(stats.StatisticsError, match=re.escape(message)):
        stats.ownership_test(np.array(extracted), np.array(reference), alpha=alpha)
