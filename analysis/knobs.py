"""The hyperparameter rules other than the learning rate, each checked at one other value
(experiments/cpu_study.py:knobs): every knob run beside the study's run of the same variant, size, budget and seed,
which differs from it in that knob alone.

python -m analysis.knobs runs/knobs --study runs/study [--noise X] [--out DIR] [--publish docs/study.md]
"""
from __future__ import annotations

import argparse
import math
import os

from analysis import arms
from analysis import collect as collect_lib
from analysis.ablations import collect_apart
from structlm.workdir import ADDED_KEYS, RATE_KEYS

# (config key, what it is); a config that predates a key had its workdir.ADDED_KEYS value. The keys that write
# down the peak rate (workdir.RATE_KEYS: v1 and v2 give batch-2 runs one rate in different words) are compared as
# the rate itself.
KNOBS = (("beta2", "AdamW β2"), ("warmup_fraction", "warm-up (fraction of the run)"),
         ("batch_target_steps", "the batch rule's run length (steps; half of it: twice the batch)"))
DERIVED = ("global_batch", "seq_len")  # resolved at start from the rules (a config records the resolved values)


def pair(study_rows: list[dict], knob_rows: list[dict]) -> list[dict]:
  """Each knob run with its study partner and the one knob it changes; a run without a partner, or one that
  changes no knob or several, is an error that says what to run."""
  study = {}
  for r in study_rows:
    study.setdefault(arms._key(r), []).append(r)
  out = []
  for r in knob_rows:
    c = arms._config(r)
    partners = [s for s in study.get(arms._key(r), [])
                if arms._config(s).get("context_bytes") == c.get("context_bytes")]
    if not partners:
      raise collect_lib.RunError(f"knob run {r['run']} has no study run of {r['variant']} {r['preset']} at "
                                 f"{float(c['train_flops']):.0e} FLOPs, seed {r['seed']}: train it in the study's "
                                 "workdir first")
    s = partners[0]
    sc = arms._config(s)
    c, sc = {**ADDED_KEYS, **c}, {**ADDED_KEYS, **sc}
    changed = [(k, label) for k, label in KNOBS if c.get(k) != sc.get(k)]
    skip = {k for k, _ in KNOBS} | set(collect_lib.NOT_SETUP) | set(RATE_KEYS) | set(DERIVED)
    others = sorted(k for k in set(c) | set(sc) if k not in skip and c.get(k) != sc.get(k))
    if r["learning_rate"] != s["learning_rate"]:
      others.append(f"the peak rate ({s['learning_rate']} -> {r['learning_rate']})")
    if len(changed) != 1 or others:
      what = [k for k, _ in changed] + others
      raise collect_lib.RunError(f"{r['run']}: {' and '.join(what) or 'nothing'} changed from the study's run "
                                 f"{s['run']}; a knob run changes exactly one knob (experiments/cpu_study.py:knobs)")
    (key, label), = changed
    out.append(dict(knob=key, label=label, variant=r["variant"], preset=r["preset"],
                    budget=float(c["train_flops"]), seed=r["seed"], rule=sc.get(key),
                    other=c.get(key), batches=(sc.get("global_batch"), c.get("global_batch")),
                    study_bpb=s["bpb"], knob_bpb=r["bpb"],
                    change=r["bpb"] - s["bpb"]))
  return sorted(out, key=lambda p: (p["knob"], p["budget"], p["variant"]))


def markdown(paired: list[dict], noise: float) -> str:
  lines = [f"Seed noise of one run {noise:.3f} bits/byte: a pair's difference counts past "
           f"{arms.verdict_threshold(noise, 2):.3f}. Negative: the other value is better.", "",
           "| knob | the rule's | other | budget (FLOPs) | variant | size | batch | at the rule's | at the other | "
           "change |", "|---|---|---|---|---|---|---|---|---|---|"]
  lines += [f"| {p['label']} | {p['rule']:g} | {p['other']:g} | {p['budget']:.0e} | {p['variant']} | {p['preset']} "
            f"| {p['batches'][0]} → {p['batches'][1]} | {p['study_bpb']:.3f} | {p['knob_bpb']:.3f} | "
            f"{p['change']:+.3f} |" for p in paired]
  lines.append("")
  for key, label in KNOBS:
    changes = [p["change"] for p in paired if p["knob"] == key]
    if not changes:
      continue
    mean = sum(changes) / len(changes)
    lines.append(f"- {label}: the other value is worse in {sum(c > 0 for c in changes)} of {len(changes)} pairs, "
                 f"by {mean:+.3f} on average (the mean of {len(changes)} pairs counts past "
                 f"{arms.verdict_threshold(noise, 2) / math.sqrt(len(changes)):.3f}: "
                 f"{arms.verdict(mean * math.sqrt(len(changes)), noise)}).")
  return "\n".join(lines) + "\n"


def analyze(runs_dir: str, study_dir: str, out_dir: str, noise: float | None = None) -> dict:
  study_rows, _ = collect_lib.collect(study_dir, allow_dirty=True)
  noise = arms.study_noise(study_dir) if noise is None else noise
  paired = pair(study_rows, collect_apart(runs_dir))
  if not paired:
    raise ValueError(f"no knob runs under {runs_dir}: run experiments/cpu_study.py:knobs first")
  return arms.write(dict(seed_noise=noise, pairs=paired, markdown=markdown(paired, noise)), out_dir, "knobs")


def main():
  ap = argparse.ArgumentParser(description="the other hyperparameter rules, each at one other value")
  ap.add_argument("runs_dir")
  ap.add_argument("--study", required=True, help="the study's workdir (each knob run's partner)")
  ap.add_argument("--noise", type=float, help="one run's seed noise (default: the study's fits.json)")
  ap.add_argument("--out", help="where knobs.json and knobs.md go (default: runs_dir)")
  ap.add_argument("--publish", help="a page with <!-- knobs:begin/end --> markers to fill")
  args = ap.parse_args()
  result = analyze(args.runs_dir, args.study, args.out or args.runs_dir, args.noise)
  if args.publish:
    arms.publish(result["markdown"], args.publish, name="knobs")
  print(result["markdown"], end="")


if __name__ == "__main__":
  main()
