"""The CPU study (`make study`, about an hour on 2 cores): an isoFLOP design on the stdlib, both variants.

Four compute budgets spanning 1.5 decades (3e11 to 1e13 FLOPs), at each the four presets nearest the compute-optimal size (N counted
as the analysis fits it: non-embedding + output projection); fair capacity (the grammar's leaf pieces get as many
BPE merges as the token BPE, leaf_capacity=merges); each variant's context holds the same 768 source bytes;
learning rates per variant from experiments/lr_sweep.py (structlm/presets.py LR_FACTOR); warm-up 10% of each
run; every run scored on the same 400 kB of whole validation files.

python -m structlm sweep experiments/cpu_study.py --workdir runs/study
`experiments/cpu_study.py:demo` is the same design at smaller budgets (make demo); `:quick` a 3 x 3 toy on the
stdlib's top-level modules (make demo QUICK=1).
"""
import os

from structlm import sweeps
from structlm.syntax import sources

PRESETS = ("15k", "50k", "200k", "400k", "1m", "3m")
COMMON = dict(corpus="stdlib", data_dir="data", vocab_size=2048, leaf_capacity="merges", context_bytes=768,
              global_batch=8, warmup_fraction=0.1, eval_bytes=400_000, mesh=(1, 1, 1), checkpoint_every=200,
              log_every=20)
DESIGNS = {
    "": dict(budgets=(3e11, 1e12, 3e12, 1e13), sizes_per_budget=4),
    "demo": dict(budgets=(1e11, 2.5e11, 6.3e11, 1.6e12), sizes_per_budget=4),
    "quick": dict(budgets=(5e10, 1.5e11, 4.5e11), sizes_per_budget=3),
}


def get_config(mode: str = ""):
  if mode not in DESIGNS:
    raise ValueError(f"experiments/cpu_study.py takes no argument, 'demo' or 'quick', not {mode!r}")
  common = dict(COMMON)
  if mode == "quick":
    common.update(corpus=os.path.join(sources.stdlib_root(), "*.py"), eval_bytes=150_000)
  return sweeps.isoflop(preset_names=PRESETS, common=common, bootstrap=1000, **DESIGNS[mode])
