"""Model scales along one shape rule: head dimension 64, width d = 64 x layers (aspect ratio 64), SwiGLU hidden
8/3 d rounded up to a multiple of 64 (`200k` alone is one layer of width 128; `15k`, one layer of width 32 with
one head, exists for the CPU study's smallest budgets). Non-embedding parameters are about
12 d^2 per layer, from ~50K to ~3B."""
from __future__ import annotations

import dataclasses


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


# Per-variant learning rates: the peak rate of a run is the preset's rate x its variant's factor. The factors come
# from experiments/lr_sweep.py (3 factors x 2 sizes x both variants, on the study's data, context and budget) by
# one rule: for each variant, the factor with the lowest validation bits per byte averaged over the two sizes
# (ties: the smaller factor). The sweep's analysis (python -m structlm lr-choice RUNS) prints the table and choice.
LR_FACTOR = {"token": 1.0, "structured": 1.0}


def learning_rate(name: str, variant: str) -> float:
  """The peak AdamW rate of a run of `variant` at preset `name` (the preset's rate x the variant's factor)."""
  return preset(name).learning_rate * LR_FACTOR.get(variant, 1.0)


def preset(name: str) -> Shape:
  try:
    return PRESETS[name]
  except KeyError:
    raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
