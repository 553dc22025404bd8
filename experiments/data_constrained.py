"""Data-constrained sweep (Muennighoff et al.): a fixed fraction of the unique training bytes, repeated for several
epochs, per variant; the analysis fits the repeated-data half-life R*_D.

python -m structlm sweep experiments/data_constrained.py --workdir runs/data_constrained
"""
from structlm import sweeps


def get_config():
  return sweeps.data_constrained(unique_fractions=(0.05, 0.2), epochs=(1, 4, 16), preset_names=("1m", "3m"),
                                 common=dict(corpus="stdlib", vocab_size=8192, seq_len=512, global_batch=32,
                                             eval_bytes=1_000_000))
