"""Where the training loop's time goes: the loop's tokens/s (structlm train, from its metrics: tokens and elapsed
seconds between the second and the last logged step, so compilation is left out) against the compiled step alone
(the same model, optimizer and a real batch of the same dataset, dispatched `--steps` times and waited for once).
Target: loop / step >= 0.9.

python benchmarks/loop.py --json [--sizes w8,w24,w64] [--variant structured] [--steps 300]
Needs the stdlib dataset at vocabulary 2,048 (built on first use). One JSON line per size.
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("XLA_FLAGS", "")

import jax  # noqa: E402
from flax import nnx  # noqa: E402

from structlm import presets, sharding, variants  # noqa: E402
from structlm.data.pipeline import PackedBatches, to_global  # noqa: E402
from structlm.model import Transformer, mask_bias, model_inputs  # noqa: E402
from structlm.run import batch_options, context_len, load_config, setup, train  # noqa: E402
from structlm.train import init_state, make_step, optimizer  # noqa: E402


def config(size: str, variant: str, steps: int, batch: int):
  cfg = load_config("experiments/base.py")
  cfg.update(dict(variant=variant, preset=size, corpus="stdlib", vocab_size=2048, context_bytes=768, steps=steps,
                  global_batch=batch, warmup=10, log_every=10, checkpoint_every=10 ** 9, mesh=(1, 1, 1),
                  eval_bytes=20_000, learning_rate=1e-3))
  return cfg


def step_alone(cfg, steps: int) -> float:
  data, vocab, _, mcfg = setup(cfg)
  pb = PackedBatches(data["dataset_dir"], "train", **batch_options(cfg, mcfg))
  cfg.seq_len = context_len(cfg.context_bytes, pb.predicted_per_byte)
  pb = PackedBatches(data["dataset_dir"], "train", **batch_options(cfg, mcfg))
  mesh = sharding.make_mesh((1, 1, 1))
  table = variants.get(cfg.variant).mask_table(vocab)
  bias = mask_bias(table) if table is not None else None
  tx = optimizer(1e-3, steps, 10)
  graphdef, params, opt = init_state(Transformer(mcfg, nnx.Rngs(0)), tx, mesh)
  fn = make_step(graphdef, tx, mesh, params, opt)
  batch = to_global(model_inputs(pb.host_batch(0)), sharding.batch_sharding(mesh))
  params, opt, m = fn(params, opt, batch, bias)
  jax.block_until_ready(m["loss"])
  t = time.perf_counter()
  for _ in range(steps):
    params, opt, m = fn(params, opt, batch, bias)
  jax.block_until_ready(m["loss"])
  return steps * cfg.global_batch * cfg.seq_len / (time.perf_counter() - t)


def loop(cfg) -> float:
  with tempfile.TemporaryDirectory() as d:
    train(cfg, d, progress=False)
    with open(os.path.join(d, "metrics.jsonl")) as f:
      rows = [json.loads(line) for line in f]
  a, b = rows[1], rows[-1]
  return (b["tokens"] - a["tokens"]) / (b["elapsed"] - a["elapsed"])


def main():
  ap = argparse.ArgumentParser(description=__doc__)
  ap.add_argument("--sizes", default="w8,w24,w64")
  ap.add_argument("--variant", default="structured")
  ap.add_argument("--steps", type=int, default=300)
  ap.add_argument("--batch", type=int, default=8)
  ap.add_argument("--json", action="store_true")
  args = ap.parse_args()
  for size in args.sizes.split(","):
    presets.preset(size)
    alone = step_alone(config(size, args.variant, args.steps, args.batch), args.steps)
    looped = loop(config(size, args.variant, args.steps, args.batch))
    out = dict(size=size, variant=args.variant, batch=args.batch, step_tokens_per_s=round(alone),
               loop_tokens_per_s=round(looped), loop_over_step=round(looped / alone, 3))
    print(json.dumps(out) if args.json else out, flush=True)


if __name__ == "__main__":
  main()
