"""Chinchilla Approach 3, as corrected by Besiroglu et al. (2024):

  L(N, D) = E + A / N^alpha + B / D^beta,   fitted as log L ~ LSE(a - alpha log N, b - beta log D, e)

with a summed Huber loss (delta = 1e-3) on log L, L-BFGS (scipy) from Hoffmann's initialisation grid, keeping
converged fits only; a seeded bootstrap over runs gives intervals for every parameter and derived quantity.
"""
from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
from scipy import optimize, special

DELTA = 1e-3
GRID = dict(alpha=np.arange(0, 2.01, 0.5), beta=np.arange(0, 2.01, 0.5), e=np.arange(-1, 1.01, 0.5),
            a=np.arange(0, 25.01, 5), b=np.arange(0, 25.01, 5))


class FitError(ValueError):
  """The data cannot support a fit; the message says what is missing."""


@dataclasses.dataclass
class Law:
  A: float
  B: float
  E: float
  alpha: float
  beta: float
  objective: float = float("nan")
  converged: bool = True

  def loss(self, N, D):
    return self.E + self.A / np.power(N, self.alpha) + self.B / np.power(D, self.beta)

  def as_dict(self) -> dict:
    return dataclasses.asdict(self)

  @property
  def theta(self) -> np.ndarray:
    return np.array([np.log(self.A), np.log(self.B), np.log(self.E), self.alpha, self.beta])


def _objective(theta, logN, logD, logL, delta=DELTA):
  a, b, e, alpha, beta = theta
  t = np.stack([a - alpha * logN, b - beta * logD, np.full_like(logN, e)])
  m = t.max(axis=0)
  ex = np.exp(t - m)
  s = ex.sum(axis=0)
  lse = m + np.log(s)
  r = lse - logL
  absr = np.abs(r)
  quad = absr <= delta
  hub = np.where(quad, 0.5 * r * r, delta * (absr - 0.5 * delta))
  dh = np.where(quad, r, delta * np.sign(r))  # d huber / d r
  w = ex / s  # softmax weights: d lse / d t
  grad = np.array([
      np.sum(dh * w[0]), np.sum(dh * w[1]), np.sum(dh * w[2]),
      np.sum(dh * w[0] * -logN), np.sum(dh * w[1] * -logD)])
  return hub.sum(), grad


def _grid_starts():
  return np.array([[a, b, e, al, be] for al, be, e, a, b in itertools.product(
      GRID["alpha"], GRID["beta"], GRID["e"], GRID["a"], GRID["b"])])


def _lbfgs(theta0, logN, logD, logL, precise=True):
  opts = dict(maxiter=1000, gtol=1e-12, ftol=1e-15) if precise else dict(maxiter=500, gtol=1e-10, ftol=1e-13)
  return optimize.minimize(_objective, theta0, args=(logN, logD, logL), jac=True, method="L-BFGS-B",
                           options=opts)


def check_runs(N, D, L, what: str = "runs") -> None:
  N, D, L = map(np.asarray, (N, D, L))
  if len(L) < 6:
    raise FitError(f"too few {what} to fit L(N, D) = E + A/N^alpha + B/D^beta: {len(L)} (need at least 6, "
                   "over several model sizes and data budgets)")
  if len(np.unique(np.round(np.log(N), 6))) < 2:
    raise FitError(f"all {what} have one model size (N = {N[0]:.3g}): the N exponent cannot be fitted; add sizes")
  if len(np.unique(np.round(np.log(D), 6))) < 2:
    raise FitError(f"all {what} have one data budget (D = {D[0]:.3g}): the D exponent cannot be fitted; add budgets")
  if not np.all(np.isfinite(L)) or np.any(L <= 0):
    raise FitError(f"{what} include non-finite or non-positive losses; exclude them before fitting")


def fit(N, D, L, *, starts: np.ndarray | None = None, top: int = 64, precise: bool = True) -> Law:
  """Best converged fit. By default L-BFGS runs from the `top` best points of Hoffmann's grid (the grid is
  evaluated in full, vectorised); pass `starts` to use other initial points (e.g. a previous optimum)."""
  N, D, L = (np.asarray(x, float) for x in (N, D, L))
  check_runs(N, D, L)
  logN, logD, logL = np.log(N), np.log(D), np.log(L)
  if starts is None:
    grid = _grid_starts()
    vals = _grid_values(grid, logN, logD, logL)
    starts = grid[np.argsort(vals)[:top]]
  best = None
  for th in np.atleast_2d(starts):
    res = _lbfgs(th, logN, logD, logL, precise)
    if not res.success and not (res.status == 2 and np.isfinite(res.fun)):  # status 2: precision limit
      continue
    if best is None or res.fun < best.fun:
      best = res
  if best is None:
    return Law(*[float("nan")] * 5, objective=float("nan"), converged=False)
  a, b, e, alpha, beta = best.x
  return Law(float(np.exp(a)), float(np.exp(b)), float(np.exp(e)), float(alpha), float(beta), float(best.fun))


def _grid_values(grid, logN, logD, logL):
  out = np.empty(len(grid))
  for i in range(0, len(grid), 512):
    g = grid[i:i + 512]
    t = np.stack([g[:, 0:1] - g[:, 3:4] * logN, g[:, 1:2] - g[:, 4:5] * logD,
                  np.broadcast_to(g[:, 2:3], (len(g), len(logN)))])
    r = special.logsumexp(t, axis=0) - logL
    absr = np.abs(r)
    out[i:i + 512] = np.where(absr <= DELTA, 0.5 * r * r, DELTA * (absr - 0.5 * DELTA)).sum(1)
  return out


def bootstrap(N, D, L, law: Law, n: int = 1000, seed: int = 0, derived=None, top: int = 2, pool: int = 64) -> dict:
  """Refit on `n` resamples of the runs (with replacement), each at full precision from the full-data optimum
  and the `top` grid points best on that resample (ranked among the `pool` best on all runs): a warm start alone
  would report the start, not the data. Returns the converged laws and, with `derived(law) -> dict`, its values."""
  N, D, L = (np.asarray(x, float) for x in (N, D, L))
  rng = np.random.default_rng(seed)
  grid = _grid_starts()
  grid = grid[np.argsort(_grid_values(grid, np.log(N), np.log(D), np.log(L)))[:pool]]
  laws, values, failed = [], [], 0
  for _ in range(n):
    idx = rng.integers(0, len(L), len(L))
    try:
      check_runs(N[idx], D[idx], L[idx])
    except FitError:
      failed += 1
      continue
    logs = np.log(N[idx]), np.log(D[idx]), np.log(L[idx])
    grid_best = grid[np.argsort(_grid_values(grid, *logs))[:top]]
    starts = np.vstack([grid_best, law.theta[None]]) if law.converged else grid_best
    b = fit(N[idx], D[idx], L[idx], starts=starts)
    if not b.converged:
      failed += 1
      continue
    laws.append(b)
    if derived is not None:
      values.append(derived(b))
  return {"laws": laws, "values": values, "failed": failed}


def intervals(laws: list[Law], values: list[dict] | None = None, q=(2.5, 97.5)) -> dict:
  out = {}
  for k in ("A", "B", "E", "alpha", "beta"):
    out[k] = [float(x) for x in np.percentile([getattr(l, k) for l in laws], q)]
  if values:
    for k in values[0]:
      arr = np.array([v[k] for v in values], float)
      arr = arr[np.isfinite(arr)] if np.isfinite(arr).any() else arr
      out[k] = [float(x) for x in np.percentile(arr, q)] if len(arr) else [float("nan")] * 2
  return out


ALPHA_BETA_RANGE = (0.05, 1.5)  # exponents outside this are not believed
MAX_EXPONENT_RATIO = 3.0  # an exponent whose 95% interval spans more than this factor is not identified


def check_design(N, D, C, what: str = "runs") -> str | None:
  """None when the runs can identify L(N, D): at least 4 model sizes and 3 data budgets, or an isoFLOP design
  of at least 3 compute budgets with 3 sizes each; else what to add."""
  from analysis.frontier import budget_groups
  N, D, C = (np.asarray(x, float) for x in (N, D, C))
  size_of = np.round(np.log(N), 6)
  sizes = len(np.unique(size_of))
  budgets = len(np.unique(np.round(np.log10(D), 2)))
  # data budgets must vary at a fixed size (else N and D move together and α, β cannot be told apart)
  crossed = sum(len(np.unique(np.round(np.log10(D[size_of == s]), 2))) >= 3 for s in np.unique(size_of))
  groups = budget_groups(C)
  iso = sum(len(np.unique(np.round(np.log(N[groups == g]), 6))) >= 3 for g in np.unique(groups))
  if iso >= 3 or (sizes >= 4 and budgets >= 3 and crossed >= 2):
    return None
  need = [x for x, short in (("model sizes", sizes < 4), ("data budgets", budgets < 3 or crossed < 2)) if short]
  return (f"{what}: {sizes} model sizes, {budgets} data budgets ({crossed} sizes with 3+ of them) and {iso} "
          "compute budgets with 3+ sizes; a fit needs 4 sizes x 3 data budgets, or 3 compute budgets x 3 sizes "
          f"(isoFLOP): add {' and '.join(need) or 'budgets'} (or isoFLOP budgets)")


def identification(law: Law, ci: dict, best_loss: float, floor: float | None = None) -> list[str]:
  """Why a fit is not identified (empty: it is): exponents outside ALPHA_BETA_RANGE, E above the best run's
  loss or above the compressors on the same files (`floor`), an exponent interval wider than a factor of
  MAX_EXPONENT_RATIO. Each reason says which runs would help. An unidentified fit's values are not printed (they
  move between machines; fits.json keeps them): the same runs give the same report anywhere."""
  out = []
  lo, hi = ALPHA_BETA_RANGE
  what = {"alpha": "α (the N exponent)", "beta": "β (the D exponent)"}
  add = {"alpha": "model sizes over a wider range of N", "beta": "data budgets over a wider range of D"}
  for k in ("alpha", "beta"):
    v = getattr(law, k)
    if not lo <= v <= hi:
      out.append(f"{what[k]} lies outside [{lo}, {hi}]: add {add[k]}")
    a, b = ci.get(k, (math.nan, math.nan))
    if not (a > 0 and b / a <= MAX_EXPONENT_RATIO):
      out.append(f"{what[k]}'s 95% interval spans more than a factor of {MAX_EXPONENT_RATIO:g}: add {add[k]}")
  if law.E > best_loss:
    out.append(f"E lies above the best run's loss ({best_loss:.3f}): add larger runs (more compute)")
  if floor is not None and law.E > floor:
    out.append(f"E lies above the compressors on the same files ({floor:.3f} bits/byte): add larger runs (more "
               "compute) so the curve bends towards its asymptote")
  return out
