"""The compute multiplier from the measured runs alone (no scaling-law fit).

Each variant's loss-vs-compute frontier is the lower envelope of its runs in (log C, log L): the runs that no
cheaper run beats. Runs that share a compute budget with at least three model sizes (an isoFLOP budget) are first
summarised by the minimum of a parabola in log N through them (Chinchilla's Approach 2, the vertex kept inside the
sizes measured), so a budget's frontier point does not depend on one lucky run. Between frontier points the
envelope is linear in log-log; it is not defined outside the variant's measured compute.

m(C) = C_token(L_structured(C)) / C at a budget C inside the structured runs' range: the token compute that
reaches the structured frontier's loss there. When that loss lies outside the token runs' loss range the
multiplier is only bounded (the token model never got there in the runs, or already did better with its cheapest
run), and reported as such. Intervals: a bootstrap over runs, resampled within each compute budget.
"""
from __future__ import annotations

import math

import numpy as np

BUDGET_TOL = 0.02  # runs whose log10 C agree to this share a compute budget


def budget_groups(C) -> np.ndarray:
  """An integer group per run: runs within BUDGET_TOL decades of the group's first run share a budget."""
  logc = np.log10(np.asarray(C, float))
  order = np.argsort(logc)
  groups = np.empty(len(logc), int)
  g, start = -1, -math.inf
  for i in order:
    if logc[i] - start > BUDGET_TOL:
      g, start = g + 1, logc[i]
    groups[i] = g
  return groups


def per_size_mean(N, *values) -> list[np.ndarray]:
  """Runs of one budget -> [sizes, the mean of each of `values` over the runs of each size] (seed repeats of a
  size count once, at their mean loss)."""
  N = np.asarray(N, float)
  sizes, index = np.unique(N, return_inverse=True)
  return [sizes] + [np.bincount(index, np.asarray(v, float)) / np.bincount(index) for v in values]


def _budget_point(N, L) -> float:
  """The frontier loss of one isoFLOP budget: the parabola's minimum over log N, inside the measured sizes (seed
  repeats of a size at their mean)."""
  N, L = per_size_mean(N, L)
  x, y = np.log(N), np.log(L)
  if len(np.unique(np.round(x, 6))) < 3:
    return float(L.min())
  c2, c1, c0 = np.polyfit(x, y, 2)
  if c2 <= 0:
    return float(L.min())
  xv = float(np.clip(-c1 / (2 * c2), x.min(), x.max()))
  return float(math.exp(np.polyval([c2, c1, c0], xv)))


def isoflop_budgets(N, C) -> dict[int, float]:
  """{group: its compute} for the compute budgets that hold at least three model sizes (isoFLOP budgets); a
  budget's compute is the geometric mean of its runs' (runs aim at a budget and land within a few percent)."""
  N, C = np.asarray(N, float), np.asarray(C, float)
  groups = budget_groups(C)
  return {int(g): float(np.exp(np.mean(np.log(C[groups == g])))) for g in np.unique(groups)
          if len(np.unique(np.round(np.log(N[groups == g]), 6))) >= 3}


def edge_optima(N, C, L) -> dict[str, list[float]]:
  """The isoFLOP budgets whose best size is the smallest or the largest size measured there: the optimum may lie
  beyond the sizes, so the frontier at that budget is only an upper bound on the compute-optimal loss."""
  N, C, L = (np.asarray(x, float) for x in (N, C, L))
  groups, out = budget_groups(C), {"smallest": [], "largest": []}
  for g, c in isoflop_budgets(N, C).items():
    m = groups == g
    sizes, mean = per_size_mean(N[m], L[m])  # (seed repeats at their mean, as the isoFLOP status reads them)
    best = sizes[np.argmin(mean)]
    if best == N[m].min():
      out["smallest"].append(c)
    elif best == N[m].max():
      out["largest"].append(c)
  return out


def envelope(N, C, L, groups=None, budgets=None) -> tuple[np.ndarray, np.ndarray]:
  """(log C, log L) of the frontier points, C increasing and L strictly decreasing. `groups` / `budgets`
  (isoflop_budgets of the full data) fix each isoFLOP budget's compute, so resamples keep the same budgets."""
  N, C, L = (np.asarray(x, float) for x in (N, C, L))
  if groups is None:
    groups, budgets = budget_groups(C), isoflop_budgets(N, C)
  pts = []
  for g in np.unique(groups):
    m = groups == g
    if g in budgets:
      pts.append((budgets[g], _budget_point(N[m], L[m])))
    else:
      pts += list(zip(C[m].tolist(), L[m].tolist()))
  pts.sort()
  keep, best = [], math.inf
  for c, l in pts:
    if l < best:
      keep.append((c, l))
      best = l
  lc, ll = np.log(np.array(keep)).T
  return lc, ll


def loss_at(env, C) -> np.ndarray:
  """The frontier's loss at compute C (NaN outside the measured compute)."""
  lc, ll = env
  x = np.log(np.atleast_1d(np.asarray(C, float)))
  out = np.exp(np.interp(x, lc, ll))
  out[(x < lc[0] - 1e-9) | (x > lc[-1] + 1e-9)] = np.nan
  return out


def compute_for(env, L) -> np.ndarray:
  """The compute at which the frontier reaches loss L; -inf below the cheapest run's loss... see `multiplier`."""
  lc, ll = env
  y = np.log(np.atleast_1d(np.asarray(L, float)))
  out = np.exp(np.interp(-y, -ll, lc))  # ll decreases along the envelope
  out[y < ll[-1] - 1e-12] = np.inf  # never reached within the runs
  out[y > ll[0] + 1e-12] = 0.0  # reached already by the cheapest frontier point
  return out


def multiplier(env_s, env_t, C) -> dict:
  """m(C) at budgets C of the structured frontier; with the bound when the token runs do not bracket it:
  `kind` is "value", "above" (m > bound: the token runs never reached that loss) or "below" (m < bound)."""
  C = np.atleast_1d(np.asarray(C, float))
  target = loss_at(env_s, C)
  ct = compute_for(env_t, target)
  m = ct / C
  kind = np.where(np.isinf(ct), "above", np.where(ct == 0.0, "below", "value"))
  bound = np.where(kind == "above", math.exp(env_t[0][-1]) / C,
                   np.where(kind == "below", math.exp(env_t[0][0]) / C, m))
  m = np.where(np.isnan(target), np.nan, m)
  return dict(C=C, m=m, kind=kind, bound=bound)


def bootstrap(N_s, C_s, L_s, N_t, C_t, L_t, budgets, n: int = 1000, seed: int = 0) -> np.ndarray:
  """[n, budgets] samples of log m(C) from runs resampled with replacement: within each isoFLOP budget (whose
  compute stays fixed), and all other runs pooled as one stratum (a grid's runs each have their own compute). A
  sample whose target lies beyond the token runs is +inf / -inf (it counts in percentiles); one whose resampled
  structured frontier does not reach the budget is NaN (counted by `interval`)."""
  rng = np.random.default_rng(seed)
  data, strata, fixed = [], [], []
  for N, C, L in ((N_s, C_s, L_s), (N_t, C_t, L_t)):
    N, C, L = (np.asarray(x, float) for x in (N, C, L))
    groups, iso = budget_groups(C), isoflop_budgets(N, C)
    pooled = np.flatnonzero(~np.isin(groups, list(iso)))
    data.append((N, C, L))
    strata.append([np.flatnonzero(groups == g) for g in iso] + ([pooled] if len(pooled) else []))
    fixed.append((groups, iso))
  out = np.empty((n, len(budgets)))
  for i in range(n):
    envs = []
    for (N, C, L), parts, (groups, iso) in zip(data, strata, fixed):
      idx = np.concatenate([rng.choice(g, len(g)) for g in parts])
      envs.append(envelope(N[idx], C[idx], L[idx], groups[idx], iso))
    r = multiplier(envs[0], envs[1], budgets)
    with np.errstate(divide="ignore"):
      lm = np.log(r["m"])
    lm = np.where(r["kind"] == "above", np.inf, np.where(r["kind"] == "below", -np.inf, lm))
    out[i] = lm
  return out


MAX_UNDEFINED = 0.05  # more resamples than this without a value at a budget: no interval there


def interval(samples_log, q=(2.5, 97.5)) -> list[tuple[float, float]]:
  """Percentile intervals of m per budget from log samples (±inf kept: bounds beyond the runs). A budget where
  more than MAX_UNDEFINED of the resamples are NaN (their frontier does not reach it) gets no interval (NaN)."""
  res = []
  for col in np.asarray(samples_log).T:
    if np.isnan(col).mean() > MAX_UNDEFINED or (~np.isnan(col)).sum() < 10:
      res.append((math.nan, math.nan))
      continue
    lo, hi = np.percentile(col[~np.isnan(col)], q, method="inverted_cdf")
    res.append((float(np.exp(lo)), float(np.exp(hi))))
  return res


def budgets_inside(C_s, per_decade: int = 4) -> np.ndarray:
  """Budgets (a log grid, both ends included) inside the structured runs' measured compute range."""
  lo, hi = np.log10(np.min(C_s)), np.log10(np.max(C_s))
  k = max(2, int(math.ceil((hi - lo) * per_decade)) + 1)
  return np.logspace(lo, hi, k)
