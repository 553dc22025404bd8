"""Multiplier intervals that also count which files are scored. The report's intervals resample the runs; the
files a run is scored on are a sample too, and every run is scored on the same files, so resampling them moves
all runs together. This resamples the files (the same draw for every run), the runs (as the report does), and
both, and gives the measured multiplier's 95% interval under each at the report's budgets.

python -m analysis.file_bootstrap runs/study --split test --out runs/study-test [--n 1000]

Needs each run's per-file scores, RUN/eval_<split>.json with a `table` (written by `python -m analysis.heldout`).
Writes OUT/file_bootstrap.json and OUT/file_bootstrap.md.
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np

from analysis import collect as collect_lib
from analysis import frontier as measured
from analysis.heldout import stored_score
from analysis.render import _interval, _x
from analysis.report import COMPARISONS


def per_file(runs_dir: str, split: str, frontier: bool = False, rows: list[dict] | None = None):
  """(rows, bits [runs, files], bytes [files], paths): every run (or each variant's best per budget) scored on the
  same files; `split` is a split or heldout.corpus_key(corpus); `rows`: the runs already collected."""
  from analysis.heldout import frontier_runs
  if rows is None:
    rows, _ = collect_lib.collect(runs_dir, allow_dirty=True)
  if frontier:
    rows = frontier_runs(rows)
  bits, paths = [], None
  for r in rows:
    path, score = stored_score(runs_dir, r["run"], split)
    if score is None:
      raise SystemExit(f"{path} is missing or holds no per-file table: run `python -m analysis.heldout {runs_dir} "
                       f"--split {split} --out DIR` first (it scores every run and keeps each file's bits)")
    table = score["table"]
    these = [t["path"] for t in table]
    if paths is None:
      paths, n_bytes = these, np.array([t["bytes"] for t in table], float)
    elif these != paths:
      raise SystemExit(f"{path} was scored on other files than the first run's: rescore both")
    bits.append([t["bits"] for t in table])
  return rows, np.array(bits), n_bytes, paths


def _log_m(env_a, env_b, budgets) -> np.ndarray:
  """log m at each budget: +inf where only m > bound is measured (m is inf there), -inf where m < bound (m is 0)."""
  with np.errstate(divide="ignore"):
    return np.log(measured.multiplier(env_a, env_b, budgets)["m"])


def intervals(rows, bits, n_bytes, n: int = 1000, seed: int = 0) -> list[dict]:
  """Per comparison: the point multiplier at its budgets and the intervals from runs, files and both."""
  rng = np.random.default_rng(seed)
  variant = np.array([r["variant"] for r in rows])
  N, C = (np.array([r[k] for r in rows], float) for k in ("N", "C"))
  L = bits.sum(1) / n_bytes.sum()
  draws = [rng.integers(0, len(n_bytes), len(n_bytes)) for _ in range(n)]
  out = []
  for a, b in COMPARISONS:
    if a not in variant or b not in variant:
      continue
    ia, ib = np.flatnonzero(variant == a), np.flatnonzero(variant == b)
    env_a, env_b = measured.envelope(N[ia], C[ia], L[ia]), measured.envelope(N[ib], C[ib], L[ib])
    budgets = measured.budgets_inside(np.exp(env_a[0]))  # as the report
    point = measured.multiplier(env_a, env_b, budgets)
    runs = measured.bootstrap(N[ia], C[ia], L[ia], N[ib], C[ib], L[ib], budgets, n=n, seed=seed + 7)  # (the report's)
    files, both = np.empty((n, len(budgets))), np.empty((n, len(budgets)))
    for i, idx in enumerate(draws):
      Li = bits[:, idx].sum(1) / n_bytes[idx].sum()
      files[i] = _log_m(measured.envelope(N[ia], C[ia], Li[ia]), measured.envelope(N[ib], C[ib], Li[ib]), budgets)
      both[i] = measured.bootstrap(N[ia], C[ia], Li[ia], N[ib], C[ib], Li[ib], budgets, n=1, seed=seed + 1 + i)[0]
    iv = {k: measured.interval(s) for k, s in (("runs", runs), ("files", files), ("both", both))}
    out.append(dict(subject=a, baseline=b, rows=[
        dict(C=float(c), loss=float(measured.loss_at(env_a, c)[0]), m=float(m), kind=str(k), bound=float(bd),
             **{f"{name}_interval": list(iv[name][j]) for name in iv})
        for j, (c, m, k, bd) in enumerate(zip(budgets, point["m"], point["kind"], point["bound"]))]))
  return out


def report_section(runs_dir: str, rows: list[dict], n: int = 1000) -> dict:
  """The report's intervals with files resampled, on the split most runs were scored on: {split, files, resamples,
  comparisons} from the frontier runs' per-file scores, or {split, missing: runs} where some have none."""
  from analysis.heldout import frontier_runs
  splits = [r.get("eval_split", "validation") for r in rows]
  split = max(sorted(set(splits)), key=splits.count)
  frontier = frontier_runs(rows)
  missing = [r["run"] for r in frontier if stored_score(runs_dir, r["run"], split)[1] is None]
  if missing:
    return dict(split=split, missing=sorted(missing))
  frontier_rows, bits, n_bytes, paths = per_file(runs_dir, split, rows=frontier)
  return dict(split=split, files=len(paths), resamples=n, comparisons=intervals(frontier_rows, bits, n_bytes, n=n))


def report_lines(section: dict) -> list[str]:
  """The report's section from report_section's result."""
  head = ["## Intervals with the files resampled", ""]
  if section.get("missing"):
    return head + [f"Not computed: {len(section['missing'])} of the frontier runs have no per-file scores on the "
                   f"{section['split']} split (`python -m analysis.heldout RUNS --split {section['split']} --frontier` "
                   "scores them and keeps each file's bits)."]
  lines = head + [f"Each variant's best run per budget scored file by file on the {section['split']} split "
                  f"({section['files']} files); the measured multiplier's 95% interval over {section['resamples']} "
                  "resamples of the files (the same draw for every run). m here comes from the best runs alone, so it "
                  "differs from the table above, which summarises each budget by a parabola; only the frontier runs "
                  "are scored file by file, so runs and files are not resampled together (`python -m "
                  "analysis.file_bootstrap` gives both where every run is scored)."]
  for c in section["comparisons"]:
    a, b = c["subject"], c["baseline"]
    lines += ["", f"### {a} over {b}", "", f"| C (FLOPs) | {a} loss | m ({b} / {a} compute) | files resampled |",
              "|---|---|---|---|"]
    lines += [f"| {r['C']:.3g} | {r['loss']:.3f} | {_multiplier(r)} | {_interval(*r['files_interval'])} |"
              for r in c["rows"]]
  return lines


def _multiplier(r: dict) -> str:
  return _x(r["m"]) if r["kind"] == "value" else ("> " if r["kind"] == "above" else "< ") + _x(r["bound"])


def markdown(res: list[dict], split: str, n: int, files: int) -> str:
  lines = [f"# Multiplier intervals with file sampling ({split} split, {files} files, {n} resamples)", "",
           "95% intervals of the measured multiplier: resampling the runs (as the report), the files (the same "
           "draw for every run), and both.", ""]
  for c in res:
    a, b = c["subject"], c["baseline"]
    lines += [f"## {a} over {b}", "", f"| C (FLOPs) | {a} loss | m ({b} / {a} compute) | runs | files | both |",
              "|---|---|---|---|---|---|"]
    for r in c["rows"]:
      lines.append(f"| {r['C']:.3g} | {r['loss']:.3f} | {_multiplier(r)} | " + " | ".join(
          _interval(*r[f"{k}_interval"]) for k in ("runs", "files", "both")) + " |")
    lines.append("")
  return "\n".join(lines)


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("runs_dir")
  ap.add_argument("--split", default="test")
  ap.add_argument("--corpus", help="the files `analysis.heldout --corpus` scored instead of a split")
  ap.add_argument("--frontier", action="store_true", help="only each variant's best run at every budget")
  ap.add_argument("--out", required=True)
  ap.add_argument("--n", type=int, default=1000)
  args = ap.parse_args()
  from analysis.heldout import corpus_key
  if args.corpus:
    args.split = corpus_key(args.corpus)
  rows, bits, n_bytes, paths = per_file(args.runs_dir, args.split, args.frontier)
  res = intervals(rows, bits, n_bytes, n=args.n)
  os.makedirs(args.out, exist_ok=True)
  with open(os.path.join(args.out, "file_bootstrap.json"), "w") as f:
    json.dump(dict(split=args.split, files=len(paths), resamples=args.n, comparisons=res), f, indent=1)
  text = markdown(res, args.split, args.n, len(paths))
  with open(os.path.join(args.out, "file_bootstrap.md"), "w") as f:
    f.write(text)
  print(text)


if __name__ == "__main__":
  main()
