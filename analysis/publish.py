"""Put a finished sweep into the README and docs/: its report and figures (copied to docs/<name>/), every run's
`result.json` (docs/<name>/runs/, so `python -m structlm analyze docs/<name>/runs` redoes the analysis anywhere)
and a section between the README's `<!-- <name>:begin -->` and `<!-- <name>:end -->` markers: the headline, the
multiplier table, the runs and the loss plot. `make demo` and `make study` run it; nothing is typed in.

python -m analysis.publish runs/demo [--name demo] [--readme README.md] [--docs docs/demo]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil

from analysis.arms import GAPS, verdict_threshold
from analysis.render import _cell, _interval


def markers(name: str) -> tuple[str, str]:
  return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


BEGIN, END = markers("demo")


def section(fits: dict, image: str, name: str = "demo") -> str:
  begin, end = markers(name)
  refs = fits.get("references") or {}
  lines = [begin, "", fits["headline"]]
  for c in fits.get("comparisons") or [dict(fits, subject="structured", baseline="token")]:
    a, b = c["subject"], c["baseline"]
    lines += ["", f"| C (FLOPs) | {a} loss (bits/byte) | m ({b} compute / {a} compute) | 95% interval |",
              "|---|---|---|---|"]
    for r in c["measured_multiplier"]:
      lines.append(f"| {r['C']:.3g} | {r['loss']:.3f} | {_cell(r, b)} | {_interval(r['lo'], r['hi'])} |")
  lines += ["", "| run | N | D (bytes) | C (FLOPs) | bits/byte |" + "".join(f" vs {k.split()[0]} |" for k in refs),
            "|---|---|---|---|---|" + "---|" * len(refs)]
  for r in fits["table"]:
    lines.append(f"| {r['run']} | {r['N']:.3g} | {r['D']:.3g} | {r['C']:.3g} | {r['bpb']:.3f} |"
                 + "".join(f" {r['bpb'] / v:.2f}× |" for v in refs.values()))
  if refs:
    lines += ["", "Held-out reference: " + ", ".join(f"{k} {v:.3f} bits/byte" for k, v in refs.items()) + "."]
  lines += ["", "Caveats:", ""] + [f"- {c}" for c in fits.get("caveats", [])]
  lines += ["", f"![loss vs compute]({image})", "", end]
  return "\n".join(lines)


def budget_gaps(fits: dict) -> list[tuple[float, dict]]:
  """[(budget, {"token − structured": gap, ...})]: each variant's best loss per isoFLOP budget (seed repeats at
  their mean, as the isoFLOP analysis takes them), differences between the pairs measured at that budget."""
  best: dict = {}
  for v, iso in (fits.get("isoflop") or {}).items():
    for b in iso.get("all_budgets", []):
      best.setdefault(round(float(b["C"]), -9), {})[v] = min(b["runs_L"])
  out = []
  for c in sorted(best):
    row = {f"{w} − {b}": best[c][w] - best[c][b] for w, b in GAPS if w in best[c] and b in best[c]}
    if row:
      out.append((c, row))
  return out


def answer_block(fits: dict, image: str, page: str = "docs/study.md") -> str:
  """The README's short answer, written from the study's fits.json (tests/test_docs.py checks the README's block
  equals it): each budget's gaps, the seed noise, the primary multiplier's first and last values, what is not
  identified, the best run against xz."""
  begin, end = markers("answer")
  gaps = budget_gaps(fits)
  pairs = list(gaps[0][1]) if gaps else []
  lines = [begin, ""]
  # a gap's change from the first budget to the last is four budget-best losses (some one run, some the mean of two
  # seeds, each the best of several sizes): a trend is named only past twice the standard deviation of four single
  # runs, 4 x the seed noise (the arms' rule for the change of a gap)
  noise = (fits.get("seed_noise") or {}).get("used")
  margin = verdict_threshold(noise, runs=4) if noise else 0.0
  if gaps:
    lo, hi = f"{gaps[0][0]:.0e}", f"{gaps[-1][0]:.0e}"
    verdicts = []
    for p in pairs:
      vals = [g[p] for _, g in gaps if p in g]
      worse, better = p.split(" − ")
      trend = ("shrinking" if all(a > b for a, b in zip(vals, vals[1:])) else
               "growing" if all(a < b for a, b in zip(vals, vals[1:])) else "not monotone") + " with compute"
      if len(vals) > 1 and abs(vals[-1] - vals[0]) <= margin:
        trend = f"a change of {vals[-1] - vals[0]:+.3f} with compute, within four runs' seed noise ({margin:.3f})"
      where = "at every budget" if all(x > 0 for x in vals) else "not at every budget"
      verdicts.append(f"{better} beats {worse} {where} ({trend}: {vals[0]:.3f} → {vals[-1]:.3f} bits/byte)")
    lines.append(f"**Measured from {lo} to {hi} FLOPs on the stdlib, at equal context: " + "; ".join(verdicts) + ".**")
    lines += ["", "| at each budget's best size (bits/byte) | " + " | ".join(f"{c:.0e}" for c, _ in gaps) + " |",
              "|---|" + "---|" * len(gaps)]
    lines += [f"| {p} | " + " | ".join(f"{g[p]:.3f}" if p in g else "" for _, g in gaps) + " |" for p in pairs]
  sn = fits.get("seed_noise") or {}
  notes = []
  if sn.get("sd") is not None:
    notes.append(f"Seed noise: one run's standard deviation {sn['sd']:.3f} bits/byte (pooled over "
                 f"{sn['repeated_sizes']} repeated sizes; two seeds of one run differ by {sn['sd'] * math.sqrt(2):.3f} "
                 "in root mean square).")
  mm = [r for r in fits.get("measured_multiplier", []) if r.get("kind") == "value"]
  if mm:
    a, b = fits.get("subject", "structured"), fits.get("baseline", "token")
    first = mm[0]
    notes.append(f"Compute multiplier, {a} over {b} (from the runs alone): {first['m']:.2f}× at {first['C']:.2g} "
                 f"FLOPs (95% interval {first['lo']:.2f}×–{first['hi']:.3g}×)"
                 + (f", {mm[-1]['m']:.2f}× at {mm[-1]['C']:.2g}" if len(mm) > 1 else "") + ".")
  iso = fits.get("isoflop") or {}
  ident = [f"{v} (N_opt ∝ C^{i['N_opt_exponent']:.2f}, {i['N_opt_exponent_ci'][0]:.2f}–"
           f"{i['N_opt_exponent_ci'][1]:.2f}"
           + ("; the interval holds 0: N_opt not shown to grow with C" if i["N_opt_exponent_ci"][0] <= 0 else "")
           + ")" for v, i in iso.items() if i.get("identified") and i.get("N_opt_exponent_ci")]
  shaky = [f"{v}'s interior budgets give C^{i['N_opt_exponent']:.2f} but {i.get('unstable_share', 0):.0%} of "
           "resamples lose an optimum" for v, i in iso.items() if i.get("identified") and not i.get("N_opt_exponent_ci")]
  notes.append("A compute-optimal exponent with an interval: " + (", ".join(ident) if ident else "no variant")
               + (f" ({'; '.join(shaky)})" if shaky else "") + ".")
  refs = fits.get("references") or {}
  table = fits.get("table") or []
  if table and "xz -9e per file" in refs:
    top = min(table, key=lambda r: r["bpb"])
    notes.append(f"Best run {top['bpb']:.3f} bits/byte ({top['variant']}, {top['C']:.1g} FLOPs); xz -9e on the same "
                 f"files {refs['xz -9e per file']:.3f}.")
  lines += ["", " ".join(notes) + f" Design, checks (learning rate per budget, the arms, held-out code) and what "
            f"is not yet known: [{page}]({page}).", "", f"![loss vs compute]({image})", "", end]
  return "\n".join(lines)


def fill(text: str, block: str, name: str) -> str:
  begin, end = markers(name)
  if begin not in text or end not in text:
    raise ValueError(f"no {begin} ... {end} section to fill")
  head, rest = text.split(begin, 1)
  return head + block + rest.split(end, 1)[1]


def copy_results(runs_dir: str, dest: str) -> int:
  """Every run's result.json and its per-file scores (eval_*.json, analysis/heldout.py), under the same relative
  directory (only those: no checkpoints or metrics); returns how many runs."""
  n = 0
  for d, _, files in sorted(os.walk(runs_dir)):
    if "result.json" in files and os.path.abspath(d) != os.path.abspath(dest):
      out = os.path.join(dest, os.path.relpath(d, runs_dir))
      os.makedirs(out, exist_ok=True)
      for name in sorted(files):
        if name == "result.json" or (name.startswith("eval_") and name.endswith(".json")):
          shutil.copy(os.path.join(d, name), os.path.join(out, name))
      n += 1
  return n


def publish(runs_dir: str, readme: str = "README.md", docs: str = "docs/demo", name: str = "demo",
            copy_runs: bool = False, answer: str | None = None) -> None:
  """`answer`: also write the short answer block of that page (the project's README)."""
  with open(os.path.join(runs_dir, "fits.json")) as f:
    fits = json.load(f)
  begin, end = markers(name)
  with open(readme) as f:
    text = f.read()
  if begin not in text or end not in text:
    raise ValueError(f"{readme} has no {begin} ... {end} section to fill")
  os.makedirs(docs, exist_ok=True)
  with open(os.path.join(docs, "report.md"), "w") as f, open(os.path.join(runs_dir, "report.md")) as src:
    f.write(src.read())
  shutil.copy(os.path.join(runs_dir, "fits.json"), os.path.join(docs, "fits.json"))
  for fig in fits.get("figures", []):
    if fig.endswith(".png"):
      shutil.copy(os.path.join(runs_dir, fig), os.path.join(docs, fig))
  if copy_runs:
    copy_results(runs_dir, os.path.join(docs, "runs"))
  head, rest = text.split(begin, 1)
  _, tail = rest.split(end, 1)
  image = os.path.relpath(os.path.join(docs, "loss_vs_compute.png"), os.path.dirname(os.path.abspath(readme)) or ".")
  with open(readme, "w") as f:
    f.write(head + section(fits, image, name) + tail)
  if answer:
    with open(answer) as f:
      text = f.read()
    base = os.path.dirname(os.path.abspath(answer)) or "."
    block = answer_block(fits, os.path.relpath(os.path.join(docs, "loss_vs_compute.png"), base),
                         os.path.relpath(os.path.abspath(readme), base))
    with open(answer, "w") as f:
      f.write(fill(text, block, "answer"))


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("runs_dir")
  ap.add_argument("--name", default="demo", help="the README section (<!-- NAME:begin -->) to fill")
  ap.add_argument("--readme", default="README.md")
  ap.add_argument("--docs", help="default docs/NAME")
  ap.add_argument("--copy-runs", action="store_true", help="also copy every run's result.json to DOCS/runs/")
  ap.add_argument("--answer", help="also write this page's <!-- answer:begin --> block (the project README)")
  ap.add_argument("--copy-to", help="only copy every run's result.json under RUNS_DIR to this folder (an arm's)")
  args = ap.parse_args()
  if args.copy_to:
    print(f"{copy_results(args.runs_dir, args.copy_to)} result.json files copied to {args.copy_to}")
    return
  publish(args.runs_dir, args.readme, args.docs or f"docs/{args.name}", args.name, args.copy_runs, args.answer)
  print(f"{args.readme}: {args.name} section updated from {args.runs_dir}")


if __name__ == "__main__":
  main()
