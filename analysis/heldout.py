"""Re-score a sweep's runs on another split and redo the analysis on those losses: a check that the conclusion
does not depend on the validation files the runs were scored on.

python -m analysis.heldout runs/study --split test --out runs/study-test [--bootstrap 1000]

Each run's last checkpoint is scored on the whole split (`structlm.evaluate.per_file_bpb`, as `python -m structlm
evaluate`), the result kept in RUN/eval_<split>.json with each file's bits (reused when present), and the
analysis runs on the same rows with those bits per byte.
"""
from __future__ import annotations

import argparse
import json
import os

from analysis import collect as collect_lib
from analysis.report import analyze


def _has_table(path: str) -> bool:
  """A stored score with its per-file table (analysis/file_bootstrap.py needs it; older ones are redone)."""
  if not os.path.exists(path):
    return False
  with open(path) as f:
    return "table" in json.load(f)


def rescore(runs_dir: str, split: str) -> list[dict]:
  from structlm.evaluate import per_file_bpb
  from structlm.generate import load_run
  rows, _ = collect_lib.collect(runs_dir)
  for r in rows:
    workdir = os.path.join(runs_dir, r["run"])
    path = os.path.join(workdir, f"eval_{split}.json")
    if not _has_table(path):
      res = per_file_bpb(load_run(workdir), split)
      table = [dict(path=t["path"], bytes=t["bytes"], bits=t["bits"]) for t in res["table"]]
      with open(path, "w") as f:
        json.dump(dict(bpb=res["bpb"], files=res["files"], bytes=res["bytes"], table=table), f)
    with open(path) as f:
      r["bpb"] = json.load(f)["bpb"]
    r["compressors"] = {}
    print(f"{r['run']}: {r['bpb']:.3f} bits/byte on {split}", flush=True)
  return rows


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("runs_dir")
  ap.add_argument("--split", default="test", choices=("train", "validation", "test"))
  ap.add_argument("--out", required=True)
  ap.add_argument("--bootstrap", type=int, default=1000)
  ap.add_argument("--fit-bootstrap", type=int, default=200)
  args = ap.parse_args()
  rows = rescore(args.runs_dir, args.split)
  fits = analyze(args.runs_dir, args.out, n_bootstrap=args.bootstrap, fit_bootstrap=args.fit_bootstrap, rows=rows,
                 references={})
  print(fits["headline"])


if __name__ == "__main__":
  main()
