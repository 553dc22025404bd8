"""Sweeps as code: generators for the study's sweep configs (grid, isoFLOP, data-constrained, ablations).

A sweep config file (experiments/<sweep>.py) has `get_config(arg="")` returning a ConfigDict with
- `base`: the run config file every member starts from (experiments/base.py),
- `common`: overrides for every member (corpus, vocabulary, batch, ...),
- `runs`: a list of dicts, each the overrides of one member (its `name` is derived from them when absent),
- `analysis`: options for the analysis at the end (bootstrap refits, compressor references).
"""
from __future__ import annotations

import itertools
import math

import ml_collections

from structlm import flops, presets, variants
from structlm.model import ModelConfig


def sweep(runs: list[dict], common: dict | None = None, base: str = "experiments/base.py",
          bootstrap: int = 1000) -> ml_collections.ConfigDict:
  named = []
  seen = set()
  for r in runs:
    r = dict(r)
    r.setdefault("name", run_name(r))
    if r["name"] in seen:
      raise ValueError(f"two sweep members are both named {r['name']!r}: give them distinct overrides or names")
    seen.add(r["name"])
    named.append(r)
  c = ml_collections.ConfigDict()
  c.base = base
  c.common = dict(common or {})
  c.runs = named
  c.analysis = ml_collections.ConfigDict(dict(bootstrap=bootstrap))
  return c


def _short(v) -> str:
  if isinstance(v, bool):
    return "on" if v else "off"
  if isinstance(v, float):
    return f"{v:.3g}".replace("+", "")
  return str(v)


ABBREV = {"train_bytes": "D", "train_flops": "C", "unique_fraction": "u", "epochs": "ep", "grammar_mask": "mask",
          "tree_features": "tree", "strip_comments": "nocomments", "seed": "seed", "leaf_capacity": "leaves-",
          "name_features": "nameidx", "ref_mask": "refmask", "lr_scale": "lr", "context_bytes": "ctx",
          "vocab_size": "V"}


def run_name(overrides: dict) -> str:
  """A stable, readable name: variant and preset first, then the other overrides in key order."""
  parts = [str(overrides[k]) for k in ("variant", "preset") if k in overrides]
  for k in sorted(set(overrides) - {"variant", "preset", "name"}):
    parts.append(f"{ABBREV.get(k, k)}{_short(overrides[k])}")
  return "-".join(parts)


VARIANTS = variants.HEADLINE


def grid(variants=VARIANTS, preset_names=("50k", "400k", "1m", "3m"),
         train_bytes=(1e6, 3e6), **kw) -> ml_collections.ConfigDict:
  """Every variant x preset x byte budget (bytes of source seen in training)."""
  runs = [dict(variant=v, preset=p, train_bytes=float(b))
          for v, p, b in itertools.product(variants, preset_names, train_bytes)]
  return sweep(runs, **kw)


def compute_optimal_params(flops: float) -> float:
  """Chinchilla's rule of thumb: C = 6 N D with D = 20 N tokens."""
  return math.sqrt(flops / 120.0)


def nonembedding_params(name: str) -> float:
  s = presets.preset(name)
  cfg = ModelConfig(d_model=s.d_model, n_layers=s.n_layers, n_heads=s.n_heads, d_ff=s.d_ff)
  return float(flops.param_counts(cfg)["nonembedding"])


def compute_params(name: str, vocab_size: int) -> float:
  """N as the analysis fits it (non-embedding + output projection) of a token model with this vocabulary."""
  s = presets.preset(name)
  cfg = ModelConfig(vocab_size=vocab_size, d_model=s.d_model, n_layers=s.n_layers, n_heads=s.n_heads, d_ff=s.d_ff)
  return float(flops.param_counts(cfg)["compute"])


def isoflop(budgets=(1e14, 1e15, 1e16), variants=VARIANTS, sizes_per_budget: int = 5,
            preset_names=None, **kw) -> ml_collections.ConfigDict:
  """For each compute budget C, the `sizes_per_budget` presets (of `preset_names`, default all) nearest in log N
  to the compute-optimal size sqrt(C / 120), N counted as the analysis does (non-embedding + output projection
  at the sweep's vocab_size); every variant uses the same presets. Each run trains for C FLOPs (the run turns C
  into steps with its own FLOPs per token, so the variants get the same compute, each its own tokens)."""
  names = list(preset_names or presets.PRESETS)
  vocab = (kw.get("common") or {}).get("vocab_size", 8192)
  size = {n: compute_params(n, vocab) for n in names}
  runs = []
  for c in budgets:
    n_opt = compute_optimal_params(c)
    near = sorted(names, key=lambda n: abs(math.log(size[n] / n_opt)))[:sizes_per_budget]
    for v, p in itertools.product(variants, sorted(near, key=size.get)):
      runs.append(dict(variant=v, preset=p, train_flops=float(c)))
  return sweep(runs, **kw)


def data_constrained(unique_fractions=(0.05, 0.2), epochs=(1, 4, 16), variants=VARIANTS,
                     preset_names=("1m",), **kw) -> ml_collections.ConfigDict:
  """Unique training bytes (a fixed fraction of the split) x epochs over them (Muennighoff et al.)."""
  runs = [dict(variant=v, preset=p, unique_fraction=float(u), epochs=int(e))
          for v, p, u, e in itertools.product(variants, preset_names, unique_fractions, epochs)]
  return sweep(runs, **kw)


def ablations(preset_names=("1m",), train_bytes=(3e6,), **kw) -> ml_collections.ConfigDict:
  """The structured variant with its grammar mask and tree features switched off one at a time, with the
  equal-total vocabulary split (leaf_capacity=total: leaf pieces get what the structural actions leave); the
  scoped variant with its name-index input off and with its REF mask off (references off altogether is the
  structured member); and the variants on comment-free source (they then see identical bytes)."""
  runs = []
  for p, b in itertools.product(preset_names, train_bytes):
    b = float(b)
    runs += [dict(variant="structured", preset=p, train_bytes=b),
             dict(variant="structured", preset=p, train_bytes=b, grammar_mask=False),
             dict(variant="structured", preset=p, train_bytes=b, tree_features=False),
             dict(variant="structured", preset=p, train_bytes=b, grammar_mask=False, tree_features=False),
             dict(variant="structured", preset=p, train_bytes=b, leaf_capacity="total"),
             dict(variant="token", preset=p, train_bytes=b),
             dict(variant="scoped", preset=p, train_bytes=b),
             dict(variant="scoped", preset=p, train_bytes=b, name_features=False),
             dict(variant="scoped", preset=p, train_bytes=b, ref_mask=False),
             dict(variant="structured", preset=p, train_bytes=b, strip_comments=True),
             dict(variant="token", preset=p, train_bytes=b, strip_comments=True),
             dict(variant="scoped", preset=p, train_bytes=b, strip_comments=True)]
  return sweep(runs, **kw)
