"""A sweep sized for one H100/H200 in about fifteen minutes: every variant x presets 3m, 10m, 25m x 10 MB and 30
MB of stdlib source (18 runs, bf16), vocabulary 8,192. The larger models are meant to beat xz -9e per file (1.65
bits/byte on the stdlib).

launch/gpu_single.sh --sweep experiments/gpu_small.py      (or: python -m structlm sweep experiments/gpu_small.py
                                                            --workdir runs/gpu_small --set dtype=bfloat16)
"""
from structlm import sweeps


def get_config():
  return sweeps.grid(preset_names=("3m", "10m", "25m"), train_bytes=(1e7, 3e7),
                     common=dict(corpus="stdlib", data_dir="data", vocab_size=8192, seq_len=1024, global_batch=32,
                                 warmup=30, dtype="bfloat16", eval_bytes=1_000_000, checkpoint_every=200,
                                 log_every=20, peak_flops=0.0))
