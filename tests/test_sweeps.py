"""Sweeps: expansion into stably named members, the runner (skip finished, resume interrupted, record failures,
analysis at the end), and the launch scripts' dry runs."""
import fnmatch
import json
import math
import os
import shlex
import subprocess
import sys

import pytest

from structlm import presets, sweeps, variants
from structlm.run import load_config
from structlm.runner import load_sweep, members, run_sweep
from tests.test_data import make_corpus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_generators_name_every_member_stably():
  g = sweeps.grid(variants=("token", "structured"), preset_names=("50k", "1m"), train_bytes=(1e6, 3e6))
  names = [r["name"] for r in g.runs]
  assert names[:2] == ["token-50k-D1e06", "token-50k-D3e06"] and len(set(names)) == 8
  assert [r["name"] for r in sweeps.grid(variants=("token", "structured"), preset_names=("50k", "1m"),
                                         train_bytes=(1e6, 3e6)).runs] == names
  every = [r["name"] for r in sweeps.grid(preset_names=("50k", "1m"), train_bytes=(1e6, 3e6)).runs]
  assert every[:8] == names and len(set(every)) == 12  # the default: every variant

  iso = sweeps.isoflop(budgets=(1e15, 1e17), sizes_per_budget=3)
  for c in (1e15, 1e17):
    chosen = [r["preset"] for r in iso.runs if r["train_flops"] == c and r["variant"] == "token"]
    n_opt = sweeps.compute_optimal_params(c)
    nearest = sorted(presets.PRESETS, key=lambda p: abs(math.log(sweeps.compute_params(p, 8192) / n_opt)))[:3]
    assert sorted(chosen) == sorted(nearest), (c, chosen, nearest)  # the three presets nearest in log N

  dc = sweeps.data_constrained(unique_fractions=(0.1,), epochs=(1, 4))
  assert {(r["unique_fraction"], r["epochs"]) for r in dc.runs} == {(0.1, 1), (0.1, 4)}
  ab = sweeps.ablations()
  flags = {(r["variant"], r.get("grammar_mask", True), r.get("tree_features", True), r.get("strip_comments", False))
           for r in ab.runs}
  assert ("structured", False, True, False) in flags and ("structured", True, False, False) in flags
  assert ("token", True, True, True) in flags and ("structured", True, True, True) in flags
  assert [r["name"] for r in ab.runs if r.get("leaf_capacity") == "total"] == ["structured-1m-leaves-total-D3e06"]
  with pytest.raises(ValueError, match="both named"):
    sweeps.sweep([dict(variant="token"), dict(variant="token")])


@pytest.mark.parametrize("name", ["grid", "isoflop", "data_constrained", "ablations", "demo", "demo:quick",
                                  "gpu_small"])
def test_experiment_files_expand_to_loadable_configs(name):
  sweep = load_sweep(os.path.join(ROOT, "experiments", name.split(":")[0] + ".py") + name[len(name.split(":")[0]):])
  ms = members(sweep, extra="dtype=bfloat16")
  assert len(ms) >= 4
  for m in ms:
    cfg = load_config(m["spec"])
    assert cfg.dtype == "bfloat16" and cfg.variant in variants.NAMES
    assert cfg.train_bytes or cfg.train_flops or cfg.epochs  # every member has a budget


@pytest.mark.parametrize("spec", ["cpu_study.py", "demo.py"])
def test_study_and_demo_are_fair_isoflop_designs(spec):
  """At least 4 compute budgets over a decade (the study; the demo 3) with at least 5 sizes of the two-layer
  ladder each, every headline variant on the same sizes, fair capacity, context equal in bytes, hyperparameters
  by rule (batch, learning rate, warm-up scaled with the run), scored on the whole test split."""
  sweep = load_sweep(os.path.join(ROOT, "experiments", spec))
  runs = sweep.runs
  budgets = sorted({r["train_flops"] for r in runs})
  assert len(budgets) >= (3 if spec == "demo.py" else 4) and math.log10(budgets[-1] / budgets[0]) >= 1.0
  for c in budgets:
    by_variant = {v: {r["preset"] for r in runs if r["train_flops"] == c and r["variant"] == v}
                  for v in variants.HEADLINE}
    assert len(by_variant["token"]) >= 5
    assert by_variant["token"] == by_variant["structured"] == by_variant["scoped_recency"]
    assert all(p.startswith("w") for p in by_variant["token"])
  common = sweep.common
  assert common["leaf_capacity"] == "merges" and common["context_bytes"] > 0 and common["warmup_fraction"] > 0
  assert "learning_rate" not in common and common["global_batch"] == 0  # the rules (presets, run.batch_by_rule)
  assert common["eval_split"] == "test" and common["eval_bytes"] == (400_000 if spec == "demo.py" else 0)


def write_sweep(path, corpus, data_dir, presets=("50k", "200k")):
  with open(path, "w") as f:
    f.write(f'''
from structlm import sweeps

def get_config():
  return sweeps.grid(variants=("token", "structured"), preset_names={presets!r}, train_bytes=(2e4, 6e4), bootstrap=20,
                     base={os.path.join(ROOT, "experiments", "base.py")!r},
                     common=dict(corpus={corpus!r}, data_dir={data_dir!r}, vocab_size=2048, seq_len=64,
                                 global_batch=8, warmup=2, mesh=(4, 2, 1), checkpoint_every=2, log_every=1,
                                 eval_bytes=20000))
''')


@pytest.fixture(scope="module")
def sweep_corpus(tmp_path_factory):
  base = tmp_path_factory.mktemp("sweep")
  return make_corpus(str(base / "corpus")), str(base / "data")


def test_runner_skips_resumes_records_failures_and_analyses(sweep_corpus, tmp_path):
  corpus, data_dir = sweep_corpus
  spec = str(tmp_path / "tiny.py")
  write_sweep(spec, corpus, data_dir, presets=("50k", "200k", "nope"))
  work = str(tmp_path / "runs")
  log = []
  # first invocation: "preempted" right after the first member's checkpoint at step 2
  with pytest.raises(SystemExit):
    run_sweep(spec, work, only="token-50k-D2e04", extra="stop_after=2", progress=False, log=log.append)
  assert os.path.isdir(os.path.join(work, "token-50k-D2e04", "checkpoints"))
  log.clear()
  res = run_sweep(spec, work, progress=False, log=log.append)
  text = "\n".join(log)
  assert "token-50k-D2e04: resuming" in text
  assert res["failed"] == 4 and res["done"] == 8  # the four "nope" members fail; the sweep went on
  with open(os.path.join(work, "token-nope-D2e04", "failed.json")) as f:
    assert "unknown preset" in json.load(f)["error"]
  with open(os.path.join(work, "token-50k-D2e04", "metrics.jsonl")) as f:
    steps = [json.loads(line)["step"] for line in f]
  assert steps[0] == 1 and steps[2] == 3  # steps 1-2 before the interruption, then 3.. after it
  assert os.path.exists(os.path.join(work, "report.md")) and "## Runs" in open(os.path.join(work, "report.md")).read()
  index = json.load(open(os.path.join(work, "sweep.json")))
  assert {m["status"] for m in index["members"]} == {"done", "failed"}

  log.clear()
  res = run_sweep(spec, work, only="*-50k-*,*-200k-*", progress=False, analyze=False, log=log.append)
  assert res["skipped"] == 8 and res["done"] == 0  # finished members are not rerun

  # the demo's README section is regenerated from the sweep's own fits and plot
  from analysis.publish import BEGIN, END, publish
  readme = tmp_path / "README.md"
  readme.write_text(f"# x\n\n{BEGIN}\nOLD-SECTION\n{END}\n\ntail\n")
  publish(work, str(readme), str(tmp_path / "docs"))
  text = readme.read_text()
  assert "OLD-SECTION" not in text and "token-50k-D2e04" in text and text.endswith("tail\n")
  assert (tmp_path / "docs" / "loss_vs_compute.png").exists()


def test_dry_run_and_bad_sweeps(tmp_path, capsys):
  spec = str(tmp_path / "tiny.py")
  write_sweep(spec, "corpus", "data")
  lines = []
  run_sweep(spec, str(tmp_path / "w"), dry_run=True, log=lines.append)
  assert len(lines) == 8 and not os.path.exists(tmp_path / "w")
  argv = shlex.split(lines[0])
  assert argv[:4] == ["python", "-m", "structlm", "train"] and argv[-1] == str(tmp_path / "w" / "token-50k-D2e04")
  assert load_config(argv[5]).train_bytes == 2e4
  with pytest.raises(ValueError, match="matches no member"):
    run_sweep(spec, str(tmp_path / "w"), dry_run=True, only="nothing*")
  with pytest.raises(ValueError, match="not a sweep"):
    load_sweep(os.path.join(ROOT, "experiments", "base.py"))
  with pytest.raises(ValueError, match="takes no argument"):
    load_sweep(os.path.join(ROOT, "experiments", "grid.py") + ":x")


def dry(script, *args):
  out = subprocess.run(["bash", os.path.join(ROOT, "launch", script), *args, "--dry-run"], capture_output=True,
                       text=True, cwd=ROOT)
  assert out.returncode == 0, out.stderr
  return [shlex.split(line) for line in out.stdout.splitlines()]


def test_tpu_launch_dry_run():
  """v5e-64 (an alias) with a sweep that sets its own mesh through --set: the commands carry the user's mesh and
  override after the profile, install Python 3.11 and the TPU extra, run detached, wait, fetch and delete; a global
  batch that does not divide data x fsdp fails the dry run before anything is created."""
  cmds = dry("tpu.sh", "all", "--name", "sl", "--zone", "us-central2-b", "--type", "v5e-64", "--project", "proj",
             "--bucket", "gs://bkt/", "--sweep", "experiments/isoflop.py", "--only", "token-*", "--spot",
             "--set", "mesh=(-1,2,1),global_batch=64,seed=3")
  g = ["gcloud", "--project", "proj", "compute", "tpus"]
  assert cmds[0] == g + ["queued-resources", "create", "sl", "--node-id", "sl", "--zone", "us-central2-b",
                         "--accelerator-type", "v5litepod-64", "--runtime-version", "v2-alpha-tpuv5-lite", "--spot"]
  assert cmds[1] == g + ["queued-resources", "describe", "sl", "--zone", "us-central2-b", "--format",
                         "value(state.state)"]
  assert cmds[2] == ["git", "archive", "--format=tar.gz", "-o", "/tmp/structlm.tar.gz", "HEAD"]
  assert cmds[3] == g + ["tpu-vm", "scp", "/tmp/structlm.tar.gz", "sl:~/structlm.tar.gz", "--zone", "us-central2-b",
                         "--worker=all"]
  ssh = g + ["tpu-vm", "ssh", "sl", "--zone", "us-central2-b", "--worker=all", "--command"]
  ssh0 = g + ["tpu-vm", "ssh", "sl", "--zone", "us-central2-b", "--worker=0", "--command"]
  assert cmds[4][:-1] == ssh and "uv python install 3.11" in cmds[4][-1] and "requirements-tpu.txt" in cmds[4][-1]
  assert "build-essential" in cmds[4][-1]
  assert cmds[5][:-1] == ssh
  remote = cmds[5][-1]  # what every worker runs: detached, its exit code kept
  assert "nohup sh -c" in remote and "> runs/isoflop/.exit" in remote and remote.rstrip().endswith("&")
  inner = shlex.split(shlex.split(remote.split("nohup sh -c ", 1)[1])[0].split(";")[0])
  assert inner[:10] == [".venv/bin/python", "-m", "structlm", "sweep", "experiments/isoflop.py", "--workdir",
                        "runs/isoflop", "--multihost", "--no-analysis", "--quiet"]
  settings = inner[inner.index("--set") + 1]
  assert settings.startswith("checkpoint_root=gs://bkt/ckpt/isoflop,data_dir=gs://bkt/data,dtype=bfloat16,"
                             "mesh=(-1,1,1),expect_backend=tpu")
  assert settings.endswith(",mesh=(-1,2,1),global_batch=64,seed=3")  # the user's after the profile's: theirs win
  assert inner[inner.index("--only") + 1] == "token-*"
  assert cmds[6][:-1] == ssh0 and "gcloud storage rsync -r runs/isoflop gs://bkt/runs/isoflop" in cmds[6][-1]
  assert cmds[7][:-1] == ssh0 and "runs/isoflop/.exit" in cmds[7][-1]  # wait: polled
  assert cmds[8][:-1] == ssh0 and "gs://bkt/runs/isoflop" in cmds[8][-1]  # fetch
  assert cmds[9] == g + ["queued-resources", "delete", "sl", "--zone", "us-central2-b", "--force", "--quiet"]
  script = open(os.path.join(ROOT, "launch", "tpu.sh")).read()
  assert "trap cleanup EXIT INT TERM" in script and "FAILED" in script and "SUSPENDED" in script
  bad = subprocess.run(["bash", os.path.join(ROOT, "launch", "tpu.sh"), "all", "--name", "x", "--zone", "z",
                        "--type", "v5e-64", "--bucket", "gs://b", "--sweep", "experiments/isoflop.py", "--set",
                        "mesh=(-1,2,1)", "--dry-run"], capture_output=True, text=True, cwd=ROOT)
  assert bad.returncode == 2 and "does not divide data x fsdp = 64" in bad.stderr and "gcloud" not in bad.stdout
  (quick,) = [c for c in dry("tpu.sh", "run", "--name", "sl", "--zone", "z", "--bucket", "gs://b", "--sweep",
                              "experiments/demo.py:quick") if c[-1].startswith("cd structlm && mkdir")]
  assert "--workdir runs/demo " in quick[-1] and "gs://b/ckpt/demo," in quick[-1]
  bad = subprocess.run(["bash", os.path.join(ROOT, "launch", "tpu.sh"), "run", "--name", "x", "--zone", "z",
                        "--bucket", "local/dir", "--dry-run"], capture_output=True, text=True)
  assert bad.returncode == 2 and "gs://" in bad.stderr


def test_slurm_and_single_node_dry_runs():
  (cmd,) = dry("slurm.sh", "--sweep", "experiments/grid.py", "--nodes", "4", "--gpus-per-node", "8",
               "--partition", "gpu", "--account", "lab", "--only", "structured-*", "--set", "seed=2")
  assert cmd == ["sbatch", "--job-name", "structlm-grid", "--nodes", "4", "--ntasks-per-node", "8",
                 "--gpus-per-node", "8", "--time", "24:00:00", "--output", "runs/grid/slurm-%j.out", "--requeue",
                 "--signal=TERM@300", "--partition", "gpu", "--account", "lab", "launch/slurm_job.sbatch",
                 "experiments/grid.py", "runs/grid", "structured-*", "seed=2"]
  job = open(os.path.join(ROOT, "launch", "slurm_job.sbatch")).read()
  assert "srun" in job and "--multihost" in job and "requirements-gpu.txt" in job and "scontrol requeue" in job
  assert "expect_backend=gpu" in job
  cmds = dry("gpu_single.sh", "--sweep", "experiments/gpu_small.py")
  assert cmds == [["make", "venv"], [".venv/bin/pip", "install", "-q", "-r", "requirements-gpu.txt"],
                  ["env", "JAX_PLATFORMS=", "XLA_FLAGS=", ".venv/bin/python", "-m", "structlm", "sweep",
                   "experiments/gpu_small.py", "--workdir", "runs/gpu_small", "--set",
                   "dtype=bfloat16,mesh=(-1,1,1),expect_backend=gpu"]]


def test_gpu_script_dry_run_checks_commands_and_shapes():
  """benchmarks/gpu.sh --dry-run: the step benchmark at ref_mfu.py's 125M/350M/1.3B shapes, the decode benchmark
  at a preset that exists, and the gpu_small sweep (all or half), each to its own JSON file."""
  import importlib.util

  out = subprocess.run(["bash", os.path.join(ROOT, "benchmarks", "gpu.sh"), "--dry-run", "--half", "--out", "o"],
                       capture_output=True, text=True, check=True).stdout.splitlines()
  assert [shlex.split(line)[-1] for line in out] == ["o/step.json", "o/decode.json", "o/decode_scoped.json",
                                                      "o/sweep.json"]
  step, decode, decode_scoped, sweep = (shlex.split(line)[:-2] for line in out)
  assert decode_scoped[decode_scoped.index("--variant") + 1] == "scoped"
  spec = importlib.util.spec_from_file_location("ref_mfu", os.path.join(ROOT, "..", "shared", "tools", "ref_mfu.py"))
  if spec is not None and os.path.exists(spec.origin):
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    shapes = ";".join(",".join(map(str, ref.SIZES[k])) for k in ("125m", "350m", "1.3b"))
    assert step[step.index("--shapes") + 1] == shapes
  assert step[step.index("--dtype") + 1] == "bfloat16" and step[step.index("--remat") + 1] == "on"
  presets.preset(decode[decode.index("--preset") + 1])  # exists
  only = sweep[sweep.index("--only") + 1]
  ms = members(load_sweep(os.path.join(ROOT, sweep[sweep.index("sweep") + 1])), extra="dtype=bfloat16")
  chosen = [m for m in ms if any(fnmatch.fnmatch(m["name"], g) for g in only.split(","))]
  assert 0 < len(chosen) < len(ms)


def test_a_corrupt_result_is_moved_aside_and_the_member_trained_again(tmp_path):
  from structlm.runner import _corrupt_result, status
  run = tmp_path / "m"
  run.mkdir()
  (run / "result.json").write_text('{"variant": "token", "par')
  assert status(str(run)) == "done"  # (what the sweep saw before)
  assert "unreadable" in _corrupt_result(str(run))
  assert status(str(run)) == "pending" and (run / "result.json.corrupt").exists()
  (run / "result.json").write_text("[1, 2]")
  assert "not a run's result" in _corrupt_result(str(run))
  (run / "result.json").write_text(json.dumps(dict(variant="token", params=1, tokens=1, bytes=1, flops=1,
                                                   eval_bpb=2.0)))
  assert _corrupt_result(str(run)) is None and status(str(run)) == "done"


def _sweep_file(path, corpus, data_dir):
  with open(path, "w") as f:
    f.write(f'''
from structlm import sweeps

def get_config():
  runs = [dict(variant=v, preset="w8", steps=16) for v in ("token", "structured")]
  return sweeps.sweep(runs, base={os.path.join(ROOT, "experiments", "base.py")!r}, bootstrap=0,
                      common=dict(corpus={corpus!r}, data_dir={data_dir!r}, vocab_size=2048, seq_len=64,
                                  global_batch=8, warmup=2, mesh=(1, 1, 1), checkpoint_every=3, log_every=1,
                                  eval_bytes=20000, learning_rate=3e-3))
''')


def test_sweep_workers_killed_at_random_points_finish_every_member_once(sweep_corpus, tmp_path):
  """kill -9 a sweep worker at random moments (in a step, a checkpoint save, a result write), five times, then let
  one finish; and two workers on one workdir at once: every member finishes exactly once, every result.json
  parses, and the losses equal an uninterrupted sweep's bit for bit."""
  import random
  import signal
  import time
  corpus, data_dir = sweep_corpus
  spec = str(tmp_path / "kill.py")
  _sweep_file(spec, corpus, data_dir)
  env = dict(os.environ, XLA_FLAGS="", JAX_PLATFORMS="cpu")

  def worker(work, **extra):
    return subprocess.Popen([sys.executable, "-m", "structlm", "sweep", spec, "--workdir", work, "--no-analysis",
                             "--quiet"], cwd=ROOT, env=dict(env, **extra), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
  straight = str(tmp_path / "straight")
  assert worker(straight).wait(timeout=600) == 0
  killed = str(tmp_path / "killed")
  rng = random.Random(0)
  for _ in range(5):
    p = worker(killed)
    time.sleep(rng.uniform(6.0, 14.0))  # (the first seconds are imports and the dataset check)
    p.send_signal(signal.SIGKILL)
    p.wait()
  a, b = worker(killed), worker(killed, STRUCTLM_SWEEP_REVERSE="1")  # two workers share what is left
  assert a.wait(timeout=600) == 0 and b.wait(timeout=600) == 0, (a.stderr.read(), b.stderr.read())
  for member in ("token-w8-steps16", "structured-w8-steps16"):
    with open(os.path.join(killed, member, "result.json")) as f:
      assert json.load(f)["steps"] == 16
    steps = [json.loads(line)["step"] for line in open(os.path.join(killed, member, "metrics.jsonl"))]
    assert steps == list(range(1, 17)), steps  # each step logged once: every member finished exactly once
    want = [json.loads(line)["loss"] for line in open(os.path.join(straight, member, "metrics.jsonl"))]
    got = [json.loads(line)["loss"] for line in open(os.path.join(killed, member, "metrics.jsonl"))]
    assert got == want, member
