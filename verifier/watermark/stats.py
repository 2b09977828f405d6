"""The ownership test: is the watermark extracted from a suspect model the owner's, beyond chance?

The pooled bits of every trigger form a 2×2 table (extracted bit × reference bit). What DECIDES (DESIGN.md §7):

    copy  ⇔  positive association (a·d > b·c: agreement beyond what the margins predict)
             AND  one-sided Fisher exact p < α   (scipy.stats.fisher_exact, alternative="greater")

Fisher's test is conditional on both margins, so it is valid whatever the balance of the extracted bits (a
model whose bits are mostly "+" agrees with a mostly-"+" reference by chance, and a margin-blind binomial of
matches against ½ would call that evidence), and one-sided, so a flipped watermark (a negative association)
is never a copy, however significant. Bits are exactly balanced by construction (keys.derive_bits), so the
reference margin is fixed before any suspect exists.

Also reported, deciding nothing: Pearson's chi-squared test of independence with Yates' correction (the seed
paper's number), two-sided. It is written out rather than delegated to ``scipy.stats.chi2_contingency``
because that function raises on a table with an empty row or column, which is what an extraction whose bits
all share one sign produces.

The p-value treats bits as independent; attributions of neighbouring segments are correlated, so an arbiter
calibrates a claim against null models as well (calibration.py: the empirical p).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats as scipy_stats

from verifier.errors import VerifierError

DEFAULT_ALPHA = 0.01
DECIDED_BY = "one-sided Fisher exact test (conditional on the margins) and a positive association"


class StatisticsError(VerifierError):
    """The bits given to the test are malformed (different lengths, empty, not ±1)."""


@dataclasses.dataclass(frozen=True)
class OwnershipResult:
    """Outcome of the ownership test; every number a report or an arbiter needs to re-check the verdict."""

    n_bits: int  # pooled over all triggers
    matches: int  # extracted bit == reference bit
    table: tuple[tuple[int, int], tuple[int, int]]  # rows: extracted −1/+1, columns: reference −1/+1
    p_value: float  # one-sided Fisher exact, alternative "greater": THIS decides
    chi2: float  # Yates-corrected statistic, 1 degree of freedom (reported only)
    chi2_p_value: float  # two-sided (reported only)
    alpha: float

    @property
    def wsr(self) -> float:
        """Watermark success rate: the fraction of bits that match."""
        return self.matches / self.n_bits

    @property
    def positive_association(self) -> bool:
        """The extracted bits agree with the reference more than the margins alone predict (odds ratio > 1)."""
        (a, b), (c, d) = self.table
        return a * d > b * c

    @property
    def is_copy(self) -> bool:
        """The verdict: a positive association, significant by the one-sided Fisher exact test."""
        return self.positive_association and self.p_value < self.alpha

    @property
    def verdict(self) -> str:
        """The verdict in one sentence a person can read."""
        summary = (
            f"{self.matches} of {self.n_bits} bits match (WSR {self.wsr:.3f}); "
            f"Fisher exact p (one-sided, decides) = {self.p_value:.3g}; "
            f"chi-squared p (reported only) = {self.chi2_p_value:.3g}"
        )
        if self.is_copy:
            return f"copy: the model carries the watermark ({summary}, below α = {self.alpha:g})"
        if not self.positive_association and self.chi2_p_value < self.alpha:
            return f"not a copy: the bits are significantly *inverted*, not the watermark ({summary})"
        return f"not a copy: no evidence of the watermark ({summary}, not below α = {self.alpha:g})"

    def to_dict(self) -> dict[str, object]:
        return {
            "n_bits": self.n_bits,
            "matches": self.matches,
            "wsr": self.wsr,
            "table": [list(row) for row in self.table],
            "p_value": self.p_value,
            "test": "fisher-exact-greater",
            "decided_by": DECIDED_BY,
            "positive_association": self.positive_association,
            "chi2": self.chi2,
            "chi2_p_value": self.chi2_p_value,
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
    chi2, chi2_p = yates_chi2(table)
    return OwnershipResult(
        n_bits=int(got.size),
        matches=int(np.sum(got == want)),
        table=(tuple(int(v) for v in table[0]), tuple(int(v) for v in table[1])),  # type: ignore[arg-type]
        p_value=fisher_greater(table),
        chi2=chi2,
        chi2_p_value=chi2_p,
        alpha=alpha,
    )


def fisher_greater(table: np.ndarray) -> float:
    """One-sided Fisher exact p of a 2×2 table: P[agreement ≥ observed | both margins], hypergeometric.

    With rows extracted (−1, +1) and columns reference (−1, +1), the odds ratio a·d / (b·c) > 1 is agreement,
    which is scipy's alternative "greater". An empty row or column leaves one possible table: p = 1.
    """
    return float(scipy_stats.fisher_exact(np.asarray(table, dtype=np.int64), alternative="greater").pvalue)


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


def _as_sign_vector(bits: object, name: str) -> np.ndarray:
    array = np.asarray(bits.detach().cpu() if hasattr(bits, "detach") else bits).reshape(-1)  # type: ignore[attr-defined]
    if array.size == 0:
        raise StatisticsError(f"{name} holds no bits")
    if not np.all(np.isin(array, (-1, 1))):
        raise StatisticsError(f"{name} bits must all be −1 or +1")
    return array.astype(np.int8)
