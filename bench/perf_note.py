"""Produce the README's performance note (run: python -m cnnbench.bench.perf_note).

1. Our builders vs reference builds of the same architecture (keras.applications
   for TensorFlow, plain nn.Sequential builds with torchvision's layout for
   PyTorch), timed with the same step function, rounds interleaved so that drift
   in the machine's speed hits both alike.
2. The harness's median (pytest-benchmark, via ``pytest bench``) vs a bare
   ``time.perf_counter`` loop over the same prepared step, in the same process.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _runner(framework: str):
    if framework == "torch":
        from cnnbench.bench import torch_runner as r
    else:
        from cnnbench.bench import tf_runner as r
    return r


def _case(model: str, framework: str, mode: str, batch: int, options: dict):
    from cnnbench.bench.cases import NATIVE_LAYOUT, Case
    from cnnbench.registry import get_spec

    return Case(model, framework, mode, batch, "cpu", get_spec(model).input_size,
                layout=NATIVE_LAYOUT[framework], options=tuple(sorted(options.items())))


def _one(step) -> float:
    t = time.perf_counter()
    step()
    return time.perf_counter() - t


def ours_vs_reference(mode: str, batch: int, rounds: int) -> list[dict]:
    from cnnbench.bench.reference_builds import REFERENCES

    rows = []
    for (model, framework), (name, options, ref_builder) in REFERENCES.items():
        runner = _runner(framework)
        case = _case(name, framework, mode, batch, options)
        ours = runner.prepare(case)
        ref = runner.prepare(case, builder=ref_builder)
        if ours.trainable_params != ref.trainable_params:
            raise SystemExit(f"{model}/{framework}: reference build has {ref.trainable_params:,} params, "
                             f"ours {ours.trainable_params:,}: not the same architecture")
        for _ in range(2):  # warm-up both
            ours.step(), ref.step()
        t_ours, t_ref = [], []
        for _ in range(rounds):
            t_ours.append(_one(ours.step))
            t_ref.append(_one(ref.step))
        m_ours, m_ref = statistics.median(t_ours), statistics.median(t_ref)
        rows.append(dict(model=model, framework=framework, mode=mode, batch=batch, params=ours.trainable_params,
                         ours_ms=1e3 * m_ours, reference_ms=1e3 * m_ref, ratio=m_ours / m_ref,
                         reference=ref_builder.__name__))
        ours.cleanup(), ref.cleanup()
    return rows


def harness_vs_bare(mode: str, batch: int, rounds: int) -> list[dict]:
    import pytest

    from cnnbench.registry import get_spec

    out = os.path.join(tempfile.mkdtemp(), "run.json")
    args = ["bench", "--benchmark-only", "-q", "-p", "no:cacheprovider", "--models", "resnet50,vgg16",
            "--modes", mode, "--batch-sizes", str(batch), "--device", "cpu", f"--benchmark-json={out}"]
    if pytest.main(args) != 0:
        raise SystemExit("the harness run failed")
    with open(out) as f:
        harness = {b["extra_info"]["model"] + "/" + b["extra_info"]["framework"]: b["stats"]
                   for b in json.load(f)["benchmarks"]}
    rows = []
    for key, stats in harness.items():
        model, framework = key.split("/")
        prep = _runner(framework).prepare(_case(model, framework, mode, batch, {}))
        prep.step()
        bare = [_one(prep.step) for _ in range(max(rounds, stats["rounds"]))]
        prep.cleanup()
        m_bare = statistics.median(bare)
        rows.append(dict(model=model, framework=framework, mode=mode, batch=batch, input=get_spec(model).input_size,
                         harness_ms=1e3 * stats["median"], harness_rounds=stats["rounds"],
                         bare_ms=1e3 * m_bare, bare_rounds=len(bare), ratio=stats["median"] / m_bare))
    return rows


def markdown(rows: list[dict], cols: list[str]) -> str:
    def fmt(v):
        return f"{v:,.1f}" if isinstance(v, float) and not 0.5 < v < 2 else (f"{v:.3f}" if isinstance(v, float) else str(v))

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--mode", default="inference", choices=("inference", "train"))
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--rounds", type=int, default=15)
    args = p.parse_args(argv)
    a = ours_vs_reference(args.mode, args.batch, args.rounds)
    b = harness_vs_bare(args.mode, args.batch, args.rounds)
    print("\n### cnnbench builders vs reference builds (median step, same timing loop, rounds interleaved)\n")
    print(markdown(a, ["model", "framework", "mode", "batch", "params", "reference", "ours_ms", "reference_ms", "ratio"]))
    print("\n### harness (pytest-benchmark) median vs a bare time.perf_counter loop\n")
    print(markdown(b, ["model", "framework", "mode", "batch", "harness_ms", "harness_rounds", "bare_ms", "bare_rounds", "ratio"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
