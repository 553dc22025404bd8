"""The study's hyperparameter rules and the workdir lock: values at known points, and what breaks them."""
import json
import math
import os
import subprocess
import sys
import textwrap

import jax
import ml_collections
import numpy as np
import pytest
from flax import nnx

from structlm import presets
from structlm.model import ModelConfig, Transformer
from structlm.presets import peak_learning_rate
from structlm.run import batch_by_rule, load_config
from structlm.workdir import WorkdirBusy, lock_workdir
from structlm.train import decayed, lr_schedule

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_batch_rule_gives_800_to_1600_steps():
  for tokens in (3e5, 1e6, 4.2e6, 3e7, 1e8):
    b = batch_by_rule(tokens, 256)
    steps = tokens / (256 * b)
    assert b & (b - 1) == 0 and (800 <= steps < 1600 or b in (2, 256)), (tokens, b, steps)
  assert batch_by_rule(1e3, 256) == 2 and batch_by_rule(1e12, 256) == 256  # clipped at both ends


def test_ladder_learning_rate_rule():
  """32 / width x sqrt(batch / 8) x the variant's constant; other presets keep their own rate."""
  lr = presets.learning_rate
  assert math.isclose(lr("w32", "token", 8), presets.LADDER_LR["token"])
  assert math.isclose(lr("w8", "token", 8) / lr("w32", "token", 8), 4.0)
  assert math.isclose(lr("w32", "token", 32) / lr("w32", "token", 8), 2.0)
  assert lr("400k", "token") == presets.preset("400k").learning_rate * presets.lr_factor("400k", "token")
  assert lr("w32", "token", 32, batch_exponent=0.0) == lr("w32", "token", 8)  # the CPU study's v2: no batch term
  assert math.isclose(lr("w32", "token", 2, batch_exponent=0.25) / lr("w32", "token", 8), 0.25 ** 0.25)
  for d in presets.LADDER:  # two layers everywhere, heads that divide the width
    s = presets.preset(f"w{d}")
    assert s.n_layers == 2 and s.d_model == d and d % s.n_heads == 0


def test_the_two_study_rules_agree_to_the_bit_at_batch_2_and_nowhere_above():
  """cpu_study.py's v1 (scale 3, square-root batch) and v2 (scale 1.5, no batch term) rules through run.py's
  formula: the same rate at batch 2 (so v1's batch-2 runs are v2's), v2's lower above it."""
  import importlib.util
  spec = importlib.util.spec_from_file_location("cpu_study", os.path.join(ROOT, "experiments", "cpu_study.py"))
  study = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(study)

  def rate(rule, width, batch):
    return peak_learning_rate(ml_collections.ConfigDict(dict(learning_rate=0.0, preset=f"w{width}", variant="token",
                                                             global_batch=batch, **study.RULES[rule])))
  for width in presets.LADDER:
    assert rate("v1", width, 2) == rate("v2", width, 2)
    assert math.isclose(rate("v2", width, 32) / rate("v1", width, 32), 0.25)


def test_warmup_is_linear_from_zero():
  f = lr_schedule(1.0, 1000, 100)
  assert float(f(0)) == 0.0 and math.isclose(float(f(50)), 0.5, rel_tol=1e-6)
  assert math.isclose(float(f(100)), 1.0, rel_tol=1e-6) and float(f(999)) < 0.11


def test_weight_decay_only_on_matrices():
  cfg = ModelConfig(variant="structured", vocab_size=30, d_model=16, n_layers=1, n_heads=1, d_ff=32, num_slots=4)
  _, params = nnx.split(Transformer(cfg, nnx.Rngs(0)), nnx.Param)
  flags = jax.tree_util.tree_leaves_with_path(decayed(params))
  by_path = {jax.tree_util.keystr(p): bool(v) for p, v in flags}
  assert any(by_path.values()) and not all(by_path.values())
  for path, on in by_path.items():
    assert on == ("embedding" not in path and np.ndim(_leaf(params, path)) >= 2), path


def _leaf(params, path):
  return dict((jax.tree_util.keystr(p), x) for p, x in jax.tree_util.tree_leaves_with_path(params))[path]


def test_workdir_lock_refuses_a_second_holder(tmp_path):
  """A second process on a locked workdir is refused at once, naming the holder; the lock goes with its holder."""
  held = lock_workdir(str(tmp_path))
  code = textwrap.dedent(f"""
      from structlm.workdir import lock_workdir, WorkdirBusy
      try:
          lock_workdir({str(tmp_path)!r})
      except WorkdirBusy as e:
          print("busy", e)
  """)
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
  assert out.startswith("busy") and str(os.getpid()) in out
  held.close()
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
  assert out == ""
  with pytest.raises(WorkdirBusy):
    other = lock_workdir(str(tmp_path / "x"))
    lock_workdir(str(tmp_path / "x"))
  other.close()


def test_batch_rule_rounds_up_to_the_data_parallel_devices():
  assert batch_by_rule(1e6, 256, multiple=16) % 16 == 0 and batch_by_rule(1e6, 256, multiple=1) == 4 and batch_by_rule(4e5, 256) == 2
  assert batch_by_rule(1e12, 256, multiple=48) == 288  # 256 rounded up to a multiple of 48


def test_launch_check_fits_meshes_and_batches():
  from structlm.launch_check import axes, check
  assert axes((-1, 2, 1), 64) == (32, 2, 1)
  with pytest.raises(ValueError):
    axes((3, -1, 1), 64)
  assert check("experiments/isoflop.py", 32, "global_batch=64") == []
  bad = check("experiments/isoflop.py", 64, "mesh=(-1,2,1)")
  assert bad and all("does not divide data x fsdp = 64" in b for b in bad)


def test_schedule_ends_at_a_tenth_of_the_peak_and_clamps_its_warmup():
  f = lr_schedule(2.0, 1000, 100)
  assert math.isclose(float(f(1000)), 0.2, rel_tol=1e-6)  # cosine to 10% of the peak at the last step
  assert math.isclose(float(f(550)), 0.2 + 1.8 * 0.5 * (1 + math.cos(math.pi * 450 / 900)), rel_tol=1e-5)
  g = lr_schedule(1.0, 10, 50)  # warm-up longer than the run: clamped to total - 1 steps, the peak at step 9
  assert math.isclose(float(g(9)), 1.0, rel_tol=1e-6) and math.isclose(float(g(3)), 3 / 9, rel_tol=1e-6)
  h = lr_schedule(1.0, 100, 0)  # no warm-up asked: one step of it, the peak at step 1
  assert float(h(0)) == 0.0 and math.isclose(float(h(1)), 1.0, rel_tol=1e-6)
  one = lr_schedule(1.0, 1, 10)  # a one-step run still gets a two-step schedule
  assert math.isclose(float(one(1)), 1.0, rel_tol=1e-6) and math.isclose(float(one(2)), 0.1, rel_tol=1e-6)


def test_a_recorded_run_is_the_same_run_when_its_rate_is_the_same_however_written(tmp_path):
  """The v1 study's runs at batch 2 are v2's (the same peak rate, written as another scale); at batch 8 they are
  not; a key the recorded config predates is compared at its old default."""
  from structlm import runner
  from structlm.workdir import ADDED_KEYS, config_differences
  v1 = dict(variant="token", preset="w16", lr_scale=3.0, learning_rate=0.0, seq_len=256, context_bytes=768)
  v2 = dict(variant="token", preset="w16", lr_scale=1.5, lr_batch_exponent=0.0, learning_rate=0.0, global_batch=0,
            batch_target_steps=800, seq_len=300, context_bytes=768)
  assert config_differences(dict(v1, global_batch=2), v2) == []
  assert config_differences(dict(v1, global_batch=8), v2) == ["lr_batch_exponent", "lr_scale"]
  assert config_differences(dict(v1, global_batch=32, lr_scale=0.75), v2) == []  # v1 x0.25 at 32 = v2 x1
  assert config_differences(dict(v1, global_batch=2), dict(v2, batch_target_steps=400)) == ["batch_target_steps"]
  assert config_differences(dict(v1, global_batch=2, lr_scale=0.75), dict(v2, lr_scale=0.375)) == []
  assert config_differences(dict(v1, global_batch=2, lr_scale=1.5), v2) == [
      "lr_batch_exponent"]  # v1 x0.5 lacks the exponent (0.5 then): its rate is half v2's at the same scale
  base = load_config("experiments/base.py")
  assert all(base[k] == v for k, v in ADDED_KEYS.items())  # each added key's default keeps the old behaviour
  # the sweep takes a finished v1 run at batch 2 as its own, and refuses one at batch 8
  member = runner.members(ml_collections.ConfigDict(dict(
      base="experiments/base.py", common=dict(lr_scale=1.5, lr_batch_exponent=0.0, global_batch=0),
      runs=[dict(name="token-w16", variant="token", preset="w16")])))[0]
  for batch, refused in ((2, False), (8, True)):
    (tmp_path / "result.json").write_text(json.dumps(dict(config=dict(v1, global_batch=batch))))
    if refused:
      with pytest.raises(ValueError, match="different lr_batch_exponent, lr_scale"):
        runner._check_same_config(str(tmp_path), member)
    else:
      runner._check_same_config(str(tmp_path), member)
