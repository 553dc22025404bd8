"""IsoFLOP sweep (Chinchilla's Approach 2): for each compute budget, the presets around the compute-optimal size;
each run trains for exactly that many FLOPs, so each variant gets its own number of tokens for the same compute.

python -m structlm sweep experiments/isoflop.py --workdir runs/isoflop
python -m structlm sweep experiments/isoflop.py:1e17,1e18,1e19 --workdir runs/isoflop-big   (other budgets)
"""
from structlm import sweeps


def get_config(budgets: str = ""):
  c = tuple(float(b) for b in budgets.split(",")) if budgets else (1e14, 1e15, 1e16)
  return sweeps.isoflop(budgets=c, sizes_per_budget=5,
                        common=dict(corpus="stdlib", vocab_size=8192, seq_len=512, global_batch=32,
                                    eval_bytes=1_000_000))
