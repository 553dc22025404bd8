"""Scaling-law analysis: a published fit reproduced from real data, synthetic recovery, bad input, the report."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from analysis import synthetic
from analysis.compare import multiplier, shared_exponents_test
from analysis.fit import FitError, Law, fit
from analysis.report import analyze, chinchilla_check

CHINCHILLA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "chinchilla_epoch.csv")
if not os.path.exists(CHINCHILLA):
  CHINCHILLA = os.path.join(os.path.dirname(__file__), "..", "shared", "data", "chinchilla_epoch.csv")


@pytest.mark.skipif(not os.path.exists(CHINCHILLA), reason="shared/data/chinchilla_epoch.csv is not beside the repo")
def test_chinchilla_published_fit_is_reproduced():
  res = chinchilla_check(CHINCHILLA, n_bootstrap=60)
  assert res["points"] == 240
  assert res["within_tolerance"], res["relative_error"]
  assert abs(res["objective"] - 1.01827e-3) / 1.01827e-3 < 0.01
  for k, (lo, hi) in res["published_intervals"].items():  # intervals close to the published ones
    ours = res["intervals"][k]
    assert ours[0] < res[k] < ours[1]
    assert abs(math.log(ours[0] / lo)) < 0.3 and abs(math.log(ours[1] / hi)) < 0.3, (k, ours, (lo, hi))


def rows_of(laws, seed=0):
  rows = synthetic.runs(laws, seed=seed)
  return {v: tuple(np.array([r[k] for r in rows if r["variant"] == v]) for k in ("N", "D", "bpb")) for v in laws}


def test_synthetic_multiplier_interval_covers_truth(tmp_path):
  f = analyze("synthetic", str(tmp_path), n_bootstrap=120, rows=synthetic.runs(seed=3))
  truth = synthetic.TRUE
  c = synthetic.FLOPS_PER_PARAM_BYTE
  for key in ("1e+17", "1e+18"):  # inside the measured range
    m_true = multiplier(truth["structured"], truth["token"], c["structured"], c["token"], float(key))
    cell = f["multiplier"][key]
    assert cell["lo"] <= m_true <= cell["hi"], (key, cell, m_true)
  assert os.path.exists(tmp_path / "report.md") and os.path.exists(tmp_path / "fits.json")
  for name in ("loss_vs_compute", "isoflop", "multiplier", "residuals"):
    assert os.path.getsize(tmp_path / f"{name}.png") > 10_000 and os.path.exists(tmp_path / f"{name}.pdf")
  report = (tmp_path / "report.md").read_text()
  assert "compute multiplier" in report.lower() and "| 1e+24 |" in report and "Caveats" in report


def test_exponent_test_detects_a_planted_difference():
  same = {"token": Law(60, 900, 0.55, 0.32, 0.30), "structured": Law(45, 700, 0.55, 0.32, 0.30)}
  planted = {"token": Law(60, 900, 0.55, 0.32, 0.30), "structured": Law(45, 700, 0.55, 0.40, 0.30)}
  for laws, expect_small in ((planted, True), (same, False)):
    g = rows_of(laws, seed=1)
    p = shared_exponents_test(g, {v: fit(*g[v]) for v in g})["p_value"]
    assert (p < 0.01) == expect_small, p


def test_recovers_known_law():
  law = Law(60, 900, 0.55, 0.32, 0.30)
  N, D, L = rows_of({"token": law}, seed=2)["token"]
  got = fit(N, D, L)
  assert got.converged and abs(got.alpha - 0.32) < 0.05 and abs(got.E - 0.55) < 0.05


@pytest.mark.parametrize("mutate, message", [
    (lambda rows: [r for r in rows if r["variant"] == "token"][:3] + [r for r in rows if r["variant"] != "token"][:3],
     "too few"),
    (lambda rows: [dict(r, N=1e7) for r in rows], "one model size"),
    (lambda rows: [dict(r, D=1e9) for r in rows], "one data budget"),
    (lambda rows: [r for r in rows if r["variant"] == "token"], "structured"),
    (lambda rows: [dict(r, C=1e18) for r in rows], "one compute budget"),
])
def test_bad_input_names_what_is_missing(tmp_path, mutate, message):
  with pytest.raises(FitError, match=message):
    analyze("x", str(tmp_path), n_bootstrap=5, rows=mutate(synthetic.runs()))


def test_cli_on_a_sweep_directory_counts_exclusions(tmp_path):
  runs = tmp_path / "runs"
  synthetic.write(synthetic.runs(seed=4), str(runs))
  bad = runs / "token" / "diverged"
  bad.mkdir(parents=True)
  (bad / "result.json").write_text(json.dumps(dict(variant="token", params=1e6, tokens=1, bytes=1, flops=1,
                                                   eval_bpb=float("nan"))))
  (runs / "token" / "unfinished").mkdir()
  (runs / "token" / "unfinished" / "metrics.jsonl").write_text('{"step": 1, "loss": 3.0}\n')
  env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  r = subprocess.run([sys.executable, "-m", "structlm", "analyze", str(runs), "--out", str(tmp_path / "out"),
                      "--bootstrap", "20"], capture_output=True, text=True, env=env, timeout=300)
  assert r.returncode == 0, r.stderr
  fits = json.loads((tmp_path / "out" / "fits.json").read_text())
  assert fits["excluded"] == {"diverged": 1, "unfinished": 1}
  r = subprocess.run([sys.executable, "-m", "structlm", "analyze", str(tmp_path / "nothing")],
                     capture_output=True, text=True, env=env, timeout=60)
  assert r.returncode != 0 and "no such runs directory" in r.stderr


def test_isoflop_approach_recovers_the_allocation_exponent(tmp_path):
  f = analyze("iso", str(tmp_path), n_bootstrap=20, rows=synthetic.isoflop_runs())
  law = synthetic.TRUE["token"]
  iso = f["isoflop"]["token"]
  assert iso and len(iso["budgets"]) == 4
  assert abs(iso["N_opt_exponent"] - law.beta / (law.alpha + law.beta)) < 0.05
  assert os.path.getsize(tmp_path / "isoflop.png") > 10_000


def test_repetition_half_life_is_recovered():
  from analysis.compare import effective_data, fit_repetition
  law = Law(60, 900, 0.55, 0.32, 0.30)
  rng = np.random.default_rng(0)
  N, U, E, L = [], [], [], []
  for n in (1e6, 1e7):
    for u in (1e7, 1e8):
      for epochs in (1, 2, 4, 8, 16, 32):
        N.append(n), U.append(u), E.append(epochs)
        L.append(law.loss(n, effective_data(u, epochs - 1, 5.0)) * np.exp(rng.normal(0, 0.002)))
  res = fit_repetition(law, N, U, E, L)
  assert res["runs"] == 20 and abs(res["R_star"] - 5.0) / 5.0 < 0.2
