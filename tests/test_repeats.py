"""Seed repeats: the study's design puts them around each budget's best run, the analysis measures the seed noise
from them and counts a repeated size once, at its mean."""
import importlib.util
import json
import os

import numpy as np
import pytest

from analysis import compare, frontier
from structlm import variants

ROOT = os.path.join(os.path.dirname(__file__), "..")


def _study():
  spec = importlib.util.spec_from_file_location("cpu_study", os.path.join(ROOT, "experiments", "cpu_study.py"))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


def test_seed_noise_is_the_pooled_spread_of_repeats_with_the_same_setup():
  rng = np.random.default_rng(0)
  rows = []
  for size in range(40):
    for seed in (0, 1):
      rows.append(dict(variant="token", N=1e4 * (size + 1), C=1e11, bpb=2.0 + rng.normal(0, 0.03), setup="a",
                       seed=seed))
  rows.append(dict(variant="token", N=1e4, C=1e11, bpb=9.0, setup="ctx3072", seed=0))  # another arm: no repeat
  got = compare.seed_noise(rows)
  assert got["measured"] and got["repeated_sizes"] == 40 and 0.022 < got["used"] < 0.038, got
  few = compare.seed_noise(rows[:4])  # two sizes repeated: too few to replace the assumed noise
  assert not few["measured"] and few["used"] == compare.SEED_NOISE and few["sd"] is not None
  rerun = compare.seed_noise([dict(r, seed=0) for r in rows])  # the same seed twice is no repeat
  assert rerun["repeated_sizes"] == 0 and rerun["used"] == compare.SEED_NOISE


def test_a_repeated_size_counts_once_at_its_mean():
  N = np.array([1e4, 1e4, 2e4, 4e4, 8e4])
  L = np.array([2.0, 2.6, 2.1, 2.2, 2.4])  # the single best run is a repeat of the smallest size; its mean is not
  b = compare._budget(N, N * 10, L, np.full(5, 1e11), noise=0.01)
  assert b["runs_N"] == [1e4, 2e4, 4e4, 8e4] and b["runs_L"][0] == pytest.approx(2.3) and b["points"] == 5
  assert b["status"] == "interior"
  edge = compare._budget(N, N * 10, np.array([2.0, 2.02, 2.1, 2.2, 2.4]), np.full(5, 1e11), noise=0.01)
  assert edge["status"] == "edge-small"
  sizes, mean = frontier.per_size_mean(N, L)
  assert list(sizes) == [1e4, 2e4, 4e4, 8e4] and mean[0] == pytest.approx(2.3)


def test_seed_repeats_sit_around_each_budgets_best_run(tmp_path):
  study = _study()
  from structlm import sweeps
  design = {1e11: ("w4", "w6", "w8", "w12"), 3e11: ("w8", "w12", "w16")}
  best = {1e11: "w4", 3e11: "w12"}
  for c, names in design.items():
    for v in variants.HEADLINE:
      for p in names:
        d = tmp_path / sweeps.run_name(dict(variant=v, preset=p, train_flops=c))
        d.mkdir()
        (d / "result.json").write_text(json.dumps(dict(eval_bpb=2.0 if p == best[c] else 2.5)))
  runs = study.seed_repeats(str(tmp_path), design)
  got = {(r["train_flops"], r["preset"]) for r in runs if r["variant"] == "scoped_recency"}
  assert got == {(1e11, "w4"), (1e11, "w6"), (3e11, "w8"), (3e11, "w12"), (3e11, "w16")}
  assert all(r["seed"] == 1 for r in runs) and len(runs) == 3 * 5
  os.remove(tmp_path / "token-w12-C3e11" / "result.json")
  with pytest.raises(FileNotFoundError, match="run the study first"):
    study.seed_repeats(str(tmp_path), design)


def test_isoflop_exponent_test_tells_equal_from_different_allocation():
  from analysis import synthetic
  from analysis.fit import Law

  def iso(laws, v, seed):
    rows = [r for r in synthetic.isoflop_runs(laws=laws, budgets=(1e15, 1e16, 1e17, 1e18), sizes_per_budget=7,
                                              noise=0.002, spread=1.0, seed=seed) if r["variant"] == v]
    return compare.isoflop(*(np.array([r[k] for r in rows]) for k in ("N", "D", "bpb", "C")), n_boot=200,
                           noise=0.002, seed=seed)
  same = synthetic.TRUE  # equal exponents: a = beta / (alpha + beta) for both
  t = compare.isoflop_exponent_test(iso(same, "structured", 1), iso(same, "token", 2))
  assert t is not None and not t["differ"] and t["interval"][0] < 0 < t["interval"][1], t
  other = {"token": Law(A=45.0, B=700.0, E=0.52, alpha=0.4, beta=0.25)}  # (the ladder centres on "token")
  t = compare.isoflop_exponent_test(iso(other, "token", 1), iso(same, "token", 2))
  assert t["differ"] and t["difference"] < 0, t  # the structured law puts more of C into data
  assert compare.isoflop_exponent_test(None, iso(same, "token", 2)) is None


def test_lr_check_takes_each_variants_best_size_at_the_top_budget(tmp_path, monkeypatch):
  study = _study()
  from structlm import sweeps
  top = max(study.DESIGNS[""])
  names = study.DESIGNS[""][top]
  for v, best in (("token", names[2]), ("structured", names[1]), ("scoped_recency", names[3])):
    for p in names:
      d = tmp_path / sweeps.run_name(dict(variant=v, preset=p, train_flops=top))
      d.mkdir()
      (d / "result.json").write_text(json.dumps(dict(eval_bpb=2.0 if p == best else 2.4)))
  monkeypatch.setenv("STRUCTLM_STUDY_RUNS", str(tmp_path))
  runs = study.get_config(f"lr-check-{top:g}").runs  # (`lr-check`: every budget, each read the same way)
  assert {(r["variant"], r["preset"], r["lr_scale"]) for r in runs} == {
      (v, p, study.RULES["v2"]["lr_scale"] * k)
      for v, p in (("token", names[2]), ("structured", names[1]), ("scoped_recency", names[3]))
      for k in (0.25, 0.5, 2.0)}
  v1 = study.get_config(f"v1-lr-check-{top:g}")  # the published study's rule: its scale, square-root batch term
  assert {r["lr_scale"] for r in v1.runs} == {study.RULES["v1"]["lr_scale"] * k for k in (0.25, 0.5, 2.0)}
  assert v1.common.lr_batch_exponent == 0.5 and study.get_config("").common.lr_batch_exponent == 0.0


def test_lr_check_edges_extend_the_grid_past_each_cell_whose_best_is_at_an_edge():
  study = _study()
  check = {"cells": {3e12: {"token": dict(size="w48", bpb={"0.75": 2.09, "1.5": 2.11, "3.0": 2.15}, best_scale=0.75,
                                          at_edge=True),
                            "structured": dict(size="w48", bpb={"0.75": 2.06, "1.5": 2.04, "3.0": 2.05},
                                               best_scale=1.5, at_edge=False)},
                     1e11: {"token": dict(size="w8", bpb={"1.5": 2.6, "3.0": 2.6, "6.0": 2.58}, best_scale=6.0,
                                          at_edge=True)}}}
  assert sorted((r["variant"], r["preset"], r["train_flops"], r["lr_scale"]) for r in study.edge_runs(check)) == [
      ("token", "w48", 3e12, 0.375), ("token", "w8", 1e11, 12.0)]


def test_repeats_are_recognised_across_bookkeeping_only_config_fields(tmp_path):
  """A run made before a bookkeeping field existed (expect_backend absent) and its repeat made after (expect_backend
  "") are the same setup; a field that changes training (lr_scale) is not."""
  from analysis.collect import collect
  for seed, extra in ((0, {}), (1, dict(expect_backend="")), (2, dict(expect_backend="", lr_scale=0.5))):
    d = tmp_path / f"token-w8-s{seed}"
    d.mkdir()
    config = dict(variant="token", preset="w8", train_flops=3e11, seed=seed, **extra)
    (d / "result.json").write_text(json.dumps(dict(variant="token", preset="w8", params=1e4, tokens=1e6, bytes=3e6,
                                                   flops=3e11, eval_bpb=2.0 + 0.1 * seed, config=config)))
  rows, _ = collect(str(tmp_path))
  setups = {r["seed"]: r["setup"] for r in rows}
  assert setups[0] == setups[1] != setups[2]


def test_seed_modes_read_only_the_budgets_they_name(tmp_path, monkeypatch):
  """'seeds-3e12' needs the study's runs at 3e12 alone (the smaller budgets may still be running);
  'seeds-upto-B' those up to B; a budget outside the design is refused."""
  study = _study()
  from structlm import sweeps
  top = max(study.DESIGNS[""])
  names = study.DESIGNS[""][top]
  for v in variants.HEADLINE:
    for p in names:
      d = tmp_path / sweeps.run_name(dict(variant=v, preset=p, train_flops=top))
      d.mkdir()
      (d / "result.json").write_text(json.dumps(dict(eval_bpb=2.0 if p == names[2] else 2.5)))
  monkeypatch.setenv("STRUCTLM_STUDY_RUNS", str(tmp_path))
  runs = study.get_config(f"seeds-{top:g}").runs
  assert {(r["train_flops"], r["preset"]) for r in runs} == {(top, p) for p in names[1:4]} and len(runs) == 9
  with pytest.raises(FileNotFoundError, match="run the study first"):
    study.get_config("seeds")  # every budget: the others have no runs here
  with pytest.raises(ValueError, match="no budget of the design"):
    study.get_config("seeds-5e12")
