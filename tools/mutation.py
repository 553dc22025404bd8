"""A mutation score within a time budget: mutmut over the modules `[tool.mutmut]` in pyproject.toml names, on a
seeded uniform sample of the mutants sized to a time budget at a measured rate per mutant.

  python tools/mutation.py [--hours 0.75] [--seed 0] [--children 2] [--rate 2.3] [--all] [--score-only]

Runs in the repository root (mutmut works in ./mutants). First `mutmut run` on no mutant generates the mutants
and measures which tests cover each (the stats, not counted in the budget); then one `mutmut run` on the first
hours x 3600 / RATE mutants of a seeded random order (mutmut runs the whole clean test selection once per
invocation, so the sample is one invocation; RATE, seconds per mutant with 2 children, was measured here); then
the score: killed (a test failed, or the mutant timed out) over the sample less the mutants `docs/mutation-equivalents.txt` lists as equivalent
(each with its one-line reason), with a 95% Wilson interval. "no tests" and "survived" both count as not killed.
The summary goes to mutants/score.json; `mutmut show NAME` prints one mutant's diff."""
import argparse
import glob
import json
import os
import random
import subprocess
import sys
import time

from scipy.stats import binomtest

EQUIVALENTS = "docs/mutation-equivalents.txt"
KILLED = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout"}
NOT_KILLED = {0: "survived", 5: "no tests", 33: "no tests"}
# seconds per mutant, 2 children, 2-core CPU (session 14: 729 mutants of the sample in 28 minutes; a killed mutant
# stops at its first failing test; mutmut's own estimates, the covering tests' whole durations, average 345 s)
RATE = 2.3


def read_meta() -> dict:
  """{mutant name: its exit code, None if not yet tested} over every mutated file."""
  out = {}
  for path in glob.glob("mutants/**/*.meta", recursive=True):
    with open(path) as f:
      out.update(json.load(f)["exit_code_by_key"])
  return out


def equivalents(path: str = EQUIVALENTS) -> dict:
  """{mutant name: reason} from lines `NAME  reason` ('#' starts a comment)."""
  if not os.path.exists(path):
    return {}
  out = {}
  with open(path) as f:
    for line in f:
      line = line.split("#", 1)[0].strip()
      if line:
        name, _, reason = line.partition(" ")
        out[name] = reason.strip()
  return out


def wilson(k: int, n: int) -> tuple[float, float]:
  """The 95% Wilson interval of k killed in n (scipy's)."""
  if n == 0:
    return 0.0, 1.0
  ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
  return float(ci.low), float(ci.high)


def order(meta: dict, seed: int) -> list[str]:
  """Every mutant in a seeded random order: any prefix is a uniform sample."""
  names = sorted(meta)
  random.Random(seed).shuffle(names)
  return names


def score(meta: dict, names: list[str], equivalent: dict) -> dict:
  counts, not_killed, unchecked = {}, [], []
  for name in names:
    code = meta[name]
    if name in equivalent:
      status = "equivalent"
    elif code is None:
      status = "not checked"
      unchecked.append(name)
    else:
      status = KILLED.get(code) or NOT_KILLED.get(code) or f"exit {code}"
      if code in NOT_KILLED:
        not_killed.append(name)
    counts[status] = counts.get(status, 0) + 1
  killed = counts.get("killed", 0) + counts.get("timeout", 0)
  scored = killed + len(not_killed)
  lo, hi = wilson(killed, scored)
  return dict(mutants=len(meta), sampled=len(names), counts=counts, killed=killed, scored=scored,
              score=killed / scored if scored else None, interval_95=[lo, hi], not_killed=not_killed,
              not_checked=unchecked)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--hours", type=float, default=0.75, help="time budget of the sample's run (default 0.75)")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--children", type=int, default=2, help="mutants tested at once (default 2: this machine's cores)")
  p.add_argument("--rate", type=float, default=RATE, help=f"seconds per mutant with 2 children (default {RATE})")
  p.add_argument("--all", action="store_true", help="every mutant, not a sample")
  p.add_argument("--score-only", action="store_true", help="score the sample already run, run nothing")
  args = p.parse_args(argv)
  mutmut = os.path.join(os.path.dirname(sys.executable), "mutmut")
  start = time.time()
  if not args.score_only:  # a name that matches no mutant: generate and collect the stats, test nothing
    subprocess.run([mutmut, "run", "--max-children", str(args.children), "structlm.none.x_none__mutmut_0"],
                   check=False)
  meta = read_meta()
  if not meta:
    print("no mutants under ./mutants: run without --score-only first, in the repository root", file=sys.stderr)
    return 2
  names = order(meta, args.seed)
  if not args.all:
    names = names[:max(1, int(args.hours * 3600 * args.children / 2 / args.rate))]
  setup = time.time() - start
  if not args.score_only:
    subprocess.run([mutmut, "run", "--max-children", str(args.children), *names], check=False)
  out = score(read_meta(), names, equivalents())
  out.update(seed=args.seed, hours=args.hours, children=args.children, setup_seconds=round(setup),
             run_seconds=round(time.time() - start - setup))
  with open("mutants/score.json", "w") as f:
    json.dump(out, f, indent=1)
  lo, hi = out["interval_95"]
  print(f"{out['killed']} of {out['scored']} sampled non-equivalent mutants killed: "
        f"{100 * (out['score'] or 0):.1f}% (95% {100 * lo:.1f}-{100 * hi:.1f}%); {out['sampled']} of "
        f"{out['mutants']} mutants sampled; {out['counts']}; setup {out['setup_seconds']} s, run "
        f"{out['run_seconds']} s")
  for name in out["not_killed"]:
    print("  not killed:", name)
  return 0


if __name__ == "__main__":
  sys.exit(main())
