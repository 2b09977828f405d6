"""The ownership test: is the watermark extracted from a suspect model the owner's, beyond chance?

Two tests on the pooled bits of every trigger (DESIGN.md §7):

- Pearson's chi-squared test of independence on the 2×2 table (extracted bit × reference bit) with Yates'
  continuity correction, as the seed paper does. It is written out here rather than delegated to
  ``scipy.stats.chi2_contingency`` because that function raises on a table with an empty row or column,
  which is exactly what an extraction whose bits all share one sign produces (a defect of the reference code).
- The exact one-sided binomial test of the number of matching bits against p = 0.5: the question a court
  asks ("could this many bits match by luck?"), and valid at any size.

The chi-squared test is two-sided in nature: a model whose bits are all *flipped* is as dependent on the
reference as a perfect copy. So a model is judged a copy only if p < α **and** WSR > 0.5.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats as scipy_stats

from verifier.errors import VerifierError

DEFAULT_ALPHA = 0.01


class StatisticsError(VerifierError):
    """The bits given to the test are malformed (different lengths, empty, not ±1)."""


@dataclasses.dataclass(frozen=True)
class OwnershipResult:
    """Outcome of the ownership test; every number a report or an arbiter needs to re-check the verdict."""

    n_bits: int  # pooled over all triggers
    matches: int  # extracted bit == reference bit
    table: tuple[tuple[int, int], tuple[int, int]]  # rows: extracted −1/+1, columns: reference −1/+1
    chi2: float  # Yates-corrected statistic, 1 degree of freedom
    p_chi2: float
    p_binomial: float  # P[X ≥ matches], X ~ Binomial(n_bits, 1/2)
    alpha: float

    @property
    def wsr(self) -> float:
        """Watermark success rate: the fraction of bits that match."""
        return self.matches / self.n_bits

    @property
    def is_copy(self) -> bool:
        """The verdict: significant dependence *in the owner's direction*."""
        return self.p_chi2 < self.alpha and self.wsr > 0.5

    @property
    def verdict(self) -> str:
        """The verdict in one sentence a person can read."""
        summary = (
            f"{self.matches} of {self.n_bits} bits match (WSR {self.wsr:.3f}); "
            f"chi-squared p = {self.p_chi2:.3g}, binomial p = {self.p_binomial:.3g}"
        )
        if self.is_copy:
            return f"copy: the model carries the watermark ({summary}, below α = {self.alpha:g})"
        if self.p_chi2 < self.alpha:
            return f"not a copy: the bits are significantly *inverted*, not the watermark ({summary})"
        return f"not a copy: no evidence of the watermark ({summary}, not below α = {self.alpha:g})"

    def to_dict(self) -> dict[str, object]:
        return {
            "n_bits": self.n_bits,
            "matches": self.matches,
            "wsr": self.wsr,
            "table": [list(row) for row in self.table],
            "chi2": self.chi2,
            "p_chi2": self.p_chi2,
            "p_binomial": self.p_binomial,
            "alpha": self.alpha,
            "is_copy": self.is_copy,
            "verdict": self.verdict,
        }


def ownership_test(extracted: object, reference: object, alpha: float = DEFAULT_ALPHA) -> OwnershipResult:
    """Test pooled ±1 bit vectors (any array-like, e.g. torch tensors) for the owner's watermark."""
    got, want = _as_sign_vector(extracted, "extracted"), _as_sign_vector(reference, "reference")
    if got.shape != want.shape:
        raise StatisticsError(f"extracted has {got.size} bits but the reference has {want.size}")
    if not 0 < alpha < 1:
        raise StatisticsError(f"alpha must lie in (0, 1), not {alpha}")
    table = contingency_table(got, want)
    chi2, p_chi2 = yates_chi2(table)
    matches = int(np.sum(got == want))
    return OwnershipResult(
        n_bits=int(got.size),
        matches=matches,
        table=(tuple(int(v) for v in table[0]), tuple(int(v) for v in table[1])),  # type: ignore[arg-type]
        chi2=chi2,
        p_chi2=p_chi2,
        p_binomial=binomial_p(matches, int(got.size)),
        alpha=alpha,
    )


def contingency_table(extracted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """2×2 counts; row = extracted (−1, +1), column = reference (−1, +1). Always 2×2, even if a sign is absent."""
    return np.array(
        [[np.sum((extracted == e) & (reference == r)) for r in (-1, 1)] for e in (-1, 1)], dtype=np.int64
    )


def yates_chi2(table: np.ndarray) -> tuple[float, float]:
    """Pearson's chi-squared with Yates' correction on a 2×2 table, as ``scipy.stats.chi2_contingency`` does.

    Each cell moves half a count towards its expected value (never past it). A table with an empty row or
    column has no evidence of dependence: statistic 0, p = 1 (scipy raises there).
    """
    observed = np.asarray(table, dtype=np.float64)
    total = observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / total if total else observed
    if total == 0 or np.any(expected == 0):
        return 0.0, 1.0
    diff = expected - observed
    corrected = observed + np.sign(diff) * np.minimum(0.5, np.abs(diff))
    statistic = float(np.sum((corrected - expected) ** 2 / expected))
    return statistic, float(scipy_stats.chi2.sf(statistic, df=1))


def binomial_p(matches: int, n: int) -> float:
    """Exact one-sided P[X ≥ matches] for X ~ Binomial(n, 1/2): the chance of this much agreement by luck."""
    return float(scipy_stats.binom.sf(matches - 1, n, 0.5))


def _as_sign_vector(bits: object, name: str) -> np.ndarray:
    array = np.asarray(bits.detach().cpu() if hasattr(bits, "detach") else bits).reshape(-1)  # type: ignore[attr-defined]
    if array.size == 0:
        raise StatisticsError(f"{name} holds no bits")
    if not np.all(np.isin(array, (-1, 1))):
        raise StatisticsError(f"{name} bits must all be −1 or +1")
    return array.astype(np.int8)
