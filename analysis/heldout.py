"""Re-score a sweep's runs on another split, or on files from elsewhere, and redo the analysis on those losses: a
check that the conclusion does not depend on the files the runs were scored on.

python -m analysis.heldout runs/study --split test --out runs/study-test [--bootstrap 1000]
python -m analysis.heldout runs/study --corpus data/foreign --frontier --out runs/study-foreign   (transfer rows:
  each variant's best run of every budget scored on code from other projects, `make foreign`)

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


def frontier_runs(rows: list[dict]) -> list[dict]:
  """Each variant's best run (its own score) at every compute budget."""
  from analysis.frontier import budget_groups
  import numpy as np
  out = []
  for v in sorted({r["variant"] for r in rows}):
    rs = [r for r in rows if r["variant"] == v]
    groups = budget_groups(np.array([r["C"] for r in rs]))
    for g in np.unique(groups):
      members = [r for r, k in zip(rs, groups) if k == g]
      out.append(min(members, key=lambda r: r["bpb"]))
  return out


def corpus_key(corpus: str) -> str:
  return "corpus_" + ("".join(ch if ch.isalnum() else "_" for ch in corpus).strip("_")[-60:] or "corpus")


def rescore(runs_dir: str, split: str, corpus: str | None = None, frontier: bool = False) -> list[dict]:
  """Every run (or each variant's best per budget) scored on `split`, or on `corpus` with each run's own
  vocabularies; the scores are kept in RUN/eval_<split or corpus key>.json and reused."""
  from structlm.evaluate import encode_corpus, per_file_bpb
  from structlm.generate import load_run
  rows, _ = collect_lib.collect(runs_dir, allow_dirty=True)
  if frontier:
    rows = frontier_runs(rows)
  key = corpus_key(corpus) if corpus else split
  for r in rows:
    path, score = stored_score(runs_dir, r["run"], key)
    if score is None:
      run = load_run(os.path.join(runs_dir, r["run"]))
      if corpus:
        records, skipped = encode_corpus(run, corpus)
        res = dict(per_file_bpb(run, records=records), skipped=skipped)
      else:
        res = per_file_bpb(run, split)
      table = [dict(path=t["path"], bytes=t["bytes"], bits=t["bits"]) for t in res["table"]]
      score = dict(bpb=res["bpb"], files=res["files"], bytes=res["bytes"], table=table,
                   skipped=res.get("skipped"), names=res.get("names"))
      with open(path, "w") as f:
        json.dump(score, f)
    r["bpb"] = score["bpb"]
    r["compressors"] = {}
    print(f"{r['run']}: {r['bpb']:.3f} bits/byte on {corpus or split}", flush=True)
  return rows


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("runs_dir")
  ap.add_argument("--split", default="test", choices=("train", "validation", "test"))
  ap.add_argument("--corpus", help="score files from elsewhere (a directory, glob, .jsonl/.parquet) instead")
  ap.add_argument("--frontier", action="store_true", help="only each variant's best run at every budget")
  ap.add_argument("--out", required=True)
  ap.add_argument("--bootstrap", type=int, default=1000)
  ap.add_argument("--fit-bootstrap", type=int, default=200)
  args = ap.parse_args()
  rows = rescore(args.runs_dir, args.split, args.corpus, args.frontier)
  fits = analyze(args.runs_dir, args.out, n_bootstrap=args.bootstrap, fit_bootstrap=args.fit_bootstrap, rows=rows,
                 references={})
  print(fits["headline"])


if __name__ == "__main__":
  main()
