"""Each analysis command line (`python -m analysis.NAME ...`) writes what its functions compute, where its help
says, with the defaults it documents: the same fixtures as the golden report tests, run through `main`."""
import json
import sys

import numpy as np
import pytest

from analysis import ablations, arms, data_study, file_bootstrap, gap_trend, lr, publish
from tests.test_ablations import _write as _ablation_runs
from tests.test_reports_golden import _data_runs, _per_file_runs


def _main(module, monkeypatch, capsys, *argv) -> str:
  monkeypatch.setattr(sys, "argv", [module.__name__, *map(str, argv)])
  module.main()
  return capsys.readouterr().out


def test_gap_trend_cli_defaults_to_the_test_split_2000_resamples_and_the_runs_dir(tmp_path, monkeypatch, capsys):
  _per_file_runs(tmp_path, np.random.default_rng(4))
  printed = _main(gap_trend, monkeypatch, capsys, tmp_path)
  expected = gap_trend.trend(str(tmp_path), "test", 2000)
  assert json.loads((tmp_path / "gap_trend.json").read_text()) == json.loads(json.dumps(expected))
  text = gap_trend.render(expected, "the test split")
  assert printed == text + "\n" and (tmp_path / "gap_trend.md").read_text() == text + "\n"
  _main(gap_trend, monkeypatch, capsys, tmp_path, "--out", tmp_path / "o", "--n", 50)
  assert json.loads((tmp_path / "o" / "gap_trend.json").read_text())["resamples"] == 50


def test_file_bootstrap_cli_writes_its_intervals_and_table(tmp_path, monkeypatch, capsys):
  _per_file_runs(tmp_path / "runs", np.random.default_rng(4))
  printed = _main(file_bootstrap, monkeypatch, capsys, tmp_path / "runs", "--out", tmp_path / "o", "--n", 40)
  rows, bits, n_bytes, paths = file_bootstrap.per_file(str(tmp_path / "runs"), "test", False)
  res = file_bootstrap.intervals(rows, bits, n_bytes, n=40)
  saved = json.loads((tmp_path / "o" / "file_bootstrap.json").read_text())
  assert saved == json.loads(json.dumps(dict(split="test", files=30, resamples=40, comparisons=res)))
  text = file_bootstrap.markdown(res, "test", 40, len(paths))
  assert (tmp_path / "o" / "file_bootstrap.md").read_text() == text and printed == text + "\n"
  _main(file_bootstrap, monkeypatch, capsys, tmp_path / "runs", "--out", tmp_path / "d")
  assert json.loads((tmp_path / "d" / "file_bootstrap.json").read_text())["resamples"] == 1000
  with pytest.raises(SystemExit):  # --out is required
    _main(file_bootstrap, monkeypatch, capsys, tmp_path / "runs")


def test_lr_check_cli_writes_its_json_beside_the_runs_and_fills_the_page(tmp_path, monkeypatch, capsys):
  for root, scale, bpb in (("study", 3.0, 2.0), ("lr", 0.75, 2.1), ("lr", 1.5, 1.9), ("lr", 6.0, 2.2)):
    d = tmp_path / root / f"token-w8-lr{scale}"
    d.mkdir(parents=True)
    (d / "result.json").write_text(json.dumps(dict(variant="token", preset="w8", eval_bpb=bpb, config=dict(
        train_flops=1e11, lr_scale=scale, context_bytes=768))))
  page = tmp_path / "study.md"
  page.write_text("<!-- lr-check:begin -->\n<!-- lr-check:end -->\n")
  printed = _main(lr, monkeypatch, capsys, tmp_path / "lr", "--study", tmp_path / "study", "--publish", page)
  result = lr.check(str(tmp_path / "lr"), str(tmp_path / "study"))
  assert json.loads((tmp_path / "lr" / "lr_check.json").read_text()) == json.loads(json.dumps(result, default=str))
  text = lr.render_check(result)
  assert printed == text + "\n" and text in page.read_text() and "×0.5" in text


def test_arms_and_ablations_clis_default_to_the_runs_dir_and_fill_their_sections(tmp_path, monkeypatch, capsys):
  study, arm = _ablation_runs(tmp_path)
  page = tmp_path / "study.md"
  page.write_text("<!-- ablations:begin -->\n<!-- ablations:end -->\n<!-- arms:begin -->\n<!-- arms:end -->\n")
  printed = _main(ablations, monkeypatch, capsys, arm, "--study", study, "--publish", page)
  md = (arm / "ablations.md").read_text()
  assert printed == md + "\n" and md == ablations.analyze(str(arm), str(study), str(tmp_path / "x"))["markdown"]
  assert page.read_text().startswith("<!-- ablations:begin -->\n\n" + md + "\n<!-- ablations:end -->")
  _main(arms, monkeypatch, capsys, study, "--publish", page)
  md = (study / "arms.md").read_text()
  assert md == arms.analyze(str(study), None, str(tmp_path / "y"))["markdown"]
  assert page.read_text().endswith("<!-- arms:begin -->\n\n" + md + "\n<!-- arms:end -->\n")
  _main(arms, monkeypatch, capsys, study, "--out", tmp_path / "z")
  assert (tmp_path / "z" / "arms.json").exists()


def test_data_study_cli_reads_the_study_noise_and_publishes(tmp_path, monkeypatch, capsys):
  rows = _data_runs()
  monkeypatch.setattr(data_study, "collect", lambda runs_dir: rows)
  (tmp_path / "study").mkdir()
  (tmp_path / "study" / "fits.json").write_text(json.dumps(dict(seed_noise=dict(used=0.0125))))
  (tmp_path / "runs" / "token-w8").mkdir(parents=True)
  (tmp_path / "runs" / "token-w8" / "result.json").write_text("{}")
  page = tmp_path / "README.md"
  page.write_text("<!-- data-study:begin -->\n<!-- data-study:end -->\n")
  printed = _main(data_study, monkeypatch, capsys, tmp_path / "runs", "--study", tmp_path / "study", "--bootstrap",
                  20, "--publish", tmp_path / "docs", "--readme", page)
  expected = data_study.analyze(str(tmp_path / "runs"), str(tmp_path / "x"), 20, 0.0125)
  assert printed.startswith(expected["markdown"])
  assert (tmp_path / "runs" / "data_study.md").read_text() == expected["markdown"] + "\n"
  assert (tmp_path / "docs" / "data_study.md").read_text() == expected["markdown"] + "\n"
  assert "data-study:begin -->\n\n" in page.read_text() and (tmp_path / "docs" / "runs" / "token-w8").is_dir()


def test_publish_cli_copies_an_arms_runs_or_fills_a_named_section(tmp_path, monkeypatch, capsys):
  (tmp_path / "runs" / "a").mkdir(parents=True)
  (tmp_path / "runs" / "a" / "result.json").write_text("{}")
  (tmp_path / "runs" / "a" / "metrics.jsonl").write_text("{}")
  printed = _main(publish, monkeypatch, capsys, tmp_path / "runs", "--copy-to", tmp_path / "copy")
  assert printed == f"1 result.json files copied to {tmp_path / 'copy'}\n"
  assert sorted(p.name for p in (tmp_path / "copy").rglob("*") if p.is_file()) == ["result.json"]
  seen = []
  monkeypatch.setattr(publish, "publish", lambda *a: seen.append(a))
  _main(publish, monkeypatch, capsys, tmp_path / "runs", "--name", "study")
  assert seen == [(str(tmp_path / "runs"), "README.md", "docs/study", "study", False, None)]


def test_gap_trend_reads_runs_from_a_dirty_checkout_and_refuses_unscored_or_unlike_runs(tmp_path):
  _per_file_runs(tmp_path, np.random.default_rng(4))
  result = tmp_path / "token-C1e+11" / "result.json"
  r = json.loads(result.read_text())
  result.write_text(json.dumps(dict(r, code=dict(commit="c0ffee", dirty=True))))  # read all the same
  assert gap_trend.trend(str(tmp_path), "test", 20)["files"] == 30
  score = tmp_path / "token-C1e+12" / "eval_test.json"
  table = json.loads(score.read_text())
  score.write_text(json.dumps(dict(table, table=table["table"][:29])))
  with pytest.raises(ValueError, match=r"scored different numbers of files \(\[29, 30\]\): rescore them alike"):
    gap_trend.trend(str(tmp_path), "test", 20)
  score.unlink()
  with pytest.raises(FileNotFoundError, match=r"eval_test.json: score the frontier first \(python -m analysis"
                                              r".heldout .* --frontier\)"):
    gap_trend.trend(str(tmp_path), "test", 20)


def test_file_bootstrap_bounds_enter_the_draws_as_infinities():
  """Where one side never reaches the other's loss, a draw's log multiplier is +inf (above) or -inf (below)."""
  from analysis import frontier as measured
  budgets = np.array([1e15, 1e16])
  env = measured.envelope(np.array([1e4, 1e4]), budgets, np.array([2.0, 1.8]))
  worse = measured.envelope(np.array([1e4, 1e4]), budgets, np.array([2.5, 2.4]))
  kinds = measured.multiplier(env, worse, budgets)["kind"]
  lm = file_bootstrap._log_m(env, worse, budgets)
  assert all(k == "above" for k in kinds) and np.all(lm == np.inf)
  assert np.all(file_bootstrap._log_m(worse, env, budgets) == -np.inf)


def test_the_report_itself_gives_intervals_with_files_resampled_and_publish_keeps_their_scores(tmp_path):
  """Frontier runs with per-file scores: the report's section is the file bootstrap's; a published copy of the
  runs carries the scores, so the report redone from the copy is the same."""
  from analysis import report
  _per_file_runs(tmp_path / "runs", np.random.default_rng(4))
  for p in (tmp_path / "runs").glob("*/result.json"):
    p.write_text(json.dumps(dict(json.loads(p.read_text()), eval_split="test")))
  fits = report.analyze(str(tmp_path / "runs"), str(tmp_path / "out"), n_bootstrap=50, fit_bootstrap=2)
  rows, bits, n_bytes, _ = file_bootstrap.per_file(str(tmp_path / "runs"), "test", frontier=True)
  section = fits["file_intervals"]
  assert (section["split"], section["files"], section["resamples"]) == ("test", 30, 50)
  assert json.loads(json.dumps(section["comparisons"])) == json.loads(json.dumps(
      file_bootstrap.intervals(rows, bits, n_bytes, n=50)))
  text = (tmp_path / "out" / "report.md").read_text()
  assert "## Intervals with the files resampled" in text and "### structured over token" in text
  first = section["comparisons"][0]["rows"][0]
  assert f"| {first['C']:.3g} | {first['loss']:.3f} | " in text and "| files resampled |" in text
  assert publish.copy_results(str(tmp_path / "runs"), str(tmp_path / "copy")) == 9
  report.analyze(str(tmp_path / "copy"), str(tmp_path / "out2"), n_bootstrap=50, fit_bootstrap=2)
  assert (tmp_path / "out2" / "report.md").read_text() == text


def test_rerun_pairs_namesakes_and_compares_bests_and_gaps_once_a_budget_is_complete(tmp_path, monkeypatch, capsys):
  from analysis import rerun

  def run(root, variant, width, budget, bpb, rate, batch, seed=0):
    d = tmp_path / root / (f"{variant}-w{width}-C{budget:.0e}" + ("-seed1" if seed else ""))
    d.mkdir(parents=True)
    (d / "result.json").write_text(json.dumps(dict(variant=variant, preset=f"w{width}", eval_bpb=bpb,
                                                   learning_rate=rate, global_batch=batch,
                                                   config=dict(train_flops=budget, seed=seed))))
  loss = {"token": (2.3, 2.2, 2.25), "structured": (2.1, 2.0, 2.05), "scoped_recency": (1.9, 1.8, 1.85)}
  for v, ls in loss.items():
    for w, l in zip((8, 16, 32), ls):
      run("old", v, w, 3e12, l, 0.06 * 8 / w, 32)
      run("new", v, w, 3e12, l - (0.1 if v == "token" and w == 32 else 0.0), 0.03 * 8 / w, 32)
      run("old", v, w, 1e11, l + 0.5, 0.03 * 8 / w, 2)
  run("new", "token", 8, 1e11, 2.8, 0.03, 2)  # 1e11: one run rerun, the same rate and batch: shared, incomplete
  run("old", "token", 8, 3e12, 9.9, 0.06, 32, seed=1)  # seed repeats are left out
  run("new", "token", 8, 3e12, 9.9, 0.03, 32, seed=1)
  printed = _main(rerun, monkeypatch, capsys, tmp_path / "old", tmp_path / "new")
  result = rerun.compare(rerun.load(str(tmp_path / "old")), rerun.load(str(tmp_path / "new")))
  assert len(result["pairs"]) == 10 and sum(p["shared"] for p in result["pairs"]) == 1
  best = {(b["budget"], b["variant"]): b for b in result["best"]}
  assert set(best) == {(3e12, v) for v in loss}  # 1e11 has one of its sizes rerun
  assert best[(3e12, "token")]["old"] == dict(size="w16", bpb=2.2, edge=False)
  assert best[(3e12, "token")]["new"] == dict(size="w32", bpb=pytest.approx(2.15), edge=True)
  gaps = {g["pair"]: g for g in result["gaps"]}
  assert gaps["token - structured"]["old"] == pytest.approx(0.2)
  assert gaps["token - structured"]["new"] == pytest.approx(0.15)
  assert "1 of the 10 runs in both are the same run" in printed and "| 3e+12 | token | w32 | 32 |" in printed
  assert "| 1e+11 | token | w8 |" not in printed and "w32 (edge) | 2.150" in printed
  with pytest.raises(FileNotFoundError, match="not a directory of runs"):
    rerun.load(str(tmp_path / "none"))
