"""Bootstrap speed: 1000 refits of L(N, D) on 250 synthetic points, one core.

python benchmarks/fit.py --json   -> {"seconds": ..., "refits": 1000, "points": 250, ...}
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from analysis.fit import Law, bootstrap, fit  # noqa: E402


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--refits", type=int, default=1000)
  ap.add_argument("--points", type=int, default=250)
  ap.add_argument("--json", action="store_true")
  args = ap.parse_args()
  rng = np.random.default_rng(0)
  law = Law(A=400.0, B=2000.0, E=1.8, alpha=0.34, beta=0.36)
  N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), args.points))
  D = N * np.exp(rng.uniform(np.log(2), np.log(200), args.points))
  L = law.loss(N, D) * np.exp(rng.normal(0, 0.01, args.points))
  t0 = time.perf_counter()
  best = fit(N, D, L)
  fit_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  bs = bootstrap(N, D, L, best, n=args.refits, seed=0)
  seconds = time.perf_counter() - t0
  res = dict(seconds=round(seconds, 2), refits=args.refits, points=args.points, failed=bs["failed"],
             full_fit_seconds=round(fit_s, 2), alpha=best.alpha, beta=best.beta)
  print(json.dumps(res) if args.json else res)


if __name__ == "__main__":
  main()
