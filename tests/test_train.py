"""A whole run: config -> dataset -> training with checkpoints -> result.json; exact resume."""
import json
import os

import pytest

from structlm.data.code_corpus.code_corpus import VERSION
from structlm.run import load_config, train
from tests.test_data import make_corpus

BASE = "experiments/base.py"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  base = tmp_path_factory.mktemp("train")
  return make_corpus(str(base / "corpus")), str(base / "data")


def config(corpus, **kw):
  src, data_dir = corpus
  cfg = load_config(BASE)
  cfg.update(dict(corpus=src, data_dir=data_dir, vocab_size=2048, seq_len=64, global_batch=8, steps=12, warmup=2,
                  log_every=1, checkpoint_every=4, eval_bytes=0, mesh=(2, 2, 2), preset="400k"))
  cfg.update(kw)
  return cfg


def losses(workdir):
  with open(f"{workdir}/metrics.jsonl") as f:
    return {r["step"]: r["loss"] for r in map(json.loads, f)}


@pytest.mark.parametrize("variant", ["token", "structured", "scoped"])
def test_run_writes_result(corpus, tmp_path, variant):
  res = train(config(corpus, variant=variant), str(tmp_path), progress=False)
  for key in ("variant", "preset", "params", "params_nonembedding", "tokens", "bytes", "flops", "eval_bpb",
              "seconds", "grammar_hash", "vocab_hash", "config"):
    assert key in res
  assert res["flops"] == res["tokens"] * res["flops_per_token"]  # C exactly, no constant
  assert res["bytes"] == pytest.approx(res["tokens"] / res["tokens_per_byte"])  # D = tokens / train tokens per byte
  assert res["params"] == res["params_total"] - res["params_lookup"]  # N: what costs FLOPs
  vocab = res["vocabulary"]
  assert vocab["structured"]["leaf_capacity"] == "merges"
  assert vocab["structured"]["piece_merges"] == vocab["token"]["merges"]  # fair: as many merges as the BPE
  assert vocab["structured"]["total"] > vocab["token"]["total"]  # structural actions on top
  assert vocab["scoped"]["total"] == vocab["structured"]["total"] + vocab["scoped"]["refs"]  # REFs on top of that
  steps = losses(str(tmp_path))
  assert len(steps) == 12 and steps[12] < steps[1]
  # (one step at a vanishing rate: the model as initialised; steps=0 is refused)
  untrained = train(config(corpus, variant=variant, steps=1, learning_rate=1e-12), str(tmp_path / "step0"),
                    progress=False)
  assert res["eval_bpb"] < untrained["eval_bpb"] - 0.3, (res, untrained)
  assert len(res["code"]["commit"] or "x" * 40) == 40 and res["dataset"]["version"] == VERSION  # provenance
  assert any(f.startswith("events.out.tfevents") for f in os.listdir(tmp_path / "tensorboard"))


def test_context_in_bytes_and_warmup_fraction(corpus, tmp_path):
  """context_bytes gives each variant the positions that hold that many source bytes at its own tokens per byte;
  warmup_fraction scales the warm-up with the run; the equal-total ablation still builds."""
  res = {v: train(config(corpus, variant=v, context_bytes=200, warmup_fraction=0.25, steps=8), str(tmp_path / v),
                  progress=False) for v in ("token", "structured")}
  for r in res.values():
    assert abs(r["seq_len"] - 200 * r["tokens_per_byte"]) <= 4 and r["seq_len"] % 8 == 0
    assert r["warmup"] == 2 and r["config"]["seq_len"] == r["seq_len"]
  total = train(config(corpus, variant="structured", leaf_capacity="total", steps=2), str(tmp_path / "t"),
                progress=False)
  assert total["vocabulary"]["structured"]["total"] <= 2048 < res["structured"]["vocabulary"]["structured"]["total"]


def test_interrupted_run_resumes_exactly(corpus, tmp_path):
  straight = str(tmp_path / "straight")
  whole = train(config(corpus), straight, progress=False)
  broken = str(tmp_path / "broken")
  with pytest.raises(SystemExit):
    train(config(corpus, stop_after=8), broken, progress=False)
  assert steps_logged(broken) == list(range(1, 9))
  resumed = train(config(corpus), broken, progress=False)  # the same command again
  assert steps_logged(broken) == list(range(1, 13))  # it started at the checkpoint and logged only 9..12
  for key in ("tokens", "flops", "bytes", "bytes_in_finished_docs"):  # counted from step 0, not from the resume
    assert resumed[key] == whole[key], key
  a, b = losses(straight), losses(broken)
  assert all(a[s] == b[s] for s in range(9, 13)), (a, b)


def steps_logged(workdir):
  with open(f"{workdir}/metrics.jsonl") as f:
    return [json.loads(line)["step"] for line in f]


def test_a_workdir_of_other_vocabularies_is_refused(corpus, tmp_path):
  (tmp_path / "vocab_hashes.json").write_text(json.dumps({"grammar_hash": "0" * 16, "vocab_hash": "1" * 16}))
  with pytest.raises(ValueError, match="trained with grammar/vocabulary"):
    train(config(corpus), str(tmp_path), progress=False)
  assert not (tmp_path / "metrics.jsonl").exists()  # refused before anything was written


def test_config_overrides_and_errors(corpus, tmp_path):
  cfg = load_config(BASE + ":preset=3m,steps=7,variant=structured,mesh=(2,2,2),grammar_mask=false")
  assert cfg.preset == "3m" and cfg.steps == 7 and cfg.variant == "structured"
  assert cfg.mesh == (2, 2, 2) and cfg.grammar_mask is False
  with pytest.raises(ValueError, match="no field"):
    load_config(BASE + ":nosuch=1")
  with pytest.raises(ValueError, match="unknown preset"):
    train(config(corpus, preset="7b"), str(tmp_path), progress=False)
  with pytest.raises(ValueError, match="global batch"):
    train(config(corpus, global_batch=6), str(tmp_path / "b"), progress=False)


def _launch(cfg, workdir):
  """`python -m structlm train` on the test's config, in its own process."""
  import subprocess
  import sys
  overrides = ",".join(f"{k}={_flag(v)}" for k, v in cfg.items() if k in OVERRIDES)
  return subprocess.Popen([sys.executable, "-m", "structlm", "train", "--quiet", "--config", f"{BASE}:{overrides}",
                           "--workdir", workdir], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


OVERRIDES = ("corpus", "data_dir", "vocab_size", "seq_len", "global_batch", "steps", "warmup", "log_every",
             "checkpoint_every", "eval_bytes", "mesh", "preset", "variant")


def _flag(v):
  return "(" + ",".join(map(str, v)) + ")" if isinstance(v, (tuple, list)) else str(v)


def _wait_for(pred, proc, timeout=300):
  import time
  t0 = time.time()
  while not pred():
    assert proc.poll() is None, proc.communicate()[1][-3000:]
    assert time.time() - t0 < timeout, "timed out waiting for the run"
    time.sleep(0.05)


def _checkpoints(workdir):
  d = os.path.join(workdir, "checkpoints")
  return sorted(int(x) for x in os.listdir(d) if x.isdigit()) if os.path.isdir(d) else []


def test_sigterm_and_kill_9_resume_exactly(corpus, tmp_path):
  """A real SIGTERM (preemption) saves and exits; `kill -9` loses only what came after the last checkpoint; the
  same command then finishes with the straight run's losses."""
  import signal
  cfg = config(corpus, steps=30, checkpoint_every=5)
  train(cfg, str(tmp_path / "straight"), progress=False)
  straight = losses(str(tmp_path / "straight"))

  term = str(tmp_path / "term")
  proc = _launch(cfg, term)
  _wait_for(lambda: os.path.exists(f"{term}/metrics.jsonl") and len(steps_logged(term)) >= 7, proc)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode != 0 and "stopped at step" in err, err[-2000:]
  stopped = steps_logged(term)[-1]
  assert _checkpoints(term)[-1] == stopped < 30  # saved where it stopped
  proc = _launch(cfg, term)
  assert proc.wait(timeout=300) == 0, proc.communicate()[1][-3000:]
  assert steps_logged(term) == list(range(1, 31))  # resumed at the stop, nothing retrained

  killed = str(tmp_path / "killed")
  proc = _launch(cfg, killed)
  _wait_for(lambda: _checkpoints(killed) and _checkpoints(killed)[-1] >= 10, proc)
  proc.kill()
  proc.wait()
  last = _checkpoints(killed)[-1]
  proc = _launch(cfg, killed)
  assert proc.wait(timeout=300) == 0, proc.communicate()[1][-3000:]
  logged = steps_logged(killed)
  assert logged[-(30 - last):] == list(range(last + 1, 31))  # the resumed run started after the checkpoint
  for workdir in (term, killed):
    got = losses(workdir)  # the last logged loss of every step (steps after a kill -9 are logged twice)
    assert all(got[s] == straight[s] for s in range(1, 31)), workdir


def test_every_seed_is_scored_on_the_same_validation_files(corpus, tmp_path):
  a, b = (train(config(corpus, steps=2, seed=s, eval_bytes=3000), str(tmp_path / f"s{s}"), progress=False)
          for s in (0, 5))
  assert a["eval_files"] == b["eval_files"] and a["eval_bytes"] == b["eval_bytes"] > 0


def test_a_workdir_belongs_to_one_config(corpus, tmp_path):
  """Another config on a started workdir is refused, naming the keys, before anything is written; a resume
  drops metrics rows past the checkpoint (and half a row) so no step is logged twice."""
  w = str(tmp_path / "w")
  with pytest.raises(SystemExit):
    train(config(corpus, stop_after=4), w, progress=False)
  before = open(os.path.join(w, "config.json")).read()
  with pytest.raises(ValueError, match="steps: 12 -> 20"):
    train(config(corpus, steps=20), w, progress=False)
  with pytest.raises(ValueError, match="variant: token -> structured"):
    train(config(corpus, variant="structured"), w, progress=False)
  assert open(os.path.join(w, "config.json")).read() == before
  with open(os.path.join(w, "metrics.jsonl"), "a") as f:
    f.write('{"step": 5, "loss": 1.0}\n{"step": 6, "lo')
  train(config(corpus), w, progress=False)
  assert steps_logged(w) == list(range(1, 13))


def test_runs_that_would_train_nothing_are_refused(corpus, tmp_path):
  for bad in (dict(steps=0), dict(steps=-5), dict(train_bytes=-1000.0), dict(train_flops=-1.0)):
    with pytest.raises(ValueError, match="positive"):
      train(config(corpus, **bad), str(tmp_path / "x"), progress=False)
  with pytest.raises(ValueError, match="steps='ten': expected int"):
    load_config(BASE + ":steps=ten")
  with pytest.raises(ValueError, match="unknown variant"):
    train(config(corpus, variant="tokn"), str(tmp_path / "y"), progress=False)
  assert not (tmp_path / "y").exists()  # validated before anything was created


def test_a_run_launched_for_a_gpu_stops_on_a_cpu(corpus, tmp_path):
  with pytest.raises(RuntimeError, match="launched for gpu .* found cpu"):
    train(config(corpus, expect_backend="gpu"), str(tmp_path / "g"), progress=False)
  assert not (tmp_path / "g" / "metrics.jsonl").exists()


def test_a_truncated_checkpoint_falls_back_to_the_newest_that_restores(corpus, tmp_path, capsys):
  """A crash that truncated the latest checkpoint's files: the resume warns, names it, restores the one before
  and the run finishes with every step logged once."""
  w = str(tmp_path / "w")
  with pytest.raises(SystemExit):
    train(config(corpus, stop_after=8, keep_checkpoints=3), w, progress=False)
  ckdir = os.path.join(w, "checkpoints")
  assert sorted(os.listdir(ckdir)) == ["4", "8"]
  files = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(ckdir, "8", "state")) for f in fs]
  biggest = max(files, key=os.path.getsize)
  with open(biggest, "r+b") as f:
    f.truncate(os.path.getsize(biggest) // 3)
  res = train(config(corpus, keep_checkpoints=3), w, progress=False)
  err = capsys.readouterr().err
  assert "checkpoint 8" in err and "resuming from checkpoint 4" in err
  assert res["steps"] == 12 and steps_logged(w) == list(range(1, 13))


def test_two_train_processes_on_one_workdir(corpus, tmp_path):
  """Two `train` commands started together on one workdir: one trains, the other is refused at once, naming the
  holder, and leaves the workdir to it."""
  import subprocess
  import sys
  train(config(corpus, steps=2), str(tmp_path / "warm"), progress=False)  # the dataset both processes share
  cfg = config(corpus, steps=6)
  overrides = ",".join(f"{k}={v}" if not isinstance(v, tuple) else f"{k}=({','.join(map(str, v))})"
                       for k, v in cfg.items() if not isinstance(v, dict))
  w = str(tmp_path / "w")
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
  procs = [subprocess.Popen([sys.executable, "-m", "structlm", "train", "--quiet", "--config", f"{BASE}:{overrides}",
                             "--workdir", w], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for _ in range(2)]
  outs = [p.communicate(timeout=300) for p in procs]
  codes = sorted(p.returncode for p in procs)
  assert codes[0] == 0 and codes[1] != 0, outs
  refused = outs[[p.returncode for p in procs].index(codes[1])][1]
  assert "lock" in refused.lower() or "busy" in refused.lower(), refused[-2000:]
  assert steps_logged(w) == list(range(1, 7))
