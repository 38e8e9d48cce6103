"""Statistics of a paired A/B comparison: the ratio B/A from per-round pairs, its interval, a verdict.

A paired comparison measures the two sides alternately, so that each round holds one sample of A
and one of B taken a moment apart: whatever the machine does at that moment (a neighbour, a clock
change, CPU steal) hits both. The quantity estimated is the ratio B/A, in log space: per round
``d = log(b / a)``.

* Estimate: the Hodges-Lehmann estimator of the centre of the ``d`` (the median of the Walsh averages
  ``(d_i + d_j) / 2``, i <= j), which belongs to the Wilcoxon signed-rank test as the median belongs
  to the sign test (Hollander & Wolfe, *Nonparametric Statistical Methods*, ch. 3).
* Interval: the distribution-free confidence interval that inverts the signed-rank test, so a
  shift lies inside it exactly when the test of ``d - shift`` does not reject at 1 - confidence. It
  is ``[W_(k), W_(M+1-k)]`` over the M = n(n+1)/2 sorted Walsh averages; k comes from the exact null
  distribution for n <= 50 without tied values, from the normal approximation (tie and continuity
  corrected, as ``scipy.stats.wilcoxon(..., method="asymptotic", correction=True)``) otherwise.
* p-value: the two-sided Wilcoxon signed-rank test that the centre is 0 (zeros dropped, as scipy's
  default ``zero_method="wilcox"``).

Nothing here assumes normality; everything is on ranks, so a few rounds slowed by a neighbour move
the estimate little. Framework-free (numpy; scipy is not needed).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

CONFIDENCE = 0.95
EXACT_MAX_N = 50  # as scipy's wilcoxon: exact null distribution up to 50 pairs without ties or zeros

# decisions
REGRESSION, IMPROVEMENT, NO_CHANGE, INCONCLUSIVE = "regression", "improvement", "no change", "inconclusive"
A_FASTER, B_FASTER, TIE = "a faster", "b faster", "tie"
# why a comparison stopped
PRECISION, BUDGET, MAX_ROUNDS = "precision", "budget", "max_rounds"


@lru_cache(maxsize=64)
def _signed_rank_cdf(n: int) -> np.ndarray:
    """P(T+ <= t) for t = 0..n(n+1)/2 under the null (each rank's sign a fair coin), by counting the
    subsets of {1..n} with each sum."""
    m = n * (n + 1) // 2
    counts = np.zeros(m + 1, dtype=np.float64)  # float: 2**50 subsets overflow nothing here
    counts[0] = 1.0
    for r in range(1, n + 1):
        counts[r:] = counts[r:] + counts[:-r].copy()
    return np.cumsum(counts) / 2.0**n


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _normal_quantile(p: float) -> float:
    """Inverse of the standard normal CDF (bisection on erfc: exact enough, and no scipy import)."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if 1.0 - _normal_sf(mid) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _tie_term(values: np.ndarray) -> float:
    """sum(t^3 - t) over groups of equal values (the signed-rank variance's tie correction)."""
    _, t = np.unique(values, return_counts=True)
    return float(np.sum(t.astype(float) ** 3 - t))


def _sigma(n: int, tie_term: float) -> float:
    return math.sqrt((n * (n + 1) * (2 * n + 1) - tie_term / 2.0) / 24.0)


def signed_rank_p(d) -> float:
    """Two-sided Wilcoxon signed-rank p-value that the ``d`` are centred on 0.

    Zeros are dropped; exact for n <= 50 without ties (as scipy), otherwise the normal approximation
    with tie and continuity correction (scipy's ``method="asymptotic", correction=True``).
    """
    d = np.asarray(d, dtype=float)
    d = d[d != 0]
    n = d.size
    if n == 0:
        return 1.0
    a = np.abs(d)
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(n)
    sorted_a = a[order]
    # average ranks of tied |d|
    i = 0
    while i < n:
        j = i
        while j + 1 < n and sorted_a[j + 1] == sorted_a[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    t_plus = float(ranks[d > 0].sum())
    m = n * (n + 1) / 2.0
    ties = _tie_term(a)
    if n <= EXACT_MAX_N and ties == 0:
        cdf = _signed_rank_cdf(n)
        t = int(round(t_plus))
        lower = cdf[t]  # P(T+ <= t)
        upper = 1.0 - (cdf[t - 1] if t > 0 else 0.0)  # P(T+ >= t)
        return float(min(1.0, 2.0 * min(lower, upper)))
    sigma = _sigma(n, ties)
    if sigma == 0:
        return 1.0
    z = (t_plus - m / 2.0) / sigma
    z -= math.copysign(0.5 / sigma, z) if z != 0 else 0.0
    return float(min(1.0, 2.0 * _normal_sf(abs(z))))


def walsh_averages(d) -> np.ndarray:
    """The n(n+1)/2 averages (d_i + d_j) / 2, i <= j, sorted."""
    d = np.asarray(d, dtype=float)
    i, j = np.triu_indices(d.size)
    return np.sort((d[i] + d[j]) / 2.0)


def hodges_lehmann(d) -> float:
    """The Hodges-Lehmann estimate of the centre of ``d``: the median of its Walsh averages."""
    return float(np.median(walsh_averages(d)))


def signed_rank_interval(d, confidence: float = CONFIDENCE) -> tuple[float, float, str]:
    """(low, high, method) of the signed-rank confidence interval of the centre of ``d``.

    The shifts s with p(d - s) > 1 - confidence, found by counting: between two neighbouring Walsh
    averages W_(j) < s < W_(j+1) the statistic of ``d - s`` is T+ = M - j, and the test's tie
    structure is that of the equal values in ``d`` (nothing else ties there). So the interval is
    ``[W_(k), W_(M+1-k)]`` with k the smallest j whose p-value exceeds alpha; (-inf, inf) when even
    the most extreme T+ is not significant (fewer than 6 pairs at 95%).
    """
    d = np.asarray(d, dtype=float)
    n = d.size
    if n == 0:
        return -math.inf, math.inf, "none"
    alpha = 1.0 - confidence
    w = walsh_averages(d)
    m = w.size
    ties = _tie_term(d)
    if n <= EXACT_MAX_N and ties == 0:
        method = "exact"
        cdf = _signed_rank_cdf(n)  # p of T+ = M - j (j <= M/2) is 2 P(T+ <= j)
        k = int(np.searchsorted(2.0 * cdf, alpha, side="right"))  # smallest j with 2 cdf(j) > alpha
    else:
        method = "normal"
        z = _normal_quantile(1.0 - alpha / 2.0)
        # accepted iff (M/2 - j - 0.5) / sigma < z, i.e. j > M/2 - 0.5 - z sigma
        k = math.floor(m / 2.0 - 0.5 - z * _sigma(n, ties)) + 1
    if k <= 0:
        return -math.inf, math.inf, method
    k = min(k, (m + 1) // 2)
    return float(w[k - 1]), float(w[m - k]), method


@dataclass(frozen=True)
class PairedEstimate:
    """The ratio B/A of paired samples with its confidence interval; ``half_width`` is in log space
    (0.02: the interval spans about +-2% around the estimate)."""

    ratio: float
    low: float
    high: float
    p_value: float
    n: int
    confidence: float
    method: str  # "exact" | "normal" | "none"

    @property
    def half_width(self) -> float:
        if not (self.low > 0 and math.isfinite(self.high)):
            return math.inf
        return (math.log(self.high) - math.log(self.low)) / 2.0


def paired_ratio(a, b, confidence: float = CONFIDENCE) -> PairedEstimate:
    """B/A from paired per-round samples ``a[i]``, ``b[i]`` (seconds): Hodges-Lehmann estimate of the
    per-round log ratios, its signed-rank interval and p-value, back in ratio space."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired samples need equal lengths, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("paired_ratio needs at least one round")
    if np.any(a <= 0) or np.any(b <= 0):
        raise ValueError("paired samples are durations: every one must be positive")
    d = np.log(b) - np.log(a)
    low, high, method = signed_rank_interval(d, confidence)
    return PairedEstimate(ratio=math.exp(hodges_lehmann(d)), low=math.exp(low), high=math.exp(high),
                          p_value=signed_rank_p(d), n=int(d.size), confidence=confidence, method=method)


def decide_change(est: PairedEstimate, threshold: float) -> str:
    """Verdict on a code or settings change (B the candidate): a regression needs the interval above 1
    *and* the estimate above 1 + threshold; "no change" needs the whole interval inside
    [1/(1+t), 1+t]; anything else is inconclusive (measure longer, or on a quieter machine)."""
    limit = 1.0 + threshold
    if est.low > 1.0 and est.ratio > limit:
        return REGRESSION
    if est.high < 1.0 and est.ratio < 1.0 / limit:
        return IMPROVEMENT
    if est.low >= 1.0 / limit and est.high <= limit:
        return NO_CHANGE
    return INCONCLUSIVE


def pooled_ratio(ratios) -> float:
    """The geometric mean of several pairs of processes' ratios, each pair weighted alike: a pair of
    processes is one sample of the bias a process keeps for its whole life, however many rounds it ran
    (pyperf's rule: the unit of a benchmark's variation is the process; Stinner, pyperf docs, "Runs,
    values, warmups")."""
    logs = [math.log(r) for r in ratios]
    if not logs:
        raise ValueError("pooled_ratio needs at least one ratio")
    return math.exp(sum(logs) / len(logs))


def may_have_regressed(est: PairedEstimate, threshold: float) -> bool:
    """Whether ``cnnbench ab --confirm N`` measures a change again: B measured slower and the interval
    reaching past 1 + threshold/2, whatever the first pair's own verdict. One pair's ratio carries that
    pair's bias (docs/ab.md, "Why the defaults"; results/per-build-bias-2026-12-04.json), which its interval over rounds does not show: a true 15%
    slowdown of Keras ResNet-18 training measured 1.050 [0.999, 1.108] in one pair on the reference VM
    (2026-12-04), and 1.043 [1.003, 1.086] in another with the rounds spread over three builds, a
    confident "no change" at a 10% threshold, where three other pairs of it measured 1.10 to 1.19. Half
    the threshold is the margin left for that bias."""
    return est.ratio > 1.0 and est.high > 1.0 + threshold / 2


def confirmed_decision(first: PairedEstimate, again: list[PairedEstimate], threshold: float) -> str:
    """A change's verdict after ``cnnbench ab --confirm N``, from the first pair of processes and the fresh
    ones: a change that may have regressed (``may_have_regressed``) is a regression if every pair
    measured B slower (each ratio above 1) and the pooled ratio of all the pairs (``pooled_ratio``) is
    above 1 + threshold. Otherwise a first-pass regression becomes inconclusive, and any other first
    verdict stands. Pooling, not requiring each pair to pass the threshold on its own: a pair's ratio
    carries its own bias (measured on the reference VM: Keras ResNet-18 training, a true 15% slowdown,
    1.219 in one pair and 1.073 in the next), and N+1 pairs divide that bias's spread by about
    sqrt(N+1), where demanding N+1 passes multiplies the chances of a miss. With no re-measurement, the
    first pair's own verdict."""
    decision = decide_change(first, threshold)
    if not again or not may_have_regressed(first, threshold):
        return decision
    every = [first, *again]
    if all(e.ratio > 1.0 for e in every) and pooled_ratio([e.ratio for e in every]) > 1.0 + threshold:
        return REGRESSION
    return INCONCLUSIVE if decision == REGRESSION else decision


def confirmation_settled(first: PairedEstimate, again: list[PairedEstimate], threshold: float) -> bool:
    """Whether another fresh pair would still be worth its time: not once a pair measured B no slower
    than A (a ratio of at most 1: never a regression), nor once the pairs so far pool below
    1 + threshold/2 (a regression would need the next pairs to make up the difference: for a 10%
    threshold, two pairs pooled at 1.049 need a third above 1.21), nor once the first pair and at least
    one fresh pair are each a regression on their own (every pair past the threshold, interval above 1)."""
    every = [first, *again]
    if any(e.ratio <= 1.0 for e in every):
        return True
    if again and pooled_ratio([e.ratio for e in every]) < 1.0 + threshold / 2:
        return True
    return bool(again) and all(decide_change(e, threshold) == REGRESSION for e in every)


def stored_estimate(m: dict) -> PairedEstimate:
    """The estimate of a stored measurement (a row of ``cnnbench ab``'s JSON, or one of its
    confirmations): ratio, ci_low, ci_high (None: unbounded), p_value, rounds."""
    low = m["ci_low"] if m.get("ci_low") is not None else 0.0
    high = m["ci_high"] if m.get("ci_high") is not None else math.inf
    return PairedEstimate(ratio=m["ratio"], low=low, high=high, p_value=m.get("p_value", 1.0),
                          n=int(m.get("rounds") or 0), confidence=m.get("confidence", CONFIDENCE), method="stored")


def decide_frameworks(est: PairedEstimate) -> str:
    """Verdict between two runtimes: B/A above 1 with the interval excluding 1 means A is faster."""
    if est.low > 1.0:
        return A_FASTER
    if est.high < 1.0:
        return B_FASTER
    return TIE


def stop_reason(est: PairedEstimate | None, *, rounds: int, elapsed_s: float, target: float, budget_s: float,
                max_rounds: int, min_rounds: int) -> str | None:
    """Why to stop now, or None to measure another round: the interval is narrow enough (its log
    half-width at most ``target``), the time budget is spent, or the round limit is reached. The
    precision rule waits for ``min_rounds``; the other two do not."""
    if rounds >= min_rounds and est is not None and est.half_width <= target:
        return PRECISION
    if rounds >= max_rounds:
        return MAX_ROUNDS
    if elapsed_s >= budget_s:
        return BUDGET
    return None
