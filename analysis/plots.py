"""The study's pictures (matplotlib, PNG and PDF): loss vs compute with frontiers, isoFLOP curves, the
multiplier with its band, residuals. Log axes labelled with plain numbers, the measured compute range shaded,
extrapolations dashed, units on every axis, one colour per variant."""
from __future__ import annotations

import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
import numpy as np  # noqa: E402

COLORS = {"token": "tab:blue", "structured": "tab:orange", "scoped_recency": "tab:green", "scoped": "tab:purple",
          "scoped_file": "tab:olive"}
MARKERS = {"token": "o", "structured": "s", "scoped_recency": "^", "scoped": "D", "scoped_file": "v"}


def _save(fig, out_dir, name):
  fig.tight_layout()
  paths = []
  for ext in ("png", "pdf"):
    p = os.path.join(out_dir, f"{name}.{ext}")
    fig.savefig(p, dpi=130)
    paths.append(p)
  plt.close(fig)
  return paths


def plain_log_axis(axis, linear_ticks: bool = False) -> None:
  """A log axis labelled with plain numbers (2.0, 2.5, 3.0, not 3×10⁰): evenly stepped ticks for a short range
  (losses), 1-2-5 ticks for a long one (multipliers); no minor labels."""
  if linear_ticks:
    axis.set_major_locator(mticker.MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
  else:
    axis.set_major_locator(mticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
  axis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
  axis.set_minor_formatter(mticker.NullFormatter())


def _measured_range(ax, crange):
  ax.axvspan(crange[0], crange[1], color="0.92", zorder=0, label="measured compute range")


def loss_vs_compute(rows, envelopes, curves, crange, out_dir, references=None):
  """Runs, each variant's measured frontier (envelope, solid) and, for identified fits, the fitted frontier
  (dotted inside the measured range, dashed beyond: extrapolated); compressors as horizontal lines."""
  fig, ax = plt.subplots(figsize=(7.2, 4.8))
  _measured_range(ax, crange)
  Ns = np.array([r["N"] for r in rows])
  norm = matplotlib.colors.LogNorm(Ns.min(), Ns.max() if Ns.max() > Ns.min() else Ns.min() * 10)
  sc = None
  for v in sorted({r["variant"] for r in rows}):
    rs = [r for r in rows if r["variant"] == v]
    sc = ax.scatter([r["C"] for r in rs], [r["bpb"] for r in rs], c=[r["N"] for r in rs], norm=norm,
                    cmap="viridis", marker=MARKERS.get(v, "o"), edgecolors=COLORS.get(v, "k"), linewidths=1.2,
                    s=36, label=f"{v} runs", zorder=3)
    if v in envelopes:
      lc, ll = envelopes[v]
      ax.plot(np.exp(lc), np.exp(ll), color=COLORS.get(v, "k"), lw=2, label=f"{v} measured frontier", zorder=2)
    if v in curves:
      C, L = curves[v]
      inside = C <= crange[1] * 1.0001
      ax.plot(C[inside], L[inside], color=COLORS.get(v, "k"), lw=1.2, ls=":", label=f"{v} fitted frontier")
      ax.plot(C[~inside], L[~inside], color=COLORS.get(v, "k"), lw=1.2, ls="--", label=f"{v} fit, extrapolated")
  ax.set_xscale("log")
  ax.set_yscale("log")
  plain_log_axis(ax.yaxis, linear_ticks=True)
  refs = sorted((references or {}).items(), key=lambda kv: -kv[1])
  for i, (label, y) in enumerate(refs):  # labelled at the left edge, alternately above and below the line
    ax.axhline(y, ls=":", color="gray", lw=1)
    ax.text(0.01, y, f"{label} ({y:.2f})", transform=ax.get_yaxis_transform(), va="bottom" if i % 2 == 0 else "top",
            fontsize=8, color="dimgray")
  ax.set_xlabel("training compute C (FLOPs)")
  ax.set_ylabel("loss on the scored files (bits per source byte)")
  if sc is not None:
    fig.colorbar(sc, ax=ax, label="parameters N (non-embedding + output)")
  ax.legend(fontsize=7, loc="upper right")
  ax.set_title("Loss vs compute")
  return _save(fig, out_dir, "loss_vs_compute")


def isoflop_curves(iso, out_dir):
  """iso: variant -> isoflop() result (or None)."""
  fig, ax = plt.subplots(figsize=(7, 4.6))
  drawn = False
  for v, res in iso.items():
    if not res:
      continue
    for b in res.get("all_budgets", res["budgets"]):
      x = np.linspace(np.log(min(b["runs_N"])), np.log(max(b["runs_N"])), 50)
      if b.get("parabola"):
        ax.plot(np.exp(x), np.polyval(b["parabola"], x), color=COLORS.get(v, "k"), alpha=0.7,
                ls="-" if b["status"] == "interior" else ":")
      ax.scatter(b["runs_N"], b["runs_L"], color=COLORS.get(v, "k"), marker=MARKERS.get(v, "o"), s=14, alpha=0.8)
      if b["status"] == "interior":
        ax.plot(b["N_opt"], b["L_opt"], marker="*", color=COLORS.get(v, "k"), ms=10)
      ax.annotate(f"{b['C']:.0e}", (b["runs_N"][-1], b["runs_L"][-1]), fontsize=7, xytext=(3, 0),
                  textcoords="offset points")
    ax.plot([], [], color=COLORS.get(v, "k"), marker=MARKERS.get(v, "o"),
            label=f"{v}: runs and a parabola per budget (* = interior optimum; dotted: edge)")
    drawn = True
  if not drawn:
    ax.text(0.5, 0.5, "no isoFLOP budgets with three or more model sizes", ha="center", transform=ax.transAxes)
  ax.set_xscale("log")
  ax.set_xlabel("parameters N (non-embedding + output)")
  ax.set_ylabel("loss on the scored files (bits per source byte)")
  ax.set_title("IsoFLOP curves")
  if drawn:
    ax.legend(fontsize=8)
  return _save(fig, out_dir, "isoflop")


def multiplier_band(measured_rows, parametric_rows, crange, out_dir, subject: str = "structured",
                    baseline: str = "token", primary: bool = True):
  """m(C) from the runs alone (solid, band: 95% bootstrap) and from identified fits (dotted in the measured
  range, dashed beyond it); bounds where the baseline's runs do not bracket the subject's loss as triangles.
  The primary comparison's figure is multiplier.png, the others multiplier_<subject>_<baseline>.png."""
  fig, ax = plt.subplots(figsize=(7.2, 4.4))
  _measured_range(ax, crange)
  col = COLORS.get(subject, "k")
  C = np.array([r["C"] for r in measured_rows])
  m = np.array([r["m"] if r["kind"] == "value" else np.nan for r in measured_rows])
  lo = np.array([r["lo"] for r in measured_rows])
  hi = np.array([r["hi"] for r in measured_rows])
  band = np.isfinite(lo) & np.isfinite(hi) & (lo > 0)
  if band.any():
    ax.fill_between(C[band], lo[band], hi[band], color=col, alpha=0.25, label="95% interval (runs resampled)")
  ok = np.isfinite(m)
  ax.plot(C[ok], m[ok], color=col, lw=2, marker="o", ms=3, label="from the runs alone")
  for r in measured_rows:
    if r["kind"] != "value" and math.isfinite(r["bound"]) and r["bound"] > 0:
      ax.plot(r["C"], r["bound"], ls="none", marker="^" if r["kind"] == "above" else "v", color=col, ms=8)
  if parametric_rows:
    Cp = np.array([r["C"] for r in parametric_rows])
    mp = np.array([r["m"] for r in parametric_rows])
    ex = np.array([r["extrapolated"] for r in parametric_rows])
    fin = np.isfinite(mp)
    ax.plot(Cp[fin & ~ex], mp[fin & ~ex], color="k", lw=1.2, ls=":", label="from the fits")
    ax.plot(Cp[fin & (ex | np.roll(ex, -1))], mp[fin & (ex | np.roll(ex, -1))], color="k", lw=1.2, ls="--",
            label="from the fits, extrapolated")
  ax.axhline(1, color="gray", ls="--", lw=1, label="no advantage (m = 1)")
  ax.set_xscale("log")
  ax.set_yscale("log")
  plain_log_axis(ax.yaxis)
  ax.set_xlabel(f"compute C of the {subject} model (FLOPs)")
  ax.set_ylabel("compute multiplier m(C) (×)")
  ax.set_title(f"{baseline.capitalize()}-model compute needed to match the {subject} model")
  ax.legend(fontsize=7, loc="best")
  return _save(fig, out_dir, "multiplier" if primary else f"multiplier_{subject}_{baseline}")


def residuals(rows, laws, out_dir):
  fig, ax = plt.subplots(figsize=(7, 4.2))
  for v, law in laws.items():
    rs = [r for r in rows if r["variant"] == v]
    pred = law.loss(np.array([r["N"] for r in rs]), np.array([r["D"] for r in rs]))
    ax.scatter([r["C"] for r in rs], np.log(np.array([r["bpb"] for r in rs]) / pred), color=COLORS.get(v, "k"),
               marker=MARKERS.get(v, "o"), label=v, s=24)
  ax.axhline(0, color="gray", lw=1)
  ax.set_xscale("log")
  ax.set_xlabel("training compute C (FLOPs)")
  ax.set_ylabel("log(observed / fitted loss)")
  ax.set_title("Residuals of the L(N, D) fits")
  if laws:
    ax.legend(fontsize=8)
  else:
    ax.text(0.5, 0.5, "no fitted law (the design cannot identify one)", ha="center", transform=ax.transAxes)
  return _save(fig, out_dir, "residuals")
