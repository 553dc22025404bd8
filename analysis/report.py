"""`python -m structlm analyze`: fits, multiplier, tests, plots, report.md and fits.json for a sweep; and the
published-fit check on Epoch AI's extraction of the Chinchilla data."""
from __future__ import annotations

import csv
import json
import math
import os
import warnings

import numpy as np

from analysis import collect as collect_lib
from analysis import compare, plots
from analysis.fit import FitError, Law, bootstrap, check_runs, fit, intervals

TOP_BUDGET = 24  # the multiplier is tabulated from the measured range's top decade (or 1e15) up to 1e24 FLOPs
VARIANTS = ("structured", "token")
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


def analyze(runs_dir: str, out_dir: str, n_bootstrap: int = 1000, seed: int = 0, n_key: str = "N",
            references: dict | None = None, rows=None) -> dict:
  if rows is None:
    rows, excluded = collect_lib.collect(runs_dir)
  else:
    excluded = {}
  os.makedirs(out_dir, exist_ok=True)
  if references is None:
    references = collect_lib.compressor_references(rows)
  present = sorted({r["variant"] for r in rows})
  missing = [v for v in VARIANTS if v not in present]
  if missing:
    raise FitError(f"no usable runs of the {' and '.join(missing)} variant under {runs_dir} "
                   f"(found {len(rows)} runs of {present or 'no variant'}; excluded: {excluded or 'none'})")
  laws, boots, cpb, data = {}, {}, {}, {}
  for v in VARIANTS:
    N, D, L, C, rs = _arrays(rows, v, n_key)
    check_runs(N, D, L, what=f"{v} runs")
    if len(np.unique(np.round(np.log10(C), 2))) < 2:
      raise FitError(f"all {v} runs use one compute budget ({C[0]:.3g} FLOPs): the frontier needs several")
    laws[v] = fit(N, D, L)
    if not laws[v].converged:
      raise FitError(f"the {v} fit did not converge from any starting point; more runs are needed")
    cpb[v] = float(np.median(C / (N * D)))
    boots[v] = bootstrap(N, D, L, laws[v], n=n_bootstrap, seed=seed + (v == "token"))
    data[v] = (N, D, L, C, rs)

  c_lo = min(float(data[v][3].min()) for v in VARIANTS)
  c_hi = max(float(data[v][3].max()) for v in VARIANTS)
  budgets = [10.0 ** k for k in range(min(15, math.floor(math.log10(c_hi))), TOP_BUDGET + 1)]

  def mult_at(s: Law, t: Law):
    return [compare.multiplier(s, t, cpb["structured"], cpb["token"], c) for c in budgets]
  m_point = mult_at(laws["structured"], laws["token"])
  pairs = list(zip(boots["structured"]["laws"], boots["token"]["laws"]))
  m_samples = np.array([mult_at(s, t) for s, t in pairs]) if pairs else np.full((1, len(budgets)), np.nan)
  # inf (never matched) samples are legitimate and sort last; NaN ones (a refit whose frontier is undefined
  # there) are left out
  with np.errstate(invalid="ignore"), warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, shown as "n/a"
    m_lo = [float(np.nanpercentile(m_samples[:, j], 2.5)) for j in range(len(budgets))]
    m_hi = [float(np.nanpercentile(m_samples[:, j], 97.5)) for j in range(len(budgets))]

  derived = {}
  for v in VARIANTS:
    def frontier_at(law, v=v):
      return {f"L*({c:.0e})": compare.frontier(law, cpb[v], c)[0] for c in (1e18, 1e21, 1e24)}
    derived[v] = intervals(boots[v]["laws"], [frontier_at(l) for l in boots[v]["laws"]])
  test = compare.shared_exponents_test({v: data[v][:3] for v in VARIANTS}, laws)
  iso = {v: compare.isoflop(data[v][0], data[v][1], data[v][2], data[v][3]) for v in VARIANTS}
  lc = {v: compare.compute_frontier_fit(data[v][3], data[v][2]) for v in VARIANTS}
  repetition = {}
  for v in VARIANTS:
    rs = data[v][4]
    repetition[v] = compare.fit_repetition(laws[v], data[v][0], [r["unique_bytes"] for r in rs],
                                           [r["epochs"] for r in rs], data[v][2])

  grid = np.logspace(math.log10(c_lo) - 0.5, math.log10(c_hi) + 1, 60)
  fronts = {v: (grid, np.array([compare.frontier(laws[v], cpb[v], c)[0] for c in grid])) for v in VARIANTS}
  figures = []
  figures += plots.loss_vs_compute(rows, fronts, out_dir, references)
  figures += plots.isoflop_curves(iso, out_dir)
  figures += plots.multiplier_band(budgets, m_point, m_lo, m_hi, out_dir)
  figures += plots.residuals(rows, laws, out_dir)

  fits = dict(
      runs=len(rows), runs_per_variant={v: len(data[v][4]) for v in VARIANTS}, excluded=excluded, n_key=n_key,
      laws={v: laws[v].as_dict() for v in VARIANTS},
      intervals={v: derived[v] for v in VARIANTS},
      flops_per_param_byte=cpb, bootstrap=n_bootstrap,
      bootstrap_failed={v: boots[v]["failed"] for v in VARIANTS},
      multiplier={f"{c:.0e}": dict(m=m, lo=lo, hi=hi) for c, m, lo, hi in zip(budgets, m_point, m_lo, m_hi)},
      shared_exponents_test=test, isoflop=iso, compute_frontier=lc, repetition=repetition,
      compute_range=[c_lo, c_hi], figures=[os.path.basename(f) for f in figures], references=references,
      table=[dict(run=r.get("run", r.get("preset", "")), variant=r["variant"], N=r["N"], D=r["D"], C=r["C"],
                  epochs=r.get("epochs", 1.0), bpb=r["bpb"])
             for r in sorted(rows, key=lambda r: (r["variant"], r["N"], r["D"]))])
  fits["headline"] = headline(fits)
  fits["caveats"] = caveats(fits)
  with open(os.path.join(out_dir, "fits.json"), "w") as f:
    json.dump(fits, f, indent=1, default=_json_default)
  with open(os.path.join(out_dir, "report.md"), "w") as f:
    f.write(render(fits))
  return fits


def _json_default(x):
  if isinstance(x, (np.floating, np.integer)):
    return x.item()
  raise TypeError(type(x))


def _fmt_m(m):
  if math.isnan(m):
    return "n/a"
  if not math.isfinite(m):
    return "never matched"
  return f"{m:.3g}×"


def headline(f: dict) -> str:
  c_hi = f["compute_range"][1]
  keys = sorted(f["multiplier"], key=float)
  inside = [k for k in keys if float(k) <= c_hi * 1.0001]
  key = inside[-1] if inside else keys[0]  # the largest tabulated budget the runs reach
  where = "the top of the measured range" if inside else "just above the measured range"
  m = f["multiplier"][key]
  lo_key, hi_key = keys[0], keys[-1]
  trend = f["multiplier"][hi_key]["m"] / f["multiplier"][lo_key]["m"] if all(
      math.isfinite(f["multiplier"][k]["m"]) and f["multiplier"][k]["m"] > 0 for k in (lo_key, hi_key)) else float("nan")
  p = f["shared_exponents_test"]["p_value"]
  if math.isfinite(m["m"]) and m["lo"] > 1:
    verdict = "structure helps"
  elif math.isfinite(m["hi"]) and m["hi"] < 1:
    verdict = "structure hurts"
  else:
    verdict = "the data cannot tell whether structure helps"
  if not math.isfinite(f["multiplier"][hi_key]["m"]):
    direction = f"grows until the token model can no longer match at all by {float(hi_key):.0e} FLOPs"
  elif math.isfinite(trend):
    direction = "grows with scale" if trend > 1 else "shrinks with scale"
  else:
    direction = "cannot be followed across the range"
  return (f"At {float(key):.0e} FLOPs ({where}), {verdict}: the token model needs "
          f"{_fmt_m(m['m'])} the compute of the structured model to reach its loss (95% interval "
          f"{_fmt_m(m['lo'])} – {_fmt_m(m['hi'])}). Extrapolated, the multiplier {direction} "
          f"(m({float(hi_key):.0e}) / m({float(lo_key):.0e}) = {trend:.3g}); the test of shared (E, α, β) gives "
          f"p = {p:.3g}"
          f"{' (the exponents differ)' if p < 0.05 else ' (no evidence that the exponents differ)'}.")


def caveats(f: dict) -> list[str]:
  out = []
  for v, n in f["runs_per_variant"].items():
    if n < 20:
      out.append(f"only {n} {v} runs: intervals are wide and the fit leans on few points")
  lo, hi = f["compute_range"]
  out.append(f"runs span {lo:.2g}–{hi:.2g} FLOPs; budgets beyond {hi * 100:.0e} are extrapolations "
             f"over more than two orders of magnitude and should be read as such")
  for v, k in f["bootstrap_failed"].items():
    if k:
      out.append(f"{k} of {f['bootstrap']} bootstrap refits for {v} failed (degenerate resample or no "
                 "convergence) and were not used")
  if not any(f["isoflop"].values()):
    out.append("no isoFLOP budgets with three or more sizes: Approach 2 is not available")
  return out


def render(f: dict) -> str:
  lines = ["# structlm scaling report", "", f["headline"], "", "## Fits: L(N, D) = E + A/N^α + B/D^β "
           f"(D in source bytes, loss in bits per byte; {f['bootstrap']} bootstrap refits, 95% intervals)", "",
           "| variant | runs | E | A | B | α | β | objective |", "|---|---|---|---|---|---|---|---|"]
  for v, law in f["laws"].items():
    ci = f["intervals"][v]
    cell = {k: f"{law[k]:.4g} ({ci[k][0]:.3g}–{ci[k][1]:.3g})" for k in ("E", "A", "B", "alpha", "beta")}
    lines.append(f"| {v} | {f['runs_per_variant'][v]} | {cell['E']} | {cell['A']} | {cell['B']} | "
                 f"{cell['alpha']} | {cell['beta']} | {law['objective']:.3g} |")
  lines += ["", "## Compute multiplier m(C) = C_token(L*_structured(C)) / C", "",
            "| C (FLOPs) | m | 95% interval |", "|---|---|---|"]
  for c, m in f["multiplier"].items():
    lines.append(f"| {float(c):.0e} | {_fmt_m(m['m'])} | {_fmt_m(m['lo'])} – {_fmt_m(m['hi'])} |")
  t = f["shared_exponents_test"]
  lines += ["", "## Does the advantage change with scale?", "",
            f"Likelihood-ratio test of shared (E, α, β) against separate ones: LR = {t['lr']:.3g}, df = {t['df']}, "
            f"p = {t['p_value']:.3g}.", ""]
  for v in f["laws"]:
    iso, lc, rep = f["isoflop"][v], f["compute_frontier"][v], f["repetition"][v]
    lines.append(f"- **{v}**: " + "; ".join(filter(None, [
        f"isoFLOP N_opt ∝ C^{iso['N_opt_exponent']:.3f} over {len(iso['budgets'])} budgets" if iso else
        "no isoFLOP budgets",
        f"L(C) frontier E = {lc['E']:.3g}, γ = {lc['gamma']:.3g}" if lc else None,
        f"repeated-data half-life R*_D = {rep['R_star']:.3g} epochs ({rep['runs']} runs)" if rep else
        "no data-constrained runs"])))
  refs = f.get("references") or {}
  if f.get("table"):
    lines += ["", "## Runs", "", "Validation bits per byte, beside classical compressors on the same held-out files"
              + (" (" + ", ".join(f"{k}: {v:.3f}" for k, v in refs.items()) + ")" if refs else "") + ".", "",
              "| run | variant | N | D (bytes) | C (FLOPs) | epochs | bits/byte |"
              + "".join(f" vs {k.split()[0]} |" for k in refs), "|---|---|---|---|---|---|---|" + "---|" * len(refs)]
    for r in f["table"]:
      lines.append(f"| {r['run']} | {r['variant']} | {r['N']:.3g} | {r['D']:.3g} | {r['C']:.3g} | {r['epochs']:.2g} | "
                   f"{r['bpb']:.3f} |" + "".join(f" {r['bpb'] / v:.2f}× |" for v in refs.values()))
  lines += ["", "## Figures", ""] + [f"![{n}]({n})" for n in f["figures"] if n.endswith(".png")]
  lines += ["", "## Caveats", ""] + [f"- {c}" for c in f["caveats"]]
  if f["excluded"]:
    lines += ["", f"Excluded runs: {f['excluded']}."]
  return "\n".join(lines) + "\n"
