"""`python -m structlm train`: one run from a config to `result.json`, with metrics and orbax checkpoints.

Bits per byte (training and evaluation alike) = total NLL in nats / total source bytes / ln 2, where the bytes
are those of the documents the rows stand for (structlm/data/pipeline.py).
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import signal
import sys
import time
import zlib

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils
from flax import nnx
from tensorboardX import SummaryWriter
from tqdm import tqdm

from analysis import compressors
from structlm import flops, presets, sharding, storage, variants
from structlm.data import vocab as vocab_lib
from structlm.data.code_corpus.code_corpus import vocab_dir, vocab_name
from structlm.data.pipeline import PackedBatches, to_global
from structlm.data.prepare import prepare
from structlm.model import ModelConfig, Transformer, mask_bias, model_inputs
from structlm.train import init_state, lr_schedule, make_step, optimizer
from structlm.workdir import check_same_run, lock_workdir, provenance, truncate_metrics, write_json_atomic


def load_module(path: str, what: str = "config file"):
  """A Python config file (experiments/<name>.py) as a module."""
  if not os.path.exists(path):
    raise FileNotFoundError(f"{what} {path} not found")
  module_spec = importlib.util.spec_from_file_location("structlm_config", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module


def load_config(spec: str):
  """`path.py` or `path.py:key=value,key=value` (ml_collections config file with get_config())."""
  path, _, overrides = spec.partition(":")
  cfg = load_module(path).get_config()
  for item in filter(None, re.split(r",(?=\w+=)", overrides)):  # commas inside a value (a mesh) stay
    key, _, value = item.partition("=")
    if key not in cfg:
      raise ValueError(f"config has no field {key!r} (fields: {', '.join(sorted(cfg))})")
    cfg[key] = _parse_value(cfg[key], value, key)
  return cfg


def _parse_value(old, text: str, key: str = "value"):
  """A command-line value, typed like the config's default: numbers and booleans as JSON, (a,b,c) tuples."""
  if isinstance(old, str):
    return text
  try:
    if isinstance(old, tuple):
      return tuple(json.loads("[" + text.strip("()[]") + "]"))
    return type(old)(json.loads(text.lower() if isinstance(old, bool) else text))
  except (json.JSONDecodeError, TypeError, ValueError):
    kind = "a tuple like (1,2,3)" if isinstance(old, tuple) else type(old).__name__
    raise ValueError(f"{key}={text!r}: expected {kind} (like its default, {old!r})") from None


def check_budget(cfg) -> None:
  """Refuse a run that would train nothing: non-positive steps or budgets."""
  for key in ("train_flops", "train_bytes", "epochs"):
    if cfg.get(key, 0) < 0:
      raise ValueError(f"{key} = {cfg[key]}: a budget must be positive (or 0 to use another budget)")
  if not (cfg.get("train_flops") or cfg.get("train_bytes") or cfg.get("epochs")) and cfg.steps <= 0:
    raise ValueError(f"steps = {cfg.steps}: give a positive number of steps, or a budget (train_flops, "
                     "train_bytes, epochs)")


def train(cfg, workdir: str, progress: bool = True, finished_ok: bool = False) -> dict:
  """`finished_ok`: a workdir that holds result.json once its lock is taken returns it (a sweep worker that lost
  the race for a member to another worker)."""
  presets.preset(cfg.preset)  # an unknown preset fails here, before anything is written
  variants.get(cfg.variant)
  check_budget(cfg)
  lock = lock_workdir(workdir) if jax.process_index() == 0 else None
  try:
    done = os.path.join(workdir, "result.json")
    if finished_ok and os.path.exists(done):
      with open(done) as f:
        return json.load(f)
    return _train(cfg, workdir, progress)
  finally:
    if lock is not None:
      lock.close()


def _train(cfg, workdir: str, progress: bool = True) -> dict:
  t0 = time.time()
  os.makedirs(workdir, exist_ok=True)
  main = jax.process_index() == 0  # multi-host: one process writes metrics, events and result.json
  prep = dataset_options(cfg)
  if jax.process_count() > 1:  # process 0 builds the dataset; the others then find it (or build the same)
    if main:
      prepare(**prep)
    sharding.barrier("dataset prepared")
  data, vocab, table, mcfg = setup(cfg)
  hashes = {"grammar_hash": vocab.grammar.hash, "vocab_hash": vocab.token_hash}
  if jax.process_count() > 1:  # every host must read the same grammar and vocabularies
    sharding.barrier("dataset read")
    ids = np.array([zlib.crc32(str(h).encode()) & 0x7FFFFFFF for h in hashes.values()], np.int32)  # (int32: no x64)
    multihost_utils.assert_equal(ids, f"hosts read different grammars/vocabularies ({hashes} on process "
                                      f"{jax.process_index()}): give every host the same --data-dir (a gs:// one)")
  _check_hashes(workdir, hashes, write=False)  # a workdir of other vocabularies: refused before any write
  mesh = sharding.make_mesh(tuple(cfg.mesh))
  expect_backend(cfg)
  dp = mesh.shape["data"] * mesh.shape["fsdp"]
  sharding.check(mcfg, mesh, cfg.global_batch or dp)
  mask_table = variants.get(cfg.variant).mask_table(vocab)
  mask_bias_table = mask_bias(mask_table) if mask_table is not None else None

  train_data = PackedBatches(data["dataset_dir"], "train", unique_fraction=cfg.unique_fraction or None,
                             **dict(batch_options(cfg, mcfg), global_batch=cfg.global_batch or 8))
  # D = tokens seen / the train split's predicted tokens per source byte (one definition for both variants);
  # also the per-step bits per byte: the batch's NLL per predicted token x tokens per byte
  tokens_per_byte = train_data.predicted_per_byte
  if cfg.get("context_bytes"):  # the same source bytes per window for every variant
    cfg.seq_len = context_len(cfg.context_bytes, tokens_per_byte)
  if not cfg.global_batch:  # the batch rule: a power of two from the run's tokens
    per_token = flops.train_flops_per_token(mcfg, cfg.seq_len)
    cfg.global_batch = batch_by_rule(total_steps(cfg, tokens_per_byte, per_token, train_data.unique_bytes_used,
                                                 batch=1) * cfg.seq_len, cfg.seq_len, multiple=dp,
                                     target_steps=cfg.get("batch_target_steps", 800))
  if cfg.get("context_bytes") or train_data.global_batch != cfg.global_batch:
    train_data = PackedBatches(data["dataset_dir"], "train", unique_fraction=cfg.unique_fraction or None,
                               **batch_options(cfg, mcfg))
  kw = batch_options(cfg, mcfg)
  check_same_run(workdir, cfg)  # a workdir belongs to one config: refused before anything is written
  counts = flops.param_counts(mcfg)
  flops_per_token = flops.train_flops_per_token(mcfg, cfg.seq_len)
  steps = total_steps(cfg, tokens_per_byte, flops_per_token, train_data.unique_bytes_used)
  peak_lr = presets.peak_learning_rate(cfg)
  warmup = warmup_steps(cfg, steps)
  tx = optimizer(peak_lr, steps, warmup, cfg.weight_decay, cfg.clip, cfg.accumulate, cfg.get("beta2", 0.95))
  schedule = lr_schedule(peak_lr, steps, warmup)
  graphdef, params, opt_state = init_state(Transformer(mcfg, nnx.Rngs(cfg.seed)), tx, mesh)
  step_fn = make_step(graphdef, tx, mesh, params, opt_state)

  sharding.barrier("state initialised")  # (the restore's collectives and the first step's follow uneven work)
  ckpt = ocp.CheckpointManager(checkpoint_dir(cfg, workdir), options=ocp.CheckpointManagerOptions(
      max_to_keep=cfg.keep_checkpoints, enable_async_checkpointing=True))
  start, data_state, counted = 0, None, {}
  if ckpt.latest_step() is not None:  # only finalized checkpoints are listed
    start, restored = restore_newest(ckpt, lambda: ocp.args.Composite(
        state=ocp.args.StandardRestore({"params": params, "opt_state": opt_state}), data=ocp.args.JsonRestore()))
    params, opt_state = restored.state["params"], restored.state["opt_state"]
    # the data iterator's state, and the tokens and bytes counted before the checkpoint (C and D of the run)
    data_state = restored.data.get("iterator", restored.data)
    counted = restored.data.get("counted", {})
  _check_hashes(workdir, hashes, write=main)
  if main:  # the resolved config (seq_len from context_bytes), as evaluate and sample read it back; written only
    # once the checks and the restore succeeded
    write_json_atomic(os.path.join(workdir, "config.json"), cfg.to_dict())
    truncate_metrics(os.path.join(workdir, "metrics.jsonl"), start)
  it = train_data.iterator(steps, data_state)

  stop = {"now": False}
  # preemption: save, then exit. One host: its own SIGTERM. Several: jax's preemption service takes a SIGTERM on any
  # host and names one step at which every host stops and saves (the sync point, asked every step)
  multi = jax.process_count() > 1
  if not multi:
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
  metrics_f = open(os.path.join(workdir, "metrics.jsonl") if main else os.devnull, "a")
  board = SummaryWriter(os.path.join(workdir, "tensorboard")) if main else None
  tokens, seen_bytes = int(counted.get("tokens", 0)), int(counted.get("bytes", 0))
  step = start
  bar = tqdm(total=steps, initial=start, disable=not (progress and main), desc=f"train {cfg.variant} {cfg.preset}")
  loop_t0 = time.perf_counter()
  while step < steps and not stop["now"]:
    host = next(it)
    batch = to_global(model_inputs(host), sharding.batch_sharding(mesh))
    ts = time.perf_counter()
    params, opt_state, m = step_fn(params, opt_state, batch, mask_bias_table)
    loss = float(jax.block_until_ready(m["loss"]))  # block every step: XLA's CPU collectives can deadlock
    step += 1
    if multi and multihost_utils.reached_preemption_sync_point(step):
      stop["now"] = True
    tokens += int(m["predicted"])
    seen_bytes += int(host["bytes"].sum())
    if step % cfg.log_every == 0 or step == steps:
      row = dict(step=step, elapsed=round(time.perf_counter() - loop_t0, 4), tokens=tokens, bytes=seen_bytes,
                 flops=tokens * flops_per_token, loss=loss,
                 bpb=float(m["nll_sum"]) / max(float(m["predicted"]), 1.0) * tokens_per_byte / math.log(2),
                 grad_norm=float(m["grad_norm"]), step_seconds=time.perf_counter() - ts,
                 lr=float(schedule(step - 1)))
      if cfg.peak_flops:  # model FLOPs utilisation, when the accelerator's peak is known
        row["mfu"] = float(m["predicted"]) * flops_per_token / row["step_seconds"] / cfg.peak_flops
      metrics_f.write(json.dumps(row) + "\n")
      metrics_f.flush()
      for k, v in row.items():
        if board and k != "step":
          board.add_scalar(f"train/{k}", v, step)
    if cfg.get("stop_after") and step == cfg.stop_after:  # tests: as if killed right after a checkpoint
      stop["now"] = True
    if step % cfg.checkpoint_every == 0 or step == steps or stop["now"]:
      ckpt.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave({"params": params, "opt_state": opt_state}),
          data=ocp.args.JsonSave({"iterator": it.get_state(),
                                  "counted": {"tokens": tokens, "bytes": seen_bytes}})))
    bar.update(1)
  ckpt.wait_until_finished()
  bar.close()
  metrics_f.close()
  if board:
    board.close()
  if stop["now"]:
    raise SystemExit(f"stopped at step {step} (SIGTERM); the same command resumes from the checkpoint")
  bpb, val = evaluate(graphdef, params, data["dataset_dir"], kw, mask_bias_table, mesh, cfg.eval_bytes,
                      cfg.get("eval_split", "validation"))
  # the same held-out files through gzip -9 and xz -9e, one by one (the byte-level BPE decodes exactly)
  refs = _compressor_references(data["dataset_dir"], val, vocab)
  result = dict(variant=cfg.variant, preset=cfg.preset, params=counts["compute"],
                params_nonembedding=counts["nonembedding"], params_lookup=counts["lookup"],
                params_total=counts["total"], tokens=tokens, tokens_per_byte=tokens_per_byte,
                bytes=tokens / tokens_per_byte, bytes_in_finished_docs=seen_bytes,
                flops=tokens * flops_per_token, flops_per_token=flops_per_token, seq_len=cfg.seq_len,
                learning_rate=peak_lr, warmup=warmup, steps=steps, global_batch=cfg.global_batch, eval_bpb=bpb,
                eval_split=cfg.get("eval_split", "validation"),
                seconds=round(time.time() - t0, 2), unique_bytes=train_data.unique_bytes_used,
                eval_files=len(val.docs), eval_bytes=int(val.unique_bytes_used), compressors=refs,
                vocabulary=vocab.breakdown(), config=cfg.to_dict(), code=provenance(),
                dataset=dict(version=os.path.basename(os.path.normpath(data["dataset_dir"])),
                             name=data.get("config")), **hashes)
  if main:
    write_json_atomic(os.path.join(workdir, "result.json"), result)
    remote = remote_result(cfg, workdir)
    if remote:  # beside the remote checkpoints: outlives this host's disk
      storage.write_text(remote, json.dumps(result, indent=1))
  return result


def remote_result(cfg, workdir: str) -> str | None:
  """Where a run with remote checkpoints (checkpoint_root=gs://...) keeps a copy of its result.json, else None."""
  ckpt = checkpoint_dir(cfg, workdir)
  return f"{ckpt.rstrip('/')}/result.json" if storage.is_remote(ckpt) else None


def setup(cfg):
  """(dataset summary, vocabularies, the grammar's SlotTable or None, ModelConfig) of a run config; prepares the
  dataset when it is missing. Outputs: the variant's ids (structlm/variants.py: grammar actions ending with EOF,
  or the BPE's tokens plus EOS); the input id after the outputs is BOS."""
  shape = presets.preset(cfg.preset)
  opts = dataset_options(cfg)
  data = prepare(**opts)
  vocab = vocab_lib.load(vocab_dir(data.get("local_data_dir", cfg.data_dir), vocab_name(
      cfg.corpus, cfg.language, cfg.strip_comments, cfg.vocab_size, opts["leaf_capacity"])), opts["name_window"])
  v = variants.get(cfg.variant)
  table = vocab.table if v.grammar else None
  parent_base, parent_end = vocab.grammar.parent_ids if v.grammar else (0, 0)
  mcfg = ModelConfig(variant=cfg.variant, vocab_size=v.vocab_size(vocab), d_model=shape.d_model,
                     n_layers=shape.n_layers, n_heads=shape.n_heads, d_ff=shape.d_ff,
                     num_slots=table.num_slots if table else 0, parent_base=parent_base,
                     num_parents=parent_end - parent_base, num_refs=vocab.names.refs if v.refs else 0,
                     tree_features=cfg.tree_features, grammar_mask=cfg.grammar_mask,
                     name_features=cfg.get("name_features", True), ref_mask=cfg.get("ref_mask", True),
                     dtype=cfg.dtype, remat=cfg.remat)
  return data, vocab, table, mcfg


def dataset_options(cfg) -> dict:
  """The `prepare` arguments of a run config (a config saved before leaf_capacity existed gets the default)."""
  return dict(corpus=cfg.corpus, language=cfg.language, strip_comments=cfg.strip_comments,
              vocab_size=cfg.vocab_size, leaf_capacity=cfg.get("leaf_capacity", "merges"), data_dir=cfg.data_dir,
              name_window=name_window(cfg))


def name_window(cfg) -> int:
  """Bytes a scoped REF reaches back: the config's name_window, else its context_bytes (the model's context, the
  same for every variant), else the default (structlm/data/vocab.py)."""
  return int(cfg.get("name_window", 0) or cfg.get("context_bytes", 0) or vocab_lib.DEFAULT_NAME_WINDOW)


def context_len(context_bytes: float, tokens_per_byte: float, multiple: int = 8) -> int:
  """Positions per row that hold about `context_bytes` of source at the variant's tokens per byte."""
  return max(multiple, multiple * round(context_bytes * tokens_per_byte / multiple))


def warmup_steps(cfg, steps: int) -> int:
  """Linear warm-up length: `warmup_fraction` of the run when set (so it scales with the run), else `warmup`."""
  frac = cfg.get("warmup_fraction", 0.0)
  return max(1, round(frac * steps)) if frac else int(cfg.warmup)


_REFERENCES: dict = {}  # (dataset, evaluated documents) -> compressor bits per byte, shared by a sweep's runs


def _compressor_references(ddir: str, val: PackedBatches, vocab) -> dict:
  """gzip -9 / xz -9e, each file alone, on the evaluated validation files (computed once per process)."""
  key = (ddir, tuple(int(i) for i in val.docs))
  if key not in _REFERENCES:
    _REFERENCES[key] = compressors.bits_per_byte([vocab.source(val.source[i]["tokens"]) for i in key[1]])
  return _REFERENCES[key]


def batch_options(cfg, mcfg) -> dict:
  """PackedBatches options of a run: rows of seq_len + 1 ids (inputs and shifted targets); BOS is the id after
  the outputs; the token variant's documents end with EOS (its last output id), the grammar variants' with the
  grammar's EOF action."""
  n = mcfg.vocab_size
  return dict(variant=cfg.variant, seq_len=cfg.seq_len + 1, global_batch=cfg.global_batch, seed=cfg.seed,
              bos_id=n, eos_id=None if mcfg.structured else n - 1)


def checkpoint_dir(cfg, workdir: str) -> str:
  if cfg.checkpoint_root:
    return os.path.join(cfg.checkpoint_root, os.path.basename(os.path.normpath(workdir)))
  return os.path.abspath(os.path.join(workdir, "checkpoints"))


def batch_by_rule(tokens: float, seq_len: int, target_steps: int = 800, smallest: int = 2, largest: int = 256,
                  multiple: int = 1) -> int:
  """The batch rule: the power of two that gives a run of `tokens` between `target_steps` and twice as many steps
  (so no run is a few dozen steps, and a large one is not thousands of tiny ones), within [smallest, largest],
  then rounded up to a multiple of the data-parallel devices (`multiple`: data x fsdp of the mesh). Below 2
  sequences a step is a single window: a run too small for 400 steps at 2 belongs to a larger budget."""
  rows = tokens / (seq_len * target_steps)
  b = 2 ** math.floor(math.log2(rows)) if rows >= 1 else 1
  b = int(min(largest, max(smallest, b)))
  return -(-b // multiple) * multiple


def expect_backend(cfg) -> None:
  """A run launched for an accelerator stops at once on a machine without it (a GPU job that finds only a CPU)."""
  want = cfg.get("expect_backend", "")
  if want and jax.default_backend() != want:
    raise RuntimeError(f"this run was launched for {want} (expect_backend={want}) but JAX found "
                       f"{jax.default_backend()} ({jax.device_count()} devices): install the {want} build of jax "
                       f"(requirements-{want}.txt) or run without expect_backend")


def total_steps(cfg, tokens_per_byte: float, flops_per_token: float, unique_bytes: int, batch: int = 0) -> int:
  """Training length from the config: a compute budget (`train_flops`), a byte budget (`train_bytes`), epochs over
  the unique training bytes (`epochs`), or else `steps`. Each step trains on global_batch x seq_len tokens."""
  per_step = (batch or cfg.global_batch) * cfg.seq_len
  if cfg.train_flops:
    tokens = cfg.train_flops / flops_per_token
  elif cfg.train_bytes:
    tokens = cfg.train_bytes * tokens_per_byte
  elif cfg.epochs:
    tokens = cfg.epochs * unique_bytes * tokens_per_byte
  else:
    return int(cfg.steps)
  return max(1, math.ceil(tokens / per_step))


def evaluate(graphdef, params, ddir, kw, mask_bias_table, mesh, max_bytes: int = 0, split: str = "validation"):
  """(bits per byte, the batches): over whole documents of `split` (all, or a fixed subset of about `max_bytes`),
  total NLL / total source bytes / ln 2."""
  from structlm.model import loss_fn
  # the same documents for every run, whatever its training seed
  val = PackedBatches(ddir, split, unique_bytes=max_bytes or None, **dict(kw, seed=0))
  step = jax.jit(lambda p, b, t: loss_fn(nnx.merge(graphdef, p), b, t)[1][0])
  nll = n_bytes = 0.0
  for host, counted in eval_batches(val):
    nll += float(step(params, to_global(model_inputs(host), sharding.batch_sharding(mesh)), mask_bias_table))
    n_bytes += counted
  if jax.process_count() > 1:  # the NLL is a global sum already; each host counted its own rows' bytes
    n_bytes = float(np.sum(multihost_utils.process_allgather(np.array([n_bytes]))))
  return nll / max(n_bytes, 1.0) / math.log(2), val


def restore_newest(ckpt, args):
  """(step, state) of the newest checkpoint that restores; a broken newer one (a file truncated by a crash) is
  named in a warning and passed over, never deleted."""
  broken = []
  for step in sorted(ckpt.all_steps(), reverse=True):
    try:
      restored = ckpt.restore(step, args=args())
    except Exception as e:  # noqa: BLE001 - orbax and tensorstore raise many kinds for a damaged checkpoint
      broken.append(step)
      print(f"warning: checkpoint {step} in {ckpt.directory} does not restore ({type(e).__name__}: "
            f"{str(e)[:200]}); trying an older one", file=sys.stderr)
      continue
    if broken:
      print(f"warning: resuming from checkpoint {step}; checkpoints {broken} are broken and left in place",
            file=sys.stderr)
    return step, restored
  raise RuntimeError(f"no checkpoint in {ckpt.directory} restores (steps {broken}): delete that folder to "
                     "train the run from the start")


def eval_batches(val):
  """One epoch of `val` as this host's batches: (batch, its source bytes). The last batch's rows past the epoch
  (it wraps into the next) are masked out of the loss and their bytes not counted."""
  rows = val.rows_per_epoch
  for b in range(-(-rows // val.global_batch)):
    host = val.host_batch(b)
    keep = (np.arange(val.local_batch) + b * val.global_batch + val.process_index * val.local_batch) < rows
    host["segment_ids"] = host["segment_ids"] * keep[:, None]  # rows past the epoch count nowhere
    yield host, float((host["bytes"] * keep).sum())


def _check_hashes(workdir: str, hashes: dict, write: bool = True) -> None:
  """Refuse a workdir trained with other vocabularies; record them on first use (when `write`)."""
  path = os.path.join(workdir, "vocab_hashes.json")
  if os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
    if old != hashes:
      raise ValueError(f"{workdir} was trained with grammar/vocabulary {old}, but the dataset now has {hashes}; "
                       "use a new --workdir or the dataset the checkpoint was made with")
  elif write:
    with open(path, "w") as f:
      json.dump(hashes, f)
