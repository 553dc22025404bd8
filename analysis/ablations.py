"""What the structured variant's advantage is made of, and whether the gaps hold at a larger vocabulary: the
ablations' runs (experiments/cpu_study.py:ablations) each paired with the study's run of the same variant, size,
budget and seed. Ablations: the structured variant without its grammar mask (a softmax over every action, validity
learned) and without tree features (no depth, parent or slot lookups), on its best size and both neighbours at
each arm budget. Vocabulary control: every headline variant's best run again at 4x the vocabulary (BPE merges and
leaf pieces alike), so what a grammar saves is measured where tokens carry more of each name.

python -m analysis.ablations runs/ablations --study runs/study [--out DIR] [--publish docs/study.md]
"""
from __future__ import annotations

import argparse
import math
import os

from analysis import arms
from analysis import collect as collect_lib

ABLATIONS = (("grammar_mask", "without the grammar mask"), ("tree_features", "without tree features"))


def collect_apart(runs_dir: str) -> list[dict]:
  """Every finished run under `runs_dir`, each collected alone (the workdir holds one variant at two
  vocabularies, which one collection refuses to mix)."""
  if not os.path.isdir(runs_dir):
    raise FileNotFoundError(f"{runs_dir}: no such runs directory (python -m structlm sweep "
                            f"experiments/cpu_study.py:ablations --workdir {runs_dir})")
  rows = []
  for name in sorted(os.listdir(runs_dir)):
    if os.path.exists(os.path.join(runs_dir, name, "result.json")):
      for r in collect_lib.collect(os.path.join(runs_dir, name), allow_dirty=True)[0]:
        rows.append(dict(r, run=name))
  return rows


def _vocab(row: dict) -> int:
  return int(arms._config(row)["vocab_size"])


def split(rows: list[dict], study_vocab: int) -> dict:
  """{'grammar_mask': runs with the mask off, 'tree_features': with tree features off, 'vocab': at another
  vocabulary}: each run in exactly one arm."""
  out = {"grammar_mask": [], "tree_features": [], "vocab": []}
  for r in rows:
    c = arms._config(r)
    off = [k for k, _ in ABLATIONS if c.get(k) is False]
    arm = off + (["vocab"] if _vocab(r) != study_vocab else [])
    if len(arm) != 1:
      raise collect_lib.RunError(f"{r['run']}: {' and '.join(arm) or 'nothing'} changed from the study; each "
                                 "ablation run changes exactly one thing (experiments/cpu_study.py:ablations)")
    out[arm[0]].append(r)
  return out


def token_best(study_rows: list[dict], budget: float, context: int, vocab: int) -> float:
  """The token variant's best seed-0 loss at `budget` over the study's sizes (the gap an ablation leaves)."""
  losses = [r["bpb"] for r in study_rows if r["variant"] == "token" and r["seed"] == 0
            and float(arms._config(r)["train_flops"]) == budget and arms._config(r).get("context_bytes") == context
            and _vocab(r) == vocab]
  return min(losses) if losses else float("nan")


def _ablation_lines(label: str, paired: list[dict], study_rows: list[dict], noise: float, context: int,
                    vocab: int) -> list[str]:
  lines = [f"**Structured {label}** (same sizes, budgets and seed as the study's structured runs; negative: the "
           "ablated model is better).", "", "| budget (FLOPs) | size | structured | ablated | change |",
           "|---|---|---|---|---|"]
  lines += [f"| {p['budget']:.0e} | {p['preset']} | {p['study_bpb']:.3f} | {p['arm_bpb']:.3f} | {p['change']:+.3f} |"
            for p in paired]
  changes = [p["change"] for p in paired]
  mean = sum(changes) / len(changes)
  spread = ""
  if len(changes) > 1:
    sd = math.sqrt(sum((c - mean) ** 2 for c in changes) / (len(changes) - 1))
    spread = f" (standard deviation {sd:.3f}, standard error {sd / math.sqrt(len(changes)):.3f})"
  lines += ["", f"The ablated model is worse in {sum(c > 0 for c in changes)} of {len(changes)} pairs, by "
                f"{mean:+.3f} bits/byte on average{spread}.", ""]
  for c, cells in sorted(arms.best_per_budget(paired).items()):
    (s, sp), (a, ap) = cells["structured"]["study"], cells["structured"]["arm"]
    t = token_best(study_rows, c, context, vocab)
    lines.append(f"- {c:.0e} FLOPs, each at its best of these sizes: structured {s:.3f} ({sp}), {label} {a:.3f} "
                 f"({ap}): {a - s:+.3f}, {arms.verdict(a - s, noise)}; token's best {t:.3f}, so the token - "
                 f"structured gap is {t - s:.3f} with {label[len('without '):]} and {t - a:.3f} without.")
  return lines + [""]


def _vocab_lines(paired: list[dict], noise: float, study_vocab: int) -> list[str]:
  arm_vocab = paired[0]["arm_vocab"]
  lines = [f"**Vocabulary {arm_vocab}** (each variant's best run of the study again at {arm_vocab // study_vocab}x "
           f"the vocabulary, {arm_vocab:,} BPE merges for tokens and as many leaf pieces for the grammar variants; "
           "the output projection's share of N in brackets; negative: the larger vocabulary is better).", "",
           f"| budget (FLOPs) | variant | size | N at {study_vocab:,} | N at {arm_vocab:,} | {study_vocab:,} | "
           f"{arm_vocab:,} | change | tokens |", "|---|---|---|---|---|---|---|---|---|"]
  for p in paired:
    lines.append(f"| {p['budget']:.0e} | {p['variant']} | {p['preset']} | {p['study_N']:,.0f} "
                 f"({p['study_out_share']:.0%}) | {p['arm_N']:,.0f} ({p['arm_out_share']:.0%}) | {p['study_bpb']:.3f} "
                 f"| {p['arm_bpb']:.3f} | {p['change']:+.3f} | {p['tokens_ratio']:.2f}× |")
  lines += ["", "Each budget's gaps (positive: the second is better):", "",
            f"| budget (FLOPs) | gap | at {study_vocab:,} | at {arm_vocab:,} | change |", "|---|---|---|---|---|"]
  lines += [f"| {g['budget']:.0e} | {g['pair']} | {g['study']:.3f} | {g['arm']:.3f} | {g['change']:+.3f} "
            f"({arms.verdict(g['change'], noise, runs=4)}) |" for g in vocab_gaps(paired)]
  holds = [g for g in vocab_gaps(paired) if g["arm"] > 0]
  lines += ["", f"At {arm_vocab:,} the better variant of each gap is still better in {len(holds)} of "
                f"{len(vocab_gaps(paired))} (budget, gap) cells."]
  return lines + [""]


def vocab_gaps(paired: list[dict]) -> list[dict]:
  """Per budget, the headline gaps at the study's vocabulary and the arm's (each variant's one run)."""
  return [g for g in arms.gaps(arms.best_per_budget(paired)) if tuple(g["pair"].split(" - ")) in arms.GAPS]


def analyze(runs_dir: str, study_dir: str, out_dir: str) -> dict:
  study_rows, _ = collect_lib.collect(study_dir, allow_dirty=True)
  noise = arms.study_noise(study_dir)
  headline = [r for r in study_rows if r["variant"] in arms.HEADLINE]
  contexts = [arms._config(r).get("context_bytes") for r in headline]
  context = max(set(contexts), key=contexts.count)
  vocabs = [_vocab(r) for r in headline]
  study_vocab = max(set(vocabs), key=vocabs.count)
  parts = split(collect_apart(runs_dir), study_vocab)
  result = dict(seed_noise=noise, study_context=context, study_vocab=study_vocab)
  lines = [f"Seed noise of one run: {noise:.3f} bits/byte (the study's); a difference of two runs counts past "
           f"{arms.verdict_threshold(noise, 2):.3f}, the change of a gap past {arms.verdict_threshold(noise, 4):.3f}.",
           ""]
  for key, label in ABLATIONS:
    paired = arms.pairs(study_rows, parts[key], context=context)
    result[key] = paired
    if paired:
      lines += _ablation_lines(label, paired, study_rows, noise, context, study_vocab)
  study = {arms._key(r): r for r in study_rows if arms._config(r).get("context_bytes") == context}
  arm = {arms._key(r): r for r in parts["vocab"]}
  vocab = arms.pairs(study_rows, parts["vocab"], context=context)
  for p in vocab:
    k = (p["variant"], p["preset"], p["budget"], p["seed"])
    s, r = study[k], arm[k]
    p.update(arm_vocab=_vocab(r), study_N=s["N"], arm_N=r["N"], study_out_share=1 - s["N_nonembedding"] / s["N"],
             arm_out_share=1 - r["N_nonembedding"] / r["N"])
  result["vocab"], result["vocab_gaps"] = vocab, vocab_gaps(vocab) if vocab else []
  if vocab:
    lines += _vocab_lines(vocab, noise, study_vocab)
  result["markdown"] = "\n".join(lines)
  return arms.write(result, out_dir, "ablations")


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("runs_dir", help="the ablations' workdir (experiments/cpu_study.py:ablations)")
  ap.add_argument("--study", required=True, help="the study's workdir (its runs and fits.json)")
  ap.add_argument("--out", help="where ablations.json and ablations.md go (default: runs_dir)")
  ap.add_argument("--publish", help="a page with <!-- ablations:begin/end --> markers to fill, e.g. docs/study.md")
  args = ap.parse_args()
  result = analyze(args.runs_dir, args.study, args.out or args.runs_dir)
  if args.publish:
    arms.publish(result["markdown"], args.publish, name="ablations")
  print(result["markdown"])


if __name__ == "__main__":
  main()
