"""Collect every run under a sweep directory into one table."""
from __future__ import annotations

import collections
import json
import math
import os

FIELDS = ("variant", "preset", "N", "N_nonembedding", "N_lookup", "tokens", "tokens_per_byte", "D", "C",
          "unique_bytes", "epochs", "bpb")

# N, C and D as every run records them (structlm/run.py, structlm/flops.py) and the report states them
DEFINITIONS = {
    "N": "parameters that cost FLOPs: non-embedding (attention, MLP, norms) + the output projection d x V; the "
         "same formula for every variant. Input lookup tables (ids; the structured variant's slot, depth and "
         "parent tables) cost no FLOPs and are reported apart as free capacity",
    "C": "training FLOPs of the run, exactly: tokens seen x FLOPs per token (6 x matmul parameters, the output "
         "softmax over the variant's whole vocabulary included, plus causal attention)",
    "D": "source bytes trained on: tokens (actions) seen / the train split's predicted tokens per byte",
    "L": "loss in bits per source byte on the scored files: total NLL / total source bytes of whole files of the "
         "split each run scored (result.json's eval_split: the CPU study scores the whole test split; older runs "
         "a fixed set of validation files)",
}


REQUIRED = ("variant", "params", "tokens", "bytes", "flops", "eval_bpb")


class RunError(ValueError):
  """A run that cannot enter an analysis (its path and why)."""


def collect(runs_dir: str, allow_dirty: bool = False) -> tuple[list[dict], dict]:
  """Rows with FIELDS from each `result.json` (written by `python -m structlm train`); runs without one are
  unfinished, runs with a non-finite loss (or NaN in metrics.jsonl) diverged. Returns (rows, excluded counts).
  Refused with the run's path: a result.json that is not a run's (not an object, a field missing), C or D not
  positive, a run made from a checkout with uncommitted changes (unless `allow_dirty`), and runs of one variant
  made with different vocabularies."""
  if not os.path.isdir(runs_dir):
    raise FileNotFoundError(f"{runs_dir}: no such runs directory")
  rows, excluded = [], collections.Counter()
  for d, _, files in sorted(os.walk(runs_dir)):
    if "result.json" not in files:
      if "metrics.jsonl" in files or "config.json" in files:
        excluded["unfinished"] += 1
      continue
    try:
      with open(os.path.join(d, "result.json")) as f:
        r = json.load(f)
    except (OSError, json.JSONDecodeError):
      excluded["unreadable"] += 1
      continue
    path = os.path.join(d, "result.json")
    if not isinstance(r, dict) or any(k not in r for k in REQUIRED):
      missing = [k for k in REQUIRED if not isinstance(r, dict) or k not in r]
      raise RunError(f"{path} is not a run's result (missing {', '.join(missing)}): delete it and train that run "
                     "again (the sweep retrains it)")
    if not float(r["flops"]) > 0 or not float(r["bytes"]) > 0:
      raise RunError(f"{path}: C = {r['flops']}, D = {r['bytes']}: a run that trained nothing cannot enter a fit")
    if (r.get("code") or {}).get("dirty") and not allow_dirty:
      raise RunError(f"{path} was made from a checkout with uncommitted changes ({r['code'].get('commit')}): "
                     "rerun it from a clean checkout, or analyze with --allow-dirty")
    bpb = r.get("eval_bpb")
    if bpb is None or not math.isfinite(float(bpb)) or _diverged(os.path.join(d, "metrics.jsonl")):
      excluded["diverged"] += 1
      continue
    D = float(r["bytes"])
    unique = float(r.get("unique_bytes") or D)
    rows.append(dict(variant=r["variant"], preset=r.get("preset", ""), N=float(r["params"]),
                     N_nonembedding=float(r.get("params_nonembedding", r["params"])),
                     N_lookup=float(r.get("params_lookup", 0.0)), tokens=float(r["tokens"]),
                     tokens_per_byte=float(r.get("tokens_per_byte") or float(r["tokens"]) / D),
                     seq_len=r.get("seq_len"), learning_rate=r.get("learning_rate"),
                     D=D, C=float(r["flops"]), unique_bytes=unique, epochs=D / unique if unique else 1.0,
                     bpb=float(bpb), run=os.path.relpath(d, runs_dir), compressors=r.get("compressors") or {},
                     vocab=(r.get("grammar_hash"), r.get("vocab_hash")), commit=(r.get("code") or {}).get("commit"),
                     dirty=bool((r.get("code") or {}).get("dirty")),
                     eval_split=r.get("eval_split", "validation"),
                     seed=int((r.get("config") or {}).get("seed") or 0), setup=_setup(r.get("config") or {})))
  for v in sorted({r["variant"] for r in rows}):
    groups = collections.defaultdict(list)
    for r in rows:
      if r["variant"] == v:
        groups[r["vocab"]].append(r["run"])
    if len(groups) > 1:
      raise RunError(f"the {v} runs under {runs_dir} were made with {len(groups)} different vocabularies: " +
                     "; ".join(f"grammar {g} / tokens {t}: {', '.join(runs[:3])}{' ...' if len(runs) > 3 else ''}"
                               for (g, t), runs in groups.items()) + " -- analyze them apart")
  return rows, dict(excluded)


# bookkeeping: what a run records but does not train differently for (expect_backend: a check at start, absent
# from older runs' configs)
NOT_SETUP = ("seed", "name", "checkpoint_root", "checkpoint_every", "keep_checkpoints", "log_every", "eval_every",
             "stop_after", "expect_backend")


def _setup(config: dict) -> str:
  """What a run trained, less its seed and bookkeeping: runs with equal setups and different seeds are repeats."""
  return json.dumps({k: v for k, v in config.items() if k not in NOT_SETUP}, sort_keys=True, default=str)


def compressor_references(rows: list[dict]) -> dict[str, float]:
  """gzip/xz bits per byte on the runs' held-out files (the mean where runs evaluated different files)."""
  acc = collections.defaultdict(list)
  for r in rows:
    for name, v in r.get("compressors", {}).items():
      acc[name].append(float(v))
  return {f"{name} per file": sum(v) / len(v) for name, v in sorted(acc.items())}


def _diverged(metrics_path: str) -> bool:
  if not os.path.exists(metrics_path):
    return False
  with open(metrics_path) as f:
    for line in f:
      try:
        loss = json.loads(line).get("loss")
      except json.JSONDecodeError:
        continue
      if loss is not None and not math.isfinite(float(loss)):
        return True
  return False
