"""`python -m structlm lr-choice RUNS`: each variant's learning-rate scale from a learning-rate sweep; and
`python -m analysis.lr RUNS_LR_CHECK --study RUNS_STUDY [--publish docs/study.md]`: the rule checked at every
budget of the study (experiments/cpu_study.py:lr-check), each variant's gaps at the rule's and at its own best rate.

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

import numpy as np

from analysis.arms import ARM_GAPS


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


def _results(root: str):
  """Every finished run's result.json under `root`."""
  for d, _, files in sorted(os.walk(root)):
    if "result.json" in files:
      with open(os.path.join(d, "result.json")) as f:
        yield json.load(f)


def check(lr_dir: str, study_dir: str) -> dict:
  """The learning-rate check (experiments/cpu_study.py:lr-check) beside the study's own runs at the rule's rate
  (its seed-0 run of the same variant, size, budget and context): {budget: {variant: {size, bpb by scale, best
  scale}}} and each budget's variant gaps at the rule's rate and at each variant's own best rate."""
  rows = collections.defaultdict(dict)  # (budget, variant) -> {scale: bpb}
  cell = {}  # (budget, variant) -> (size, context)
  unit = {}  # (budget, variant) -> (the rate at scale 1, the batch)
  for r in _results(lr_dir):
    key = (float(r["config"]["train_flops"]), r["variant"])
    rows[key][float(r["config"]["lr_scale"])] = float(r["eval_bpb"])
    cell[key] = (r["preset"], r["config"].get("context_bytes"))
    if "learning_rate" in r and "global_batch" in r:  # (result.json files before the fit lack neither)
      unit[key] = (float(r["learning_rate"]) / float(r["config"]["lr_scale"]), int(r["global_batch"]))
  if not rows:
    raise ValueError(f"no finished runs under {lr_dir}: run experiments/cpu_study.py:lr-check first")
  rule_scale = {}
  for r in _results(study_dir):  # one pass over the study
    cfg = r.get("config", {})
    key = (float(cfg.get("train_flops", 0)), r["variant"])
    if key in cell and (r["preset"], cfg.get("context_bytes")) == cell[key] and not int(cfg.get("seed", 0) or 0):
      # the study's run on the check's scale: its rate over the check's rate at scale 1 (a run written under
      # another rule at the same rate, e.g. v1's batch-2 runs in the v2 study, is the check's scale it ran at)
      rule_scale[key] = (round(float(r["learning_rate"]) / unit[key][0], 6) if key in unit and "learning_rate" in r
                         else float(cfg.get("lr_scale", 1.0)))
      rows[key][rule_scale[key]] = float(r["eval_bpb"])
  out = {}
  for (c, v), by_scale in sorted(rows.items()):
    best = min(by_scale, key=by_scale.get)
    scales = sorted(by_scale)
    out.setdefault(c, {})[v] = dict(size=cell[(c, v)][0], bpb={str(s): round(b, 4) for s, b in sorted(by_scale.items())},
                                    best_scale=best, at_edge=best in (scales[0], scales[-1]),
                                    rule_scale=rule_scale.get((c, v)), batch=unit.get((c, v), (0, None))[1],
                                    best_rate=unit[(c, v)][0] * vertex(by_scale) if (c, v) in unit else None)
  gaps = []
  for c, cells in sorted(out.items()):
    for worse, better in ARM_GAPS:
      if worse in cells and better in cells:
        rule = {v: cells[v]["bpb"].get(str(cells[v]["rule_scale"])) for v in (worse, better)}
        own = {v: min(cells[v]["bpb"].values()) for v in (worse, better)}
        gaps.append(dict(budget=c, pair=f"{worse} - {better}",
                         at_rule=None if None in rule.values() else rule[worse] - rule[better],
                         at_own_best=own[worse] - own[better]))
  return dict(cells=out, gaps=gaps, fit=rule_fit(out))


def vertex(bpb_by_scale: dict) -> float:
  """The best scale between grid points: the vertex of the parabola in log scale through the best point and its
  two neighbours (the best point itself at a grid edge or where the three are not convex)."""
  scales = sorted(bpb_by_scale)
  k = min(range(len(scales)), key=lambda i: bpb_by_scale[scales[i]])
  if k in (0, len(scales) - 1):
    return scales[k]
  x = np.log([scales[k - 1], scales[k], scales[k + 1]])
  a, b, _ = np.polyfit(x, [bpb_by_scale[scales[i]] for i in (k - 1, k, k + 1)], 2)
  return float(np.exp(-b / (2 * a))) if a > 0 else scales[k]


def rule_fit(cells: dict) -> dict | None:
  """The best rates of every cell but those at a grid edge, fitted by width and batch (least squares in logs):
  log rate = a + w log width + b log batch; and with the width exponent held at -1 (the ladder rule's), the
  constant k of k x 32 / width. The rule's batch term is right when b is near its exponent, its width term when w
  is near -1."""
  pts = [(float(cell["size"][1:]), cell["batch"], cell["best_rate"]) for cells_c in cells.values()
         for cell in cells_c.values() if cell["size"][1:].isdigit() and cell.get("best_rate")
         and not cell["at_edge"]]  # (a best at the grid's edge is a bound, not the optimum)
  if len(pts) < 4 or len({p[0] for p in pts}) < 2 or len({p[1] for p in pts}) < 2:
    return None  # (the widths and the batches must each vary for their exponents to mean anything)
  width, batch, rate = (np.array(c, dtype=float) for c in zip(*pts))
  design = np.stack([np.ones_like(width), np.log(width), np.log(batch)], axis=1)
  coef, *_ = np.linalg.lstsq(design, np.log(rate), rcond=None)
  residual = np.log(rate) - design @ coef
  scaled = np.log(rate * width / 32)
  ratio = np.exp(scaled - scaled.mean())  # each cell's best rate over the fitted rule's
  return dict(cells=len(pts), width_exponent=round(float(coef[1]), 3), batch_exponent=round(float(coef[2]), 3),
              rms_log=round(float(np.sqrt(np.mean(residual ** 2))), 3),
              ratio_range=[round(float(ratio.min()), 2), round(float(ratio.max()), 2)],
              constant_at_width_32=round(float(np.exp(scaled.mean())), 4),
              spread_log=round(float(scaled.std()), 3))


def render_check(result: dict) -> str:
  scales = sorted({float(s) for cells in result["cells"].values() for c in cells.values() for s in c["bpb"]})
  rules = collections.Counter(c["rule_scale"] for cells in result["cells"].values() for c in cells.values()
                              if c["rule_scale"])
  unit = rules.most_common(1)[0][0] if rules else 1.0  # the study's scale: x1
  lines = ["| budget (FLOPs) | variant | size | " + " | ".join(f"×{s / unit:g}" for s in scales) + " | best |",
           "|---|---|---|" + "---|" * len(scales) + "---|"]
  for c, cells in sorted(result["cells"].items()):
    for v, cell in cells.items():
      row = [f"{cell['bpb'][str(s)]:.3f}" if str(s) in cell["bpb"] else "" for s in scales]
      lines.append(f"| {c:.0e} | {v} | {cell['size']} | " + " | ".join(row) + f" | ×{cell['best_scale'] / unit:g}"
                   + (" (grid edge)" if cell["at_edge"] else "") + " |")
  lines += ["", "| budget (FLOPs) | gap (bits/byte) | each at the rule's rate | each at its own best rate |",
            "|---|---|---|---|"]
  lines += [f"| {g['budget']:.0e} | {g['pair']} | " + ("" if g["at_rule"] is None else f"{g['at_rule']:.3f}")
            + f" | {g['at_own_best']:.3f} |" for g in result["gaps"]]
  fit = result.get("fit")
  if fit:
    lines += ["", f"The best rates of the {fit['cells']} cells (each cell's parabola vertex in log rate), fitted by "
              f"width and batch: rate ∝ width^{fit['width_exponent']:g} × batch^{fit['batch_exponent']:g} "
              f"(RMS {fit['rms_log']:g} in log rate); with the width exponent held at -1, "
              f"{fit['constant_at_width_32']:g} × 32 / width (spread {fit['spread_log']:g} in log rate; every cell's "
              f"best rate between ×{fit['ratio_range'][0]:g} and ×{fit['ratio_range'][1]:g} of it)."]
  return "\n".join(lines)


def main():
  import argparse
  ap = argparse.ArgumentParser(description="the learning-rate rule checked at every budget of the study")
  ap.add_argument("lr_dir")
  ap.add_argument("--study", required=True, help="the study's workdir (its runs at the rule's rate)")
  ap.add_argument("--publish", help="a page with <!-- lr-check:begin/end --> markers to fill")
  args = ap.parse_args()
  result = check(args.lr_dir, args.study)
  text = render_check(result)
  with open(os.path.join(args.lr_dir, "lr_check.json"), "w") as f:
    json.dump(result, f, indent=1, default=str)
  if args.publish:
    from analysis.arms import publish
    publish(text, args.publish, name="lr-check")
  print(text)


if __name__ == "__main__":
  main()
