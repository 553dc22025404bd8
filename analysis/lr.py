"""`python -m structlm lr-choice RUNS`: each variant's learning-rate scale from a learning-rate sweep.

The sweep (experiments/lr_sweep.py) multiplies the ladder rule's rate (structlm/presets.py learning_rate) by
`lr_scale` on a grid, for every variant at several (budget, size) cells. The rule: per variant, the scale with
the lowest bits per byte averaged over its cells (ties: the smaller scale). A cell whose own best scale is at an
edge of the grid is flagged: the grid must be extended there before the choice is trusted.
"""
from __future__ import annotations

import collections
import json
import math
import os


def choose(runs_dir: str) -> dict:
  table = collections.defaultdict(lambda: collections.defaultdict(dict))  # variant -> cell -> scale -> bpb
  for d, _, files in sorted(os.walk(runs_dir)):
    if "result.json" not in files:
      continue
    with open(os.path.join(d, "result.json")) as f:
      r = json.load(f)
    cfg = r.get("config", {})
    cell = f"{r['preset']}@{float(cfg.get('train_flops', 0)):.3g}"
    bpb = float(r["eval_bpb"])
    table[r["variant"]][cell][float(cfg.get("lr_scale", 1.0))] = bpb if math.isfinite(bpb) else math.inf
  if not table:
    raise ValueError(f"no finished runs under {runs_dir}: run experiments/lr_sweep.py first")
  out = {}
  for v, cells in sorted(table.items()):
    scales = sorted(set().union(*(c.keys() for c in cells.values())))
    mean = {s: sum(c.get(s, math.inf) for c in cells.values()) / len(cells) for s in scales}
    best = min(scales, key=lambda s: mean[s])
    per_cell = {cell: min(sorted(c), key=lambda s: c[s]) for cell, c in sorted(cells.items())}
    edges = sorted(cell for cell, s in per_cell.items() if s in (scales[0], scales[-1]))
    out[v] = dict(scale=best, at_edge=best in (scales[0], scales[-1]), mean={str(s): round(mean[s], 4) for s in scales},
                  cells={cell: {str(s): round(b, 4) for s, b in sorted(c.items())} for cell, c in sorted(cells.items())},
                  best_per_cell={c: s for c, s in per_cell.items()}, cells_at_edge=edges)
  return out


def render(choice: dict) -> str:
  lines = []
  for v, c in choice.items():
    scales = list(c["mean"])
    lines.append(f"{v}: scale {c['scale']:g}" + (" (AT THE GRID'S EDGE: extend the grid)" if c["at_edge"] else "")
                 + (f"; cells whose own best is at an edge: {', '.join(c['cells_at_edge'])}" if c["cells_at_edge"] else ""))
    lines.append("  cell          " + "".join(f"{float(s):>9.3g}" for s in scales))
    for cell, row in c["cells"].items():
      lines.append(f"  {cell:<14}" + "".join(f"{row.get(s, float('nan')):>9.4f}" for s in scales))
    lines.append(f"  {'mean':<14}" + "".join(f"{c['mean'][s]:>9.4f}" for s in scales))
  return "\n".join(lines)
