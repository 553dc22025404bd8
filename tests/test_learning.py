"""Tiny presets of every variant learn: well below the untrained model's bits per byte, and near the figures
measured on this machine, on held-out stdlib files in about a minute of CPU training each. The corpus is the
stdlib's top-level modules (168 files, 4.7 MB), so the dataset builds in seconds; the full-stdlib figures are the
CPU study's (README). Each run is the `train` command in its own process on one CPU device, as on a laptop."""
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


@pytest.mark.parametrize("variant", ["token", "structured", "scoped"])
def test_tiny_preset_learns(stdlib_top, tmp_path, variant):
  corpus, data_dir = stdlib_top
  overrides = (f"variant={variant},preset=200k,corpus={corpus},data_dir={data_dir},vocab_size=2048,seq_len=256,"
               f"global_batch=16,steps={STEPS},warmup=10,mesh=(1,1,1),checkpoint_every=1000000,log_every=1")
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1", JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-m", "structlm", "train", "--quiet", "--config",
                        f"experiments/base.py:{overrides}", "--workdir", str(tmp_path)],
                       env=env, capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  with open(tmp_path / "result.json") as f:
    res = json.load(f)
  with open(tmp_path / "metrics.jsonl") as f:
    untrained = json.loads(f.readline())["bpb"]  # step 1: the loss of the initial model, before its update
  print(f"{variant}: eval_bpb {res['eval_bpb']:.3f} (step 1: {untrained:.3f}) in {res['seconds']:.0f} s; "
        f"compressors {res['compressors']}")
  assert res["eval_bpb"] < untrained - 0.75, (res["eval_bpb"], untrained)
  assert abs(res["eval_bpb"] - MEASURED[variant]) < TOLERANCE, (res["eval_bpb"], MEASURED[variant])
