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


def stored_score(runs_dir: str, run: str, split: str) -> tuple[str, dict | None]:
  """(path, what `rescore` stored for a run on a split: bpb, files, bytes and each file's bits; None if nothing or
  an older score without the per-file table, which analysis/file_bootstrap.py needs)."""
  path = os.path.join(runs_dir, run, f"eval_{split}.json")
  if not os.path.exists(path):
    return path, None
  with open(path) as f:
    score = json.load(f)
  return path, score if "table" in score else None


def rescore(runs_dir: str, split: str) -> list[dict]:
  from structlm.evaluate import per_file_bpb
  from structlm.generate import load_run
  rows, _ = collect_lib.collect(runs_dir)
  for r in rows:
    path, score = stored_score(runs_dir, r["run"], split)
    if score is None:
      res = per_file_bpb(load_run(os.path.join(runs_dir, r["run"])), split)
      table = [dict(path=t["path"], bytes=t["bytes"], bits=t["bits"]) for t in res["table"]]
      score = dict(bpb=res["bpb"], files=res["files"], bytes=res["bytes"], table=table)
      with open(path, "w") as f:
        json.dump(score, f)
    r["bpb"] = score["bpb"]
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
