"""Model scales along one shape rule: head dimension 64, width d = 64 x layers (aspect ratio 64), SwiGLU hidden
8/3 d rounded up to a multiple of 64 (`200k` alone is one layer of width 128; `15k`, one layer of width 32 with
one head, exists for the CPU study's smallest budgets). Non-embedding parameters are about
12 d^2 per layer, from ~50K to ~3B."""
from __future__ import annotations

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class Shape:
  d_model: int
  n_layers: int
  n_heads: int
  d_ff: int
  learning_rate: float  # peak AdamW rate for this size (smaller models take larger steps)


def _shape(layers: int, lr: float, width: int | None = None) -> Shape:
  d = width or 64 * layers
  ff = -(-(8 * d // 3) // min(64, d)) * min(64, d)
  return Shape(d_model=d, n_layers=layers, n_heads=max(1, d // 64), d_ff=ff, learning_rate=lr)


PRESETS: dict[str, Shape] = {
    "15k": _shape(1, 3e-3, width=32),  # one head of width 32: the CPU study's smallest budgets
    "50k": _shape(1, 3e-3),
    "200k": _shape(1, 3e-3, width=128),  # one wide layer: a step between the two smallest of the rule
    "400k": _shape(2, 3e-3),
    "1m": _shape(3, 2e-3),
    "3m": _shape(4, 2e-3),
    "10m": _shape(6, 1.5e-3),
    "25m": _shape(8, 1e-3),
    "85m": _shape(12, 6e-4),
    "200m": _shape(16, 4e-4),
    "680m": _shape(24, 3e-4),
    "1.6b": _shape(32, 2e-4),
    "3b": _shape(40, 1.5e-4),
}

# The CPU study's ladder (experiments/cpu_study.py): two layers at every size, width stepping by about sqrt(2) from 4
# to 96 (4 and 6 because at 1e11 FLOPs the best run was the width-8 one: the optimum lay below it), one head per 32 of width (at least one). At vocabulary 2,048 the output layer is most of N at the small
# end (the report states each run's share). Their rates come from the ladder rule below, not the column above.
LADDER = (4, 6, 8, 12, 16, 24, 32, 48, 64, 96)
for _d in LADDER:
  PRESETS[f"w{_d}"] = Shape(d_model=_d, n_layers=2, n_heads=max(1, _d // 32), d_ff=-(-(8 * _d // 3) // 8) * 8,
                            learning_rate=0.0)

# The ladder's peak learning rate: LADDER_LR[variant] x (32 / width) x (batch / 8) ** batch_exponent (the rate falls
# as 1/width, as muP's hidden-layer rule does). batch_exponent 0.5 is Adam's square-root batch scaling, the rule of
# the study published in docs/study (experiments/base.py's default); the learning-rate check at every budget of
# that study (cpu_study.py:lr-check, `python -m analysis.lr ... ` prints the fit) measured the best rate of each
# (variant, budget) cell and fitted it by width and batch: width exponent -1.00, batch exponent 0.06, so the CPU
# study's second design runs with batch_exponent 0 (cpu_study.py COMMON). A first sweep with sqrt(32 / width)
# (14 runs, stopped) put the best rate of w8 at the grid's top and of w96 at its middle: a steeper width rule.
# The constants come from experiments/lr_sweep.py (a factor-of-3 grid around them, every variant, three sizes,
# two budgets) by the rule documented there; `lr-choice` prints the table. That sweep's choice (scale 3 for every
# variant: mean validation bits/byte token 2.722, structured 2.692, scoped 2.422 at 3, against 2.745 / 2.733 /
# 2.480 at 1) is the study's lr_scale (experiments/cpu_study.py LR_SCALE), so the sweep's runs keep the meaning
# of their scales.
LADDER_LR: dict[str, float] = {"token": 1e-2, "structured": 1e-2, "scoped": 1e-2, "scoped_file": 1e-2}


# Per-variant learning rates: the peak rate of a run is the preset's rate x a factor of its variant and size. The
# factors come from experiments/lr_sweep.py (4 factors x 2 sizes x every variant, on the CPU study's data, context
# and batch, at one of its budgets) by one rule: for each variant and swept size, the factor with the lowest
# validation bits per byte (ties: the smaller); between the swept sizes the factor is interpolated in log-log
# over non-embedding size, and held at the nearest swept size beyond them. `python -m structlm lr-choice RUNS`
# prints the table and the choice.
LR_FACTOR: dict[str, dict[str, float]] = {"structured": {"400k": 2.0, "50k": 4.0}, "token": {"400k": 2.0, "50k": 4.0},
                                          "scoped": {"400k": 2.0, "50k": 4.0}, "scoped_file": {"400k": 2.0, "50k": 4.0}}


def _size(name: str) -> float:
  s = preset(name)
  return float(s.n_layers * (4 * s.d_model ** 2 + 3 * s.d_model * s.d_ff))


def lr_factor(name: str, variant: str) -> float:
  table = LR_FACTOR.get(variant) or {}
  if not table:
    return 1.0
  pts = sorted((math.log(_size(p)), math.log(f)) for p, f in table.items())
  x = math.log(_size(name))
  return float(math.exp(np.interp(x, [p[0] for p in pts], [p[1] for p in pts])))


def learning_rate(name: str, variant: str, batch: int = 8, batch_exponent: float = 0.5) -> float:
  """The peak AdamW rate of a run of `variant` at preset `name`: the ladder rule for the ladder's presets (width,
  and batch to the power `batch_exponent`), else the preset's rate x lr_factor."""
  s = preset(name)
  if name.startswith("w") and name[1:].isdigit():
    return LADDER_LR.get(variant, LADDER_LR["structured"]) * (32 / s.d_model) * (batch / 8) ** batch_exponent
  return s.learning_rate * lr_factor(name, variant)


def peak_learning_rate(cfg) -> float:
  """A run's peak rate from its config (a dict or ConfigDict): its learning_rate, or (0) the rule's
  (learning_rate at its preset, variant, resolved global_batch and lr_batch_exponent) x lr_scale."""
  return cfg.get("learning_rate") or cfg.get("lr_scale", 1.0) * learning_rate(
      cfg["preset"], cfg["variant"], cfg["global_batch"], cfg.get("lr_batch_exponent", 0.5))


def preset(name: str) -> Shape:
  try:
    return PRESETS[name]
  except KeyError:
    raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
