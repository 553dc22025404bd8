"""The CPU study on the stdlib that `make demo` runs: both variants x 4 sizes x 2 byte budgets (16 runs, about
15 minutes on 2 cores). `experiments/demo.py:quick` (make demo QUICK=1): 3 sizes x 2 budgets on the stdlib's
top-level modules, about 4 minutes.

python -m structlm sweep experiments/demo.py --workdir runs/demo
"""
import os

from structlm import sweeps
from structlm.syntax import sources

COMMON = dict(vocab_size=2048, seq_len=256, global_batch=16, warmup=10, eval_bytes=150_000, mesh=(1, 1, 1),
              checkpoint_every=50, log_every=10)


def get_config(mode: str = ""):
  if mode not in ("", "quick"):
    raise ValueError(f"experiments/demo.py takes no argument or 'quick', not {mode!r}")
  if mode == "quick":
    corpus = os.path.join(sources.stdlib_root(), "*.py")  # the top-level modules: 168 files, 4.7 MB
    return sweeps.grid(preset_names=("50k", "200k", "400k"), train_bytes=(2e5, 6e5),
                       common=dict(COMMON, corpus=corpus, data_dir="data"), bootstrap=200)
  return sweeps.grid(preset_names=("50k", "200k", "400k", "1m"), train_bytes=(6e5, 1.8e6),
                     common=dict(COMMON, corpus="stdlib", data_dir="data"), bootstrap=1000)
