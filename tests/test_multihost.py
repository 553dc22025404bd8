"""Two processes x 4 CPU devices (jax.distributed on localhost, gloo collectives) train exactly as one process x 8."""
import json
import os
import socket
import subprocess
import sys

import jax
import pytest

from structlm.run import train
from tests.test_train import BASE, config, corpus, losses  # noqa: F401  (corpus is a fixture)

OVERRIDES = dict(steps=5, mesh=(2, 2, 2), checkpoint_every=100)


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def slurm_env(i: int, n: int) -> dict:
  """The variables srun sets for task `i` of `n` on one node (jax.distributed's SLURM detection reads these; its
  coordinator port comes from the job id, so the id is picked for a free port)."""
  while True:
    job = 100_000 + int.from_bytes(os.urandom(2), "big")
    port = job % 2 ** 12 + (65535 - 2 ** 12 + 1)
    with socket.socket() as s:
      try:
        s.bind(("localhost", port))
        break
      except OSError:
        continue
  return dict(SLURM_JOB_ID=str(job), SLURM_STEP_NODELIST="localhost", SLURM_NODELIST="localhost",
              SLURM_NTASKS=str(n), SLURM_PROCID=str(i), SLURM_LOCALID=str(i), SLURM_STEP_NUM_NODES="1",
              SLURM_JOB_NUM_NODES="1", SLURM_NTASKS_PER_NODE=str(n))


@pytest.mark.skipif(len(jax.devices()) < 8, reason="needs XLA_FLAGS=--xla_force_host_platform_device_count=8")
@pytest.mark.parametrize("launch", ["flags", "slurm"])
def test_two_processes_match_one(corpus, tmp_path, launch):  # noqa: F811
  """Two processes of 4 CPU devices each, started with explicit flags or as srun starts two tasks on a node (no
  flags: jax.distributed reads the SLURM variables): the (2, 2, 2) mesh spans all 8 devices and the run equals
  one process's."""
  cfg = config(corpus, variant="structured", **OVERRIDES)
  one = str(tmp_path / "one")
  train(cfg, one, progress=False)  # also prepares the dataset the two processes then share

  two = str(tmp_path / "two")
  overrides = ",".join(f"{k}={v}" if not isinstance(v, tuple) else f"{k}=({','.join(map(str, v))})"
                       for k, v in cfg.items() if k not in ("config",) and not isinstance(v, dict))
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
  coordinator = f"localhost:{free_port()}"
  slurm = slurm_env(0, 2)
  cmd = [sys.executable, "-m", "structlm", "train", "--quiet", "--config", f"{BASE}:{overrides}", "--workdir", two]
  if launch == "flags":
    procs = [subprocess.Popen(cmd + ["--coordinator", coordinator, "--num-processes", "2", "--process-id", str(i)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
  else:
    procs = [subprocess.Popen(cmd, env=dict(env, **dict(slurm, SLURM_PROCID=str(i), SLURM_LOCALID=str(i))),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
  outs = [p.communicate(timeout=300) for p in procs]
  for p, (out, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  a, b = losses(one), losses(two)
  assert sorted(a) == sorted(b) == [1, 2, 3, 4, 5]
  for s in a:
    assert abs(a[s] - b[s]) <= 1e-5, (a, b)
  with open(os.path.join(two, "result.json")) as f:
    res = json.load(f)
  with open(os.path.join(one, "result.json")) as f:
    ref = json.load(f)
  assert res["tokens"] == ref["tokens"] and abs(res["eval_bpb"] - ref["eval_bpb"]) < 1e-4


@pytest.mark.skipif(len(jax.devices()) < 8, reason="needs XLA_FLAGS=--xla_force_host_platform_device_count=8")
def test_two_process_sweep_runs_and_then_skips_together(corpus, tmp_path):  # noqa: F811
  """As on a TPU slice: each host has its own run directory (only process 0's gets result.json) and the
  checkpoints live in a shared place. Run again, every host follows process 0 and skips the finished member."""
  from tests.test_sweeps import write_sweep
  src, data_dir = corpus
  spec = str(tmp_path / "tiny.py")
  write_sweep(spec, src, data_dir, presets=("200k",))
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")

  def run_both():
    coordinator = f"localhost:{free_port()}"
    procs = [subprocess.Popen([sys.executable, "-m", "structlm", "sweep", spec, "--workdir", str(tmp_path / f"host{i}"),
                               "--quiet", "--no-analysis", "--only", "token-200k-D2e04",
                               "--set", f"checkpoint_root={tmp_path / 'ckpt'}", "--coordinator", coordinator,
                               "--num-processes", "2", "--process-id", str(i)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
      assert p.returncode == 0, err[-3000:]
    return [out for out, _ in outs]

  run_both()
  assert os.path.exists(tmp_path / "host0" / "token-200k-D2e04" / "result.json")
  assert not os.path.exists(tmp_path / "host1" / "token-200k-D2e04" / "result.json")
  second = run_both()
  assert all("done already, skipped" in out for out in second), second


def _launch_two(cfg, workdir):
  overrides = ",".join(f"{k}={v}" if not isinstance(v, tuple) else f"{k}=({','.join(map(str, v))})"
                       for k, v in cfg.items() if k not in ("config",) and not isinstance(v, dict))
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
  coordinator = f"localhost:{free_port()}"
  return [subprocess.Popen([sys.executable, "-m", "structlm", "train", "--quiet", "--config", f"{BASE}:{overrides}",
                            "--workdir", workdir, "--coordinator", coordinator, "--num-processes", "2",
                            "--process-id", str(i)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True) for i in range(2)]


@pytest.mark.skipif(len(jax.devices()) < 8, reason="needs XLA_FLAGS=--xla_force_host_platform_device_count=8")
def test_sigterm_on_one_host_stops_every_host_at_one_step(corpus, tmp_path):  # noqa: F811
  """Preemption reaches one host: every host stops at the step jax's preemption service agrees on, saves there and
  exits; the same command resumes both and ends with the one-process run's losses."""
  cfg = config(corpus, variant="token", steps=60, checkpoint_every=1000, mesh=(2, 2, 2))
  one = str(tmp_path / "one")
  train(cfg, one, progress=False)
  two = str(tmp_path / "two")
  procs = _launch_two(cfg, two)
  try:
    _stop_one_and_resume(cfg, two, procs)
  finally:
    for p in procs:  # a host left waiting on a collective would outlive the test
      if p.poll() is None:
        p.kill()
  a, b = losses(one), losses(two)
  assert sorted(b) == list(range(1, 61))
  assert all(abs(a[s] - b[s]) <= 1e-5 for s in a), (a, b)


def _stop_one_and_resume(cfg, two, procs):
  """SIGTERM to the second host once five steps are logged; both must stop at one step; then both again."""
  import re
  import signal
  import time
  metrics = os.path.join(two, "metrics.jsonl")
  t0 = time.time()
  while not (os.path.exists(metrics) and len(open(metrics).readlines()) >= 5):
    assert all(p.poll() is None for p in procs), procs[0].communicate()[1][-3000:]
    assert time.time() - t0 < 300
    time.sleep(0.02)
  procs[1].send_signal(signal.SIGTERM)  # one host only
  errs = [p.communicate(timeout=300)[1] for p in procs]
  stops = [re.search(r"stopped at step (\d+)", e) for e in errs]
  assert all(p.returncode != 0 for p in procs) and all(stops), [e[-2000:] for e in errs]
  stopped = {int(s.group(1)) for s in stops}
  assert len(stopped) == 1 and 5 <= min(stopped) < 60, stopped  # the same step on both hosts
  assert sorted(int(x) for x in os.listdir(os.path.join(two, "checkpoints")) if x.isdigit()) == sorted(stopped)
  procs[:] = _launch_two(cfg, two)
  for p in procs:
    assert p.wait(timeout=300) == 0, p.communicate()[1][-3000:]
