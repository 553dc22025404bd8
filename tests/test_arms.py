"""The arms' analysis pairs each arm run with the study run of the same variant, size, budget and seed, and
reports each budget's gaps at both contexts."""
import json
import math

import numpy as np
import pytest

from analysis import arms
from analysis.collect import RunError


def _run(root, variant, preset, budget, bpb, seed=0, context=768, tokens=1e6, dirty=False, vocab=2048,
         params=1e4, **switches):
  """A finished run's result.json; `switches` (grammar_mask=False, ...) go into its config and name."""
  name = (f"{variant}-{preset}-C{budget:.0e}" + (f"-s{seed}" if seed else "") +
          (f"-ctx{context}" if context != 768 else "") + (f"-V{vocab}" if vocab != 2048 else "") +
          "".join(f"-{k}{v}" for k, v in sorted(switches.items())))
  d = root / name
  d.mkdir(parents=True)
  config = dict(variant=variant, preset=preset, train_flops=budget, seed=seed, context_bytes=context,
                vocab_size=vocab, **switches)
  (d / "result.json").write_text(json.dumps(dict(variant=variant, preset=preset, params=params,
                                                 params_nonembedding=params - 8 * vocab, tokens=tokens, bytes=3e6,
                                                 flops=budget, eval_bpb=bpb, config=config,
                                                 grammar_hash=variant, vocab_hash=f"v{vocab}",
                                                 code=dict(commit="c0ffee", dirty=dirty))))


# the study: bits/byte by (variant, size) at each budget; the context arm lowers each by a known amount
STUDY = {"token": {"w12": 2.50, "w16": 2.45}, "structured": {"w12": 2.30, "w16": 2.32},
         "scoped": {"w12": 2.00, "w16": 2.05}}
CONTEXT_GAIN = {"token": 0.20, "structured": 0.05, "scoped": 0.0}


def _write(tmp_path):
  study, context = tmp_path / "study", tmp_path / "context"
  for v, sizes in STUDY.items():
    for p, bpb in sizes.items():
      _run(study, v, p, 3e11, bpb)
      _run(study, v, p, 3e11, bpb + 0.01, seed=1)  # a seed repeat: never paired with a seed-0 arm run
      _run(context, v, p, 3e11, bpb - CONTEXT_GAIN[v], context=3072)
  for p, bpb in STUDY["scoped"].items():
    _run(study, "scoped_file", p, 3e11, bpb - 0.1)
  (study / "fits.json").write_text(json.dumps(dict(seed_noise=dict(used=0.02))))
  return study, context


def test_arms_pair_like_with_like_and_measure_each_gap_at_both_contexts(tmp_path):
  study, context = _write(tmp_path)
  result = arms.analyze(str(study), str(context), str(tmp_path / "out"))
  assert result["study_context"] == 768
  assert [(p["preset"], round(p["change"], 6)) for p in result["names"]] == [("w12", -0.1), ("w16", -0.1)]
  assert all(p["seed"] == 0 for p in result["context"]) and len(result["context"]) == 6
  for p in result["context"]:
    assert p["change"] == pytest.approx(-CONTEXT_GAIN[p["variant"]])
  gaps = {g["pair"]: g for g in result["context_gaps"]}
  # token's best is w16 (2.45 -> 2.25), structured's w12 (2.30 -> 2.25), scoped's w12 (2.00 both)
  assert gaps["token - structured"]["study"] == pytest.approx(0.15)
  assert gaps["token - structured"]["arm"] == pytest.approx(0.0)
  assert gaps["structured - scoped"]["change"] == pytest.approx(-0.05)
  assert "beyond noise" in result["markdown"] and "within noise" not in result["markdown"].split("Context")[0]
  assert (tmp_path / "out" / "arms.md").read_text() == result["markdown"]


def test_recency_numbering_pairs_with_serial_scoped_in_the_study_and_says_which_wins(tmp_path):
  """Both numberings run in the study's workdir (the headline's scoped_recency, the serial arm): each recency run
  beside the serial run of the same size, budget and seed; a run without a serial twin is left out."""
  study, context = _write(tmp_path)
  _run(study, "scoped_recency", "w12", 3e11, 2.00 - 0.08)  # beyond 2 sqrt(2) x 0.02 = 0.057
  _run(study, "scoped_recency", "w16", 3e11, 2.05 + 0.01)
  _run(study, "scoped_recency", "w24", 3e11, 1.5)  # no serial w24: not paired
  result = arms.analyze(str(study), None, str(tmp_path / "out"))
  assert [(p["preset"], round(p["change"], 6)) for p in result["recency"]] == [("w12", -0.08), ("w16", 0.01)]
  best = result["recency_best"][3e11]["scoped"]
  assert best["study"] == (2.00, "w12") and best["arm"] == (pytest.approx(1.92), "w12")
  section = result["markdown"].split("REFs numbered by recency")[1]
  assert "scoped_recency 1.920 (w12): -0.080 bits/byte, beyond noise" in section
  assert "lower in 1 of 2 pairs; mean change -0.035 bits/byte" in section


def test_an_arm_run_without_its_study_partner_names_what_to_train(tmp_path):
  study, context = _write(tmp_path)
  _run(context, "token", "w24", 3e11, 2.4, context=3072)
  with pytest.raises(RunError, match="no study run of token w24 at 3e\\+11 FLOPs, seed 0"):
    arms.analyze(str(study), str(context), str(tmp_path / "out"))


def test_publish_fills_only_its_section(tmp_path):
  page = tmp_path / "study.md"
  page.write_text("before\n<!-- arms:begin -->\nold\n<!-- arms:end -->\nafter\n")
  arms.publish("new table", str(page))
  assert page.read_text() == "before\n<!-- arms:begin -->\n\nnew table\n<!-- arms:end -->\nafter\n"
  (tmp_path / "bare.md").write_text("no markers")
  with pytest.raises(ValueError, match="add the two markers"):
    arms.publish("x", str(tmp_path / "bare.md"))


def test_learning_rate_check_pairs_the_rule_with_its_scaled_runs(tmp_path):
  from analysis import lr

  def run(root, variant, preset, budget, scale, bpb, seed=0):
    d = root / f"{variant}-{preset}-lr{scale}-C{budget:.0e}-s{seed}"
    d.mkdir(parents=True)
    config = dict(train_flops=budget, lr_scale=scale, seed=seed, context_bytes=768)
    (d / "result.json").write_text(json.dumps(dict(variant=variant, preset=preset, eval_bpb=bpb, config=config)))

  # token's best rate is a quarter of the rule's, structured's the rule's own: the gap at each one's best shrinks
  for scale, t, s in ((0.75, 2.0, 1.95), (1.5, 2.05, 1.92), (3.0, 2.2, 1.9), (6.0, 2.3, 2.0)):
    root = tmp_path / ("study" if scale == 3.0 else "lr")
    run(root, "token", "w48", 3e12, scale, t)
    run(root, "structured", "w32", 3e12, scale, s)
  run(tmp_path / "study", "token", "w48", 3e12, 3.0, 9.9, seed=1)  # a seed repeat is not the rule's run
  result = lr.check(str(tmp_path / "lr"), str(tmp_path / "study"))
  cells = result["cells"][3e12]
  assert cells["token"]["best_scale"] == 0.75 and cells["token"]["at_edge"]
  assert cells["structured"]["best_scale"] == 3.0 and not cells["structured"]["at_edge"]
  (gap,) = result["gaps"]
  assert gap["at_rule"] == pytest.approx(0.3) and gap["at_own_best"] == pytest.approx(0.1)
  assert "| 3e+12 | token - structured | 0.300 | 0.100 |" in lr.render_check(result)


def test_gap_trend_resamples_the_same_files_for_every_run(tmp_path):
  from analysis import gap_trend
  rng = np.random.default_rng(0)
  sizes = rng.integers(1000, 5000, 40)
  # per-file bits/byte: token 2.6 then 2.4, structured 2.3 then 2.3 (gap 0.3 -> 0.1), plus file noise shared by both
  noise = rng.normal(0, 0.2, 40)
  for variant, by_budget in (("token", {1e11: 2.6, 1e12: 2.4}), ("structured", {1e11: 2.3, 1e12: 2.3})):
    for budget, bpb in by_budget.items():
      d = tmp_path / f"{variant}-C{budget:.0e}"
      d.mkdir()
      bits = (bpb + noise) * sizes
      (d / "result.json").write_text(json.dumps(dict(
          variant=variant, preset="w8", params=1e4, tokens=1e6, bytes=3e6, flops=budget, eval_bpb=bpb,
          config=dict(train_flops=budget), grammar_hash=variant, vocab_hash="v")))
      (d / "eval_test.json").write_text(json.dumps(dict(bpb=bpb, table=[
          dict(path=f"f{i}.py", bytes=int(n), bits=float(b)) for i, (n, b) in enumerate(zip(sizes, bits))])))
  result = gap_trend.trend(str(tmp_path), "test", n=500)
  r = result["pairs"]["token − structured"]
  assert [round(b["gap"], 6) for b in r["budgets"]] == [0.3, 0.1]
  assert r["change"] == pytest.approx(-0.2) and r["shrank_share"] == 1.0
  assert r["change_hi"] - r["change_lo"] < 1e-9  # the file noise is shared: the same draw for every run cancels it


def test_one_pair_gets_no_spread_and_a_dirty_context_run_is_read(tmp_path):
  study, context = tmp_path / "study", tmp_path / "context"
  for v, bpb in (("token", 2.5), ("structured", 2.3), ("scoped", 2.0)):
    _run(study, v, "w12", 3e11, bpb)
    _run(context, v, "w12", 3e11, bpb - 0.1, context=3072, dirty=True)
  _run(study, "scoped_file", "w12", 3e11, 1.9)
  (study / "fits.json").write_text(json.dumps(dict(seed_noise=dict(used=0.02))))
  result = arms.analyze(str(study), str(context), str(tmp_path / "out"))
  assert len(result["names"]) == 1 and "Paired (same size" not in result["markdown"]
  assert len(result["context"]) == 3


@pytest.mark.parametrize("batch_exponent", [0.0, 0.5])
def test_the_rule_fit_recovers_the_best_rates_law(tmp_path, batch_exponent):
  """Cells whose loss is a parabola in log rate around 0.015 x 32 / width x (batch / 8) ** e: the vertices land on
  the true best rates between grid points, and the fit gives width exponent -1, batch exponent e."""
  from analysis import lr
  for c, v, width, batch in ((1e11, "token", 8, 2), (3e11, "token", 16, 2), (1e12, "token", 16, 8),
                             (3e12, "token", 16, 32), (3e12, "structured", 48, 8), (1e12, "structured", 48, 4)):
    best = 0.015 * 32 / width * (batch / 8) ** batch_exponent
    unit = 0.01 * 32 / width * (batch / 8) ** 0.5  # the rate at scale 1 of the rule that made the runs
    for scale in (0.75, 1.5, 3.0, 6.0, 12.0):
      d = tmp_path / ("study" if scale == 3.0 else "lr") / f"{v}-w{width}-lr{scale}-C{c:.0e}"
      d.mkdir(parents=True)
      bpb = 2.0 + 0.05 * math.log(scale * unit / best) ** 2
      (d / "result.json").write_text(json.dumps(dict(
          variant=v, preset=f"w{width}", eval_bpb=bpb, learning_rate=scale * unit, global_batch=batch,
          config=dict(train_flops=c, lr_scale=scale, context_bytes=768))))
  result = lr.check(str(tmp_path / "lr"), str(tmp_path / "study"))
  for cells in result["cells"].values():
    for cell in cells.values():
      w = float(cell["size"][1:])
      assert cell["best_rate"] == pytest.approx(0.015 * 32 / w * (cell["batch"] / 8) ** batch_exponent, rel=1e-6)
  fit = result["fit"]
  assert fit["width_exponent"] == pytest.approx(-1, abs=1e-3) and fit["rms_log"] < 1e-3
  assert fit["batch_exponent"] == pytest.approx(batch_exponent, abs=1e-3)
  assert (fit["ratio_range"] == [1.0, 1.0]) == (batch_exponent == 0)  # a batch term leaves 32 / width short
  assert f"batch^{batch_exponent:g}" in lr.render_check(result)
  assert lr.vertex({1.0: 2.0, 2.0: 2.1, 4.0: 2.3}) == 1.0  # a grid edge: the best point itself


def test_a_study_run_written_under_another_rule_sits_at_the_scale_its_rate_is(tmp_path):
  """In the v2 study a batch-2 run copied from v1 records lr_scale 3 but ran at v2's x1 (scale 1.5): the check
  places it at 1.5, beside (not over) its own x2 run at scale 3; and a cell whose best is at the grid's edge stays
  out of the fit."""
  from analysis import lr
  unit = 0.01  # v2's rate at scale 1 for this cell (batch 2)
  for root, scale, written, bpb in (("lr", 0.375, 0.375, 2.3), ("lr", 0.75, 0.75, 2.2), ("study", 1.5, 3.0, 2.1),
                                    ("lr", 3.0, 3.0, 2.25)):
    d = tmp_path / root / f"token-w16-lr{written}-{root}"
    d.mkdir(parents=True)
    (d / "result.json").write_text(json.dumps(dict(
        variant="token", preset="w16", eval_bpb=bpb, learning_rate=scale * unit, global_batch=2,
        config=dict(train_flops=1e12, lr_scale=written, context_bytes=768))))
  cell = lr.check(str(tmp_path / "lr"), str(tmp_path / "study"))["cells"][1e12]["token"]
  assert cell["bpb"] == {"0.375": 2.3, "0.75": 2.2, "1.5": 2.1, "3.0": 2.25} and cell["rule_scale"] == 1.5
  assert cell["best_scale"] == 1.5 and not cell["at_edge"]
  cells = {c: {"token": dict(size=f"w{w}", batch=b, best_rate=0.015 * 32 / w, at_edge=False)}
           for c, w, b in ((1e11, 8, 2), (3e11, 16, 4), (1e12, 32, 8), (3e12, 48, 32))}
  fit = lr.rule_fit(cells)
  cells[3e12]["scoped"] = dict(size="w8", batch=64, best_rate=1.0, at_edge=True)  # a bound, far off the law
  assert lr.rule_fit(cells) == fit and fit["cells"] == 4 and fit["batch_exponent"] == pytest.approx(0, abs=1e-3)
