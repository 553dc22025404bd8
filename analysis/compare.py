"""Compare variants: compute-optimal frontiers, the compute multiplier, a likelihood-ratio test of shared
exponents, isoFLOP parabolas (Approach 2), the L(C) frontier, and Muennighoff et al.'s effective data."""
from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

from analysis.fit import DELTA, Law, fit



def frontier(law: Law, flops_per_param_byte: float, C: float) -> tuple[float, float, float]:
  """(L*, N*, D*) at compute C, where C = c N D (c: FLOPs per parameter per byte). Closed form: the optimum has
  alpha A / N^alpha = beta B / D^beta, so N* = G (C/c)^(beta/(alpha+beta)), G = (alpha A / beta B)^(1/(alpha+beta))."""
  s = law.alpha + law.beta
  G = (law.alpha * law.A / (law.beta * law.B)) ** (1 / s)
  N = G * (C / flops_per_param_byte) ** (law.beta / s)
  D = C / (flops_per_param_byte * N)
  return float(law.loss(N, D)), float(N), float(D)


def frontier_coefs(law: Law) -> tuple[float, float]:
  """L*(C) = E + K (C/c)^-gamma: returns (K, gamma)."""
  s = law.alpha + law.beta
  G = (law.alpha * law.A / (law.beta * law.B)) ** (1 / s)
  return law.A * G ** -law.alpha + law.B * G ** law.beta, law.alpha * law.beta / s


def multiplier(struct: Law, token: Law, c_struct: float, c_token: float, C: float) -> float:
  """m(C) = C_token(L*_struct(C)) / C: how much more compute the token model needs to match. inf when the
  token model can never reach the structured model's loss (L*_struct(C) <= E_token)."""
  target = frontier(struct, c_struct, C)[0]
  if target <= token.E:
    return math.inf
  K, gamma = frontier_coefs(token)
  return float(c_token * ((target - token.E) / K) ** (-1 / gamma) / C)


def _huber(r):
  a = np.abs(r)
  return np.where(a <= DELTA, 0.5 * r * r, DELTA * (a - 0.5 * DELTA)).sum()


def shared_exponents_test(groups: dict[str, tuple], laws: dict[str, Law]) -> dict:
  """Likelihood-ratio test (Gaussian on log-loss residuals) of separate (E, alpha, beta) per variant against
  shared ones (A, B still per variant). df = 3 * (variants - 1). Small p: the exponents differ."""
  names = sorted(groups)
  logs = {k: tuple(np.log(np.asarray(x, float)) for x in groups[k]) for k in names}

  def resid(law_theta, logN, logD, logL):
    a, b, e, al, be = law_theta
    t = np.stack([a - al * logN, b - be * logD, np.full_like(logN, e)])
    m = t.max(0)
    return m + np.log(np.exp(t - m).sum(0)) - logL

  rss_sep = sum(float((resid(laws[k].theta, *logs[k]) ** 2).sum()) for k in names)

  def joint(theta):
    e, al, be = theta[:3]
    total = 0.0
    for i, k in enumerate(names):
      a, b = theta[3 + 2 * i: 5 + 2 * i]
      total += _huber(resid((a, b, e, al, be), *logs[k]))
    return total
  x0 = [np.mean([laws[k].theta[2] for k in names]), np.mean([laws[k].alpha for k in names]),
        np.mean([laws[k].beta for k in names])]
  for k in names:
    x0 += [laws[k].theta[0], laws[k].theta[1]]
  res = optimize.minimize(joint, np.array(x0), method="L-BFGS-B", options=dict(maxiter=5000))
  e, al, be = res.x[:3]
  rss_shared = sum(float((resid((res.x[3 + 2 * i], res.x[4 + 2 * i], e, al, be), *logs[k]) ** 2).sum())
                   for i, k in enumerate(names))
  n = sum(len(logs[k][0]) for k in names)
  lr = max(0.0, n * math.log(max(rss_shared, 1e-300) / max(rss_sep, 1e-300)))
  df = 3 * (len(names) - 1)
  return dict(lr=lr, df=df, p_value=float(stats.chi2.sf(lr, df)), rss_separate=rss_sep, rss_shared=rss_shared,
              shared=dict(E=float(math.exp(e)), alpha=float(al), beta=float(be)))


def isoflop(N, D, L, C, tol: float = 0.05) -> dict | None:
  """Approach 2: per compute budget (log10 C within `tol`), a parabola of L in log N gives N_opt(C); then
  N_opt = k C^a. None when fewer than two budgets have three or more sizes."""
  N, D, L, C = (np.asarray(x, float) for x in (N, D, L, C))
  keys = np.round(np.log10(C) / tol) * tol
  budgets = []
  for key in np.unique(keys):
    m = keys == key
    if len(np.unique(N[m])) < 3:
      continue
    x = np.log(N[m])
    c2, c1, c0 = np.polyfit(x, L[m], 2)
    if c2 <= 0:
      continue
    x_opt = -c1 / (2 * c2)
    budgets.append(dict(C=float(10 ** key), N_opt=float(math.exp(x_opt)), L_opt=float(np.polyval([c2, c1, c0], x_opt)),
                        D_opt=float(np.median(D[m] * N[m]) / math.exp(x_opt)), parabola=[c2, c1, c0],
                        points=int(m.sum()), runs_N=N[m].tolist(), runs_L=L[m].tolist()))
  if len(budgets) < 2:
    return None
  lc = np.log([b["C"] for b in budgets])
  a_n, k_n = np.polyfit(lc, np.log([b["N_opt"] for b in budgets]), 1)
  a_d, k_d = np.polyfit(lc, np.log([b["D_opt"] for b in budgets]), 1)
  return dict(budgets=budgets, N_opt_exponent=float(a_n), N_opt_coef=float(math.exp(k_n)),
              D_opt_exponent=float(a_d), D_opt_coef=float(math.exp(k_d)))


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


__all__ = ["frontier", "multiplier", "shared_exponents_test", "isoflop", "compute_frontier_fit",
           "effective_data", "fit_repetition", "fit"]
