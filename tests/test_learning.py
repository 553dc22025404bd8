"""Tiny presets of both variants learn: under 3.5 bits/byte on held-out stdlib files (a byte unigram model is about 5)
in under a minute of CPU training each. The corpus is the stdlib's top-level modules (168 files, 4.7 MB), so
the dataset builds in seconds; the full-stdlib figures are the demo's (README). Each run is the `train` command
in its own process on one CPU device, as on a laptop."""
import json
import os
import subprocess
import sys

import pytest

from structlm.syntax import sources

STEPS = 100


@pytest.fixture(scope="module")
def stdlib_top(tmp_path_factory):
  return os.path.join(sources.stdlib_root(), "*.py"), str(tmp_path_factory.mktemp("learn") / "data")


@pytest.mark.parametrize("variant", ["token", "structured"])
def test_tiny_preset_learns(stdlib_top, tmp_path, variant):
  corpus, data_dir = stdlib_top
  overrides = (f"variant={variant},preset=400k,corpus={corpus},data_dir={data_dir},vocab_size=2048,seq_len=256,"
               f"global_batch=16,steps={STEPS},warmup=20,mesh=(1,1,1),checkpoint_every=1000000,log_every=20")
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1", JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-m", "structlm", "train", "--quiet", "--config",
                        f"experiments/base.py:{overrides}", "--workdir", str(tmp_path)],
                       env=env, capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  with open(tmp_path / "result.json") as f:
    res = json.load(f)
  print(f"{variant}: eval_bpb {res['eval_bpb']:.3f} in {res['seconds']:.0f} s; compressors {res['compressors']}")
  assert res["eval_bpb"] < 3.5, res
