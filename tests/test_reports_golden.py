"""The report writers, word for word: fixed runs in, the whole report out, compared with the committed text in
tests/data/golden/ (every table cell, verdict, sentence and figure element; the numbers rounded to 4 significant
figures). A change to a report's words or numbers fails here until the golden file is regenerated on purpose:
STRUCTLM_GOLDEN=update pytest tests/test_reports_golden.py, then read the diff before committing it."""
import json
import math
import os

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from analysis import arms  # noqa: E402
from analysis import data_study as ds  # noqa: E402
from tests.test_arms import _run as _arm_run  # noqa: E402

GOLDEN = os.path.join(os.path.dirname(__file__), "data", "golden")


def _golden(name: str, text: str) -> None:
  path = os.path.join(GOLDEN, name)
  if os.environ.get("STRUCTLM_GOLDEN") == "update":
    os.makedirs(GOLDEN, exist_ok=True)
    with open(path, "w") as f:
      f.write(text)
  with open(path) as f:
    assert text == f.read(), f"{name} changed: regenerate with STRUCTLM_GOLDEN=update and read the diff"


def _rounded(x):
  """JSON-able, floats at 4 significant figures (the same on any machine)."""
  if isinstance(x, float):
    return x if not math.isfinite(x) or x == 0 else float(f"{x:.4g}")
  if isinstance(x, dict):
    return {str(k): _rounded(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_rounded(v) for v in x]
  if isinstance(x, np.generic):
    return _rounded(x.item())
  return x


def _describe(fig) -> dict:
  """What a figure shows: per axes its title, labels, scales, and every line's label, style and data."""
  out = []
  for ax in fig.axes:
    lines = [dict(label=ln.get_label(), color=matplotlib.colors.to_hex(ln.get_color()), marker=str(ln.get_marker()),
                  style=ln.get_linestyle(), width=ln.get_linewidth(), x=list(map(float, ln.get_xdata())),
                  y=list(map(float, ln.get_ydata()))) for ln in ax.get_lines()]
    legend = ax.get_legend()
    out.append(dict(title=ax.get_title(), xlabel=ax.get_xlabel(), ylabel=ax.get_ylabel(), xscale=ax.get_xscale(),
                    yscale=ax.get_yscale(), lines=lines, collections=len(ax.collections),
                    legend=[t.get_text() for t in legend.get_texts()] if legend else None,
                    legend_size=legend.get_texts()[0].get_fontsize() if legend else None))
  return dict(size=list(fig.get_size_inches()), axes=out)


@pytest.fixture
def figures(monkeypatch):
  """The figures saved while the test runs, described (and still written)."""
  seen = []
  save = Figure.savefig

  def record(fig, path, *a, **k):
    seen.append((os.path.basename(str(path)), _describe(fig), k.get("dpi")))
    return save(fig, path, *a, **k)
  monkeypatch.setattr(Figure, "savefig", record)
  return seen


def _data_runs():
  """Token, structured and scoped runs on the data study's design (2 sizes x 3 U x 1/4/16 epochs, and 40 at the
  smallest U) from Muennighoff's law with known half-lives and worth, a little noise, one fixed draw."""
  rng = np.random.default_rng(11)
  rows = []
  for v, r_star, worth in (("token", 5.0, 1.0), ("structured", 8.0, 2.0), ("scoped", 8.0, 3.0)):
    for size, floor in (("w8", 1.9), ("w16", 1.7)):
      for U in (1e5, 4e5, 1.6e6):
        for E in (1, 4, 16) + ((40,) if U == 1e5 else ()):
          loss = floor + 30 / (worth * ds.effective_data(U, E, r_star)) ** 0.3
          rows.append(dict(variant=v, preset=size, U=U, epochs=float(E), bpb=float(loss + rng.normal(0, 0.01)),
                           run=f"{v}-{size}-U{U:g}-E{E}"))
  rows.append(dict(variant="token", preset="w8", U=1e5, epochs=64.0, bpb=4.0, run="token-w8-overfit"))
  return rows


def test_data_study_report_readme_block_json_and_figures(tmp_path, monkeypatch, figures):
  rows = _data_runs()
  monkeypatch.setattr(ds, "collect", lambda runs_dir: rows)
  result = ds.analyze(str(tmp_path / "runs"), str(tmp_path / "out"), n_boot=30, noise=0.0125)
  _golden("data_study.md", (tmp_path / "out" / "data_study.md").read_text())
  _golden("data_study_readme.md", ds.readme_block(result, "docs/data-study"))
  saved = json.loads((tmp_path / "out" / "data_study.json").read_text())
  saved["plots"] = [os.path.basename(p) for p in saved["plots"]]
  _golden("data_study.json", json.dumps(_rounded(saved), indent=1, sort_keys=True) + "\n")
  _golden("data_study_figures.json", json.dumps(_rounded(figures), indent=1) + "\n")
  page = tmp_path / "README.md"
  page.write_text("a\n<!-- data-study:begin -->\nold\n<!-- data-study:end -->\nb\n")
  (tmp_path / "runs" / "token-w8").mkdir(parents=True)
  (tmp_path / "runs" / "token-w8" / "result.json").write_text("{}")
  ds.publish(str(tmp_path / "runs"), str(tmp_path / "out"), str(tmp_path / "docs"), str(page))
  assert page.read_text() == ("a\n<!-- data-study:begin -->\n\n" + ds.readme_block(result, "docs/data-study")
                              .replace("docs/data-study", str(tmp_path / "docs")) + "\n<!-- data-study:end -->\nb\n")
  for f in ("data_study.md", "data_study.json", "loss_vs_epochs.png", "data_multiplier.png"):
    assert (tmp_path / "docs" / f).read_bytes() == (tmp_path / "out" / f).read_bytes()


def test_arms_report_and_json(tmp_path):
  """Two budgets; every arm: serial against recency numbering (one pair without a twin), whole-file names, 4x
  context (fewer tokens), seed repeats; differences on both sides of the noise."""
  study, context = tmp_path / "study", tmp_path / "context"
  base = {"token": 2.50, "structured": 2.30, "scoped": 2.00, "scoped_recency": 1.97}
  shift = {"w12": 0.0, "w16": -0.03, "w24": 0.02}
  gain = {"token": 0.21, "structured": 0.04, "scoped": -0.02}
  for i, c in enumerate((3e11, 1e12)):
    for v, b in base.items():
      for p, s in shift.items():
        loss = b + s - 0.1 * i + (0.013 * (p == "w24") if v == "scoped_recency" else 0)
        _arm_run(study, v, p, c, loss)
        if p == "w16":
          _arm_run(study, v, p, c, loss + 0.011, seed=1)
        if v in gain:
          _arm_run(context, v, p, c, loss - gain[v] + 0.005 * i, context=3072, tokens=7.5e5)
    for p, s in shift.items():
      _arm_run(study, "scoped_file", p, c, base["scoped"] + s - 0.1 * i - 0.04 - 0.05 * i + 0.07 * (p == "w12"))
  _arm_run(study, "scoped_recency", "w10", 3e11, 1.5)  # no serial twin (sorted before the paired runs)
  _arm_run(study, "token", "w12", 3e11, 9.0, context=3072)  # another context in the study's workdir: no partner
  _arm_run(study, "scoped_file", "w16", 1e13, 1.1, dirty=True)  # from a dirty checkout: read all the same
  _arm_run(study, "scoped", "w16", 1e13, 1.2)
  with pytest.raises(ValueError, match="fits.json has no seed noise: run `python -m structlm analyze"):
    (study / "fits.json").write_text(json.dumps(dict(seed_noise=None)))
    arms.analyze(str(study), str(context), str(tmp_path / "out"))
  (study / "fits.json").write_text(json.dumps(dict(seed_noise=dict(used=0.02))))
  result = arms.analyze(str(study), str(context), str(tmp_path / "out"))
  _golden("arms.md", (tmp_path / "out" / "arms.md").read_text())
  _golden("arms.json", json.dumps(_rounded(json.loads((tmp_path / "out" / "arms.json").read_text())), indent=1,
                                  sort_keys=True) + "\n")
  page = tmp_path / "study.md"
  page.write_text("x\n<!-- arms:begin -->\nold\n<!-- arms:end -->\ny\n")
  arms.publish(result["markdown"], str(page))
  assert page.read_text() == "x\n<!-- arms:begin -->\n\n" + result["markdown"] + "\n<!-- arms:end -->\ny\n"


def test_study_report_fits_readme_sections_and_figures(tmp_path, figures):
  """The study's analysis end to end on written runs (collect, fits, isoFLOP budgets, multipliers, words,
  figures) and its publication (README section, answer block, copies): token and structured from known laws on
  four isoFLOP budgets bracketing the optimum, with seed repeats at one budget."""
  from analysis import publish, synthetic
  from analysis.fit import Law
  from analysis.report import analyze
  laws = {"token": Law(A=60.0, B=900.0, E=0.55, alpha=0.32, beta=0.30),
          "structured": Law(A=45.0, B=700.0, E=0.52, alpha=0.32, beta=0.30)}
  rows = synthetic.isoflop_runs(laws, budgets=(1e15, 1e16, 1e17, 1e18), sizes_per_budget=5, noise=0.01, seed=3)
  rng = np.random.default_rng(5)
  rows += [dict(r, bpb=r["bpb"] * float(np.exp(rng.normal(0, 0.01))), run=r["run"] + "-seed1")
           for r in rows if r["C"] == 1e16]
  runs = tmp_path / "runs"
  synthetic.write(rows, str(runs))
  with open(runs / "fits.json", "w") as f:  # (written by analyze below: publish reads it)
    f.write("{}")
  fits = analyze(str(runs), str(runs), n_bootstrap=60, fit_bootstrap=8)
  _golden("study_report.md", (runs / "report.md").read_text())
  fits_json = json.loads((runs / "fits.json").read_text())
  _golden("study_fits.json", json.dumps(_rounded(fits_json), indent=1, sort_keys=True) + "\n")
  _golden("study_figures.json", json.dumps(_rounded(figures), indent=1) + "\n")
  readme, answer = tmp_path / "README_study.md", tmp_path / "ANSWER.md"
  readme.write_text("top\n<!-- study:begin -->\nold\n<!-- study:end -->\nbottom\n")
  answer.write_text("a\n<!-- answer:begin -->\nold\n<!-- answer:end -->\nb\n")
  publish.publish(str(runs), str(readme), str(tmp_path / "docs"), "study", copy_runs=True, answer=str(answer))
  _golden("study_readme.md", readme.read_text())
  _golden("study_answer.md", answer.read_text())
  assert (tmp_path / "docs" / "report.md").read_text() == (runs / "report.md").read_text()
  assert len(list((tmp_path / "docs" / "runs").rglob("result.json"))) == len(rows)
  assert fits["runs"] == len(rows)


def test_lr_check_table_and_json(tmp_path):
  """Two budgets, three variants (one cell with its best at the grid's edge, one variant without a rule run, a
  seed repeat and a run at another context in the study that are not the rule's run)."""
  from analysis import lr

  def run(root, variant, preset, budget, scale, bpb, seed=0, context=768):
    d = root / f"{variant}-{preset}-lr{scale}-C{budget:.0e}-s{seed}-ctx{context}"
    d.mkdir(parents=True)
    config = dict(train_flops=budget, lr_scale=scale, seed=seed, context_bytes=context)
    (d / "result.json").write_text(json.dumps(dict(variant=variant, preset=preset, eval_bpb=bpb, config=config)))
  grid = {"token": (2.30, 2.25, 2.28, 2.40), "structured": (2.10, 2.05, 2.02, 2.08),
          "scoped": (1.95, 1.90, 1.93, 1.99)}
  for i, c in enumerate((3e11, 1e12)):
    for v, losses in grid.items():
      for scale, loss in zip((0.75, 1.5, 3.0, 6.0), losses):
        if v == "scoped" and scale == 3.0 and c == 1e12:
          continue  # no rule run for this cell
        run(tmp_path / ("study" if scale == 3.0 else "lr"), v, "w16", c, scale, loss - 0.1 * i + 0.01 * (v == "token"))
  run(tmp_path / "study", "token", "w16", 3e11, 3.0, 9.9, seed=1)
  run(tmp_path / "study", "token", "w16", 3e11, 3.0, 8.8, context=3072)
  result = lr.check(str(tmp_path / "lr"), str(tmp_path / "study"))
  _golden("lr_check.md", lr.render_check(result) + "\n")
  _golden("lr_check.json", json.dumps(_rounded(result), indent=1, sort_keys=True, default=str) + "\n")
  with pytest.raises(ValueError, match="no finished runs under"):
    lr.check(str(tmp_path / "empty"), str(tmp_path / "study"))


def _per_file_runs(root, rng):
  """Each variant's one run per budget with per-file scores (RUN/eval_test.json): 30 files of mixed sizes,
  file difficulty shared by every run plus a little per-run noise."""
  sizes = rng.integers(1000, 5000, 30)
  hard = rng.normal(0, 0.2, 30)
  for variant, by_budget in (("token", {1e11: 2.6, 3e11: 2.5, 1e12: 2.42}),
                             ("structured", {1e11: 2.3, 3e11: 2.27, 1e12: 2.25}),
                             ("scoped_recency", {1e11: 2.0, 3e11: 1.98, 1e12: 1.9})):
    for budget, bpb in by_budget.items():
      d = root / f"{variant}-C{budget:.0e}"
      d.mkdir(parents=True)
      bits = (bpb + hard + rng.normal(0, 0.05, 30)) * sizes
      (d / "result.json").write_text(json.dumps(dict(
          variant=variant, preset="w8", params=1e4, tokens=1e6, bytes=3e6, flops=budget,
          eval_bpb=float(bits.sum() / sizes.sum()), config=dict(train_flops=budget), grammar_hash=variant,
          vocab_hash="v")))
      (d / "eval_test.json").write_text(json.dumps(dict(bpb=float(bits.sum() / sizes.sum()), table=[
          dict(path=f"f{i}.py", bytes=int(n), bits=float(b)) for i, (n, b) in enumerate(zip(sizes, bits))])))


def test_gap_trend_report_and_json(tmp_path):
  from analysis import gap_trend
  _per_file_runs(tmp_path, np.random.default_rng(4))
  result = gap_trend.trend(str(tmp_path), "test", n=300)
  _golden("gap_trend.md", gap_trend.render(result, "the test split") + "\n")
  _golden("gap_trend.json", json.dumps(_rounded(result), indent=1, sort_keys=True) + "\n")


def test_file_bootstrap_intervals(tmp_path):
  """The multiplier's intervals when files are resampled (runs of known laws, per-file scores that favour the
  structured runs on half the files)."""
  from analysis import synthetic
  from analysis.file_bootstrap import intervals, markdown
  rows = synthetic.isoflop_runs(budgets=(1e15, 1e16, 1e17), sizes_per_budget=4, seed=2)
  rng = np.random.default_rng(6)
  n_bytes = rng.uniform(1e3, 1e4, 24)
  L = np.array([r["bpb"] for r in rows])
  tilt = np.where(np.arange(24) % 2, 1.08, 0.93)
  skew = np.array([tilt if r["variant"] == "structured" else np.ones(24) for r in rows])
  res = intervals(rows, L[:, None] * n_bytes[None, :] * skew, n_bytes, n=80, seed=3)
  _golden("file_bootstrap.md", markdown(res, "test", 80, 24) + "\n")
  _golden("file_bootstrap.json", json.dumps(_rounded(res), indent=1, sort_keys=True) + "\n")


def test_answer_names_a_trend_only_past_the_seed_noise():
  """A gap that moves less than twice the noise of four single runs (4 x the seed noise) is called no change."""
  from analysis.publish import answer_block

  def iso(losses):
    return dict(all_budgets=[dict(C=c, runs_L=[x]) for c, x in zip((1e11, 1e12, 1e13), losses)])
  fits = dict(isoflop={"token": iso([2.6, 2.45, 2.3]), "structured": iso([2.3, 2.25, 2.2]),
                       "scoped_recency": iso([2.0, 1.96, 1.92])}, seed_noise=dict(used=0.04, sd=0.04,
                                                                                   repeated_sizes=20))
  text = answer_block(fits, "x.png")
  assert "structured beats token at every budget (shrinking with compute: 0.300 → 0.100 bits/byte)" in text
  assert ("scoped_recency beats structured at every budget (a change of -0.020 with compute, within four runs' seed "
          "noise (0.160): 0.300 → 0.280 bits/byte)") in text
  fits["isoflop"]["token"]["all_budgets"][-1]["runs_L"] = [2.45]  # a change of 0.150, under 4 x 0.04
  assert "structured beats token at every budget (a change of -0.050 with compute, within four runs' seed noise " \
         "(0.160): 0.300 → 0.250 bits/byte)" in answer_block(fits, "x.png")


def test_answer_says_when_an_exponent_interval_holds_zero():
  from analysis.publish import answer_block
  iso = dict(identified=True, N_opt_exponent=0.26, N_opt_exponent_ci=[-0.14, 0.5], all_budgets=[])
  text = answer_block(dict(isoflop={"structured": iso}), "x.png")
  assert "structured (N_opt ∝ C^0.26, -0.14–0.50; the interval holds 0: N_opt not shown to grow with C)" in text
  iso["N_opt_exponent_ci"] = [0.1, 0.5]
  assert "structured (N_opt ∝ C^0.26, 0.10–0.50)." in answer_block(dict(isoflop={"structured": iso}), "x.png")
