"""`python -m structlm lr-choice RUNS`: each variant's learning-rate factor from a learning-rate sweep.

The rule (structlm/presets.py): for each variant and size swept, the factor (the run's peak rate / its preset's
rate) with the lowest validation bits per byte; ties go to the smaller factor.
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
  choice = {v: {p: min(sorted(by_factor), key=lambda f: by_factor[f].get(p, math.inf))
                 for p in sorted(set().union(*by_factor.values()))}
            for v, by_factor in table.items()}
  return dict(choice=choice, table={v: {str(f): b for f, b in sorted(t.items())} for v, t in table.items()})
