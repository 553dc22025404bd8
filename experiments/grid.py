"""Grid sweep: every variant x presets x training byte budgets, on the stdlib.

python -m structlm sweep experiments/grid.py --workdir runs/grid
"""
from structlm import sweeps


def get_config():
  return sweeps.grid(preset_names=("400k", "1m", "3m", "10m"),
                     train_bytes=(3e6, 1e7, 3e7),
                     common=dict(corpus="stdlib", vocab_size=8192, seq_len=512, global_batch=32, eval_bytes=1_000_000))
