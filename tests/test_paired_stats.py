"""Statistics of the paired A/B engine (cnnbench.core.paired_stats) against scipy and against hand arithmetic."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import wilcoxon

from cnnbench.core.paired_stats import (PairedEstimate, confirmation_settled, confirmed_decision, decide_change,
                                  decide_frameworks, hodges_lehmann, may_have_regressed, paired_ratio, pooled_ratio,
                                  signed_rank_interval, signed_rank_p, stop_reason, stored_estimate, walsh_averages)


def _continuous(n, shift=0.03, seed=0):
    return np.random.default_rng(seed).normal(shift, 0.1, n)


def _integers(n, seed=0):  # many ties, and exactly representable Walsh averages
    return np.random.default_rng(seed).integers(-6, 12, n).astype(float)


def _scipy_p(d, method):
    if method == "exact":
        return wilcoxon(d, method="exact").pvalue
    return wilcoxon(d, method="asymptotic", correction=True).pvalue


# (name, data, scipy method that the code must match)
P_CASES = [
    ("n=6 exact", _continuous(6), "exact"),
    ("n=10 exact", _continuous(10, seed=1), "exact"),
    ("n=25 exact, no effect", _continuous(25, shift=0.0, seed=2), "exact"),
    ("n=50 exact (the limit)", _continuous(50, seed=3), "exact"),
    ("n=51 normal", _continuous(51, seed=4), "asymptotic"),
    ("n=300 normal", _continuous(300, shift=0.01, seed=5), "asymptotic"),
    ("n=40 ties: normal, tie-corrected", _integers(40, seed=6), "asymptotic"),
    ("n=200 ties", _integers(200, seed=7), "asymptotic"),
    ("zeros dropped", np.concatenate([_integers(30, seed=8), np.zeros(5)]), "asymptotic"),
]


@pytest.mark.parametrize("name, d, method", P_CASES, ids=[c[0] for c in P_CASES])
def test_p_value_matches_scipy_wilcoxon(name, d, method):
    assert signed_rank_p(d) == pytest.approx(_scipy_p(d, method), rel=1e-9, abs=1e-15)


CI_CASES = [
    ("n=10 exact", _continuous(10, seed=11), "exact"),
    ("n=30 exact", _continuous(30, seed=12), "exact"),
    ("n=50 exact", _continuous(50, seed=13), "exact"),
    ("n=80 normal", _continuous(80, seed=14), "normal"),
    ("n=400 normal", _continuous(400, seed=15), "normal"),
    ("n=40 ties", _integers(40, seed=16), "normal"),
    ("n=120 ties", _integers(120, seed=17), "normal"),
]


@pytest.mark.parametrize("name, d, method", CI_CASES, ids=[c[0] for c in CI_CASES])
def test_interval_is_the_set_scipy_does_not_reject(name, d, method):
    """Duality: shifted just inside a bound, scipy's two-sided p-value of d - shift exceeds alpha; just
    outside, it is at most alpha (shifts halfway to the neighbouring distinct Walsh average, where the
    statistic is constant)."""
    alpha = 0.05
    low, high, used = signed_rank_interval(d, 0.95)
    assert used == method
    w = np.unique(walsh_averages(d))
    assert low in w and high in w
    scipy_method = "exact" if method == "exact" else "asymptotic"
    inside = [(low + w[w > low].min()) / 2, (high + w[w < high].max()) / 2]
    outside = [(low + w[w < low].max()) / 2, (high + w[w > high].min()) / 2]
    for s in inside:
        assert _scipy_p(d - s, scipy_method) > alpha
    for s in outside:
        assert _scipy_p(d - s, scipy_method) <= alpha
    assert low <= hodges_lehmann(d) <= high


def test_small_example_by_hand():
    # d = 1..6: all 6 signs positive, T+ = 21, P(T+ = 21) = 1/2^6 -> two-sided p = 2/64
    d = [1, 2, 3, 4, 5, 6]
    assert signed_rank_p(d) == 2 / 64
    # Walsh averages of 1..6 (21 of them) run from 1 to 6 and their median is 3.5
    assert hodges_lehmann(d) == 3.5
    # alpha = 0.05: 2 P(T+ <= 0) = 2/64 <= alpha < 2 P(T+ <= 1) = 4/64, so k = 1: [W(1), W(21)] = [1, 6]
    # (achieved confidence 1 - 2/64 = 96.9%, Hollander & Wolfe's table for n = 6)
    assert signed_rank_interval(d, 0.95) == (1.0, 6.0, "exact")
    # d = 0, 1, 10: Walsh averages 0, .5, 1, 5, 5.5, 10 -> median (1 + 5) / 2 = 3
    assert hodges_lehmann([0, 1, 10]) == 3.0
    # five pairs can never reach 95%: 2/32 > 0.05, the interval is unbounded
    low, high, _ = signed_rank_interval([1, 2, 3, 4, 5], 0.95)
    assert low == -math.inf and high == math.inf


def test_ratio_is_back_in_ratio_space():
    a = np.full(12, 0.010)
    est = paired_ratio(a, a * 1.1)  # every round exactly 10% slower
    assert est.ratio == pytest.approx(1.1) and est.low == pytest.approx(1.1) and est.high == pytest.approx(1.1)
    assert est.p_value < 0.01 and est.n == 12
    with pytest.raises(ValueError):
        paired_ratio([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        paired_ratio([1.0, 0.0], [1.0, 1.0])


def _est(ratio, low, high):
    return PairedEstimate(ratio, low, high, p_value=0.01, n=20, confidence=0.95, method="exact")


DECISIONS = [  # (ratio, low, high) -> decision with threshold 5%
    ((1.15, 1.10, 1.20), "regression"),
    ((1.06, 1.01, 1.11), "regression"),  # the interval excludes 1 and the estimate is above 1.05
    ((1.03, 1.01, 1.06), "inconclusive"),  # significant, but not shown to be above or below 5%
    ((1.03, 1.01, 1.045), "no change"),  # significant but inside [1/1.05, 1.05]: too small to matter
    ((1.00, 0.97, 1.03), "no change"),
    ((1.00, 0.90, 1.10), "inconclusive"),  # too wide to say
    ((0.85, 0.80, 0.90), "improvement"),
    ((0.94, 0.90, 0.98), "improvement"),  # 0.94 < 1/1.05 = 0.952
    ((0.96, 0.93, 0.99), "inconclusive"),
]


@pytest.mark.parametrize("values, decision", DECISIONS)
def test_change_decisions(values, decision):
    assert decide_change(_est(*values), 0.05) == decision


CONFIRMED = [  # first pass, fresh pairs (ratio, low, high) -> decision with threshold 10%
    ((1.219, 1.18, 1.26), [(1.073, 1.05, 1.10)], "regression"),  # pooled sqrt(1.219 x 1.073) = 1.1437
    ((1.192, 1.15, 1.23), [(1.034, 1.01, 1.06)], "regression"),  # sqrt(1.192 x 1.034) = 1.1102
    ((1.12, 1.10, 1.15), [(1.04, 1.02, 1.06)], "inconclusive"),  # sqrt(1.12 x 1.04) = 1.0792: below 1.10
    ((1.30, 1.20, 1.40), [(1.00, 0.98, 1.02)], "inconclusive"),  # pooled 1.140, but a pair saw no slowdown
    ((1.15, 1.10, 1.20), [(1.16, 1.12, 1.2), (1.09, 1.05, 1.12)], "regression"),  # (1.15 1.16 1.09)^(1/3) = 1.1329
    ((1.03, 1.00, 1.04), [(1.5, 1.4, 1.6)], "no change"),  # the first pass could not be a regression: its own
    ((1.15, 1.10, 1.20), [], "regression"),  # nothing measured again: the first pass's verdict
    # a first pass that may have regressed (inconclusive, B slower, the interval past 1.10): the shape of the
    # true 15% slowdown of Keras ResNet-18 training that measured 1.050 [0.999, 1.108] on 2026-12-04;
    # pooled (1.05 x 1.16 x 1.15)^(1/3) = exp((0.04879 + 0.14842 + 0.13976) / 3) = exp(0.11232) = 1.1189
    ((1.05, 0.999, 1.108), [(1.16, 1.12, 1.20), (1.15, 1.11, 1.19)], "regression"),
    ((1.05, 0.999, 1.108), [(1.02, 0.99, 1.05)], "inconclusive"),  # sqrt(1.05 x 1.02) = 1.0349
    ((0.97, 0.88, 1.12), [(1.5, 1.4, 1.6)], "inconclusive"),  # B measured faster first: not re-decided
    # a confident "no change" at 10% that may still have regressed (the interval past 1.05): a true 15%
    # slowdown measured so on 2026-12-04; pooled (1.043 x 1.17 x 1.15 x 1.15)^(1/4)
    # = exp((0.04210 + 0.15700 + 0.13976 + 0.13976) / 4) = exp(0.11966) = 1.1271
    ((1.043, 1.003, 1.086), [(1.17, 1.13, 1.21), (1.15, 1.11, 1.19), (1.15, 1.11, 1.19)], "regression"),
    ((1.043, 1.003, 1.086), [(1.02, 0.99, 1.05)], "no change"),  # sqrt(1.043 x 1.02) = 1.0314: its own verdict
]


@pytest.mark.parametrize("first, again, decision", CONFIRMED)
def test_confirmed_decisions_pool_every_pair_of_processes(first, again, decision):
    """Hand arithmetic in the comments; the first two rows are the two misses of the 2026-12-02
    detector run (Keras ResNet-18 training, 15% slowdown) that requiring each pair to pass lost."""
    assert confirmed_decision(_est(*first), [_est(*e) for e in again], 0.10) == decision


@pytest.mark.parametrize("est, may", [
    ((1.15, 1.10, 1.20), True),  # a regression at 10%
    ((1.05, 0.999, 1.108), True),  # inconclusive, B slower, the interval reaching past 1.10
    ((1.043, 1.003, 1.086), True),  # "no change" at 10%, but the interval past 1.05
    ((1.02, 1.00, 1.04), False),  # the interval below 1.05
    ((0.97, 0.88, 1.12), False),  # inconclusive, but B measured faster
    ((1.08, 1.05, 1.11), True),  # slower beyond doubt, 1.10 inside the interval
    ((0.85, 0.80, 0.90), False),  # an improvement
])
def test_what_may_have_regressed_is_measured_again(est, may):
    assert may_have_regressed(_est(*est), 0.10) is may


@pytest.mark.parametrize("first, again, settled", [
    ((1.15, 1.10, 1.20), [], False),  # nothing measured again yet
    ((1.15, 1.10, 1.20), [(1.16, 1.12, 1.20)], True),  # two pairs, each a regression on its own
    ((1.15, 1.10, 1.20), [(1.07, 1.02, 1.12)], False),  # slower, not past 1.10 alone: another pair decides
    ((1.15, 1.10, 1.20), [(1.07, 1.02, 1.12), (0.99, 0.95, 1.03)], True),  # a pair with B no slower: never
    ((1.05, 0.999, 1.108), [(1.16, 1.12, 1.20)], False),  # the first pair was not a regression on its own
    ((1.06, 1.01, 1.11), [(1.03, 1.00, 1.06)], True),  # pooled sqrt(1.06 x 1.03) = 1.0449, below 1.05
])
def test_when_more_pairs_can_no_longer_change_the_verdict(first, again, settled):
    assert confirmation_settled(_est(*first), [_est(*e) for e in again], 0.10) is settled


def test_pooled_ratio_is_the_geometric_mean():
    assert pooled_ratio([1.21, 1.0]) == pytest.approx(1.1)  # sqrt(1.21) = 1.1
    assert pooled_ratio([2.0, 0.5, 1.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        pooled_ratio([])


def test_stored_estimate_reads_a_row():
    e = stored_estimate({"ratio": 1.1, "ci_low": None, "ci_high": None, "p_value": 0.3, "rounds": 12})
    assert (e.ratio, e.low, e.high, e.n) == (1.1, 0.0, math.inf, 12) and e.half_width == math.inf


@pytest.mark.parametrize("values, decision", [((1.5, 1.2, 1.8), "a faster"), ((0.5, 0.4, 0.7), "b faster"),
                                              ((1.01, 0.99, 1.04), "tie"), ((3.0, 0.9, 9.0), "tie")])
def test_framework_decisions(values, decision):
    assert decide_frameworks(_est(*values)) == decision


STOPS = [  # (half-width of the interval, rounds, elapsed s) -> reason, with target 0.02, budget 10 s, 100..10 rounds
    (0.01, 10, 1.0, "precision"),
    (0.01, 9, 1.0, None),  # too few rounds for the precision rule
    (0.01, 9, 11.0, "budget"),  # ... but the budget still ends it
    (0.05, 50, 1.0, None),
    (0.05, 50, 10.0, "budget"),
    (0.05, 100, 1.0, "max_rounds"),
    (math.inf, 3, 1.0, None),
]


@pytest.mark.parametrize("half_width, rounds, elapsed, reason", STOPS)
def test_stop_reason(half_width, rounds, elapsed, reason):
    est = _est(1.0, math.exp(-half_width), math.exp(half_width)) if math.isfinite(half_width) else \
        _est(1.0, 0.0, math.inf)
    assert stop_reason(est, rounds=rounds, elapsed_s=elapsed, target=0.02, budget_s=10.0, max_rounds=100,
                       min_rounds=10) == reason
