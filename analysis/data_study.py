"""The data-constrained comparison (`make data-study`, experiments/cpu_data.py): when unique code is the limit, how
much is each variant's data worth?

Per variant, Muennighoff et al.'s (2023) effective data D' = U + U R* (1 - exp(-(E - 1) / R*)) (U unique bytes,
E epochs) inside L = e_N + B / D'^beta (one floor e_N per model size, B, beta and R* shared): R* is the repetition
half-life (larger: repeated data keeps more of its value), fitted in log space with intervals from residual
resampling, "not identified" when the design cannot pin it. The *data multiplier* comes from the runs alone: the
unique bytes the token model needs, at the same size and epochs, to reach a grammar variant's loss (log-log
interpolation between the token runs' U levels; beyond them only a bound), over the grammar variant's U, with
a 95% interval from redrawing every run's loss with the seed noise of one run (the CPU study's measured spread:
each cell is one seed). Plots: loss against epochs per U (a panel per variant) and the multiplier against U.

python -m analysis.data_study runs/data-study [--out DIR] [--noise 0.044 | --study docs/study]
    [--publish docs/data-study --readme README.md]
"""
from __future__ import annotations

import argparse
import json
import math
import os

import numpy as np
from scipy import optimize

R_BOUNDS = (0.1, 1e3)  # R* searched in this range: an estimate at either end is not identified


def effective_data(U, E, r_star):
  U, E = np.asarray(U, float), np.asarray(E, float)
  return U + U * r_star * (1 - np.exp(-(E - 1) / r_star))


def _predict(p, size_index, U, E):
  n_sizes = int(size_index.max()) + 1
  floors, log_b, beta, log_r = p[:n_sizes], p[n_sizes], p[n_sizes + 1], p[n_sizes + 2]
  return floors[size_index] + math.exp(log_b) / effective_data(U, E, math.exp(log_r)) ** beta


def fit_variant(size_index, U, E, L, start=None) -> dict:
  """Least squares in log loss over (e_N per size, log B, beta, log R*), from several starts of R* (or `start`)."""
  size_index, U, E, L = (np.asarray(x) for x in (size_index, U, E, L))
  n_sizes = int(size_index.max()) + 1
  best = None
  starts = [np.concatenate([[float(L[size_index == k].min()) * 0.7 for k in range(n_sizes)],
                            [math.log(10.0), 0.3, math.log(r0)]]) for r0 in (1.0, 5.0, 30.0)]
  for p0 in ([np.asarray(start)] if start is not None else starts):
    lo = np.concatenate([np.zeros(n_sizes), [-10, 0.01, math.log(R_BOUNDS[0])]])
    hi = np.concatenate([np.full(n_sizes, float(L.min())), [50, 2.0, math.log(R_BOUNDS[1])]])
    res = optimize.least_squares(lambda p: np.log(_predict(p, size_index, U, E)) - np.log(L), np.clip(p0, lo, hi),
                                 bounds=(lo, hi))
    if best is None or res.cost < best.cost:
      best = res
  r = math.exp(best.x[n_sizes + 2])
  resid = best.fun
  return dict(R_star=r, params=best.x.tolist(), sigma=float(np.sqrt(np.mean(resid ** 2))), runs=int(len(L)))


def bootstrap_r_star(size_index, U, E, L, fit: dict, n: int = 200, seed: int = 0) -> np.ndarray:
  """R* refitted on the fitted losses with resampled residuals (log space; centred and rescaled by
  sqrt(n / (n - parameters)), as fitted residuals understate the noise)."""
  rng = np.random.default_rng(seed)
  size_index, U, E, L = (np.asarray(x) for x in (size_index, U, E, L))
  pred = _predict(np.asarray(fit["params"]), size_index, U, E)
  resid = np.log(L) - np.log(pred)
  resid = (resid - resid.mean()) * math.sqrt(len(L) / max(len(L) - len(fit["params"]), 1))  # fitted residuals
  out = [fit_variant(size_index, U, E, pred * np.exp(rng.choice(resid, len(resid))), start=fit["params"])["R_star"]
         for _ in range(n)]
  return np.asarray(out)


def r_star_summary(rows: list[dict], n_boot: int = 200, seed: int = 0) -> dict:
  sizes = sorted({r["preset"] for r in rows})
  idx = np.array([sizes.index(r["preset"]) for r in rows])
  U, E, L = (np.array([r[k] for r in rows], float) for k in ("U", "epochs", "bpb"))
  if (E > 1.0001).sum() < 3 or len({round(u) for u in U}) < 2:
    return dict(identified=False, why="fewer than 3 repeated runs or one U level: add epochs or U levels")
  fit = fit_variant(idx, U, E, L)
  boot = bootstrap_r_star(idx, U, E, L, fit, n_boot, seed)
  # in log R*: the estimate +- Student's t (runs less parameters degrees of freedom) x the draws' spread
  from scipy import stats
  half = stats.t.ppf(0.975, max(fit["runs"] - len(fit["params"]), 1)) * float(np.std(np.log(boot)))
  lo, hi = math.exp(math.log(fit["R_star"]) - half), math.exp(math.log(fit["R_star"]) + half)
  edge = min(lo, fit["R_star"]) <= R_BOUNDS[0] * 1.05 or max(hi, fit["R_star"]) >= R_BOUNDS[1] / 1.05
  wide = hi / lo > 10
  why = ("R*'s interval reaches the search range's edge: add epochs beyond the half-life" if edge else
         "R*'s 95% interval spans more than 10x: add epochs or U levels" if wide else None)
  return dict(identified=why is None, why=why, R_star=fit["R_star"], interval=[float(lo), float(hi)],
              sigma=fit["sigma"], runs=fit["runs"], boot=boot.tolist())


def worth_more(a: dict, b: dict) -> float:
  """One-sided bootstrap p that variant a's R* is not above b's (small: a's repeated data is worth more)."""
  ba, bb = np.asarray(a["boot"]), np.asarray(b["boot"])
  n = min(len(ba), len(bb))
  return float(np.mean(ba[:n] <= bb[:n]))


def data_multiplier(rows: list[dict], subject: str, baseline: str = "token") -> list[dict]:
  """At each (size, U, epochs) of `subject`: the unique bytes `baseline` needs at that size and epochs to reach
  its loss, over its U (log-log interpolation between the baseline's U levels; outside them a bound)."""
  out = []
  for r in rows:
    if r["variant"] != subject:
      continue
    base = sorted((b["U"], b["bpb"]) for b in rows if b["variant"] == baseline and b["preset"] == r["preset"]
                  and abs(b["epochs"] - r["epochs"]) / r["epochs"] < 0.05)
    if len(base) < 2:
      continue
    u, loss = np.log([b[0] for b in base]), np.array([b[1] for b in base])
    row = dict(preset=r["preset"], U=r["U"], epochs=round(r["epochs"], 2), loss=r["bpb"])
    if r["bpb"] < loss.min():
      row.update(multiplier=None, bound=f"> {math.exp(u[np.argmin(loss)]) / r['U']:.3g}")
    elif r["bpb"] > loss.max():
      row.update(multiplier=None, bound=f"< {math.exp(u[np.argmax(loss)]) / r['U']:.3g}")
    else:  # the first crossing, walking from the smallest U
      for i in range(len(u) - 1):
        (l0, l1), (u0, u1) = loss[i:i + 2], u[i:i + 2]
        if min(l0, l1) <= r["bpb"] <= max(l0, l1) and l0 != l1:
          row.update(multiplier=math.exp(u0 + (r["bpb"] - l0) / (l1 - l0) * (u1 - u0)) / r["U"], bound=None)
          break
      else:
        row.update(multiplier=None, bound="not monotone")
    out.append(row)
  return out


def multiplier_intervals(rows: list[dict], subject: str, noise: float, n: int = 1000, seed: int = 0,
                         baseline: str = "token") -> list[dict]:
  """`data_multiplier` with a 95% interval per cell: every run's loss redrawn N(loss, noise) `n` times; a draw
  beyond the baseline's U levels counts as 0 or infinity (an interval end there is open), one where the baseline's
  losses are not monotone is left out."""
  point = data_multiplier(rows, subject, baseline)
  rng = np.random.default_rng(seed)
  draws: list[list[float]] = [[] for _ in point]
  for _ in range(n):
    noisy = [dict(r, bpb=r["bpb"] + rng.normal(0.0, noise)) for r in rows]
    for i, m in enumerate(data_multiplier(noisy, subject, baseline)):
      if m["multiplier"] is not None:
        draws[i].append(m["multiplier"])
      elif m["bound"][0] in "<>":
        draws[i].append(math.inf if m["bound"][0] == ">" else 0.0)
  for p, d in zip(point, draws):
    lo, hi = np.percentile(d, [2.5, 97.5], method="inverted_cdf") if d else (math.nan, math.nan)  # (no inf - inf)
    p["interval"] = [float(lo), float(hi)]
  return point


def _fmt_interval(lo: float, hi: float) -> str:
  if math.isnan(lo):
    return "–"
  if lo == math.inf:
    return "beyond the token runs in ≥ 97.5% of draws"
  return (f"{lo:.2f}×" if lo > 0 else "0") + " – " + (f"{hi:.2f}×" if math.isfinite(hi) else "∞")


def verdicts(mult: dict) -> list[str]:
  """Plain words per grammar variant and size, on fresh data (1 epoch) at each U, and on repeated data."""
  out = []
  for v, cells in mult.items():
    for size in sorted({c["preset"] for c in cells}):
      fresh = sorted((c for c in cells if c["preset"] == size and abs(c["epochs"] - 1) < 0.05), key=lambda c: c["U"])
      parts = []
      for c in fresh:
        lo, hi = c["interval"]
        if c["multiplier"] is None:
          parts.append(f"U = {c['U']:.3g} B: {c['bound']} (beyond the token runs' U levels)")
        elif lo > 1:
          parts.append(f"U = {c['U']:.3g} B: {c['multiplier']:.2f}× ({_fmt_interval(lo, hi)})")
        else:
          parts.append(f"U = {c['U']:.3g} B: the runs cannot tell ({c['multiplier']:.2f}×, {_fmt_interval(lo, hi)})")
      if parts:
        out.append(f"- **{v}** ({size}, 1 epoch): its data is worth, in token's unique bytes, " + "; ".join(parts) + ".")
  return out


def curves(rows: list[dict]) -> dict:
  """{(variant, size, U): [(epochs, loss), ...] in order of epochs}: each (variant, size, U)'s runs."""
  out: dict = {}
  for r in rows:
    out.setdefault((r["variant"], r["preset"], r["U"]), []).append((r["epochs"], r["bpb"]))
  return {k: sorted(v) for k, v in sorted(out.items())}


def plot(rows: list[dict], mult: dict, out_dir: str) -> list[str]:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  variants = sorted({r["variant"] for r in rows})
  fig, axes = plt.subplots(1, len(variants), figsize=(4.2 * len(variants), 3.6), sharey=True, squeeze=False)
  by_curve = curves(rows)
  for ax, v in zip(axes[0], variants):
    for (w, size, u), pts in by_curve.items():
      if w != v:
        continue
      ax.plot(*zip(*pts), marker="o", ls="-" if size == min(r["preset"] for r in rows) else "--",
              label=f"{size}, U={u / 1e3:.0f} kB")
    ax.set_xscale("log")
    ax.set_title(v)
    ax.set_xlabel("epochs")
  axes[0][0].set_ylabel("bits/byte (test split)")
  axes[0][-1].legend(fontsize=7)
  fig.tight_layout()
  files = [os.path.join(out_dir, "loss_vs_epochs.png")]
  fig.savefig(files[0], dpi=110)
  plt.close(fig)
  fig, ax = plt.subplots(figsize=(5, 3.6))
  for v, cells in mult.items():
    for size in sorted({c["preset"] for c in cells}):
      pts = [(c["U"], c["multiplier"], c["interval"]) for c in cells
             if c["preset"] == size and abs(c["epochs"] - 1) < 0.05 and c["multiplier"] is not None]
      if pts:
        pts.sort()
        x, y = [p[0] for p in pts], [p[1] for p in pts]
        err = [[max(p[1] - p[2][0], 0) for p in pts], [min(p[2][1], 1e3) - p[1] for p in pts]]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=f"{v} {size}")
  ax.axhline(1, color="grey", lw=0.8)
  ax.set_xscale("log")
  ax.set_xlabel("unique bytes U")
  ax.set_ylabel("token's U / its own (1 epoch)")
  ax.legend(fontsize=7)
  fig.tight_layout()
  files.append(os.path.join(out_dir, "data_multiplier.png"))
  fig.savefig(files[1], dpi=110)
  plt.close(fig)
  return files


def readme_block(result: dict, docs: str) -> str:
  """The README's lines: one sentence and a small table of the fresh-data multipliers."""
  mult = result["data_multiplier"]
  levels = sorted({c["U"] for cells in mult.values() for c in cells})
  head = "| on fresh data (1 epoch): token's unique bytes / the variant's | " + " | ".join(
      f"U = {u / 1e3:,.0f} kB" for u in levels) + " |"
  lines = [head, "|---|" + "---|" * len(levels)]
  for v, cells in mult.items():
    for size in sorted({c["preset"] for c in cells}):
      row = {c["U"]: c for c in cells if c["preset"] == size and abs(c["epochs"] - 1) < 0.05}
      vals = []
      for u in levels:
        c = row.get(u)
        vals.append("–" if c is None else c["bound"] if c["multiplier"] is None else
                    f"{c['multiplier']:.1f}× ({_fmt_interval(*c['interval'])})")
      lines.append(f"| {v} {size} | " + " | ".join(vals) + " |")
  told = [c["multiplier"] for cells in mult.values() for c in cells
          if abs(c["epochs"] - 1) < 0.05 and c["multiplier"] is not None and c["interval"][0] > 1]
  m_line = (f"where the runs can tell (interval above 1), token needs {min(told):.1f}–{max(told):.1f}× a grammar "
            "variant's unique bytes to reach its loss on fresh data" if told else
            "the runs cannot tell whether a grammar variant's bytes are worth more than token's")
  ids = [v for v, s in result["r_star"].items() if s.get("identified")]
  over = result.get("overfit", [])
  r_line = ("repetition half-life R* identified for " + ", ".join(ids) if ids else
            "no variant's repetition half-life R* is identified")
  if over:
    r_line += (f"; in {len(over)} of the (variant, size, U) cells the loss at the most epochs is worse than at "
               "fewer by more than two runs' seed noise (repeating then overfits: Muennighoff's law has no such "
               "turn)")
  d = result["design"]
  return (f"**When unique code is the limit** (U of {d['U'][0] / 1e6:.2g}–{d['U'][-1] / 1e6:.2g} MB of the "
          f"training files, {d['epochs'][0]}–{d['epochs'][-1]} epochs, sizes {' and '.join(d['sizes'])}): {m_line}; "
          f"{r_line}. Details: "
          f"[{docs}/data_study.md]({docs}/data_study.md).\n\n" + "\n".join(lines) + "\n")


def publish(runs_dir: str, out_dir: str, docs: str, readme: str | None) -> None:
  """Copy the report, plots and every run's result.json to `docs`; fill the README's data-study block."""
  import shutil

  from analysis import arms
  from analysis.publish import copy_results
  os.makedirs(docs, exist_ok=True)
  for f in ("data_study.md", "data_study.json", "loss_vs_epochs.png", "data_multiplier.png"):
    shutil.copy(os.path.join(out_dir, f), os.path.join(docs, f))
  copy_results(runs_dir, os.path.join(docs, "runs"))
  if readme:
    with open(os.path.join(out_dir, "data_study.json")) as f:
      result = json.load(f)
    arms.publish(readme_block(result, docs), readme, name="data-study")


def collect(runs_dir: str) -> list[dict]:
  """The runs as this analysis reads them: U (unique bytes) and epochs from analysis.collect's rows."""
  from analysis import collect as collect_lib
  rows, _ = collect_lib.collect(runs_dir, allow_dirty=True)
  if not rows:
    raise ValueError(f"no finished runs under {runs_dir}: run experiments/cpu_data.py first")
  return [dict(variant=r["variant"], preset=r["preset"], U=r["unique_bytes"], epochs=r["epochs"], bpb=r["bpb"],
               run=r["run"]) for r in rows]


def analyze(runs_dir: str, out_dir: str, n_boot: int = 200, noise: float = 0.044) -> dict:
  rows = collect(runs_dir)
  variants = sorted({r["variant"] for r in rows})
  r_star = {v: r_star_summary([r for r in rows if r["variant"] == v], n_boot, seed=i) for i, v in enumerate(variants)}
  tests = {f"{a} over {b}": worth_more(r_star[a], r_star[b]) for a in variants for b in variants
           if a != b and r_star[a].get("identified") and r_star[b].get("identified")}
  mult = {v: multiplier_intervals(rows, v, noise, seed=i) for i, v in enumerate(variants) if v != "token"}
  lines = ["| variant | R* (repetition half-life) | 95% interval | runs |", "|---|---|---|---|"]
  for v, s in r_star.items():
    lines.append(f"| {v} | " + (f"{s['R_star']:.3g} | {s['interval'][0]:.3g}–{s['interval'][1]:.3g} | {s['runs']} |"
                                if s["identified"] else f"not identified ({s['why']}) | | |"))
  lines += ["", f"The data multiplier (token's unique bytes to reach the variant's loss at the same size and epochs, "
            f"over the variant's; 95% interval from every run's loss redrawn with one run's seed noise, {noise:.3f} "
            "bits/byte):", "", *verdicts(mult), "",
            "| variant | size | U (bytes) | epochs | loss | token's unique bytes / its own | 95% interval |",
            "|---|---|---|---|---|---|---|"]
  for v, rs in mult.items():
    lines += [f"| {v} | {m['preset']} | {m['U']:.3g} | {m['epochs']:g} | {m['loss']:.3f} | "
              + (f"{m['multiplier']:.2f}×" if m["multiplier"] is not None else m["bound"])
              + f" | {_fmt_interval(*m['interval'])} |" for m in rs]
  lines += ["", "| variant | size | U (bytes) | loss at 1 / 4 / 16 epochs (and more) |", "|---|---|---|---|"]
  by_curve = curves(rows)
  for (v, size, u), pts in by_curve.items():
    lines.append(f"| {v} | {size} | {u:.3g} | " + " / ".join(f"{b:.3f}" for _, b in pts) + " |")
  overfit = []  # (variant, size, U) whose loss at its most epochs exceeds its best by more than two runs' noise
  for (v, size, u), pts in by_curve.items():
    if len(pts) > 1 and pts[-1][1] - min(b for _, b in pts) > 2 * math.sqrt(2) * noise:
      overfit.append([v, size, u])
  result = dict(r_star={v: {k: x for k, x in s.items() if k != "boot"} for v, s in r_star.items()},
                tests_p=tests, data_multiplier=mult, seed_noise=noise, overfit=overfit, markdown="\n".join(lines),
                design=dict(U=sorted({r["U"] for r in rows}), epochs=sorted({round(r["epochs"]) for r in rows}),
                            sizes=sorted({r["preset"] for r in rows})))
  os.makedirs(out_dir, exist_ok=True)
  result["plots"] = plot(rows, mult, out_dir)
  with open(os.path.join(out_dir, "data_study.json"), "w") as f:
    json.dump({k: v for k, v in result.items() if k != "markdown"}, f, indent=1)
  with open(os.path.join(out_dir, "data_study.md"), "w") as f:
    f.write(result["markdown"] + "\n")
  return result


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("runs_dir")
  ap.add_argument("--out")
  ap.add_argument("--bootstrap", type=int, default=200)
  ap.add_argument("--noise", type=float, help="one run's seed noise in bits/byte (default: the study's, --study)")
  ap.add_argument("--study", default="docs/study", help="the CPU study's report folder (its fits.json's seed noise)")
  ap.add_argument("--publish", help="copy the report, plots and runs' result.json here, e.g. docs/data-study")
  ap.add_argument("--readme", help="with --publish: fill this page's <!-- data-study:begin/end --> block")
  args = ap.parse_args()
  noise = args.noise
  if noise is None:
    with open(os.path.join(args.study, "fits.json")) as f:
      noise = json.load(f)["seed_noise"]["used"]
  out = args.out or args.runs_dir
  print(analyze(args.runs_dir, out, args.bootstrap, noise)["markdown"])
  if args.publish:
    publish(args.runs_dir, out, args.publish, args.readme)


if __name__ == "__main__":
  main()
