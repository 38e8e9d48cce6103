"""The detector check's scoring (python tools/detector_check.py): what counts as a detection
and a false alarm, re-decided at a threshold from the stored numbers; measured runs are in results/detector-check-*.json (docs/results/)."""
from __future__ import annotations

import json

import pytest

from tools import detector_check as dc


def _case(model: str, ratio: float, low: float, high: float, **extra) -> dict:
    return {"pair_id": f"{model}-torch-train-bs2-cpu", "model": model, "ratio": ratio, "ci_low": low, "ci_high": high,
            "p_value": 0.01, "rounds": 20, "decision": "?", "seconds": 10.0, **extra}


@pytest.mark.parametrize("case, threshold, expected", [
    (_case("m", 1.15, 1.10, 1.20), 0.10, "regression"),     # interval above 1, estimate above 1.10
    (_case("m", 1.08, 1.05, 1.11), 0.10, "inconclusive"),   # above 1, but not beyond the threshold
    (_case("m", 1.08, 1.05, 1.11), 0.05, "regression"),     # the same numbers at 5%
    (_case("m", 1.01, 0.97, 1.04), 0.10, "no change"),      # inside [1/1.1, 1.1]
    # measured with --confirm: a regression stands only if the fresh pairs agree
    (_case("m", 1.15, 1.10, 1.20, confirmations=[{"ratio": 1.16, "ci_low": 1.12, "ci_high": 1.2, "p_value": 0.01,
                                                  "rounds": 20}]), 0.10, "regression"),
    (_case("m", 1.15, 1.10, 1.20, confirmations=[{"ratio": 1.02, "ci_low": 0.98, "ci_high": 1.05, "p_value": 0.3,
                                                  "rounds": 20}]), 0.10, "inconclusive"),
])
def test_decisions_are_remade_from_the_stored_numbers(case, threshold, expected):
    assert dc.decision(case, threshold) == expected


def test_a_summary_counts_detections_and_false_alarms(tmp_path):
    def doc(cases):
        return {"cases": cases, "unfinished": [], "detector_check": {"wall_s": 100.0}}

    (tmp_path / "aa_1.json").write_text(json.dumps(doc([_case("lenet5", 1.12, 1.06, 1.14),  # a false alarm
                                                        _case("resnet18", 1.0, 0.97, 1.03)])))
    (tmp_path / "slow15_1.json").write_text(json.dumps(doc([_case("lenet5", 1.0, 0.97, 1.03),
                                                            _case("resnet18", 1.16, 1.12, 1.2)])))
    summary = dc.summarize_detector(tmp_path, "resnet18", 0.10, slowdowns=(15,))
    aa, slow = summary["rows"]
    assert (aa["false_alarms"], aa["unslowed_cases"], aa["slowed_cases"]) == (1, 2, 0)
    assert (slow["detected"], slow["slowed_cases"], slow["false_alarms"], slow["unslowed_cases"]) == (1, 1, 0, 1)
    assert (aa["cases_measured_again"], slow["runs_that_found_every_slowed_case"]) == (0, 1)
    assert slow["first_pass_ratio_range"] == {"slowed": [1.16, 1.16], "unslowed": [1.0, 1.0]}
    text = dc.markdown_detector(summary)
    assert "| A/A (same commit) | 1 | - | - | 1 / 2 |" in text
    assert "| 15% slowdown of resnet18 | 1 | 1 / 1 | 1 / 1 | 0 / 1 | no change 1 | 0 | 1.160-1.160; 1.000-1.000 |" in text


def test_a_comparison_that_misses_a_slowed_case_is_not_complete(tmp_path):
    def doc(cases):
        return {"cases": cases, "unfinished": [], "detector_check": {"wall_s": 100.0}}

    again = [{"ratio": 1.02, "ci_low": 0.99, "ci_high": 1.05, "p_value": 0.3, "rounds": 20}]
    (tmp_path / "slow15_1.json").write_text(json.dumps(doc([_case("resnet18", 1.16, 1.12, 1.2)])))
    # inconclusive first, measured again: sqrt(1.05 x 1.02) = 1.035, below 1.10: missed
    (tmp_path / "slow15_2.json").write_text(json.dumps(doc([_case("resnet18", 1.05, 0.999, 1.108,
                                                                  confirmations=again)])))
    (row,) = dc.summarize_detector(tmp_path, "resnet18", 0.10, slowdowns=(15,))["rows"]
    assert (row["detected"], row["runs_that_found_every_slowed_case"], row["cases_measured_again"]) == (1, 1, 1)
    assert row["missed"] == ["slow15_2:resnet18-torch-train-bs2-cpu inconclusive x1.050"]


def test_bad_slowdowns_are_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        dc.main(["--slowdowns", "15,x", "--out", "/tmp/unused-detector"])
    assert stop.value.code == 2 and "--slowdowns: whole percentages" in capsys.readouterr().err


def test_a_threshold_scan_names_the_smallest_slowdown_every_case_caught(tmp_path):
    def doc(cases):
        return {"cases": cases, "unfinished": [], "detector_check": {"wall_s": 60.0}}

    # ten A/A comparisons of two cases, the largest ratio 1.015 (interval above 1): a false alarm at 1%, not at 2%
    for i in range(1, 11):
        aa = 1.015 if i == 1 else 1.0
        (tmp_path / f"aa_{i}.json").write_text(json.dumps(doc([_case("lenet5", aa, aa - 0.005, aa + 0.005),
                                                               _case("resnet18", 1.0, 0.99, 1.01)])))
        # 3%: lenet5 measured 1.03 in nine comparisons of ten, resnet18 in all; 1%: 1.01 everywhere
        l3 = 1.03 if i < 10 else 1.01
        (tmp_path / f"slow3_{i}.json").write_text(json.dumps(doc([_case("lenet5", l3, l3 - 0.004, l3 + 0.004),
                                                                  _case("resnet18", 1.03, 1.026, 1.034)])))
        (tmp_path / f"slow1_{i}.json").write_text(json.dumps(doc([_case("lenet5", 1.01, 1.006, 1.014),
                                                                  _case("resnet18", 1.01, 1.006, 1.014)])))
    scan = dc.scan_thresholds(tmp_path, "lenet5,resnet18", [0.005, 0.02], (1, 3))
    at_half, at_two = scan["rows"]
    # at 0.5%: the 1.015 A/A pair is a false alarm (interval above 1, ratio above 1.005): nothing is named
    assert at_half["aa_false_alarms"] == 1 and at_half["smallest_caught"] is None
    # at 2%: no A/A alarm; 1% is never caught (1.01 < 1.02); 3% caught 9/10 (lenet5) and 10/10 (resnet18)
    assert at_two["aa_false_alarms"] == 0 and at_two["detected"] == {1: [0, 20], 3: [19, 20]}
    assert at_two["smallest_caught"] == 3
    text = dc.markdown_scan(scan)
    assert "| 2.0% | 0 / 20 | 0 / 20 (0/10) | 19 / 20 (9/10) | 3% |" in text


def test_a_scan_of_confirmed_comparisons_is_refused_in_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        dc.main(["--scan", "0.01", "--confirm", "3", "--out", "/tmp/unused-detector"])
    assert stop.value.code == 2 and "--scan: comparisons measured with --confirm" in capsys.readouterr().err
