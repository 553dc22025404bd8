"""Put a finished demo into the README: its loss-vs-compute plot (copied to docs/demo/) and its runs table between
the README's `<!-- demo:begin -->` and `<!-- demo:end -->` markers. `make demo` runs it; nothing is typed in.

python -m analysis.publish runs/demo [--readme README.md] [--docs docs/demo]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil

BEGIN, END = "<!-- demo:begin -->", "<!-- demo:end -->"


def section(fits: dict, image: str) -> str:
  refs = fits.get("references") or {}
  lines = [BEGIN, "", fits["headline"], "",
           "| run | N | D (bytes) | C (FLOPs) | bits/byte |" + "".join(f" vs {k.split()[0]} |" for k in refs),
           "|---|---|---|---|---|" + "---|" * len(refs)]
  for r in fits["table"]:
    lines.append(f"| {r['run']} | {r['N']:.3g} | {r['D']:.3g} | {r['C']:.3g} | {r['bpb']:.3f} |"
                 + "".join(f" {r['bpb'] / v:.2f}× |" for v in refs.values()))
  if refs:
    lines += ["", "Held-out reference: " + ", ".join(f"{k} {v:.3f} bits/byte" for k, v in refs.items()) + "."]
  lines += ["", f"![loss vs compute]({image})", "", END]
  return "\n".join(lines)


def publish(runs_dir: str, readme: str = "README.md", docs: str = "docs/demo") -> None:
  with open(os.path.join(runs_dir, "fits.json")) as f:
    fits = json.load(f)
  os.makedirs(docs, exist_ok=True)
  shutil.copy(os.path.join(runs_dir, "loss_vs_compute.png"), os.path.join(docs, "loss_vs_compute.png"))
  with open(os.path.join(docs, "report.md"), "w") as f, open(os.path.join(runs_dir, "report.md")) as src:
    f.write(src.read())
  for name in fits.get("figures", []):
    if name.endswith(".png"):
      shutil.copy(os.path.join(runs_dir, name), os.path.join(docs, name))
  with open(readme) as f:
    text = f.read()
  if BEGIN not in text or END not in text:
    raise ValueError(f"{readme} has no {BEGIN} ... {END} section to fill")
  head, rest = text.split(BEGIN, 1)
  _, tail = rest.split(END, 1)
  image = os.path.relpath(os.path.join(docs, "loss_vs_compute.png"), os.path.dirname(os.path.abspath(readme)) or ".")
  with open(readme, "w") as f:
    f.write(head + section(fits, image) + tail)


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("runs_dir")
  ap.add_argument("--readme", default="README.md")
  ap.add_argument("--docs", default="docs/demo")
  args = ap.parse_args()
  publish(args.runs_dir, args.readme, args.docs)
  print(f"{args.readme}: demo section updated from {args.runs_dir}")


if __name__ == "__main__":
  main()
