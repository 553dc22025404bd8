"""Ablations: the structured variant with grammar mask off, tree features off, both off; the scoped variant with
its name-index input off and its REF mask off; and every variant on comment-free source (identical bytes).

python -m structlm sweep experiments/ablations.py --workdir runs/ablations --no-analysis
"""
from structlm import sweeps


def get_config():
  return sweeps.ablations(preset_names=("1m", "3m"), train_bytes=(1e7,),
                          common=dict(corpus="stdlib", vocab_size=8192, seq_len=512, global_batch=32,
                                      eval_bytes=1_000_000))
