"""Statistics on raw per-round timings, in one place: ratio of medians with a bootstrap CI, Mann-Whitney U.

Timings on shared machines are noisy and skewed (a few slow rounds), so everything here works on
medians and ranks, never on means. numpy only (scipy lazily, for the Mann-Whitney test), so the
harness, the reports and the terminal verdict share the same numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class RatioEstimate:
    ratio: float  # median(b) / median(a)
    low: float  # confidence interval of the ratio (nan with fewer than 2 rounds on a side)
    high: float
    n_a: int
    n_b: int
    # several worker processes on a side, and their medians do not all put the same side ahead: no side is
    # named faster, whatever the interval says (a second process could reverse it)
    processes_disagree: bool = False
    processes: tuple[int, int] = (1, 1)  # worker processes behind each side

    @property
    def has_interval(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high))


def _rounds(x, side: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.size == 0:
        raise ValueError(f"ratio_of_medians needs at least one round on side {side}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"ratio_of_medians: side {side} holds a round that is not a finite positive time")
    return arr


def split_rounds(rounds, counts) -> list[np.ndarray]:
    """A case's pooled rounds (pytest-benchmark's ``stats["data"]``, process after process) cut back into
    its worker processes' rounds by their ``counts``; one group when ``counts`` is None or does not add up
    (a run saved before several processes per case existed)."""
    arr = np.asarray(rounds, dtype=float)
    if not counts or sum(counts) != arr.size or any(int(c) < 1 for c in counts):
        return [arr]
    edges = np.cumsum([0, *map(int, counts)])
    return [arr[lo:hi] for lo, hi in zip(edges[:-1], edges[1:])]


def _bootstrap_medians(groups: list[np.ndarray], resamples: int, rng) -> np.ndarray:
    """Bootstrap medians of pooled rounds: rounds resampled with replacement (one group); with several
    groups (worker processes), the processes first, then the rounds within each chosen one (a hierarchical
    bootstrap), so that the spread between processes enters the interval, not only the spread of rounds."""
    if len(groups) == 1:
        g = groups[0]
        return np.median(rng.choice(g, size=(resamples, g.size), replace=True), axis=1)
    width = max(g.size for g in groups)
    within = np.full((len(groups), resamples, width), np.nan)  # each process's rounds resampled, NaN-padded
    for i, g in enumerate(groups):
        within[i, :, :g.size] = rng.choice(g, size=(resamples, g.size), replace=True)
    chosen = rng.integers(0, len(groups), size=(resamples, len(groups)))
    picked = within[chosen, np.arange(resamples)[:, None], :]  # (resamples, processes, width)
    return np.nanmedian(picked.reshape(resamples, -1), axis=1)


def ratio_of_medians(a, b, *, resamples: int = BOOTSTRAP_RESAMPLES, confidence: float = CONFIDENCE,
                     seed: int = 0, a_processes=None, b_processes=None) -> RatioEstimate:
    """median(b)/median(a) with a percentile-bootstrap interval.

    ``a_processes`` / ``b_processes``: the rounds each worker process contributed to ``a`` / ``b``, in
    order (``extra_info["process_rounds"]``). With more than one process on a side the bootstrap is
    hierarchical (processes, then rounds), and ``processes_disagree`` says whether some pair of process
    medians puts the other side ahead. Without them, rounds are resampled independently, as before.

    Deterministic for a given seed, so a report or a CI verdict does not change between re-renders.
    Rounds must be finite positive times: a NaN or inf round is a broken measurement, not data.
    """
    a = _rounds(a, "a")
    b = _rounds(b, "b")
    ga, gb = split_rounds(a, a_processes), split_rounds(b, b_processes)
    ratio = float(np.median(b) / np.median(a))
    sides = (len(ga), len(gb))
    ma_p, mb_p = [float(np.median(g)) for g in ga], [float(np.median(g)) for g in gb]
    cross = [y / x for x in ma_p for y in mb_p]
    disagree = len(ga) * len(gb) > 1 and not (all(c > 1 for c in cross) or all(c < 1 for c in cross))
    if a.size < 2 or b.size < 2:
        return RatioEstimate(ratio, float("nan"), float("nan"), a.size, b.size, disagree, sides)
    rng = np.random.default_rng(seed)
    ma = _bootstrap_medians(ga, resamples, rng)
    mb = _bootstrap_medians(gb, resamples, rng)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(mb / ma, [tail, 1.0 - tail])
    return RatioEstimate(ratio, float(low), float(high), a.size, b.size, disagree, sides)


def faster_side(est: RatioEstimate, a: str, b: str) -> str:
    """``a``, ``b`` or ``"tie"`` for an estimate of time(b)/time(a): a side is named only when the
    interval excludes 1 and, with several worker processes a side, every pair of process medians agrees.
    Without an interval (a single round) the point estimate decides; callers say so."""
    if est.processes_disagree or (est.has_interval and est.low <= 1.0 <= est.high):
        return "tie"
    return a if est.ratio > 1.0 else b if est.ratio < 1.0 else "tie"


def mann_whitney_p(a, b) -> float:
    """Two-sided Mann-Whitney U p-value that the two sets of rounds come from the same distribution."""
    from scipy.stats import mannwhitneyu

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.size < 2 or b.size < 2:
        return float("nan")
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
