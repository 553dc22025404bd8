"""The words of the report: the headline (measured range only), caveats and report.md, from fits.json's dict."""
from __future__ import annotations

import math

LEVEL = 0.05  # the exponent test's significance level
# what a comparison's subject adds over its baseline, in the headline's words
WHAT = {("structured", "token"): "structure", ("scoped_recency", "token"): "structure with names by reference",
        ("scoped_recency", "structured"): "referencing names",
        ("scoped", "token"): "structure with names by serial reference",
        ("scoped", "structured"): "referencing names by serial",
        ("scoped_recency", "scoped"): "numbering REFs by recency (instead of serials)",
        ("scoped_file", "scoped"): "whole-file memory of names (beyond the context)"}


def isoflop_line(iso) -> str:
  """One line on a variant's isoFLOP budgets: each budget's status, and the vertex exponents only when identified."""
  if not iso:
    return "no isoFLOP budget with three or more sizes"
  statuses = ", ".join(f"{b['C']:.2g}: {b['status']}" for b in iso["all_budgets"])
  if not iso["identified"]:
    return f"isoFLOP optimum not identified ({iso['reason']}); budgets {statuses}"
  ci = iso.get("N_opt_exponent_ci")
  shaky = iso.get("unstable_share", 0.0)
  band = (f" (95% {ci[0]:.2f}–{ci[1]:.2f}; loss noise {iso.get('loss_noise', 0):.3f})" if ci else
          f" (no interval: in {shaky:.0%} of the bootstrap's draws some budget's optimum leaves its sizes; add "
          "sizes around the optima or seed repeats)")
  return (f"isoFLOP N_opt ∝ C^{iso['N_opt_exponent']:.2f}{band}, D_opt ∝ C^{iso['D_opt_exponent']:.2f}, from "
          f"{len(iso['budgets'])} interior budgets; budgets {statuses}")


def _names(f: dict) -> tuple[str, str, str]:
  a, b = f.get("subject", "structured"), f.get("baseline", "token")
  return a, b, WHAT.get((a, b), a)


def _x(m: float) -> str:
  if m is None or (isinstance(m, float) and math.isnan(m)):
    return "n/a"
  if not math.isfinite(m):
    return "∞" if m > 0 else "0"
  return f"{m:.3g}×"


def _interval(lo: float, hi: float) -> str:
  """A 95% interval cell; bounds at ±∞ are resamples whose target lies beyond (or below) every run."""
  if lo == hi == math.inf:
    return "beyond the runs in ≥ 97.5% of resamples"
  if lo == hi == 0:
    return "below the runs in ≥ 97.5% of resamples"
  if math.isnan(lo):
    return "none (over 5% of resampled frontiers do not reach this budget)"
  return f"{_x(lo)} – {_x(hi)}"


def _cell(r: dict, baseline: str = "token") -> str:
  if r["kind"] == "above":
    return f"> {_x(r['bound'])} (the {baseline} runs never reach this loss)"
  if r["kind"] == "below":
    return f"< {_x(r['bound'])} (the cheapest {baseline} run already does better)"
  return _x(r["m"])


def verdict(lo: float, hi: float, what: str = "structure") -> str:
  """The headline's wording from the multiplier's 95% interval."""
  if lo > 1:
    return f"{what} helps"
  if hi < 1:
    return f"{what} hurts"
  return f"the runs cannot tell whether {what} helps"


def pick_budget(rows: list[dict]) -> dict | None:
  """The largest budget of the measured range where the token runs bracket the structured loss; else the largest
  where a bound, confirmed by the resamples, supports a verdict (the baseline's runs never reach the subject's loss
  and even its largest run is cheaper, or the reverse); else the largest budget at all."""
  valued = [r for r in rows if r["kind"] == "value" and math.isfinite(r["m"])]
  if valued:
    return valued[-1]
  rows = [r for r in rows if not math.isnan(r["loss"])]
  telling = [r for r in rows if (r["kind"] == "above" and r["bound"] > 1 and r["lo"] >= 1) or
             (r["kind"] == "below" and r["bound"] < 1 and r["hi"] <= 1)]
  return telling[-1] if telling else rows[-1] if rows else None


def headline(f: dict) -> str:
  """One comparison's headline (f: fits.json, or it updated with one of its `comparisons`)."""
  a, b, what = _names(f)
  lo_c, hi_c = f["compute_range"]
  rows = f["measured_multiplier"]
  r = pick_budget(rows)
  parts = []
  if r is None:
    parts.append("The runs leave no budget where the two variants' frontiers can be compared.")
  elif r["kind"] == "value":
    interval = (f"95% interval {_x(r['lo'])}–{_x(r['hi'])}, bootstrap over runs" if math.isfinite(r["lo"]) else
                "no interval: over 5% of the resampled frontiers do not reach this budget")
    parts.append(
        f"Inside the measured range (runs of {lo_c:.2g}–{hi_c:.2g} FLOPs), at C = {r['C']:.2g} FLOPs "
        f"{verdict(r['lo'], r['hi'], what)}: the {b} model needs {_x(r['m'])} the compute of the {a} model to "
        f"reach its loss ({r['loss']:.3f} bits/byte; {interval}; from the runs alone, no fitted law).")
    vals = [x for x in rows if x["kind"] == "value" and math.isfinite(x["m"])]
    if len(vals) > 1:
      parts.append(f"Across the measured range the multiplier is {_x(vals[0]['m'])} at {vals[0]['C']:.2g} and "
                   f"{_x(vals[-1]['m'])} at {vals[-1]['C']:.2g} FLOPs.")
    beyond = [x for x in rows if x["C"] > r["C"] and x["kind"] != "value" and not math.isnan(x["loss"])]
    if beyond:
      x = beyond[0]
      sure = math.isfinite(x["lo"]) and ((x["kind"] == "above" and x["lo"] >= 1) or
                                         (x["kind"] == "below" and x["hi"] <= 1))
      parts.append(f"Above that, at {x['C']:.2g} FLOPs, only a bound is measured: m {_cell(x, b)}"
                   + ("." if sure else "; resampled runs do not confirm it, so it stays a bound, not a verdict."))
  else:
    if r["kind"] == "above" and r["bound"] >= 1 and r["lo"] >= 1:
      word = f"{what} helps beyond what the {b} runs can measure"
    elif r["kind"] == "below" and r["bound"] <= 1 and r["hi"] <= 1:
      word = f"{what} hurts beyond what the {b} runs can measure"
    else:
      word = f"the runs cannot tell whether {what} helps"
    parts.append(f"Inside the measured range (runs of {lo_c:.2g}–{hi_c:.2g} FLOPs), at C = {r['C']:.2g} FLOPs "
                 f"{word}: m {_cell(r, b)}.")
  ident = f["identified"]
  if all(ident.values()) and f.get("asymptote"):
    asy = f["asymptote"]
    lo, hi = asy["difference_interval"]
    if asy["ordered"]:
      when = (f"at about {asy['C_reach']:.2g} FLOPs" if math.isfinite(asy["C_reach"]) else "beyond 1e40 FLOPs")
      parts.append(f"The fitted laws (identified) put the {asy['lower']} model's asymptote lower (E = "
                   f"{asy['E'][asy['lower']]:.3f} vs {asy['E'][asy['higher']]:.3f} bits/byte; difference 95% interval "
                   f"{lo:.3f}–{hi:.3f}); its frontier reaches the {asy['higher']} model's asymptote {when} (an "
                   "extrapolation of the fits, not a measurement).")
    else:
      parts.append("The fitted laws (identified) cannot order the asymptotes (E = "
                   + ", ".join(f"{e:.3f} {v}" for v, e in asy["E"].items())
                   + f"; difference 95% interval {lo:.3f}–{hi:.3f}).")
  else:
    bad = [v for v, ok in ident.items() if not ok]
    first = {v: (f["not_identified"][v] or ["not fitted"])[0] for v in bad}
    parts.append("The scaling-law fits are not identified ("
                 + "; ".join(f"{v}: {first[v]}" for v in bad) + "), so nothing is extrapolated.")
  t = f.get("shared_exponents_test")
  if t and not math.isnan(t.get("p_value", math.nan)):
    parts.append(f"F-test of shared exponents (α, β; E free per variant): p = {t['p_value']:.3g}"
                 f" ({'the exponents differ' if t['p_value'] < LEVEL else 'no evidence that they differ'}).")
  return " ".join(parts)


def caveats(f: dict) -> list[str]:
  out = []
  lo, hi = f["compute_range"]
  out.append(f"Every claim holds for {lo:.2g}–{hi:.2g} FLOPs, the compute the runs span; the fits' multiplier is "
             "drawn at most one decade beyond, dashed, and never enters the headline.")
  if f.get("dirty_runs"):
    out.append(f"{f['dirty_runs']} runs were made from a checkout with uncommitted changes (`analyze` refuses them "
               "without --allow-dirty)")
  if len(f.get("commits") or []) > 1:
    out.append(f"the runs come from {len(f['commits'])} commits: {', '.join(c[:10] for c in f['commits'])}")
  for v, edges in (f.get("edge_optima") or {}).items():
    for side, budgets in edges.items():
      if budgets:
        out.append(f"{v}: at {len(budgets)} isoFLOP budget(s) ({', '.join(f'{c:.2g}' for c in budgets)} FLOPs) the "
                   f"best run is the {side} size measured, so the optimum may lie beyond the sizes and the measured "
                   "frontier there is an upper bound on the compute-optimal loss")
  sn = f.get("seed_noise")
  if sn:
    out.append(f"seed noise (one run's spread in bits/byte, the margin an interior optimum must clear): "
               + (f"{sn['used']:.3f}, measured from {sn['repeated_sizes']} sizes run with two or more seeds"
                  if sn["measured"] else
                  f"{sn['used']:.3f} assumed: only {sn['repeated_sizes']} sizes are repeated with another seed"
                  + (f" (their spread {sn['sd']:.3f})" if sn.get("sd") is not None else "")))
  for v, n in f["runs_per_variant"].items():
    if n < 20:
      out.append(f"only {n} {v} runs: intervals are wide")
  for v, reasons in f["not_identified"].items():
    for reason in reasons:
      out.append(f"{v} fit not identified: {reason}")
  for v, k in (f.get("bootstrap_failed") or {}).items():
    if k:
      out.append(f"{k} of {f['fit_bootstrap']} bootstrap refits for {v} failed (degenerate resample or no convergence)")
  refs = f.get("references") or {}
  if refs:
    best = min(r["bpb"] for r in f["table"])
    out.append(f"the best run reaches {best:.3f} bits/byte; the compressors on the same files: "
               + ", ".join(f"{k} {v:.3f}" for k, v in refs.items()))
  return out


def render(f: dict) -> str:
  d = f["definitions"]
  lines = ["# structlm scaling report", "", f["headline"], "", "## Definitions (the same for every variant)", ""]
  lines += [f"- **{k}**: {v}." for k, v in d.items()]
  for c in f.get("comparisons") or [dict(f, subject="structured", baseline="token")]:
    a, b = c["subject"], c["baseline"]
    lines += ["", f"## Compute multiplier from the runs alone: {a} over {b}", "",
              f"m(C) = C_{b}(L_{a}(C)) / C, each variant's frontier the lower envelope of its runs (an isoFLOP "
              f"budget's runs summarised by a parabola in log N), log-log interpolated; budgets inside the {a} "
              f"runs' compute; 95% intervals from {f['bootstrap']} resamples of the runs within each budget.", "",
              f"| C (FLOPs) | {a} loss (bits/byte) | m | 95% interval |", "|---|---|---|---|"]
    for r in c["measured_multiplier"]:
      lines.append(f"| {r['C']:.3g} | {r['loss']:.3f} | {_cell(r, b)} | {_interval(r['lo'], r['hi'])} |")
  if f.get("file_intervals"):
    from analysis.file_bootstrap import report_lines  # (it imports this module)
    lines += [""] + report_lines(f["file_intervals"])
  lines += ["", "## Fits: L(N, D) = E + A/N^α + B/D^β (bits per byte; D in bytes)", "",
            f"Approach 3 (Huber on log L, L-BFGS from Hoffmann's grid); 95% intervals from {f['fit_bootstrap']} "
            "refits on resampled runs, each from its own best grid points and the full-data optimum. Identified: "
            "α and β in [0.05, 1.5], each exponent's interval within a factor of 3, E below the best run and the "
            "compressors.", "",
            "| variant | runs | identified | E | A | B | α | β |", "|---|---|---|---|---|---|---|---|"]
  for v, law in f["laws"].items():
    if law is None:
      lines.append(f"| {v} | {f['runs_per_variant'][v]} | not fitted | | | | | |")
      continue
    ci = f["intervals"][v]
    cell = {k: f"{law[k]:.4g} ({ci[k][0]:.3g}–{ci[k][1]:.3g})" if k in ci else f"{law[k]:.4g}"
            for k in ("E", "A", "B", "alpha", "beta")}
    lines.append(f"| {v} | {f['runs_per_variant'][v]} | {'yes' if f['identified'][v] else '**no**'} | {cell['E']} | "
                 f"{cell['A']} | {cell['B']} | {cell['alpha']} | {cell['beta']} |")
  for v, reasons in f["not_identified"].items():
    for reason in reasons:
      lines.append(f"\n- {v}: not identified — {reason}")
  for c in f.get("comparisons") or [dict(f, subject="structured", baseline="token")]:
    a, b = c["subject"], c["baseline"]
    if c["parametric_multiplier"]:
      lines += ["", f"## The fits' multiplier, {a} over {b} (measured range, then at most one decade beyond: "
                "extrapolated)", "", "| C (FLOPs) | m | 95% interval | |", "|---|---|---|---|"]
      for r in c["parametric_multiplier"]:
        lines.append(f"| {r['C']:.3g} | {_x(r['m'])} | {_interval(r['lo'], r['hi'])} | "
                     f"{'extrapolated' if r['extrapolated'] else 'measured range'} |")
  lines += ["", "## Do the exponents differ?", ""]
  for c in f.get("comparisons") or [dict(f, subject="structured", baseline="token")]:
    t = c.get("shared_exponents_test")
    head = f"{c['subject']} vs {c['baseline']}: "
    if t and not math.isnan(t.get("p_value", math.nan)):
      lines.append(f"- {head}F-test of shared (α, β) against separate ones, E, A, B free per variant (least squares "
                   f"on log L): F = {t['F']:.3g}, df = {tuple(t['df'])}, p = {t['p_value']:.3g}.")
    else:
      lines.append(f"- {head}not tested: " + ((t or {}).get("note") or "the test needs both fits identified (see "
                                                "above)") + ".")
    it = c.get("isoflop_exponent_test")
    if it:
      lines.append(f"- {head}compute-optimal size exponents (isoFLOP) differ by {it['difference']:+.3f} (95% interval "
                   f"{it['interval'][0]:+.3f} to {it['interval'][1]:+.3f}): "
                   + ("they differ." if it["differ"] else "no difference measured."))
    else:
      lines.append(f"- {head}isoFLOP exponents not compared: both need an identified isoFLOP fit (three interior "
                   "budgets).")
  for v in f["laws"]:
    iso, lc = f["isoflop"][v], f["compute_frontier"][v]
    lines.append(f"- **{v}**: " + "; ".join(filter(None, [
        isoflop_line(iso),
        f"L(C) frontier E = {lc['E']:.3g}, γ = {lc['gamma']:.3g}" if lc else None])))
  refs = f.get("references") or {}
  lines += ["", "## Runs", "", "Validation bits per byte beside classical compressors on the same held-out files"
            + (" (" + ", ".join(f"{k}: {v:.3f}" for k, v in refs.items()) + ")" if refs else "") + ". N_lookup: "
            "input tables (no FLOPs), not in N.", "",
            "| run | variant | N | output layer / N | N_lookup | tokens/byte | LR | D (bytes) | C (FLOPs) | epochs | "
            "bits/byte |", "|---|---|---|---|---|---|---|---|---|---|---|"]
  for r in f["table"]:
    lr = f"{r['learning_rate']:.3g}" if r.get("learning_rate") else ""
    tpb = f"{r['tokens_per_byte']:.4f}" if r.get("tokens_per_byte") else ""
    share = f"{r['output_share']:.0%}" if r.get("output_share") is not None else ""
    lines.append(f"| {r['run']} | {r['variant']} | {r['N']:.3g} | {share} | {r['N_lookup']:.3g} | {tpb} | {lr} | "
                 f"{r['D']:.3g} | {r['C']:.3g} | {r['epochs']:.2g} | {r['bpb']:.3f} |")
  lines += ["", "## Figures", ""] + [f"![{n}]({n})" for n in f["figures"] if n.endswith(".png")]
  lines += ["", "## Caveats", ""] + [f"- {c}" for c in f["caveats"]]
  if f["excluded"]:
    lines += ["", f"Excluded runs: {f['excluded']}."]
  return "\n".join(lines) + "\n"
