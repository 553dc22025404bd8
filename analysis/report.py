"""`python -m structlm analyze`: fits, multiplier, tests, plots, report.md and fits.json for a sweep; and the
published-fit check on Epoch AI's extraction of the Chinchilla data."""
from __future__ import annotations

import csv
import json
import math
import os

import numpy as np

from analysis import collect as collect_lib
from analysis import compare, plots
from analysis import frontier as measured
from analysis.fit import FitError, bootstrap, check_design, check_runs, fit, identification, intervals
from analysis.render import headline, caveats, render

VARIANTS = ("token", "structured", "scoped_recency", "scoped", "scoped_file")  # those with runs are fitted
# (subject, baseline): m = the baseline's compute to reach the subject's loss / the subject's compute. The first
# comparison present is the primary one (fits.json's top-level multiplier keys); all are in `comparisons`. The
# headline's scoped variant is scoped_recency; the serial-numbered `scoped` and `scoped_file` are arms.
COMPARISONS = (("structured", "token"), ("scoped_recency", "token"), ("scoped_recency", "structured"),
               ("scoped", "token"), ("scoped", "structured"), ("scoped_recency", "scoped"), ("scoped_file", "scoped"))
EXTRAPOLATE_DECADES = 1.0  # the parametric multiplier is shown at most this far beyond the largest run
PUBLISHED = dict(A=477.8, B=2143.9, E=1.8172, alpha=0.3473, beta=0.3672, objective=1.01827e-3)
PUBLISHED_CI = dict(E=(1.769, 1.871), alpha=(0.317, 0.373), beta=(0.331, 0.415), A=(285, 744), B=(1042, 5810))


def chinchilla_check(path: str, n_bootstrap: int = 1000, seed: int = 0) -> dict:
  """Refit Hoffmann et al.'s points (D = C / 6N; the 240 rows below the 5th-highest loss)."""
  with open(path) as f:
    rows = list(csv.DictReader(f))
  N = np.array([float(r["Model Size"]) for r in rows])
  C = np.array([float(r["Training FLOP"]) for r in rows])
  L = np.array([float(r["loss"]) for r in rows])
  keep = L < np.sort(L)[-5]
  N, D, L = N[keep], C[keep] / (6 * N[keep]), L[keep]
  law = fit(N, D, L)
  bs = bootstrap(N, D, L, law, n=n_bootstrap, seed=seed)
  ci = intervals(bs["laws"])
  rel = {k: abs(getattr(law, k) - PUBLISHED[k]) / PUBLISHED[k] for k in ("A", "B", "E", "alpha", "beta")}
  ok = all(rel[k] <= 0.01 for k in ("E", "alpha", "beta")) and all(rel[k] <= 0.05 for k in ("A", "B"))
  return dict(points=int(len(L)), **{k: getattr(law, k) for k in ("E", "A", "B", "alpha", "beta", "objective")},
              intervals=ci, bootstrap=n_bootstrap, bootstrap_failed=bs["failed"], published=PUBLISHED,
              published_intervals=PUBLISHED_CI, relative_error=rel, within_tolerance=ok)


def _arrays(rows, variant, n_key):
  rs = [r for r in rows if r["variant"] == variant]
  return (np.array([r[n_key] for r in rs]), np.array([r["D"] for r in rs]), np.array([r["bpb"] for r in rs]),
          np.array([r["C"] for r in rs]), rs)


def _fit_variant(N, D, L, C, n_bootstrap, seed, floor, what):
  """The law, its intervals and why it is not identified (a design that cannot identify it is not fitted)."""
  problem = check_design(N, D, C, what)
  if problem is None:
    try:
      check_runs(N, D, L, what)
    except FitError as e:
      problem = str(e)
  if problem is not None:
    return dict(law=None, boot=None, ci={}, reasons=[problem], fitted=False)
  law = fit(N, D, L)
  if not law.converged:
    return dict(law=None, boot=None, ci={}, reasons=[f"{what}: the fit did not converge from any start"],
                fitted=False)
  boot = bootstrap(N, D, L, law, n=n_bootstrap, seed=seed)
  ci = intervals(boot["laws"]) if boot["laws"] else {}
  return dict(law=law, boot=boot, ci=ci, reasons=identification(law, ci, float(L.min()), floor), fitted=True)


def analyze(runs_dir: str, out_dir: str, n_bootstrap: int = 1000, seed: int = 0, n_key: str = "N",
            references: dict | None = None, rows=None, fit_bootstrap: int = 200, allow_dirty: bool = True) -> dict:
  """`n_bootstrap` resamples for the multiplier from the runs (cheap); `fit_bootstrap` refits of each variant's
  law (each a multi-start L-BFGS) for the fits' intervals, identification and the fits' multiplier."""
  if rows is None:
    rows, excluded = collect_lib.collect(runs_dir, allow_dirty)
  else:
    excluded = {}
  os.makedirs(out_dir, exist_ok=True)
  if references is None:
    references = collect_lib.compressor_references(rows)
  present = sorted({r["variant"] for r in rows})
  pairs = [(a, b) for a, b in COMPARISONS if a in present and b in present]
  if not pairs:
    missing = [v for v in ("structured", "token") if v not in present]
    raise FitError(f"no usable runs of the {' and '.join(missing)} variant under {runs_dir} "
                   f"(found {len(rows)} runs of {present or 'no variant'}; excluded: {excluded or 'none'})")
  names = [v for v in VARIANTS if v in present]
  floor = min(references.values()) if references else None
  data, fits_v, cost = {}, {}, {}
  for i, v in enumerate(names):
    N, D, L, C, rs = _arrays(rows, v, n_key)
    data[v] = (N, D, L, C, rs)
    cost[v] = compare.CostModel(N, D, C)
    fits_v[v] = _fit_variant(N, D, L, C, fit_bootstrap, seed + i, floor, f"{v} runs")
  noise = compare.seed_noise([r for r in rows if r["variant"] in names])
  iso = {v: compare.isoflop(data[v][0], data[v][1], data[v][2], data[v][3], noise=noise["used"],
                           seed=seed + 11 * i) for i, v in enumerate(names)}
  for v in names:  # an isoFLOP design identifies nothing unless three budgets have their optimum inside the sizes
    if iso[v] is not None and not iso[v]["identified"] and fits_v[v]["fitted"]:
      fits_v[v]["reasons"] = fits_v[v]["reasons"] + [f"{v} isoFLOP optimum not identified: {iso[v]['reason']}"]
  identified = {v: fits_v[v]["fitted"] and not fits_v[v]["reasons"] for v in names}
  env = {v: measured.envelope(data[v][0], data[v][3], data[v][2]) for v in names}
  c_lo = min(float(data[v][3].min()) for v in names)
  c_hi = max(float(data[v][3].max()) for v in names)
  comparisons = [_comparison(a, b, data, env, fits_v, identified, cost, n_bootstrap, seed + 7)
                 for a, b in pairs]
  for c in comparisons:
    c["isoflop_exponent_test"] = compare.isoflop_exponent_test(iso.get(c["subject"]), iso.get(c["baseline"]))

  from analysis import file_bootstrap  # (it imports this module)
  file_intervals = (file_bootstrap.report_section(runs_dir, rows, n=n_bootstrap)
                    if all("run" in r for r in rows) and os.path.isdir(runs_dir) else None)
  lc = {v: compare.compute_frontier_fit(data[v][3], data[v][2]) for v in names}
  repetition = {v: compare.fit_repetition(fits_v[v]["law"], data[v][0], [r["unique_bytes"] for r in data[v][4]],
                                          [r["epochs"] for r in data[v][4]], data[v][2]) if identified[v] else None
                for v in names}

  figures = []
  curves = {}
  for v in names:
    if identified[v]:
      g = np.logspace(math.log10(c_lo), math.log10(c_hi) + EXTRAPOLATE_DECADES, 60)
      curves[v] = (g, compare.frontier_curve(fits_v[v]["law"], cost[v], g)[0])
  figures += plots.loss_vs_compute(rows, env, curves, (c_lo, c_hi), out_dir, references)
  figures += plots.isoflop_curves(iso, out_dir)
  for c in comparisons:
    a = c["subject"]
    figures += plots.multiplier_band(c["measured_multiplier"], c["parametric_multiplier"],
                                     (float(data[a][3].min()), float(data[a][3].max())), out_dir,
                                     a, c["baseline"], primary=c is comparisons[0])
  figures += plots.residuals(rows, {v: fits_v[v]["law"] for v in names if fits_v[v]["fitted"]}, out_dir)

  primary = comparisons[0]
  fits = dict(
      runs=len(rows), runs_per_variant={v: len(data[v][4]) for v in names}, excluded=excluded, n_key=n_key,
      commits=sorted({r.get("commit") for r in rows if r.get("commit")}),
      runs_without_commit=sum(not r.get("commit") for r in rows),
      dirty_runs=sum(bool(r.get("dirty")) for r in rows),
      definitions=collect_lib.DEFINITIONS, compute_range=[c_lo, c_hi], references=references,
      laws={v: fits_v[v]["law"].as_dict() if fits_v[v]["fitted"] else None for v in names},
      intervals={v: fits_v[v]["ci"] for v in names}, identified=identified,
      not_identified={v: fits_v[v]["reasons"] for v in names}, bootstrap=n_bootstrap,
      fit_bootstrap=fit_bootstrap,
      bootstrap_failed={v: fits_v[v]["boot"]["failed"] if fits_v[v]["boot"] else None for v in names},
      subject=primary["subject"], baseline=primary["baseline"],
      measured_multiplier=primary["measured_multiplier"], parametric_multiplier=primary["parametric_multiplier"],
      asymptote=primary["asymptote"], shared_exponents_test=primary["shared_exponents_test"],
      comparisons=comparisons,
      edge_optima={v: measured.edge_optima(data[v][0], data[v][3], data[v][2]) for v in names},
      isoflop=iso, seed_noise=noise, compute_frontier=lc, repetition=repetition, file_intervals=file_intervals,
      figures=[os.path.basename(f) for f in figures],
      table=[dict(run=r.get("run", r.get("preset", "")), variant=r["variant"], N=r["N"],
                  output_share=1 - r["N_nonembedding"] / r["N"] if r.get("N_nonembedding") and r["N"] else None,
                  N_lookup=r.get("N_lookup", 0.0), D=r["D"], C=r["C"], tokens_per_byte=r.get("tokens_per_byte"),
                  learning_rate=r.get("learning_rate"), epochs=r.get("epochs", 1.0), bpb=r["bpb"])
             for r in sorted(rows, key=lambda r: (r["variant"], r["C"], r["N"]))])
  for c in comparisons:
    c["headline"] = headline(dict(fits, **c))
  fits["headline"] = " ".join(
      (f"**{c['subject']} over {c['baseline']}.** " if len(comparisons) > 1 else "") + c["headline"]
      for c in comparisons)
  fits["caveats"] = caveats(fits)
  for v in iso.values():  # the bootstrap's draws served the exponent tests; fits.json keeps their interval
    if v:
      v.pop("N_opt_exponent_draws", None)
  with open(os.path.join(out_dir, "fits.json"), "w") as f:
    json.dump(fits, f, indent=1, default=_json_default)
  with open(os.path.join(out_dir, "report.md"), "w") as f:
    f.write(render(fits))
  return fits


def _comparison(a: str, b: str, data, env, fits_v, identified, cost, n_bootstrap: int, seed: int) -> dict:
  """Subject `a` against baseline `b`: the multiplier from the runs alone inside a's measured compute (and its
  bootstrap), and, when both fits are identified, the fits' multiplier, the asymptotes and the exponent test."""
  budgets = measured.budgets_inside(np.exp(env[a][0]))
  point = measured.multiplier(env[a], env[b], budgets)
  samples = measured.bootstrap(*(data[a][k] for k in (0, 3, 2)), *(data[b][k] for k in (0, 3, 2)),
                               budgets, n=n_bootstrap, seed=seed)
  ivals = measured.interval(samples)
  m_measured = [dict(C=float(c), loss=float(measured.loss_at(env[a], c)[0]), m=float(m), kind=str(k),
                     bound=float(bd), lo=lo, hi=hi)
                for c, m, k, bd, (lo, hi) in zip(budgets, point["m"], point["kind"], point["bound"], ivals)]
  m_param, asymptote, test = [], None, None
  if identified[a] and identified[b]:  # the fits' multiplier: measured range and at most one decade beyond
    laws = {v: fits_v[v]["law"] for v in (a, b)}
    s_lo, s_hi = float(data[a][3].min()), float(data[a][3].max())
    grid = np.logspace(math.log10(s_lo), math.log10(s_hi) + EXTRAPOLATE_DECADES,
                       int(4 * (math.log10(s_hi / s_lo) + EXTRAPOLATE_DECADES)) + 2)
    mp = compare.parametric_multiplier(laws[a], laws[b], cost[a], cost[b], grid)
    pairs = list(zip(fits_v[a]["boot"]["laws"], fits_v[b]["boot"]["laws"]))
    ms = np.array([compare.parametric_multiplier(s, t, cost[a], cost[b], grid) for s, t in pairs])
    with np.errstate(divide="ignore"):
      iv = measured.interval(np.log(ms)) if len(ms) else [(math.nan, math.nan)] * len(grid)
    m_param = [dict(C=float(c), m=float(m), lo=lo, hi=hi, extrapolated=bool(c > s_hi * 1.0001))
               for c, m, (lo, hi) in zip(grid, mp, iv)]
    better, worse = sorted((a, b), key=lambda v: laws[v].E)
    diff = np.array([s.E - t.E for s, t in pairs])  # independent resamples of each variant's runs
    d_lo, d_hi = (np.percentile(diff, (2.5, 97.5)) if len(diff) else (math.nan, math.nan))
    asymptote = dict(lower=better, higher=worse, E={v: laws[v].E for v in (a, b)},
                     difference_interval=[float(d_lo), float(d_hi)], ordered=bool(d_lo > 0 or d_hi < 0),
                     C_reach=compare.compute_to_reach(laws[better], cost[better], laws[worse].E))
    test = compare.shared_exponents_test({v: data[v][:3] for v in (a, b)}, laws)
  return dict(subject=a, baseline=b, measured_multiplier=m_measured, parametric_multiplier=m_param,
              asymptote=asymptote, shared_exponents_test=test,
              identified={v: identified[v] for v in (a, b)},
              not_identified={v: fits_v[v]["reasons"] for v in (a, b)})


def _json_default(x):
  if isinstance(x, (np.floating, np.integer)):
    return x.item()
  if isinstance(x, np.bool_):
    return bool(x)
  raise TypeError(type(x))
