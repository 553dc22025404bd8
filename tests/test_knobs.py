"""The knobs' analysis pairs each run that changes one hyperparameter rule with the study's run of the same
variant, size, budget and seed, and refuses a run that changes anything else."""
import json

import pytest

from analysis import knobs
from analysis.collect import RunError
from tests.test_arms import _run

BEST = {"token": ("w8", 2.50), "structured": ("w12", 2.20), "scoped_recency": ("w16", 1.95)}
RULE = dict(beta2=0.99, warmup_fraction=0.1)
OTHER = {"beta2": (dict(beta2=0.95), 0.01), "warmup_fraction": (dict(warmup_fraction=0.025), -0.002),
         "batch_target_steps": (dict(batch_target_steps=400, global_batch=16), 0.06)}


def _write(tmp_path):
  study, arm = tmp_path / "study", tmp_path / "knobs"
  for v, (p, bpb) in BEST.items():
    # the study's run predates batch_target_steps (800 then) and writes its rate as v1's scale
    _run(study, v, p, 3e11, bpb, global_batch=8, lr_scale=3.0, **RULE)
    _run(study, v, p, 3e11, bpb + 0.5, seed=1, global_batch=8, lr_scale=3.0, **RULE)
    for key, (change, cost) in OTHER.items():
      _run(arm, v, p, 3e11, bpb + cost, **{**RULE, "global_batch": 8, "batch_target_steps": 800, "lr_scale": 1.5,
                                            "lr_batch_exponent": 0.0, **change})
  (study / "fits.json").write_text(json.dumps(dict(seed_noise=dict(used=0.02))))
  return study, arm


def test_each_knob_run_pairs_with_its_study_run_and_the_knob_it_changes(tmp_path):
  study, arm = _write(tmp_path)
  result = knobs.analyze(str(arm), str(study), str(tmp_path / "out"))
  assert len(result["pairs"]) == 9
  for p in result["pairs"]:
    change, cost = OTHER[p["knob"]]
    assert p["seed"] == 0 and p["change"] == pytest.approx(cost) and p["other"] == change[p["knob"]]
  batch = [p for p in result["pairs"] if p["knob"] == "batch_target_steps"]
  assert all(p["rule"] == 800 and p["batches"] == (8, 16) for p in batch)
  md = result["markdown"]
  assert "| AdamW β2 | 0.99 | 0.95 | 3e+11 | token | w8 | 8 → 8 | 2.500 | 2.510 | +0.010 |" in md
  assert "- AdamW β2: the other value is worse in 3 of 3 pairs, by +0.010 on average" in md
  # the mean of 3 pairs counts past 2 sqrt(2) x 0.02 / sqrt(3) = 0.033: 0.06 does, 0.01 does not
  assert "(steps; half of it: twice the batch): the other value is worse in 3 of 3 pairs, by +0.060 on average " \
         "(the mean of 3 pairs counts past 0.033: beyond noise)" in md
  assert "by +0.010 on average (the mean of 3 pairs counts past 0.033: within noise)" in md
  assert (tmp_path / "out" / "knobs.md").read_text() == md


def test_a_knob_run_that_changes_something_else_or_has_no_partner_is_refused(tmp_path):
  study, arm = _write(tmp_path)
  _run(arm, "token", "w8", 3e11, 2.4, global_batch=8, beta2=0.95, warmup_fraction=0.025)
  with pytest.raises(RunError, match="beta2 and warmup_fraction changed"):
    knobs.analyze(str(arm), str(study), str(tmp_path / "out"))
  study, arm = _write(tmp_path / "b")
  _run(arm, "token", "w8", 3e11, 2.4, global_batch=8, warmup_fraction=0.1, beta2=0.95, vocab=8192)
  with pytest.raises(RunError, match="vocab_size changed"):
    knobs.analyze(str(arm), str(study), str(tmp_path / "out"))
  study, arm = _write(tmp_path / "c")
  path = next(arm.glob("token-*beta20.95*")) / "result.json"
  r = json.loads(path.read_text())
  path.write_text(json.dumps(dict(r, learning_rate=0.01)))
  with pytest.raises(RunError, match="the peak rate"):
    knobs.analyze(str(arm), str(study), str(tmp_path / "out"))
  study, arm = _write(tmp_path / "d")
  _run(arm, "token", "w64", 3e11, 2.4, beta2=0.95, warmup_fraction=0.1, global_batch=8)
  with pytest.raises(RunError, match="no study run of token w64"):
    knobs.analyze(str(arm), str(study), str(tmp_path / "out"))
  with pytest.raises(ValueError, match="no knob runs"):
    (tmp_path / "empty").mkdir()
    knobs.analyze(str(tmp_path / "empty"), str(study), str(tmp_path / "out"))


def test_knobs_cli_writes_beside_the_runs_and_fills_the_page(tmp_path, monkeypatch, capsys):
  from tests.test_analysis_clis import _main
  study, arm = _write(tmp_path)
  page = tmp_path / "study.md"
  page.write_text("<!-- knobs:begin -->\n<!-- knobs:end -->\n")
  printed = _main(knobs, monkeypatch, capsys, arm, "--study", study, "--noise", "0.05", "--publish", page)
  assert "Seed noise of one run 0.050" in printed and printed in page.read_text()
  assert json.loads((arm / "knobs.json").read_text())["seed_noise"] == 0.05
