"""Decoding speed: time per generated action of a grammar model with the constraint machine (strict masks and
tree features from one machine per sample, as `python -m structlm sample` runs it; the scoped model's machine
also keeps the file's names and scopes) over the same model and loop without them (ids only, no masks, no machines).

python benchmarks/decode.py --json [--variant structured|scoped] [--preset 3m] [--n 32] [--steps 128] [--vocab 4096]
Prints one JSON line: constrained_s_per_action, unconstrained_s_per_action, constrained_over_unconstrained, and
the strict mode's cost of its placement rules (structlm/syntax/placement.py): placement_over_without.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from structlm import presets  # noqa: E402
from structlm.generate import LoadedRun, _step_fn, choose, continue_ids  # noqa: E402
from structlm.model import ModelConfig, Transformer, init_cache, mask_bias  # noqa: E402
from structlm.syntax import sources  # noqa: E402
from structlm.syntax.build import build_grammar  # noqa: E402
from structlm.syntax.grammar import GrammarConfig  # noqa: E402
from structlm.syntax.machine import SlotTable  # noqa: E402
from structlm.syntax.names import NameScheme  # noqa: E402


class _Vocab:
  def __init__(self, g, table):
    self.grammar, self.table, self.names = g, table, NameScheme(g, table)


def unconstrained(run, n, steps, seed=0):
  """The same jitted decode step and host sampling, with no machines: fixed features, no mask."""
  step = _step_fn(run)
  cache = init_cache(run.mcfg, n, steps + 1)
  rng = np.random.default_rng(seed)
  last = np.full(n, run.mcfg.vocab_size)
  zeros = np.zeros((n, 1), np.int32)
  for pos in range(steps):
    batch = {"inputs": last[:, None].astype(np.int32), "next_slots": zeros, "next_depth": zeros, "next_parent": zeros}
    if run.mcfg.num_refs:
      batch.update(names=zeros, next_name_count=zeros, next_name_live=zeros)
    logits, cache = step(run.params, batch, pos, cache, run.mask_bias)
    last = choose(np.asarray(logits, np.float64), rng, 1.0, 1.0)


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--variant", default="structured", choices=("structured", "scoped"))
  ap.add_argument("--preset", default="3m")
  ap.add_argument("--n", type=int, default=32)
  ap.add_argument("--steps", type=int, default=128)
  ap.add_argument("--vocab", type=int, default=4096)
  ap.add_argument("--files", type=int, default=150)
  ap.add_argument("--json", action="store_true")
  args = ap.parse_args()
  files = [(f, sources.read(f)) for f in sources.stdlib_files()[::7][:args.files]]
  g = build_grammar("python", [(f, s) for f, s in files if s], GrammarConfig(vocab_size=args.vocab))
  table = SlotTable(g)
  vocab = _Vocab(g, table)
  scoped = args.variant == "scoped"
  s = presets.preset(args.preset)
  mcfg = ModelConfig(variant=args.variant, vocab_size=vocab.names.vocab_size if scoped else g.vocab_size,
                     d_model=s.d_model, n_layers=s.n_layers, n_heads=s.n_heads, d_ff=s.d_ff,
                     num_slots=table.num_slots, parent_base=g.parent_ids[0],
                     num_parents=g.parent_ids[1] - g.parent_ids[0], num_refs=vocab.names.refs if scoped else 0)
  graphdef, params = nnx.split(Transformer(mcfg, nnx.Rngs(0)), nnx.Param)

  class Cfg:
    seq_len = args.steps + 1
    variant = args.variant

  run = LoadedRun(cfg=Cfg, vocab=vocab, table=table, mcfg=mcfg, graphdef=graphdef, params=params,
                  mask_bias=mask_bias(vocab.names.mask_table() if scoped else table.mask_table()), data={}, step=0)
  unconstrained(run, args.n, 4)  # compile
  continue_ids(run, args.n, [], 1.0, 1.0, 4, 0)
  best = {"constrained": float("inf"), "unconstrained": float("inf"), "no_placement": float("inf")}
  placement = table.strict.placement
  rules = (placement.rules, placement.checks, placement.seg_checks)
  for rnd in range(5):  # alternate; keep the best of five (a shared machine's speed drifts)
    for key in ("constrained", "no_placement"):  # strict mode with and without the language's placement rules
      placement.rules, placement.checks, placement.seg_checks = rules if key == "constrained" else (None, [], {})
      t0 = time.perf_counter()
      samples = continue_ids(run, args.n, [], 1.0, 1.0, args.steps, rnd)
      loop_steps = max(x.length for x in samples)  # the loop runs until the last sample finishes
      best[key] = min(best[key], (time.perf_counter() - t0) / max(loop_steps, 1))
    placement.rules, placement.checks, placement.seg_checks = rules
    t0 = time.perf_counter()
    unconstrained(run, args.n, args.steps, rnd)
    best["unconstrained"] = min(best["unconstrained"], (time.perf_counter() - t0) / args.steps)
  row = dict(variant=args.variant, preset=args.preset, n=args.n, steps=args.steps, device=jax.devices()[0].device_kind,
             constrained_s_per_step=round(best["constrained"], 5),
             unconstrained_s_per_step=round(best["unconstrained"], 5),
             constrained_over_unconstrained=round(best["constrained"] / best["unconstrained"], 3),
             no_placement_s_per_step=round(best["no_placement"], 5),
             placement_over_without=round(best["constrained"] / best["no_placement"], 3))
  print(json.dumps(row) if args.json else row, flush=True)


if __name__ == "__main__":
  main()
