"""Does the gap between two variants change with compute, once the scored files are resampled? Each budget's best
run of each variant (scored file by file by `analysis.heldout`, RUN/eval_<key>.json), the same file draw for every
run: each budget's gap (worse − better, bits/byte) with its 95% interval, and the change from the smallest to the
largest budget with its interval and the share of draws in which the gap shrank.

python -m analysis.gap_trend runs/study --split test [--corpus data/foreign] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np

from analysis import collect as collect_lib
from analysis.arms import GAPS
from analysis.heldout import corpus_key, frontier_runs, stored_score


def per_file(runs_dir: str, key: str) -> dict:
  """{(variant, budget index): (bits per file, bytes per file)} of the frontier runs, files in one order."""
  from analysis.frontier import budget_groups
  rows, _ = collect_lib.collect(runs_dir, allow_dirty=True)
  rows = [r for r in frontier_runs(rows) if r["variant"] in {v for p in GAPS for v in p}]
  groups = budget_groups(np.array([r["C"] for r in rows]))
  out, budgets = {}, {}
  for r, g in zip(rows, groups):
    path, score = stored_score(runs_dir, r["run"], key)
    if score is None:
      raise FileNotFoundError(f"{path}: score the frontier first (python -m analysis.heldout {runs_dir} --frontier)")
    table = sorted(score["table"], key=lambda t: t["path"])
    out[(r["variant"], int(g))] = (np.array([t["bits"] for t in table]), np.array([t["bytes"] for t in table]))
    budgets[int(g)] = r["C"]
  return out, budgets


def trend(runs_dir: str, key: str, n: int = 2000, seed: int = 0) -> dict:
  data, budgets = per_file(runs_dir, key)
  files = {len(v[0]) for v in data.values()}
  if len(files) != 1:
    raise ValueError(f"the frontier runs scored different numbers of files ({sorted(files)}): rescore them alike")
  n_files = files.pop()
  rng = np.random.default_rng(seed)
  draws = rng.integers(0, n_files, size=(n, n_files))
  order = sorted(budgets)
  out = {}
  for worse, better in GAPS:
    gaps = {}
    for g in order:
      if (worse, g) in data and (better, g) in data:
        (bw, nb), (bb, _) = data[(worse, g)], data[(better, g)]
        point = (bw.sum() - bb.sum()) / nb.sum()
        draw = (bw[draws].sum(1) - bb[draws].sum(1)) / nb[draws].sum(1)
        gaps[g] = (point, draw)
    if len(gaps) < 2:
      continue
    first, last = min(gaps), max(gaps)
    change = gaps[last][1] - gaps[first][1]
    out[f"{worse} − {better}"] = dict(
        budgets=[dict(C=budgets[g], gap=float(p), lo=float(np.percentile(d, 2.5)), hi=float(np.percentile(d, 97.5)))
                 for g, (p, d) in sorted(gaps.items())],
        change=float(gaps[last][0] - gaps[first][0]), change_lo=float(np.percentile(change, 2.5)),
        change_hi=float(np.percentile(change, 97.5)), shrank_share=float(np.mean(change < 0)))
  return dict(files=n_files, resamples=n, pairs=out)


def render(result: dict, what: str) -> str:
  lines = [f"Gaps on {what} ({result['files']} files, {result['resamples']} file resamples; each budget's best run "
           "of each variant, bits/byte, 95% intervals):", "",
           "| gap | " + " | ".join(f"{b['C']:.0e}" for b in next(iter(result["pairs"].values()))["budgets"])
           + " | change, smallest to largest budget | draws in which it shrank |", ""]
  lines[-1] = "|---|" + "---|" * (len(next(iter(result["pairs"].values()))["budgets"]) + 2)
  for pair, r in result["pairs"].items():
    lines.append(f"| {pair} | " + " | ".join(f"{b['gap']:.3f} ({b['lo']:.3f}–{b['hi']:.3f})" for b in r["budgets"])
                 + f" | {r['change']:+.3f} ({r['change_lo']:+.3f} to {r['change_hi']:+.3f}) | "
                 f"{r['shrank_share']:.1%} |")
  return "\n".join(lines)


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("runs_dir")
  ap.add_argument("--split", default="test")
  ap.add_argument("--corpus")
  ap.add_argument("--out")
  ap.add_argument("--n", type=int, default=2000)
  args = ap.parse_args()
  key = corpus_key(args.corpus) if args.corpus else args.split
  result = trend(args.runs_dir, key, args.n)
  text = render(result, args.corpus or f"the {args.split} split")
  out = args.out or args.runs_dir
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, "gap_trend.json"), "w") as f:
    json.dump(result, f, indent=1)
  with open(os.path.join(out, "gap_trend.md"), "w") as f:
    f.write(text + "\n")
  print(text)


if __name__ == "__main__":
  main()
