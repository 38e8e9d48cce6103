"""FLOPs of a timed step, from the analytic graph (no framework needed).

Convention, stated once and used everywhere:

* MACs are multiply-accumulates of conv and dense layers (``cnnbench.core.analytic``).
* FLOPs = 2 x MACs for conv and dense. Elementwise work (BatchNorm, activations,
  pooling, residual adds, bias adds) is reported separately, never folded in.
* A training step costs 3 x the forward conv/dense FLOPs: the forward pass,
  the gradient with respect to the input, and the gradient with respect to the
  weights each cost one forward's worth of multiply-adds (the usual rule, as in
  Kaplan et al. 2020 and MLPerf). The first layer's input gradient is not
  needed, but frameworks compute it unless told otherwise; we keep the plain rule.
* Auxiliary heads (GoogLeNet, Inception v3 with ``aux_logits``) run in training
  only, so their MACs count in the training step and not in inference.
"""
from __future__ import annotations

from dataclasses import dataclass

from cnnbench.core.analytic import build_graph
from cnnbench.core.user_values import choice, positive_int

TRAIN_FACTOR = 3
FLOPS_RULE = "FLOPs = 2 x conv/dense MACs; train step = 3 x forward (fwd + grad input + grad weights)"


@dataclass(frozen=True)
class StepCost:
    macs: int  # conv + dense multiply-accumulates of the whole step, all images
    flops: int  # 2 x macs
    forward_macs_per_image: int
    rule: str = FLOPS_RULE


def _forward_macs(name: str, input_size: int | None, num_classes: int | None, options: dict, training: bool) -> int:
    opts = dict(options)
    if not training and opts.get("aux_logits"):
        opts["aux_logits"] = False  # aux heads do not run in inference
    return build_graph(name, input_size=input_size, num_classes=num_classes, **opts).macs


def step_cost(
    name: str,
    mode: str,
    batch: int,
    *,
    input_size: int | None = None,
    num_classes: int | None = None,
    **options,
) -> StepCost:
    """Analytic MACs and FLOPs of one ``inference`` or ``train`` step on ``batch`` images."""
    choice("mode", mode, ("inference", "train"))
    positive_int("batch", batch)
    fwd = _forward_macs(name, input_size, num_classes, options, mode == "train")
    macs = fwd * batch * (TRAIN_FACTOR if mode == "train" else 1)
    return StepCost(macs=macs, flops=2 * macs, forward_macs_per_image=fwd)
