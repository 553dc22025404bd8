"""The arms beside the headline, each paired with the study's own runs: what numbering REFs by recency does (the
headline's `scoped_recency` against the serial-numbered `scoped`, every size, budget and seed of the design), what
whole-file memory of names adds (`scoped_file` against `scoped`, both serial) and how much of each variant gap is
context (every variant at 4x the context against itself at the study's context). Pairs share variant, size, budget
and seed; a budget's comparison takes each side's best over the arm's sizes (equal FLOPs, the same sizes on both
sides); the study's measured seed noise says how large a difference must be to count.

python -m analysis.arms runs/study --context runs/context --out runs/study [--publish docs/study.md]
"""
from __future__ import annotations

import argparse
import json
import math
import os

from analysis import collect as collect_lib
from structlm import variants

HEADLINE = variants.HEADLINE
GAPS = (("token", "structured"), ("structured", "scoped_recency"))  # (worse, better): the gaps every report gives
# the arms run with the serial-numbered scoped variant (the headline's before the numbering was chosen) give its gap
ARM_GAPS = GAPS + (("structured", "scoped"),)


def _config(row: dict) -> dict:
  return json.loads(row["setup"])


def _key(row: dict, variant: str | None = None) -> tuple:
  c = _config(row)
  return (variant or row["variant"], row["preset"], float(c["train_flops"]), row["seed"])


def pairs(study_rows: list[dict], arm_rows: list[dict], base_variant: dict | None = None,
          context: int | None = None, optional: bool = False) -> list[dict]:
  """Each arm run beside the study run with the same (base) variant, size, budget and seed. `base_variant` maps an
  arm's variant to the study's (scoped_file -> scoped); `context`: the study's context_bytes (runs at another
  context in the study's own workdir are not its runs). A missing partner is an error naming the run to add,
  unless `optional` (then the run is left out)."""
  base_variant = base_variant or {}
  study = {}
  for r in study_rows:
    if context is None or _config(r).get("context_bytes") == context:
      study[_key(r)] = r
  out = []
  for r in arm_rows:
    k = _key(r, base_variant.get(r["variant"], r["variant"]))
    if k not in study:
      if optional:  # (both sides in the study's workdir: a run without a partner is not in the comparison)
        continue
      raise collect_lib.RunError(f"arm run {r['run']} has no study run of {k[0]} {k[1]} at {k[2]:.0e} FLOPs, seed "
                                 f"{k[3]}: train it in the study's workdir first")
    s = study[k]
    out.append(dict(variant=k[0], arm_variant=r["variant"], preset=k[1], budget=k[2], seed=k[3],
                    study_bpb=s["bpb"], arm_bpb=r["bpb"], change=r["bpb"] - s["bpb"],
                    tokens_ratio=r["tokens"] / s["tokens"],
                    study_context=_config(s).get("context_bytes"), arm_context=_config(r).get("context_bytes")))
  return sorted(out, key=lambda p: (p["budget"], p["variant"], p["preset"]))


def best_per_budget(paired: list[dict]) -> dict:
  """{budget: {variant: (study best, arm best, their sizes)}} over the sizes the arm measured (a size's seeds at
  their mean)."""
  by_size: dict = {}
  for p in paired:
    by_size.setdefault((p["budget"], p["variant"], p["preset"]), []).append(p)
  out: dict = {}
  for (budget, variant, preset), ps in by_size.items():
    cell = out.setdefault(budget, {}).setdefault(variant, dict(study=(math.inf, ""), arm=(math.inf, "")))
    cell["study"] = min(cell["study"], (sum(p["study_bpb"] for p in ps) / len(ps), preset))
    cell["arm"] = min(cell["arm"], (sum(p["arm_bpb"] for p in ps) / len(ps), preset))
  return out


def gaps(best: dict) -> list[dict]:
  """Per budget, each variant gap (worse - better, each at its best size) at the study's context and the arm's."""
  rows = []
  for c, cells in sorted(best.items()):
    for worse, better in ARM_GAPS:
      if worse in cells and better in cells:
        at_study = cells[worse]["study"][0] - cells[better]["study"][0]
        at_arm = cells[worse]["arm"][0] - cells[better]["arm"][0]
        rows.append(dict(budget=c, pair=f"{worse} - {better}", study=at_study, arm=at_arm, change=at_arm - at_study))
  return rows


def verdict_threshold(noise: float, runs: int = 2) -> float:
  """A difference made of `runs` runs' losses (two for a pair, four for the change of a gap) counts past twice
  its standard deviation under the seed noise, 2 sqrt(runs) x one run's."""
  return 2 * math.sqrt(runs) * noise


def verdict(x: float, noise: float, runs: int = 2) -> str:
  return "beyond noise" if abs(x) > verdict_threshold(noise, runs) else "within noise"


def _scoped_arm(paired: list[dict], arm: str, title: str, noise: float) -> list[str]:
  """The rows of a scoped arm against `scoped` (same size, budget, seed) and each budget's bests."""
  b = best_per_budget(paired)
  lines = [title, "", f"| budget (FLOPs) | size | seed | scoped | {arm} | change |", "|---|---|---|---|---|---|"]
  lines += [f"| {p['budget']:.0e} | {p['preset']} | {p['seed']} | {p['study_bpb']:.3f} | {p['arm_bpb']:.3f} | "
            f"{p['change']:+.3f} |" for p in paired]
  changes = [p["change"] for p in paired]
  if len(changes) > 1:
    mean = sum(changes) / len(changes)
    sd = math.sqrt(sum((c - mean) ** 2 for c in changes) / (len(changes) - 1))
    lines += ["", f"Paired (same size, budget and seed): the arm is lower in {sum(c < 0 for c in changes)} of "
                  f"{len(changes)} pairs; mean change {mean:+.3f} bits/byte (standard deviation {sd:.3f}, standard "
                  f"error {sd / math.sqrt(len(changes)):.3f})."]
  lines += [""] + [f"- {c:.0e} FLOPs, each at its best size (seeds at their mean): scoped {v['scoped']['study'][0]:.3f} "
                   f"({v['scoped']['study'][1]}), {arm} {v['scoped']['arm'][0]:.3f} ({v['scoped']['arm'][1]}): "
                   f"{v['scoped']['arm'][0] - v['scoped']['study'][0]:+.3f} bits/byte, "
                   f"{verdict(v['scoped']['arm'][0] - v['scoped']['study'][0], noise)}." for c, v in sorted(b.items())]
  return lines + [""]


def render(names: list[dict], context: list[dict], noise: float, study_context: int,
           recency: list[dict] = ()) -> str:
  lines = [f"Seed noise of one run: {noise:.3f} bits/byte (the study's pooled seed repeats); a difference of two "
           f"runs counts when it exceeds {2 * math.sqrt(2) * noise:.3f}, the change of a gap (four runs) "
           f"{4 * noise:.3f} (about two standard deviations).", ""]
  if names:
    lines += _scoped_arm(names, "scoped_file", "**What whole-file memory of names adds** (`scoped_file`: REFs to any "
                         f"earlier name in the file; `scoped`: only to names spelled within the last {study_context} "
                         "bytes). Negative: the whole-file table is better.", noise)
  if recency:
    lines += _scoped_arm(recency, "scoped_recency", "**REFs numbered by recency** (`scoped_recency`, the headline: "
                         "REF r is the live name used r-th most recently; `scoped`: REF i is the name's serial in a "
                         "ring; the same REFs, window and features; every size, budget and seed of the design). "
                         "Negative: recency numbering is better.", noise)
  if context:
    arm = context[0]["arm_context"]
    b = best_per_budget(context)
    lines += [f"**Context**: every variant at {arm} bytes against itself at {study_context} (the scoped "
              "variant's names reach as far as its context). Negative: the longer context is better.", "",
              "At equal FLOPs a longer context buys attention with tokens: the last column is the tokens the "
              f"{arm}-byte run trained on over the {study_context}-byte run's (at these widths attention is a large "
              "share of each token's FLOPs).", "",
              f"| budget (FLOPs) | variant | size | {study_context} B | {arm} B | change | tokens |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {p['budget']:.0e} | {p['variant']} | {p['preset']} | {p['study_bpb']:.3f} | {p['arm_bpb']:.3f} | "
              f"{p['change']:+.3f} | {p['tokens_ratio']:.2f}× |" for p in context]
    lines += ["", "Each budget's gaps, each variant at its best size among these (positive: the second is better):",
              "", f"| budget (FLOPs) | gap | at {study_context} B | at {arm} B | change |", "|---|---|---|---|---|"]
    lines += [f"| {g['budget']:.0e} | {g['pair']} | {g['study']:.3f} | {g['arm']:.3f} | {g['change']:+.3f} "
              f"({verdict(g['change'], noise, runs=4)}) |" for g in gaps(b)]
    lines.append("")
  return "\n".join(lines)


def analyze(study_dir: str, context_dir: str | None, out_dir: str) -> dict:
  rows, _ = collect_lib.collect(study_dir, allow_dirty=True)
  noise = study_noise(study_dir)
  contexts = [_config(r).get("context_bytes") for r in rows if r["variant"] in HEADLINE]
  study_context = max(set(contexts), key=contexts.count)
  names = pairs(rows, [r for r in rows if r["variant"] == "scoped_file"], {"scoped_file": "scoped"}, study_context)
  context = []
  if context_dir:
    arm_rows, _ = collect_lib.collect(context_dir, allow_dirty=True)
    context = pairs(rows, arm_rows, context=study_context)
  recency = pairs(rows, [r for r in rows if r["variant"] == "scoped_recency"], {"scoped_recency": "scoped"},
                  study_context, optional=True)
  result = dict(seed_noise=noise, study_context=study_context, names=names, context=context, recency=recency,
                names_best=best_per_budget(names), recency_best=best_per_budget(recency),
                context_gaps=gaps(best_per_budget(context)),
                markdown=render(names, context, noise, study_context, recency))
  return write(result, out_dir, "arms")


def write(result: dict, out_dir: str, name: str) -> dict:
  """OUT/NAME.json (the result less its markdown) and OUT/NAME.md; returns `result`."""
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
    json.dump({k: v for k, v in result.items() if k != "markdown"}, f, indent=1, default=str)
  with open(os.path.join(out_dir, f"{name}.md"), "w") as f:
    f.write(result["markdown"])
  return result


def study_noise(study_dir: str) -> float:
  """The seed noise the study's analysis used (its fits.json)."""
  with open(os.path.join(study_dir, "fits.json")) as f:
    noise = (json.load(f).get("seed_noise") or {}).get("used")
  if noise is None:
    raise ValueError(f"{study_dir}/fits.json has no seed noise: run `python -m structlm analyze {study_dir}` first")
  return noise


def publish(markdown: str, page: str, name: str = "arms") -> None:
  """Replace the page's `<!-- arms:begin -->` ... `<!-- arms:end -->` section."""
  begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
  with open(page) as f:
    text = f.read()
  if begin not in text or end not in text:
    raise ValueError(f"{page} has no {begin} ... {end} section to fill: add the two markers where it belongs")
  head, rest = text.split(begin, 1)
  with open(page, "w") as f:
    f.write(head + begin + "\n\n" + markdown + "\n" + end + rest.split(end, 1)[1])


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("study_dir", help="the study's workdir (its runs, the scoped_file arm's and fits.json)")
  ap.add_argument("--context", help="the 4x-context arm's workdir (cpu_study.py:context)")
  ap.add_argument("--out", help="where arms.json and arms.md go (default: the study's workdir)")
  ap.add_argument("--publish", help="a page with <!-- arms:begin/end --> markers to fill, e.g. docs/study.md")
  args = ap.parse_args()
  result = analyze(args.study_dir, args.context, args.out or args.study_dir)
  if args.publish:
    publish(result["markdown"], args.publish)
  print(result["markdown"])


if __name__ == "__main__":
  main()
