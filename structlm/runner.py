"""`python -m structlm sweep`: expand a sweep config into runs, run them in order, then analyse.

Each member runs in WORKDIR/<name>. A member with `result.json` is done and skipped; one with checkpoints resumes
from the last of them (the same command again after an interruption); one that fails gets `failed.json` (the
error and its traceback) and the sweep goes on (the next invocation tries it again unless --skip-failed). `sweep.json` in WORKDIR lists every member's status and
command. At the end the analysis writes WORKDIR/report.md, fits.json and the plots.
"""
from __future__ import annotations

import fnmatch
import inspect
import json
import os
import shlex
import time
import traceback

from structlm import storage
from structlm.run import load_config, load_module


def load_sweep(spec: str):
  """`experiments/<sweep>.py` or `experiments/<sweep>.py:ARG` (ARG goes to get_config, as ml_collections'
  config flags do)."""
  path, _, arg = spec.partition(":")
  module = load_module(path, "sweep file")
  if not hasattr(module, "get_config"):
    raise ValueError(f"{path} has no get_config(); a sweep file returns structlm.sweeps.sweep(...)")
  takes_arg = bool(inspect.signature(module.get_config).parameters)
  if arg and not takes_arg:
    raise ValueError(f"{path}'s get_config() takes no argument, but {arg!r} was given")
  cfg = module.get_config(arg) if takes_arg else module.get_config()
  if "runs" not in cfg:
    raise ValueError(f"{path}: get_config() returned a run config, not a sweep (no `runs`); "
                     "use `python -m structlm train --config` for a single run")
  return cfg


def _value(v) -> str:
  if isinstance(v, (tuple, list)):
    return "(" + ",".join(map(str, v)) + ")"
  return str(v).lower() if isinstance(v, bool) else str(v)


def members(sweep, only: str | None = None, extra: str = "") -> list[dict]:
  """[{name, overrides, spec}] with `spec` the `--config` argument of the equivalent `structlm train`; `extra`
  (key=value,...) is appended to every member's overrides (the launch scripts' dtype, mesh, checkpoint_root)."""
  out = []
  for r in sweep.runs:
    r = dict(r)
    name = r.pop("name")
    if only and not any(fnmatch.fnmatch(name, g) for g in only.split(",")):
      continue
    overrides = {**dict(sweep.common), **r}
    spec = sweep.base + ":" + ",".join([f"{k}={_value(v)}" for k, v in overrides.items()] + ([extra] if extra else []))
    out.append(dict(name=name, overrides=overrides, spec=spec))
  if only and not out:
    raise ValueError(f"--only {only!r} matches no member of the sweep (members: "
                     f"{', '.join(r['name'] for r in sweep.runs)})")
  return out


def _corrupt_result(rundir: str) -> str | None:
  """A result.json that is not a run's (half written, not an object, fields missing) is moved aside: why, or None."""
  path = os.path.join(rundir, "result.json")
  if not os.path.exists(path):
    return None
  from analysis.collect import REQUIRED
  try:
    with open(path) as f:
      r = json.load(f)
    if isinstance(r, dict) and all(k in r for k in REQUIRED):
      return None
    why = f"{path} is not a run's result"
  except (OSError, json.JSONDecodeError) as e:
    why = f"{path} is unreadable ({type(e).__name__})"
  os.replace(path, path + ".corrupt")
  return why


def status(rundir: str) -> str:
  if os.path.exists(os.path.join(rundir, "result.json")):
    return "done"
  if os.path.exists(os.path.join(rundir, "failed.json")):
    return "failed"
  if os.path.isdir(os.path.join(rundir, "checkpoints")) and os.listdir(os.path.join(rundir, "checkpoints")):
    return "interrupted"
  return "pending"


def _check_same_config(rundir: str, member: dict) -> None:
  """A member directory holds the run of these overrides, not of an edited sweep's."""
  path = os.path.join(rundir, "result.json")
  if not os.path.exists(path):
    return
  with open(path) as f:
    old = json.load(f).get("config", {})
  from structlm.workdir import config_differences, describe_differences
  cfg = load_config(member["spec"]).to_dict()
  changed = config_differences(old, cfg, member["overrides"])
  if changed:
    raise ValueError(f"{rundir} holds a finished run with different {', '.join(changed)} "
                     f"({describe_differences(old, cfg, changed)}); use another --workdir or move that run away")


def command(spec: str, rundir: str) -> str:
  return shlex.join(["python", "-m", "structlm", "train", "--config", spec, "--workdir", rundir])


def run_sweep(spec: str, workdir: str, *, dry_run: bool = False, only: str | None = None, analyze: bool = True,
              progress: bool = True, skip_failed: bool = False, extra: str = "", log=print) -> dict:
  sweep = load_sweep(spec)
  todo = members(sweep, only, extra)
  for m in todo:  # every member's config must load before anything runs
    load_config(m["spec"])
  if dry_run:
    for m in todo:
      log(command(m["spec"], os.path.join(workdir, m["name"])))
    return dict(members=len(todo), dry_run=True)
  os.makedirs(workdir, exist_ok=True)
  from structlm.run import train  # jax and the data stack load only for a real run
  from structlm.workdir import WorkdirBusy
  counts = {"done": 0, "skipped": 0, "failed": 0}
  # two workers on one workdir share it: each member is claimed by its lock (structlm/run.py lock_workdir); the
  # second worker starts at the other end, so they meet in the middle instead of queueing on the same member
  if os.environ.get("STRUCTLM_SWEEP_REVERSE"):
    todo = todo[::-1]
  t0 = time.time()
  for i, m in enumerate(todo, 1):
    rundir = os.path.join(workdir, m["name"])
    bad = _corrupt_result(rundir)
    if bad:
      log(f"[{i}/{len(todo)}] {m['name']}: {bad}; moved to result.json.corrupt, the member is trained again")
    fetched = _fetch_finished(m["spec"], rundir)
    state = _agreed(status(rundir))
    _check_same_config(rundir, m)
    if state == "done":
      counts["skipped"] += 1
      log(f"[{i}/{len(todo)}] {m['name']}: done already{' (its result.json fetched from beside its checkpoints)' if fetched else ''}, skipped")
      continue
    if state == "failed" and skip_failed:
      counts["failed"] += 1
      log(f"[{i}/{len(todo)}] {m['name']}: failed before, skipped (see {rundir}/failed.json)")
      continue
    if os.path.exists(os.path.join(rundir, "failed.json")):
      os.remove(os.path.join(rundir, "failed.json"))
    log(f"[{i}/{len(todo)}] {m['name']}: {'resuming' if state == 'interrupted' else 'starting'} "
        f"({time.time() - t0:.0f} s into the sweep)")
    try:
      res = train(load_config(m["spec"]), rundir, progress=progress, finished_ok=True)
      counts["done"] += 1
      log(f"[{i}/{len(todo)}] {m['name']}: {res['eval_bpb']:.3f} bits/byte on {res.get('eval_split', 'validation')}, "
          f"{res['seconds']:.0f} s")
    except WorkdirBusy:  # another sweep worker on this workdir has claimed the member
      counts["skipped"] += 1
      log(f"[{i}/{len(todo)}] {m['name']}: running in another worker, skipped")
      continue
    except KeyboardInterrupt:
      raise
    except Exception as e:  # noqa: BLE001 -- a failed member is recorded and the sweep goes on
      counts["failed"] += 1
      os.makedirs(rundir, exist_ok=True)
      with open(os.path.join(rundir, "failed.json"), "w") as f:
        json.dump(dict(error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(), spec=m["spec"]), f,
                  indent=1)
      log(f"[{i}/{len(todo)}] {m['name']}: FAILED ({type(e).__name__}: {e}); recorded in {rundir}/failed.json")
  _write_index(sweep, workdir, spec, extra)
  out = dict(members=len(todo), seconds=round(time.time() - t0, 1), **counts)
  if analyze:
    out["analysis"] = _analyze(workdir, sweep, log)
  return out


def _fetch_finished(spec: str, rundir: str) -> bool:
  """A member that finished on another machine (a preempted slice whose disk is gone) left a copy of its
  result.json beside its remote checkpoints: process 0 brings it back into the workdir, so it is skipped."""
  import jax
  from structlm.run import remote_result
  if jax.process_index() != 0 or os.path.exists(os.path.join(rundir, "result.json")):
    return False
  url = remote_result(load_config(spec), rundir)
  if not url or not storage.exists(url):
    return False
  os.makedirs(rundir, exist_ok=True)
  from structlm.workdir import write_json_atomic
  write_json_atomic(os.path.join(rundir, "result.json"), json.loads(storage.read_text(url)))
  return True


STATES = ("done", "failed", "interrupted", "pending")


def _agreed(state: str) -> str:
  """Multi-host: every process takes process 0's view of a member (only process 0 writes result.json, and the
  other hosts' disks may not hold it), so all of them skip or run it together."""
  import jax
  if jax.process_count() == 1:
    return state
  import numpy as np
  from jax.experimental import multihost_utils
  code = multihost_utils.broadcast_one_to_all(np.int32(STATES.index(state)))
  return STATES[int(code)]


def _write_index(sweep, workdir: str, spec: str, extra: str) -> None:
  rows = [dict(name=m["name"], status=status(os.path.join(workdir, m["name"])),
               command=command(m["spec"], os.path.join(workdir, m["name"]))) for m in members(sweep, extra=extra)]
  with open(os.path.join(workdir, "sweep.json"), "w") as f:
    json.dump(dict(sweep=spec, members=rows), f, indent=1)


def _analyze(workdir: str, sweep, log) -> dict:
  from analysis.fit import FitError
  from analysis.report import analyze
  try:
    fits = analyze(workdir, workdir, n_bootstrap=int(sweep.analysis.bootstrap))
  except FitError as e:
    log(f"analysis: not enough finished runs to fit yet: {e}")
    return dict(error=str(e))
  log(fits["headline"])
  log(f"report: {os.path.join(workdir, 'report.md')}")
  return dict(headline=fits["headline"], report=os.path.join(workdir, "report.md"))
