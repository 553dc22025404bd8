"""`python -m structlm lr-choice RUNS`: each variant's learning-rate factor from a learning-rate sweep.

The rule: for each variant, the factor (the run's peak rate / its preset's rate) with the lowest validation bits
per byte averaged over the sizes swept; ties go to the smaller factor. A factor needs a finished run at every size.
"""
from __future__ import annotations

import collections
import json
import math
import os

from structlm import presets


def choose(runs_dir: str) -> dict:
  table = collections.defaultdict(dict)  # variant -> factor -> {preset: bpb}
  for d, _, files in sorted(os.walk(runs_dir)):
    if "result.json" not in files:
      continue
    with open(os.path.join(d, "result.json")) as f:
      r = json.load(f)
    factor = round(r["learning_rate"] / presets.preset(r["preset"]).learning_rate, 6)
    bpb = float(r["eval_bpb"])
    table[r["variant"]].setdefault(factor, {})[r["preset"]] = bpb if math.isfinite(bpb) else math.inf
  if not table:
    raise ValueError(f"no finished runs under {runs_dir}: run experiments/lr_sweep.py first")
  choice = {}
  for v, by_factor in table.items():
    sizes = set().union(*by_factor.values())
    full = {f: sum(b.values()) / len(b) for f, b in by_factor.items() if set(b) == sizes}
    if not full:
      raise ValueError(f"{v}: no factor has finished runs at every size {sorted(sizes)}")
    choice[v] = min(sorted(full), key=lambda f: full[f])
  return dict(choice=choice, table={v: {str(f): b for f, b in sorted(t.items())} for v, t in table.items()})
