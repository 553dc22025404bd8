"""Small JavaScript runs (`make js-corpus` first): every headline variant at the CPU study's w8 size and 1e11 FLOPs
on the pinned npm corpus, with the study's rules, for sampling (V8 as the judge of strict-mode samples).

python -m structlm sweep experiments/js_small.py --workdir runs/js
"""
from structlm import sweeps, variants

COMMON = dict(corpus="data/js", language="javascript", data_dir="data", vocab_size=2048, leaf_capacity="merges",
              context_bytes=768, global_batch=0, warmup_fraction=0.1, beta2=0.99, eval_split="test", eval_bytes=0,
              mesh=(1, 1, 1), checkpoint_every=400, log_every=50, keep_checkpoints=1, lr_scale=3.0)


def get_config(arg: str = ""):
  return sweeps.sweep([dict(variant=v, preset="w8", train_flops=1e11) for v in variants.SERIAL_HEADLINE],
                      common=COMMON, bootstrap=0)
