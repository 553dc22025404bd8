"""Tiny presets of every variant learn: well below the untrained model's bits per byte, and near the figures
measured on this machine, on held-out stdlib files in about a minute of CPU training each. The corpus is the
stdlib's top-level modules (168 files, 4.7 MB), so the dataset builds in seconds; the full-stdlib figures are the
CPU study's (README). Each run is the `train` command in its own process on one CPU device, as on a laptop. The
structured run is also trained without its grammar mask and without its tree features (same seed, data and
steps): each must lose more than the seed noise. (Those two runs catch a switch that no longer switches; a
feature fed as zeros while the slot still reaches the model is `test_guards.py::test_tree_features_reach_the_model`'s
to catch: depth and parent zeroed cost less than the noise at 60 steps.)"""
import json
import os
import subprocess
import sys

import pytest

from structlm.syntax import sources

STEPS = 60
# eval bits per byte measured with these settings (2-core CPU, Python 3.11; deterministic given the seed); a run
# may come out at most TOLERANCE above it (another BLAS or CPU), never far below without the figure being remeasured
MEASURED = {"token": 2.666, "structured": 2.458, "scoped": 2.145}  # step 1: 3.578, 3.533, 3.147
TOLERANCE = 0.15


@pytest.fixture(scope="module")
def stdlib_top(tmp_path_factory):
  return os.path.join(sources.stdlib_root(), "*.py"), str(tmp_path_factory.mktemp("learn") / "data")


_RUNS = {}  # (variant, extra overrides) -> (result, the untrained model's bits per byte): each run trained once


def _train(corpus, data_dir, tmp_path, variant, extra=""):
  if (variant, extra) not in _RUNS:
    overrides = (f"variant={variant},preset=200k,corpus={corpus},data_dir={data_dir},vocab_size=2048,seq_len=256,"
                 f"global_batch=16,steps={STEPS},warmup=10,mesh=(1,1,1),checkpoint_every=1000000,log_every=1{extra}")
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1", JAX_PLATFORMS="cpu")
    workdir = tmp_path / f"{variant}{extra.replace(',', '_').replace('=', '-')}"
    out = subprocess.run([sys.executable, "-m", "structlm", "train", "--quiet", "--config",
                          f"experiments/base.py:{overrides}", "--workdir", str(workdir)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    with open(workdir / "result.json") as f:
      res = json.load(f)
    with open(workdir / "metrics.jsonl") as f:
      untrained = json.loads(f.readline())["bpb"]  # step 1: the loss of the initial model, before its update
    _RUNS[variant, extra] = res, untrained
  return _RUNS[variant, extra]


@pytest.mark.parametrize("variant", ["token", "structured", "scoped"])
def test_tiny_preset_learns(stdlib_top, tmp_path, variant):
  res, untrained = _train(*stdlib_top, tmp_path, variant)
  print(f"{variant}: eval_bpb {res['eval_bpb']:.3f} (step 1: {untrained:.3f}) in {res['seconds']:.0f} s; "
        f"compressors {res['compressors']}")
  assert res["eval_bpb"] < untrained - 0.75, (res["eval_bpb"], untrained)
  assert abs(res["eval_bpb"] - MEASURED[variant]) < TOLERANCE, (res["eval_bpb"], MEASURED[variant])


# the same run (seed, data, steps) without one of structure's inputs, against the run with it: worse by more than
# the seed noise of this setup (structured, seeds 0 and 1: 2.459 and 2.416, so 0.043; measured on the 2-core CPU,
# where the grammar mask's removal costs 0.066 on seed 0 and 0.077 on seed 1, the tree features' 0.093 and 0.081)
SEED_NOISE = 0.043


@pytest.mark.parametrize("switch", ["grammar_mask", "tree_features"])
def test_structure_s_inputs_each_lower_the_loss_beyond_the_seed_noise(stdlib_top, tmp_path, switch):
  with_it, _ = _train(*stdlib_top, tmp_path, "structured")
  without, _ = _train(*stdlib_top, tmp_path, "structured", f",{switch}=False")
  assert without["eval_bpb"] - with_it["eval_bpb"] > SEED_NOISE, (without["eval_bpb"], with_it["eval_bpb"])
