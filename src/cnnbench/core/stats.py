"""Statistics on raw per-round timings, in one place: ratio of medians with its CI, Mann-Whitney U.

Timings on shared machines are noisy and skewed (a few slow rounds), so everything here works on
medians and ranks, never on means. numpy only (scipy lazily: the t quantile, digamma and the Mann-Whitney
test), so the harness, the reports and the terminal verdict share the same numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95
# a side is named faster only when at least this share of (process, process) pairs puts it ahead (faster_side):
# with two or three processes a side that is every pair; with more it lets one crossing pair in ten through
# instead of turning every comparison of a noisy case into a tie as its processes grow. Without it, a clean-
# clone make bench named two sides its interval barely excluded while some of their processes crossed, and
# a run 20 minutes earlier had named the opposite side for one of them (results/bench-default-t-interval-...)
PAIR_AGREEMENT = 0.9
# with this many processes or more on a side, its slowest quarter (at least one) is left out of the pair count
# (the interval keeps them): the machine's slow spells only ever slow a process, by up to 2x for seconds
# (results/step-drift-lenet5-2026-12-06), and with eight processes a side one such process had vetoed
# comparisons whose intervals lay far from 1 (LeNet-5 training 1.64 [1.39, 1.92]:
# results/busy-machine-verdict-window-rigorous-2026-12-06). With two or three, every process counts
PAIR_TRIM_FROM = 4


def pair_rule_text(most_processes: int | None = None) -> str:
    """The pair rule in words, for the notes that report it; its trimming clause only where it applies, a side
    of PAIR_TRIM_FROM processes or more (``most_processes``: the most processes a side of the comparisons has;
    None: the whole rule)."""
    rule = f"more than {round(10 * (1 - PAIR_AGREEMENT))} in 10 pairs of processes disagree"
    if most_processes is None or most_processes >= PAIR_TRIM_FROM:
        rule += f" (from {PAIR_TRIM_FROM} processes a side, each side's slowest quarter left out of the pairs)"
    return rule


PAIR_RULE_TEXT = pair_rule_text()
MIN_SPREAD_CASES = 3  # cases of two or more processes a run needs before its process spread is estimated
PRIOR_DF_CAP = 1000.0  # the run's process spread taken as known (a t quantile of 1.96 at 95%)


@dataclass(frozen=True)
class RatioEstimate:
    ratio: float  # median(b) / median(a)
    low: float  # confidence interval of the ratio (nan with fewer than 2 rounds on a side)
    high: float
    n_a: int
    n_b: int
    # several worker processes, and fewer than PAIR_AGREEMENT of the pairs of their medians put the same side
    # ahead: no side is named faster, whatever the interval says (a second pair of processes could reverse it)
    processes_disagree: bool = False
    processes: tuple[int, int] = (1, 1)  # worker processes behind each side
    # how the interval was made: "rounds" (a bootstrap of the rounds, one process a side), "processes, then
    # rounds" (the hierarchical bootstrap) or "processes' spread" (a t interval on the processes' log
    # medians, each side's spread moderated by the run's: ratio_of_medians)
    method: str = "rounds"
    # "processes' spread": per side, (the variance of its mean log process median: its spread squared over its
    # processes, the degrees of freedom of that spread); the variances add up to the log ratio's. None for
    # the bootstraps
    parts: tuple[tuple[float, float], tuple[float, float]] | None = None

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


def process_spread(medians_by_case) -> tuple[float, float] | None:
    """A run's spread between the worker processes of one case, as a prior for each case's own: (s0, d0),
    the standard deviation of the log of a process's median and the degrees of freedom it is worth, or
    None with fewer than MIN_SPREAD_CASES cases of two or more processes.

    Smyth's empirical Bayes (limma's ``squeezeVar``; Smyth 2004, Stat. Appl. Genet. Mol. Biol. 3:3),
    fitted by its method of moments to the cases' sample variances of log process medians: where the cases'
    variances differ no more than sampling alone makes them differ, d0 is large (PRIOR_DF_CAP) and every case
    takes the run's s0; where some cases are truly noisier (a DenseNet whose processes differ by 40%), d0 is
    small and each case keeps more of its own (``ratio_of_medians``)."""
    from scipy.special import digamma, polygamma

    z, d = [], []
    for medians in medians_by_case:
        logs = np.log([m for m in (medians or []) if m is not None and math.isfinite(m) and m > 0])
        if logs.size < 2:
            continue
        # processes closer than 0.01% (equal medians, say) are below what the timer tells: that, not log(0)
        var = max(float(np.var(logs, ddof=1)), 1e-8)
        d.append(logs.size - 1)
        z.append(math.log(var) - float(digamma(d[-1] / 2)) + math.log(d[-1] / 2))
    if len(z) < MIN_SPREAD_CASES:
        return None
    z, d = np.array(z), np.array(d, dtype=float)
    excess = float(np.var(z, ddof=1) - np.mean(polygamma(1, d / 2)))  # beyond log-chi-square sampling
    d0 = PRIOR_DF_CAP if excess <= 0 else min(PRIOR_DF_CAP, 2 * _trigamma_inverse(excess))
    s0_sq = math.exp(float(np.mean(z)) + float(digamma(d0 / 2)) - math.log(d0 / 2))
    return math.sqrt(s0_sq), d0


def _trigamma_inverse(y: float) -> float:
    """x with trigamma(x) = y (Smyth's Newton iteration, as limma's trigammaInverse)."""
    from scipy.special import polygamma

    if y > 1e7:
        return 1 / math.sqrt(y)
    if y < 1e-6:
        return 1 / y
    x = 0.5 + 1 / y
    for _ in range(50):
        tri = float(polygamma(1, x))
        step = tri * (1 - tri / y) / float(polygamma(2, x))
        x += step
        if -step / x < 1e-8:
            break
    return x


def t_half_width(va: float, da: float, vb: float, db: float, confidence: float = CONFIDENCE) -> float:
    """Half the width, in log, of the t interval of a difference of two means of variances ``va`` and ``vb``
    with ``da`` and ``db`` degrees of freedom (Welch-Satterthwaite's for the sum)."""
    from scipy.special import stdtrit  # the t distribution's quantile (lighter than scipy.stats)

    df = (va + vb) ** 2 / (va * va / da + vb * vb / db)
    return float(stdtrit(df, 0.5 + confidence / 2.0)) * math.sqrt(va + vb)


def _side_spread(medians: list[float], s0: float, d0: float) -> tuple[float, float]:
    """(sd of a side's log process medians, its degrees of freedom): the side's own variance moderated by
    the run's, ``(d0 s0^2 + d s^2) / (d0 + d)`` on ``d0 + d`` degrees of freedom (process_spread)."""
    logs = np.log(medians)
    d = logs.size - 1
    own = float(np.var(logs, ddof=1)) if d else 0.0
    return math.sqrt((d0 * s0 * s0 + d * own) / (d0 + d)), d0 + d


def pair_processes(medians: list[float]) -> list[float]:
    """The process medians of one side that the pair rule counts: all of them below PAIR_TRIM_FROM, else all
    but the slowest quarter (at least one), where the machine's one-sided slow spells land."""
    if len(medians) < PAIR_TRIM_FROM:
        return list(medians)
    return sorted(medians)[:len(medians) - max(1, len(medians) // 4)]


def ratio_of_medians(a, b, *, resamples: int = BOOTSTRAP_RESAMPLES, confidence: float = CONFIDENCE,
                     seed: int = 0, a_processes=None, b_processes=None, spread=None) -> RatioEstimate:
    """median(b)/median(a) with a confidence interval.

    ``a_processes`` / ``b_processes``: the rounds each worker process contributed to ``a`` / ``b``, in
    order (``extra_info["process_rounds"]``). ``processes_disagree`` says whether fewer than PAIR_AGREEMENT
    of the (a process, b process) pairs of medians put the same side ahead, each side's slowest quarter left
    out from PAIR_TRIM_FROM processes on (``pair_processes``). The interval:

    * with processes on a side and the run's process ``spread`` (``process_spread``: its s0 and d0), a t
      interval on the log ratio: each side's variance of a log process median is its own moderated by the
      run's (``_side_spread``), over its processes, with Welch's degrees of freedom. Two processes a side
      cannot show their own spread (a bootstrap of two processes names a side about a third of the time
      when the two sides are the same: docs/benchmarks.md); the run's many cases can;
    * with processes but no ``spread`` (a run of fewer cases), the hierarchical bootstrap: processes, then
      their rounds;
    * with one process a side, a percentile bootstrap of the rounds.

    Deterministic for a given seed, so a report or a CI verdict does not change between re-renders.
    Rounds must be finite positive times: a NaN or inf round is a broken measurement, not data.
    """
    a = _rounds(a, "a")
    b = _rounds(b, "b")
    ga, gb = split_rounds(a, a_processes), split_rounds(b, b_processes)
    ratio = float(np.median(b) / np.median(a))
    sides = (len(ga), len(gb))
    ma_p, mb_p = [float(np.median(g)) for g in ga], [float(np.median(g)) for g in gb]
    counted_b = pair_processes(mb_p)
    cross = [y / x for x in pair_processes(ma_p) for y in counted_b]
    share = max(sum(c > 1 for c in cross), sum(c < 1 for c in cross)) / len(cross)
    disagree = len(cross) > 1 and share < PAIR_AGREEMENT
    if a.size < 2 or b.size < 2:
        return RatioEstimate(ratio, float("nan"), float("nan"), a.size, b.size, disagree, sides)
    if sides != (1, 1) and spread is not None:
        (sa, da), (sb, db) = (_side_spread(m, *spread) for m in (ma_p, mb_p))
        va, vb = sa * sa / sides[0], sb * sb / sides[1]
        half = t_half_width(va, da, vb, db, confidence)
        return RatioEstimate(ratio, ratio * math.exp(-half), ratio * math.exp(half), a.size, b.size, disagree,
                             sides, "processes' spread", ((va, da), (vb, db)))
    rng = np.random.default_rng(seed)
    ma = _bootstrap_medians(ga, resamples, rng)
    mb = _bootstrap_medians(gb, resamples, rng)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(mb / ma, [tail, 1.0 - tail])
    return RatioEstimate(ratio, float(low), float(high), a.size, b.size, disagree, sides,
                         "rounds" if sides == (1, 1) else "processes, then rounds")


def faster_side(est: RatioEstimate, a: str, b: str) -> str:
    """``a``, ``b`` or ``"tie"`` for an estimate of time(b)/time(a): a side is named only when the
    interval excludes 1 and, with several worker processes, at least PAIR_AGREEMENT of the pairs of process
    medians put it ahead (a second pair of processes would reverse it at most 1 time in 10). Without an
    interval (a single round) the point estimate decides; callers say so."""
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
