"""One design run twice (the study under two learning-rate rules): each run beside its namesake, each budget's
best size under both, and the headline gaps under both. A run with the same peak rate, batch and loss in both
workdirs (the v1 and v2 rules agree at batch 2, and such runs were copied) is the same run and is marked shared.

python -m analysis.rerun OLD_RUNS NEW_RUNS [--publish docs/study.md]   (fills <!-- rerun:begin/end -->)

Seed-0 runs only; a (budget, variant) is compared only once the new workdir has every size the old one has there
(at least three), and a gap at a budget once both its variants are.
"""
from __future__ import annotations

import argparse
import json
import math
import os

from analysis.arms import GAPS, publish


def load(runs_dir: str) -> dict[str, dict]:
  """{run name: its seed-0 result} for every finished run directly under `runs_dir`."""
  if not os.path.isdir(runs_dir):
    raise FileNotFoundError(f"{runs_dir} is not a directory of runs")
  out = {}
  for name in sorted(os.listdir(runs_dir)):
    path = os.path.join(runs_dir, name, "result.json")
    if not os.path.exists(path):
      continue
    with open(path) as f:
      r = json.load(f)
    cfg = r.get("config", {})
    if int(cfg.get("seed", 0) or 0):
      continue
    bpb = float(r["eval_bpb"])
    out[name] = dict(variant=r["variant"], preset=r["preset"], budget=float(cfg["train_flops"]),
                     bpb=bpb if math.isfinite(bpb) else math.inf, rate=float(r["learning_rate"]),
                     batch=int(r["global_batch"]))
  return out


def _width(preset: str) -> float:
  return float(preset[1:]) if preset[1:].isdigit() else math.inf


def compare(old: dict, new: dict) -> dict:
  """Pairs by run name; per complete (budget, variant) the best size under each; the gaps where both variants of
  a gap are complete."""
  pairs = [dict(name=n, **{k: old[n][k] for k in ("variant", "preset", "budget", "batch")}, old=old[n]["bpb"],
                new=new[n]["bpb"], shared=all(old[n][k] == new[n][k] for k in ("rate", "batch", "bpb")),
                old_rate=old[n]["rate"], new_rate=new[n]["rate"])
           for n in sorted(set(old) & set(new), key=lambda n: (old[n]["budget"], old[n]["variant"],
                                                                _width(old[n]["preset"])))]
  cells = {}
  for c, v in sorted({(r["budget"], r["variant"]) for r in old.values()}):
    sizes = {r["preset"] for r in old.values() if (r["budget"], r["variant"]) == (c, v)}
    have = [p for p in pairs if (p["budget"], p["variant"]) == (c, v)]
    if len(have) < len(sizes) or len(sizes) < 3:
      continue
    order = sorted(have, key=lambda p: _width(p["preset"]))
    cell = {}
    for side in ("old", "new"):
      k = min(range(len(order)), key=lambda i: order[i][side])
      cell[side] = dict(size=order[k]["preset"], bpb=order[k][side], edge=k in (0, len(order) - 1))
    cells[(c, v)] = cell
  gaps = []
  for c in sorted({c for c, _ in cells}):
    for worse, better in GAPS:
      if (c, worse) in cells and (c, better) in cells:
        gaps.append(dict(budget=c, pair=f"{worse} - {better}",
                         **{side: cells[(c, worse)][side]["bpb"] - cells[(c, better)][side]["bpb"]
                            for side in ("old", "new")}))
  return dict(pairs=pairs, best=[dict(budget=c, variant=v, **cell) for (c, v), cell in cells.items()], gaps=gaps)


def render(result: dict, old_label: str = "v1", new_label: str = "v2") -> str:
  shared = sum(p["shared"] for p in result["pairs"])
  lines = [f"{shared} of the {len(result['pairs'])} runs in both are the same run (the same rate, batch and loss), not "
           "listed; the others:", "",
           f"| budget (FLOPs) | variant | size | batch | rate {old_label} | rate {new_label} | {old_label} | "
           f"{new_label} | change |", "|---|---|---|---|---|---|---|---|---|"]
  for p in result["pairs"]:
    if p["shared"]:
      continue
    change = f"{p['new'] - p['old']:+.3f}"
    lines.append(f"| {p['budget']:.0e} | {p['variant']} | {p['preset']} | {p['batch']} | {p['old_rate']:.3g} | "
                 f"{p['new_rate']:.3g} | {p['old']:.3f} | {p['new']:.3f} | {change} |")
  if result["best"]:
    lines += ["", f"| budget (FLOPs) | variant | best size {old_label} | bits/byte | best size {new_label} | "
              "bits/byte |", "|---|---|---|---|---|---|"]
    for b in result["best"]:
      cols = [f"{b[s]['size']}{' (edge)' if b[s]['edge'] else ''} | {b[s]['bpb']:.3f}" for s in ("old", "new")]
      lines.append(f"| {b['budget']:.0e} | {b['variant']} | " + " | ".join(cols) + " |")
  if result["gaps"]:
    lines += ["", f"| budget (FLOPs) | gap at each one's best size (bits/byte) | {old_label} | {new_label} |",
              "|---|---|---|---|"]
    lines += [f"| {g['budget']:.0e} | {g['pair']} | {g['old']:.3f} | {g['new']:.3f} |" for g in result["gaps"]]
  return "\n".join(lines)


def main():
  ap = argparse.ArgumentParser(description="one design run twice: each run beside its namesake, bests and gaps")
  ap.add_argument("old")
  ap.add_argument("new")
  ap.add_argument("--labels", default="v1,v2", help="the two workdirs' names in the tables (default v1,v2)")
  ap.add_argument("--publish", help="a page with <!-- rerun:begin/end --> markers to fill")
  args = ap.parse_args()
  text = render(compare(load(args.old), load(args.new)), *args.labels.split(",", 1))
  if args.publish:
    publish(text, args.publish, name="rerun")
  print(text)


if __name__ == "__main__":
  main()
