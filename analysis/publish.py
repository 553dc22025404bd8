"""Put a finished sweep into the README and docs/: its report and figures (copied to docs/<name>/), every run's
`result.json` (docs/<name>/runs/, so `python -m structlm analyze docs/<name>/runs` redoes the analysis anywhere)
and a section between the README's `<!-- <name>:begin -->` and `<!-- <name>:end -->` markers: the headline, the
multiplier table, the runs and the loss plot. `make demo` and `make study` run it; nothing is typed in.

python -m analysis.publish runs/demo [--name demo] [--readme README.md] [--docs docs/demo]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil

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


def copy_results(runs_dir: str, dest: str) -> int:
  """Every run's result.json, under the same relative directory (only those: no checkpoints or metrics)."""
  n = 0
  for d, _, files in sorted(os.walk(runs_dir)):
    if "result.json" in files and os.path.abspath(d) != os.path.abspath(dest):
      out = os.path.join(dest, os.path.relpath(d, runs_dir))
      os.makedirs(out, exist_ok=True)
      shutil.copy(os.path.join(d, "result.json"), os.path.join(out, "result.json"))
      n += 1
  return n


def publish(runs_dir: str, readme: str = "README.md", docs: str = "docs/demo", name: str = "demo",
            copy_runs: bool = False) -> None:
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


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("runs_dir")
  ap.add_argument("--name", default="demo", help="the README section (<!-- NAME:begin -->) to fill")
  ap.add_argument("--readme", default="README.md")
  ap.add_argument("--docs", help="default docs/NAME")
  ap.add_argument("--copy-runs", action="store_true", help="also copy every run's result.json to DOCS/runs/")
  args = ap.parse_args()
  publish(args.runs_dir, args.readme, args.docs or f"docs/{args.name}", args.name, args.copy_runs)
  print(f"{args.readme}: {args.name} section updated from {args.runs_dir}")


if __name__ == "__main__":
  main()
