"""Runs drawn from known laws, for testing the analysis (and trying it without a sweep)."""
from __future__ import annotations

import json
import os

import numpy as np

from analysis.fit import Law

TRUE = {"token": Law(A=60.0, B=900.0, E=0.55, alpha=0.32, beta=0.30),
        "structured": Law(A=45.0, B=700.0, E=0.52, alpha=0.32, beta=0.30)}
FLOPS_PER_PARAM_BYTE = {"token": 6 * 0.27, "structured": 6 * 0.28}


def runs(laws=None, noise: float = 0.01, seed: int = 0, sizes=None, ratios=(2, 5, 10, 20, 50, 100)) -> list[dict]:
  laws = laws or TRUE
  rng = np.random.default_rng(seed)
  sizes = sizes if sizes is not None else np.logspace(5.5, 8.5, 7)
  rows = []
  for v, law in laws.items():
    c = FLOPS_PER_PARAM_BYTE[v]
    for N in sizes:
      for r in ratios:
        D = float(N * r)
        L = float(law.loss(N, D) * np.exp(rng.normal(0, noise)))
        rows.append(dict(variant=v, preset=f"n{N:.0e}", N=float(N), N_nonembedding=float(N) * 0.8,
                         tokens=D * c / 6, D=D, C=c * N * D, unique_bytes=D, epochs=1.0, bpb=L,
                         run=f"{v}/n{N:.0e}_d{D:.0e}"))
  return rows


def grid_runs(laws=None, sizes=(1e6, 3e6, 1e7, 3e7), data_budgets=(1e8, 1e9), noise: float = 0.01,
              seed: int = 0) -> list[dict]:
  """A grid sweep: every size x every data budget (bytes), for each variant."""
  laws = laws or TRUE
  rng = np.random.default_rng(seed)
  rows = []
  for v, law in laws.items():
    c = FLOPS_PER_PARAM_BYTE[v]
    for N in sizes:
      for D in data_budgets:
        L = float(law.loss(N, D) * np.exp(rng.normal(0, noise)))
        rows.append(dict(variant=v, preset=f"n{N:.0e}", N=float(N), N_nonembedding=float(N) * 0.8,
                         tokens=D * c / 6, D=float(D), C=c * N * D, unique_bytes=float(D), epochs=1.0, bpb=L,
                         run=f"{v}/n{N:.0e}_D{D:.0e}"))
  return rows


def write(rows: list[dict], runs_dir: str) -> None:
  """As `python -m structlm train` leaves them: one directory per run with result.json."""
  for r in rows:
    d = os.path.join(runs_dir, r["run"])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "result.json"), "w") as f:
      json.dump(dict(variant=r["variant"], preset=r["preset"], params=r["N"], params_nonembedding=r["N_nonembedding"],
                     tokens=r["tokens"], bytes=r["D"], flops=r["C"], eval_bpb=r["bpb"], unique_bytes=r["unique_bytes"],
                     seconds=1.0, grammar_hash="synthetic", vocab_hash="synthetic", config={}), f)


def isoflop_runs(laws=None, budgets=(1e15, 1e16, 1e17, 1e18), sizes_per_budget: int = 7, noise: float = 0.005,
                 seed: int = 0, spread: float = 1.0, jitter: float = 0.0) -> list[dict]:
  """Runs at fixed compute budgets (an isoFLOP sweep): at each budget the same `sizes_per_budget` model sizes
  for every variant, log-spaced within `spread` decades of the token law's compute-optimal size (found
  numerically); each variant's C = c N D sets its D. `jitter`: each run's compute lands within about this
  fraction of its budget (whole steps), as real runs do."""
  from scipy import optimize
  laws = laws or TRUE
  rng = np.random.default_rng(seed)
  tok, c_tok = laws["token"], FLOPS_PER_PARAM_BYTE["token"]

  def n_opt(C):
    r = optimize.minimize_scalar(lambda x: tok.loss(np.exp(x), C / (c_tok * np.exp(x))),
                                 bounds=(np.log(1e2), np.log(C / c_tok) - np.log(1e2)), method="bounded")
    return float(np.exp(r.x))
  rows = []
  for C in budgets:
    sizes = n_opt(C) * np.logspace(-spread, spread, sizes_per_budget)
    for v, law in laws.items():
      c = FLOPS_PER_PARAM_BYTE[v]
      for N in sizes:
        c_run = C * float(np.exp(rng.uniform(-jitter, jitter)))
        D = c_run / (c * N)
        L = float(law.loss(N, D) * np.exp(rng.normal(0, noise)))
        rows.append(dict(variant=v, preset=f"n{N:.0e}", N=float(N), N_nonembedding=float(N) * 0.8, tokens=D * c / 6,
                         D=float(D), C=c_run, unique_bytes=float(D), epochs=1.0, bpb=L,
                         run=f"{v}/c{C:.0e}_n{N:.2e}"))
  return rows
