"""Tiny presets of both variants learn: under 3.5 bits/byte on held-out stdlib files (a byte unigram model is about 5)
after about a minute of CPU training each. The corpus is the stdlib's top-level modules (168 files, 4.7 MB), so
the dataset builds in seconds; the full-stdlib figures are the demo's (README)."""
import os

import pytest

from structlm.run import load_config, train
from structlm.syntax import sources

STEPS = 120


@pytest.fixture(scope="module")
def stdlib_top(tmp_path_factory):
  return os.path.join(sources.stdlib_root(), "*.py"), str(tmp_path_factory.mktemp("learn") / "data")


@pytest.mark.parametrize("variant", ["token", "structured"])
def test_tiny_preset_learns(stdlib_top, tmp_path, variant):
  corpus, data_dir = stdlib_top
  cfg = load_config("experiments/base.py")
  cfg.update(dict(variant=variant, preset="400k", corpus=corpus, data_dir=data_dir, vocab_size=2048, seq_len=256,
                  global_batch=16, steps=STEPS, warmup=20, mesh=(1, 1, 1), checkpoint_every=10**6, log_every=20,
                  eval_bytes=0))
  res = train(cfg, str(tmp_path), progress=False)
  print(f"{variant}: eval_bpb {res['eval_bpb']:.3f} in {res['seconds']:.0f} s")
  assert res["eval_bpb"] < 3.5, res
