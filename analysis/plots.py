"""The study's pictures (matplotlib, PNG and PDF): loss vs compute with frontiers, isoFLOP curves, the
multiplier with its band, residuals. Log-log axes, units on every axis, one colour per variant."""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

COLORS = {"token": "tab:blue", "structured": "tab:orange"}
MARKERS = {"token": "o", "structured": "s"}


def _save(fig, out_dir, name):
  fig.tight_layout()
  paths = []
  for ext in ("png", "pdf"):
    p = os.path.join(out_dir, f"{name}.{ext}")
    fig.savefig(p, dpi=130)
    paths.append(p)
  plt.close(fig)
  return paths


def loss_vs_compute(rows, frontiers, out_dir, references=None):
  """frontiers: variant -> (C array, L* array); references: label -> bits per byte (horizontal lines)."""
  fig, ax = plt.subplots(figsize=(7, 4.6))
  Ns = np.array([r["N"] for r in rows])
  norm = matplotlib.colors.LogNorm(Ns.min(), Ns.max() if Ns.max() > Ns.min() else Ns.min() * 10)
  for v in sorted({r["variant"] for r in rows}):
    rs = [r for r in rows if r["variant"] == v]
    sc = ax.scatter([r["C"] for r in rs], [r["bpb"] for r in rs], c=[r["N"] for r in rs], norm=norm,
                    cmap="viridis", marker=MARKERS.get(v, "o"), edgecolors=COLORS.get(v, "k"), linewidths=1.2,
                    s=36, label=f"{v} runs")
    if v in frontiers:
      C, L = frontiers[v]
      ax.plot(C, L, color=COLORS.get(v, "k"), lw=2, label=f"{v} compute-optimal frontier")
  ax.set_xscale("log")
  ax.set_yscale("log")
  refs = sorted((references or {}).items(), key=lambda kv: -kv[1])
  for i, (label, y) in enumerate(refs):  # labelled at the left edge, alternately above and below the line
    ax.axhline(y, ls=":", color="gray", lw=1)
    ax.text(0.01, y, f"{label} ({y:.2f})", transform=ax.get_yaxis_transform(), va="bottom" if i % 2 == 0 else "top",
            fontsize=8, color="dimgray")
  ax.set_xlabel("training compute C (FLOPs)")
  ax.set_ylabel("validation loss (bits per source byte)")
  fig.colorbar(sc, ax=ax, label="parameters N")
  ax.legend(fontsize=8, loc="upper right")
  ax.set_title("Loss vs compute")
  return _save(fig, out_dir, "loss_vs_compute")


def isoflop_curves(iso, out_dir):
  """iso: variant -> isoflop() result (or None)."""
  fig, ax = plt.subplots(figsize=(7, 4.6))
  drawn = False
  for v, res in iso.items():
    if not res:
      continue
    for b in res["budgets"]:
      x = np.linspace(np.log(min(b["runs_N"])), np.log(max(b["runs_N"])), 50)
      ax.plot(np.exp(x), np.polyval(b["parabola"], x), color=COLORS.get(v, "k"), alpha=0.7)
      ax.scatter(b["runs_N"], b["runs_L"], color=COLORS.get(v, "k"), marker=MARKERS.get(v, "o"), s=14, alpha=0.8)
      ax.plot(b["N_opt"], b["L_opt"], marker="*", color=COLORS.get(v, "k"), ms=10)
    ax.plot([], [], color=COLORS.get(v, "k"), marker=MARKERS.get(v, "o"),
            label=f"{v}: runs and a parabola per budget (* = optimum)")
    drawn = True
  if not drawn:
    ax.text(0.5, 0.5, "no isoFLOP budgets with three or more model sizes", ha="center", transform=ax.transAxes)
  ax.set_xscale("log")
  ax.set_xlabel("parameters N")
  ax.set_ylabel("validation loss (bits per source byte)")
  ax.set_title("IsoFLOP curves")
  if drawn:
    ax.legend(fontsize=8)
  return _save(fig, out_dir, "isoflop")


def multiplier_band(budgets, point, lo, hi, out_dir):
  """m(C) with its 95% band; budgets where the token model can never match (m = inf) get a marker on top."""
  fig, ax = plt.subplots(figsize=(7, 4.2))
  budgets = np.asarray(budgets, float)
  point, lo, hi = (np.asarray(x, float) for x in (point, lo, hi))
  band = np.isfinite(lo) & np.isfinite(hi)
  ax.fill_between(budgets[band], lo[band], hi[band], color=COLORS["structured"], alpha=0.25,
                  label="95% bootstrap interval")
  finite = np.isfinite(point)
  ax.plot(budgets[finite], point[finite], color=COLORS["structured"], lw=2, marker="o", ms=3, label="estimate")
  ax.axhline(1, color="gray", ls="--", lw=1, label="no advantage (m = 1)")
  ax.set_xscale("log")
  ax.set_yscale("log")
  if (~finite).any():
    top = ax.get_ylim()[1]
    ax.plot(budgets[~finite], np.full((~finite).sum(), top), ls="none", marker="^", ms=9,
            color=COLORS["structured"], clip_on=False, label="token model never matches")
  ax.set_xlabel("compute C of the structured model (FLOPs)")
  ax.set_ylabel("compute multiplier m(C) (×)")
  ax.set_title("Token-model compute needed to match the structured model")
  ax.legend(fontsize=8, loc="upper left")
  return _save(fig, out_dir, "multiplier")


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
  ax.legend(fontsize=8)
  return _save(fig, out_dir, "residuals")
