"""A run's working directory: one process at a time (a lock), one config (another is refused), files written
whole (atomically), metrics cut back to the checkpoint on resume, and the code a result came from."""
from __future__ import annotations

import json
import os


class WorkdirBusy(RuntimeError):
  """Another process holds the workdir's lock."""


def lock_workdir(workdir: str):
  """An exclusive lock on WORKDIR/.lock (released when the holder exits, even by kill -9): the open file, or
  WorkdirBusy naming the holder's pid."""
  import fcntl
  os.makedirs(workdir, exist_ok=True)
  f = open(os.path.join(workdir, ".lock"), "a+")
  try:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    f.seek(0)
    holder = f.read().strip() or "?"
    f.close()
    raise WorkdirBusy(f"{workdir} is in use by process {holder} (another train or sweep worker); wait for it, "
                      "or train in another --workdir") from None
  f.seek(0)
  f.truncate()
  f.write(str(os.getpid()))
  f.flush()
  return f


def write_json_atomic(path: str, obj) -> None:
  """Write JSON to a temporary file beside `path`, then rename it into place: a reader never sees half a file."""
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    json.dump(obj, f, indent=1, default=str)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def truncate_metrics(path: str, step: int) -> None:
  """On resume from `step`: keep the whole rows of metrics.jsonl up to that step (a crash may have left later rows
  or half a row), so no step appears twice."""
  if not os.path.exists(path):
    return
  keep = []
  with open(path) as f:
    for line in f:
      try:
        row = json.loads(line)
      except json.JSONDecodeError:
        break
      if row.get("step", 0) > step:
        break
      keep.append(line if line.endswith("\n") else line + "\n")
  with open(path + ".tmp", "w") as f:
    f.writelines(keep)
  os.replace(path + ".tmp", path)


# keys that may differ between two invocations of one run: logging and checkpoint cadence, not what is trained
_FREE_KEYS = {"log_every", "checkpoint_every", "keep_checkpoints", "stop_after", "checkpoint_root", "peak_flops",
              "eval_every"}


def check_same_run(workdir: str, cfg) -> None:
  """Refuse a workdir whose config.json records another run (other steps, rate, seed, variant...): resuming it
  would mix two runs under one result. Keys resolved at start (seq_len from context_bytes, the batch by rule) are
  compared only when the new config sets them."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return
  with open(path) as f:
    old = json.load(f)
  new = cfg.to_dict()
  differ = config_differences(old, new)
  if differ:
    raise ValueError(f"{workdir} holds a run with another config ({describe_differences(old, new, differ)}); "
                     "train in a new --workdir, or delete this one to start it again")


# keys added to experiments/base.py after runs were recorded without them, with the value those runs had (the
# base default: a key is added with the old behaviour as its default); a recorded config that lacks one is compared
# at this value
ADDED_KEYS = {"lr_batch_exponent": 0.5, "batch_target_steps": 800}
# how a run's peak rate is written down: two configs that give the same rate (the CPU study's v1 and v2 rules at
# batch 2) train the same run
RATE_KEYS = ("learning_rate", "lr_scale", "lr_batch_exponent")


def config_differences(old: dict, new: dict, keys=None) -> list[str]:
  """Keys (of `keys`, default all of `new`) whose values differ between a recorded config and a new one, leaving
  out the cadence keys and those resolved at start (seq_len from context_bytes; global_batch 0: by rule). A key
  the recorded config lacks is compared at ADDED_KEYS' value (else left out); the rate keys count only when the
  two configs give different peak rates at the recorded batch."""
  resolved = {"seq_len"} if new.get("context_bytes") else set()
  old = {**{k: v for k, v in ADDED_KEYS.items() if k not in old}, **old}
  differ = sorted(k for k in (new if keys is None else keys) if k not in _FREE_KEYS and k not in resolved
                  and k in old and k in new and _plain(old[k]) != _plain(new[k])
                  and not (k == "global_batch" and not new[k]))
  if any(k in RATE_KEYS for k in differ) and _same_rate(old, new):
    differ = [k for k in differ if k not in RATE_KEYS]
  return differ


def _same_rate(old: dict, new: dict) -> bool:
  """Whether the two configs give the same peak rate (new's batch by rule: the recorded, resolved batch)."""
  if not all(k in c for c in (old, new) for k in ("preset", "variant")) or not old.get("global_batch"):
    return False
  from structlm.presets import peak_learning_rate
  return peak_learning_rate(old) == peak_learning_rate({**new, "global_batch": new.get("global_batch") or
                                                        old["global_batch"]})


def describe_differences(old: dict, new: dict, keys: list[str]) -> str:
  """'key: old -> new, ...' (a key the recorded config lacks shown at its ADDED_KEYS value)."""
  return ", ".join(f"{k}: {old.get(k, ADDED_KEYS.get(k))} -> {new[k]}" for k in keys)


def _plain(v):
  return list(v) if isinstance(v, (tuple, list)) else v


def provenance() -> dict:
  """The code a result came from: the git commit of this checkout and whether tracked files differ from it."""
  import subprocess
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  try:
    commit = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, check=True).stdout.strip())
  except (OSError, subprocess.CalledProcessError):
    return dict(commit=None, dirty=None)
  return dict(commit=commit, dirty=dirty)
