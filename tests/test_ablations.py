"""The ablations' analysis pairs each ablated or larger-vocabulary run with the study's run of the same variant,
size, budget and seed, says what each ablation costs and what it leaves of the token - structured gap, and
whether each headline gap holds at the larger vocabulary."""
import json

import pytest

from analysis import ablations
from analysis.collect import RunError
from tests.test_arms import _run

# bits/byte of the study's seed-0 runs at one budget
STUDY = {"token": {"w8": 2.50, "w12": 2.45, "w16": 2.48}, "structured": {"w8": 2.30, "w12": 2.20, "w16": 2.25},
         "scoped_recency": {"w8": 2.00, "w12": 1.95, "w16": 1.90}}
COST = {"grammar_mask": 0.30, "tree_features": 0.05}  # what each ablation adds to the structured loss
VOCAB_CHANGE = {"token": -0.20, "structured": -0.05, "scoped_recency": 0.10}  # at 4x the vocabulary


def _write(tmp_path):
  study, arm = tmp_path / "study", tmp_path / "ablations"
  for v, sizes in STUDY.items():
    for p, bpb in sizes.items():
      _run(study, v, p, 3e11, bpb, params=3e4)
      _run(study, v, p, 3e11, bpb + 0.4, seed=1)  # seed repeats: never partners of seed-0 arm runs
  _run(study, "token", "w4", 3e11, 2.40)  # token's best size lies outside the ablation's sizes
  for key, cost in COST.items():
    for p, bpb in STUDY["structured"].items():
      _run(arm, "structured", p, 3e11, bpb + cost, **{key: False})
  best = {"token": "w12", "structured": "w12", "scoped_recency": "w16"}
  for v, p in best.items():
    _run(arm, v, p, 3e11, STUDY[v][p] + VOCAB_CHANGE[v], vocab=8192, params=9e4, tokens=5e5)
  (study / "fits.json").write_text(json.dumps(dict(seed_noise=dict(used=0.02))))
  return study, arm


def test_ablations_pair_like_with_like_and_say_what_is_left_of_the_gap(tmp_path):
  study, arm = _write(tmp_path)
  result = ablations.analyze(str(arm), str(study), str(tmp_path / "out"))
  for key, cost in COST.items():
    assert [p["preset"] for p in result[key]] == ["w12", "w16", "w8"]
    assert all(p["seed"] == 0 and p["change"] == pytest.approx(cost) for p in result[key])
  md = result["markdown"]
  # token's best at the budget is w4 (2.40), outside the ablated sizes; structured's best 2.20, ablated 2.50
  assert "token - structured gap is 0.200 with the grammar mask and -0.100 without" in md
  assert "token - structured gap is 0.200 with tree features and 0.150 without" in md
  assert "+0.300, beyond noise" in md and "+0.050, within noise" in md
  assert "worse in 3 of 3 pairs, by +0.300 bits/byte on average (standard deviation 0.000, standard error 0.000)" in md
  gaps = {g["pair"]: g for g in result["vocab_gaps"]}
  assert set(gaps) == {"token - structured", "structured - scoped_recency"}
  assert gaps["token - structured"]["study"] == pytest.approx(0.25)
  assert gaps["token - structured"]["arm"] == pytest.approx(0.10)
  assert gaps["structured - scoped_recency"]["change"] == pytest.approx(-0.15)
  row = next(p for p in result["vocab"] if p["variant"] == "token")
  assert row["arm_vocab"] == 8192 and row["tokens_ratio"] == pytest.approx(0.5)
  assert row["arm_out_share"] == pytest.approx(8 * 8192 / 9e4) and row["study_out_share"] == pytest.approx(
      8 * 2048 / 3e4)
  assert "still better in 2 of 2" in md
  assert (tmp_path / "out" / "ablations.md").read_text() == md


def test_a_run_that_changes_two_things_or_has_no_study_partner_is_refused(tmp_path):
  study, arm = _write(tmp_path)
  _run(arm, "structured", "w12", 3e11, 2.9, grammar_mask=False, tree_features=False)
  with pytest.raises(RunError, match="grammar_mask and tree_features changed"):
    ablations.analyze(str(arm), str(study), str(tmp_path / "out"))
  arm2 = tmp_path / "arm2"
  _run(arm2, "structured", "w24", 3e11, 2.9, grammar_mask=False)
  with pytest.raises(RunError, match="no study run of structured w24"):
    ablations.analyze(str(arm2), str(study), str(tmp_path / "out"))
  with pytest.raises(FileNotFoundError, match="cpu_study.py:ablations"):
    ablations.analyze(str(tmp_path / "none"), str(study), str(tmp_path / "out"))
