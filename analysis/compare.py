"""Compare variants from their fits: compute-optimal frontiers under each variant's own cost model, the parametric
compute multiplier, an F-test of shared exponents, isoFLOP parabolas (Approach 2), the L(C) frontier, and
Muennighoff et al.'s effective data. (The multiplier from the runs alone is analysis/frontier.py.)"""
from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

from analysis.fit import DELTA, Law



class CostModel:
  """A variant's training FLOPs per source byte as a function of N, from its runs: C = f(N) * D exactly for every
  run (f = FLOPs per token / tokens per byte), so f is read off the runs (median per size) and interpolated
  linearly in log-log, with the end slopes beyond. No constant c shared by all sizes or variants."""

  def __init__(self, N, D, C):
    N, D, C = (np.asarray(x, float) for x in (N, D, C))
    sizes = np.unique(np.round(np.log(N), 9))
    self.logN = sizes
    self.logf = np.array([np.median(np.log(C / D)[np.abs(np.log(N) - s) < 1e-8]) for s in sizes])
    if len(sizes) == 1:  # one size: assume f proportional to N
      self.logN, self.logf = np.append(sizes, sizes + 1), np.append(self.logf, self.logf + 1)

  def log_flops_per_byte(self, logN):
    x, y = self.logN, self.logf
    lo = y[0] + (logN - x[0]) * (y[1] - y[0]) / (x[1] - x[0])
    hi = y[-1] + (logN - x[-1]) * (y[-1] - y[-2]) / (x[-1] - x[-2])
    return np.where(logN < x[0], lo, np.where(logN > x[-1], hi, np.interp(logN, x, y)))


def frontier_curve(law: Law, cost: CostModel, C, span: float = 4.0, points: int = 400):
  """(L*, N*) at each compute C: min over N of L(N, C / f(N)), on a log-N grid from `span` e-folds below the
  measured sizes to `span` above them or to where one byte of data takes all of the largest C (whichever is
  larger), so the optimum is never cut off; numerical, so any f(N) works."""
  C = np.atleast_1d(np.asarray(C, float))
  top = max(cost.logN[-1] + span, _log_n_for_flops_per_byte(cost, float(np.log(C.max()))))
  logN = np.linspace(cost.logN[0] - span, top, points)
  logD = np.log(C)[:, None] - cost.log_flops_per_byte(logN)[None, :]
  L = law.E + law.A * np.exp(-law.alpha * logN)[None, :] + law.B * np.exp(-law.beta * logD)
  j = np.argmin(L, axis=1)
  return L[np.arange(len(C)), j], np.exp(logN[j])


def _log_n_for_flops_per_byte(cost: CostModel, log_f: float) -> float:
  """The log N whose FLOPs per byte is exp(log_f) (the cost model is increasing in N)."""
  lo, hi = cost.logN[0] - 50, cost.logN[-1] + 100
  for _ in range(80):
    mid = (lo + hi) / 2
    lo, hi = (mid, hi) if cost.log_flops_per_byte(mid) < log_f else (lo, mid)
  return lo


def parametric_multiplier(law_s: Law, law_t: Law, cost_s: CostModel, cost_t: CostModel, C) -> np.ndarray:
  """m(C) = C_token(L*_structured(C)) / C from the fitted laws (inf when the token model's asymptote E is above
  the structured frontier's loss there). C_token is found on a fine table of the token frontier."""
  C = np.atleast_1d(np.asarray(C, float))
  target, _ = frontier_curve(law_s, cost_s, C)
  grid = np.logspace(np.log10(C.min()) - 8, np.log10(C.max()) + 12, 800)
  lt, _ = frontier_curve(law_t, cost_t, grid, points=1500)
  lt = np.minimum.accumulate(lt)  # the frontier falls with compute
  ct = np.exp(np.interp(-target, -lt, np.log(grid), left=np.nan, right=np.nan))
  out = ct / C
  out[target <= law_t.E] = np.inf
  out[(target > law_t.E) & (target < lt[-1])] = np.nan  # beyond the table: not resolved
  return out


def compute_to_reach(law: Law, cost: CostModel, loss: float) -> float:
  """The compute at which a law's frontier reaches `loss` (inf if its asymptote is above it)."""
  if loss <= law.E:
    return math.inf
  grid = np.logspace(6, 40, 1200)
  l, _ = frontier_curve(law, cost, grid, points=3000)
  l = np.minimum.accumulate(l)
  if loss < l[-1]:
    return math.inf
  return float(np.exp(np.interp(-loss, -l, np.log(grid))))


def _huber(r):
  a = np.abs(r)
  return np.where(a <= DELTA, 0.5 * r * r, DELTA * (a - 0.5 * DELTA)).sum()


def _lse_resid(theta, logN, logD, logL):
  a, b, e, al, be = theta
  t = np.stack([a - al * logN, b - be * logD, np.full_like(logN, e)])
  m = t.max(0)
  return m + np.log(np.exp(t - m).sum(0)) - logL


def shared_exponents_test(groups: dict[str, tuple], laws: dict[str, Law]) -> dict:
  """F-test of shared (alpha, beta) against separate ones, E (and A, B) free per variant, on least-squares fits
  of log L: F = ((RSS_shared - RSS_separate) / q) / (RSS_separate / (n - p)), q = 2 (variants - 1), p = 5 per
  variant. Small p: the exponents differ."""
  names = sorted(groups)
  logs = {k: tuple(np.log(np.asarray(x, float)) for x in groups[k]) for k in names}
  n = sum(len(logs[k][0]) for k in names)

  def fit_separate(k):  # least squares from the variant's (Huber) fit
    return optimize.least_squares(lambda t: _lse_resid(t, *logs[k]), laws[k].theta, method="lm", xtol=1e-14,
                                  ftol=1e-14, max_nfev=20000)

  sep = {k: fit_separate(k) for k in names}
  rss_sep = sum(2 * sep[k].cost for k in names)

  def shared_resid(theta):
    al, be = theta[:2]
    return np.concatenate([_lse_resid((theta[2 + 3 * i], theta[3 + 3 * i], theta[4 + 3 * i], al, be), *logs[k])
                           for i, k in enumerate(names)])
  best = None
  for src in names + ["mean"]:  # start from each variant's exponents and from their mean
    ex = (np.mean([sep[k].x[3:] for k in names], 0) if src == "mean" else sep[src].x[3:])
    x0 = np.concatenate([ex] + [sep[k].x[:3] for k in names])
    r = optimize.least_squares(shared_resid, x0, method="lm", xtol=1e-14, ftol=1e-14, max_nfev=20000)
    best = r if best is None or r.cost < best.cost else best
  rss_shared = max(2 * best.cost, rss_sep)
  q, dof = 2 * (len(names) - 1), n - 5 * len(names)
  if dof <= 0:
    return dict(F=math.nan, df=(q, dof), p_value=math.nan, rss_separate=rss_sep, rss_shared=rss_shared,
                shared=dict(alpha=float(best.x[0]), beta=float(best.x[1])),
                note="too few runs for the test (needs more runs than 5 per variant)")
  F = ((rss_shared - rss_sep) / q) / max(rss_sep / dof, 1e-300)
  return dict(F=float(F), df=(q, dof), p_value=float(stats.f.sf(F, q, dof)), rss_separate=rss_sep,
              rss_shared=rss_shared, shared=dict(alpha=float(best.x[0]), beta=float(best.x[1])),
              separate={k: dict(alpha=float(sep[k].x[3]), beta=float(sep[k].x[4])) for k in names})


SEED_NOISE = 0.01  # bits/byte: the run-to-run spread assumed when the runs hold too few seed repeats
UNSTABLE = 0.10  # share of bootstrap draws that may lose an interior optimum before the interval is withheld
MIN_REPEATS = 15  # sizes repeated with another seed before their spread is used (an SD from fewer is too loose)


def seed_noise(rows: list[dict]) -> dict:
  """The run-to-run spread from seed repeats: runs of one variant, size and budget with equal setups (where the
  rows carry one) and different seeds; the pooled standard deviation of one run's loss (bits/byte). With at
  least MIN_REPEATS repeated sizes the margin used is the larger of it and SEED_NOISE, else SEED_NOISE
  (`measured` says which)."""
  from analysis.frontier import budget_groups
  groups: dict = {}
  if rows:
    g = budget_groups([r["C"] for r in rows])
    for r, k in zip(rows, g):
      key = (r["variant"], round(math.log(r["N"]), 6), int(k), r.get("setup"))
      groups.setdefault(key, {}).setdefault(r.get("seed", 0), r["bpb"])  # one run per seed (a rerun is no repeat)
  ss, dof, sizes = 0.0, 0, 0
  for by_seed in groups.values():
    losses = list(by_seed.values())
    if len(losses) > 1:
      ss += float(np.sum((np.asarray(losses) - np.mean(losses)) ** 2))
      dof += len(losses) - 1
      sizes += 1
  sd = math.sqrt(ss / dof) if dof else None
  measured = sizes >= MIN_REPEATS
  return dict(sd=sd, repeated_sizes=sizes, measured=measured, used=max(sd, SEED_NOISE) if measured else SEED_NOISE)


def _vertex(x, L):
  """(log N of the parabola's vertex, its loss, coefficients) or None when the parabola is not convex."""
  c2, c1, c0 = np.polyfit(x, L, 2)
  if c2 <= 0:
    return None
  xv = -c1 / (2 * c2)
  return float(xv), float(np.polyval([c2, c1, c0], xv)), [float(c2), float(c1), float(c0)]


def _budget(N, D, L, C, noise: float) -> dict:
  """One isoFLOP budget's runs -> its optimum and status: interior (a smaller and a larger size than the best run
  are measured, each worse than it by more than `noise`, and the parabola's vertex lies between the sizes),
  edge-small / edge-large (the best run is the smallest / largest size, or the vertex lies beyond the sizes), flat
  (no size on one side is clearly worse), concave, or too-few-sizes. Seed repeats of a size enter at their
  mean."""
  from analysis.frontier import per_size_mean
  runs = int(len(N))
  N, D, L, C = per_size_mean(N, D, L, C)  # seed repeats of a size: one point at their mean
  out = dict(C=float(np.exp(np.mean(np.log(C)))), runs_N=N.tolist(), runs_L=L.tolist(), points=runs)
  if len(np.unique(N)) < 3:
    return dict(out, status="too-few-sizes")
  i = int(np.argmin(L))
  x = np.log(N)
  v = _vertex(x, L)
  if v is not None:
    out.update(parabola=v[2], N_vertex=float(math.exp(v[0])), L_vertex=v[1])
  if i == 0:
    return dict(out, status="edge-small")
  if i == len(N) - 1:
    return dict(out, status="edge-large")
  if v is None:
    return dict(out, status="concave")
  if min(L[:i].max(), L[i + 1:].max()) - L[i] <= noise:  # some smaller and some larger size clearly worse
    return dict(out, status="flat")
  if not x[0] < v[0] < x[-1]:
    return dict(out, status="edge-small" if v[0] <= x[0] else "edge-large")
  n_opt = math.exp(v[0])
  return dict(out, status="interior", N_opt=n_opt, L_opt=v[1], D_opt=float(np.median(D * N)) / n_opt)


def _residual_noise(budgets: list[dict], floor: float) -> float:
  """The loss noise the bootstrap draws: the pooled residual of the interior budgets' parabolas (what a parabola
  does not explain, seed noise included), at least `floor` (the seed noise)."""
  ss, dof = 0.0, 0
  for b in budgets:
    x, L = np.log(b["runs_N"]), np.asarray(b["runs_L"])
    ss += float(np.sum((L - np.polyval(b["parabola"], x)) ** 2))
    dof += len(L) - 3
  return max(floor, math.sqrt(ss / dof) if dof > 0 else 0.0)


def isoflop(N, D, L, C, noise: float = SEED_NOISE, n_boot: int = 500, seed: int = 0, need: int = 3) -> dict | None:
  """Approach 2: per compute budget a parabola of L in log N; every budget gets a status (`_budget`), and only
  interior ones give optima. N_opt = k C^a and D_opt = k' C^b through the interior optima, with 95% intervals
  from redrawing each interior budget's losses with the parabolas' residual noise (at least the seed noise
  `noise`) and finding every vertex again (kept inside the sizes). Identified: at least `need` interior budgets.
  None when no budget has three sizes."""
  from analysis.frontier import budget_groups
  N, D, L, C = (np.asarray(x, float) for x in (N, D, L, C))
  groups = budget_groups(C)
  every = [_budget(N[groups == g], D[groups == g], L[groups == g], C[groups == g], noise) for g in np.unique(groups)]
  every = [b for b in every if b["status"] != "too-few-sizes"] or None
  if every is None:
    return None
  inner = [b for b in every if b["status"] == "interior"]
  others = [f"{b['C']:.3g} {b['status']}" for b in every if b["status"] != "interior"]
  todo = ("add sizes beyond the edge (edge) or around the best run (flat)" if others else
          "add compute budgets")
  out = dict(all_budgets=every, budgets=inner, identified=len(inner) >= need,
             reason=None if len(inner) >= need else (
                 f"{len(inner)} of {len(every)} budgets have an interior optimum (need {need})"
                 + (": " + ", ".join(others) if others else "") + f"; {todo}"))
  if len(inner) < 2:
    return out
  lc = np.log([b["C"] for b in inner])
  a_n, k_n = np.polyfit(lc, np.log([b["N_opt"] for b in inner]), 1)
  a_d, k_d = np.polyfit(lc, np.log([b["D_opt"] for b in inner]), 1)
  sigma = _residual_noise(inner, noise)
  rng = np.random.default_rng(seed)
  draws = []
  unstable = 0  # draws in which some budget's optimum left the sizes or its parabola turned concave
  for _ in range(n_boot):
    xs, lost = [], False
    for b in inner:
      x, l = np.log(b["runs_N"]), np.asarray(b["runs_L"])
      drawn = l + rng.normal(0, sigma, len(l))
      v = _vertex(x, drawn)  # not convex: the drawn best size stands for the optimum
      lost |= v is None or not x.min() < v[0] < x.max()
      xs.append(float(np.clip(v[0], x.min(), x.max())) if v is not None else float(x[np.argmin(drawn)]))
    unstable += lost
    draws.append(np.polyfit(lc, xs, 1)[0])
  out["unstable_share"] = unstable / n_boot
  # an interval from draws that often lose the interior optimum is not one: withheld above UNSTABLE
  ci = [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))] if unstable <= UNSTABLE * n_boot else None
  out["N_opt_exponent_draws"] = [float(d) for d in draws]
  return dict(out, loss_noise=sigma, N_opt_exponent=float(a_n), N_opt_coef=float(math.exp(k_n)), N_opt_exponent_ci=ci,
              D_opt_exponent=float(a_d), D_opt_coef=float(math.exp(k_d)), D_opt_exponent_ci=(
                  [1 - ci[1], 1 - ci[0]] if ci else None))  # C = c N D: b = 1 - a


def isoflop_exponent_test(subject: dict | None, baseline: dict | None) -> dict | None:
  """Do the compute-optimal size exponents differ? a_subject - a_baseline with the 95% interval of the
  difference of independent bootstrap draws; only when both isoFLOP fits are identified."""
  if not (subject and baseline and subject.get("identified") and baseline.get("identified")
          and subject.get("N_opt_exponent_draws") and baseline.get("N_opt_exponent_draws")):
    return None
  a, b = np.asarray(subject["N_opt_exponent_draws"]), np.asarray(baseline["N_opt_exponent_draws"])
  k = min(len(a), len(b))
  diff = a[:k] - b[:k]
  lo, hi = (float(x) for x in np.percentile(diff, (2.5, 97.5)))
  return dict(difference=subject["N_opt_exponent"] - baseline["N_opt_exponent"], interval=[lo, hi],
              differ=bool(lo > 0 or hi < 0))


def compute_frontier_fit(C, L, bins: int = 12) -> dict | None:
  """Third view: L(C) = E + K / C^gamma through the lower envelope of all runs (best loss per compute bin)."""
  C, L = np.asarray(C, float), np.asarray(L, float)
  edges = np.linspace(np.log(C.min()), np.log(C.max()) + 1e-9, bins + 1)
  which = np.digitize(np.log(C), edges) - 1
  pts = [(C[which == i][np.argmin(L[which == i])], L[which == i].min()) for i in range(bins) if (which == i).any()]
  if len(pts) < 4:
    return None
  c, l = map(np.array, zip(*pts))

  def model(logc, e, logk, g):
    return e + np.exp(logk - g * logc)
  try:
    p, _ = optimize.curve_fit(model, np.log(c), l, p0=[l.min() * 0.8, math.log(max(l.max() - l.min(), 1e-3)) + 3, 0.1],
                              maxfev=20000)
  except RuntimeError:
    return None
  return dict(E=float(p[0]), K=float(math.exp(p[1])), gamma=float(p[2]), points=len(pts))


def effective_data(U, R, r_star):
  """Muennighoff et al. (2023): D' = U + U R* (1 - exp(-R / R*)), R = epochs - 1 repetitions."""
  return U + U * r_star * (1 - np.exp(-np.asarray(R, float) / r_star))


def fit_repetition(law: Law, N, U, epochs, L) -> dict | None:
  """R*_D for a variant: how many repetitions of its data are still worth having (larger: more value from
  repeated data). Fitted with the law's other parameters fixed, on runs that repeat data."""
  N, U, epochs, L = (np.asarray(x, float) for x in (N, U, epochs, L))
  m = epochs > 1.0001
  if m.sum() < 3:
    return None

  def obj(log_r):
    d = effective_data(U[m], epochs[m] - 1, math.exp(log_r))
    return _huber(np.log(law.loss(N[m], d)) - np.log(L[m]))
  res = optimize.minimize_scalar(obj, bounds=(math.log(0.1), math.log(1e4)), method="bounded")
  return dict(R_star=float(math.exp(res.x)), runs=int(m.sum()))


__all__ = ["CostModel", "frontier_curve", "parametric_multiplier", "compute_to_reach", "shared_exponents_test", "isoflop", "compute_frontier_fit",
           "effective_data", "fit_repetition", "seed_noise", "isoflop_exponent_test"]
