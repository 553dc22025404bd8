"""gs:// as a first-class path, against a real storage server on localhost (gcp-storage-emulator from PyPI, started
here, tests/gcs_emulator.py): a dataset prepared into the bucket and read by a second host, a run whose checkpoints live there stopped
and resumed on a fresh local disk exactly, its result.json there, a sweep that skips a member finished elsewhere,
and `analyze` reading runs from the bucket."""
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from structlm import storage
from structlm.data.prepare import prepare
from structlm.run import load_config, train
from tests.test_data import make_corpus

BUCKET = "structlm-test"


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


@pytest.fixture(scope="module")
def gcs(tmp_path_factory):
  port = _free_port()
  proc = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "gcs_emulator.py"), str(port),
                           BUCKET], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
  url = f"http://localhost:{port}"
  old = {k: os.environ.get(k) for k in ("STORAGE_EMULATOR_HOST", "TENSORSTORE_GCS_HTTP_URL", "STRUCTLM_CACHE")}
  os.environ.update(STORAGE_EMULATOR_HOST=url, TENSORSTORE_GCS_HTTP_URL=url,
                    STRUCTLM_CACHE=str(tmp_path_factory.mktemp("cache-host0")))
  try:
    for _ in range(100):
      try:
        socket.create_connection(("localhost", port), timeout=1).close()
        break
      except OSError:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.1)
    yield f"gs://{BUCKET}"
  finally:
    proc.terminate()
    proc.wait(timeout=30)
    for k, v in old.items():
      if v is None:
        os.environ.pop(k, None)
      else:
        os.environ[k] = v


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  return make_corpus(str(tmp_path_factory.mktemp("gcs") / "corpus"))


def _config(corpus, data_dir, checkpoint_root, **kw):
  cfg = load_config("experiments/base.py")
  cfg.update(dict(corpus=corpus, data_dir=data_dir, vocab_size=2048, seq_len=64, global_batch=8, steps=12, warmup=2,
                  log_every=1, checkpoint_every=4, eval_bytes=0, mesh=(2, 2, 2), preset="400k",
                  checkpoint_root=checkpoint_root, variant="structured"))
  cfg.update(kw)
  return cfg


def _losses(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return {r["step"]: r["loss"] for r in map(json.loads, f)}


def test_a_dataset_prepared_into_the_bucket_is_read_by_another_host(gcs, corpus, tmp_path, monkeypatch):
  built = prepare(corpus=corpus, vocab_size=2048, data_dir=f"{gcs}/data", max_bytes=1 << 20)
  assert not built["reused"] and built["remote_dataset_dir"].startswith(f"{gcs}/data/code_corpus/")
  remote = storage.files(built["remote_dataset_dir"])
  assert "summary.json" in remote and any(k.endswith(".array_record-00000-of-00001") for k in remote)
  # a second host: its own empty cache, does not build (it would wait for the builder), downloads the same bytes
  monkeypatch.setenv("STRUCTLM_CACHE", str(tmp_path / "cache-host1"))
  other = prepare(corpus=corpus, vocab_size=2048, data_dir=f"{gcs}/data", max_bytes=1 << 20, build=False,
                  wait_s=5)
  assert other["reused"] and other["dataset_dir"].startswith(str(tmp_path / "cache-host1"))
  for rel in remote:
    with open(os.path.join(built["dataset_dir"], rel), "rb") as a, open(os.path.join(other["dataset_dir"], rel),
                                                                         "rb") as b:
      assert a.read() == b.read(), rel
  # a host told not to build, with nothing in the bucket, says what to check instead of hanging
  with pytest.raises(TimeoutError, match="process 0"):
    prepare(corpus=corpus, vocab_size=4096, data_dir=f"{gcs}/data", build=False, wait_s=0.5)


def test_checkpoints_in_the_bucket_resume_exactly_on_a_fresh_disk(gcs, corpus, tmp_path):
  ckpt = f"{gcs}/ckpt"
  whole = train(_config(corpus, f"{gcs}/data", f"{ckpt}/straight"), str(tmp_path / "a" / "run"), progress=False)
  with pytest.raises(SystemExit):
    train(_config(corpus, f"{gcs}/data", f"{ckpt}/broken", stop_after=8), str(tmp_path / "b" / "run"),
          progress=False)
  assert {k.split("/")[0] for k in storage.files(f"{ckpt}/broken/run")} >= {"4", "8"}
  # the host is gone: a new local workdir of the same name resumes from the bucket's step 8
  fresh = str(tmp_path / "c" / "run")
  resumed = train(_config(corpus, f"{gcs}/data", f"{ckpt}/broken"), fresh, progress=False)
  assert sorted(_losses(fresh)) == [9, 10, 11, 12]
  a, b = _losses(str(tmp_path / "a" / "run")), _losses(fresh)
  assert all(a[s] == b[s] for s in range(9, 13)), (a, b)
  for key in ("tokens", "flops", "bytes", "eval_bpb"):
    assert resumed[key] == whole[key], key
  assert json.loads(storage.read_text(f"{ckpt}/broken/run/result.json"))["eval_bpb"] == resumed["eval_bpb"]


def test_a_sweep_skips_a_member_finished_on_another_host_and_analyze_reads_the_bucket(gcs, tmp_path):
  from structlm.runner import _fetch_finished
  spec = tmp_path / "one.py"
  spec.write_text("from structlm import sweeps\n"
                  "def get_config(arg=''):\n"
                  f"  return sweeps.sweep([dict(variant='token', preset='w4', steps=2)], "
                  f"common=dict(checkpoint_root='{gcs}/sweep-ckpt'))\n")
  from structlm.runner import members, load_sweep
  (member,) = members(load_sweep(str(spec)))
  rundir = tmp_path / "runs" / member["name"]
  storage.write_text(f"{gcs}/sweep-ckpt/{member['name']}/result.json", json.dumps(dict(eval_bpb=2.5)))
  assert _fetch_finished(member["spec"], str(rundir))
  assert json.loads((rundir / "result.json").read_text()) == dict(eval_bpb=2.5)
  assert not _fetch_finished(member["spec"], str(rundir))  # a local result.json is never overwritten

  # analyze gs://...: the committed study's result.json files, uploaded, read back through the local mirror
  runs = os.path.join(os.path.dirname(os.path.dirname(__file__)), "docs", "study", "runs")
  kept = sorted(d for d in os.listdir(runs) if d.endswith("C1e11") or d.endswith("C3e11"))
  for d in kept:
    storage.push(os.path.join(runs, d), f"{gcs}/study/{d}")
  out = subprocess.run([sys.executable, "-m", "structlm", "analyze", f"{gcs}/study", "--out", str(tmp_path / "out"),
                        "--bootstrap", "20", "--fit-bootstrap", "2"], capture_output=True, text=True,
                       env=dict(os.environ), timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  assert f"{len(kept)} files fetched" in out.stdout
  fits = json.loads((tmp_path / "out" / "fits.json").read_text())
  assert len(fits["table"]) == len(kept)


def test_a_beam_build_into_a_bucket_is_refused_before_anything_is_read(tmp_path):
  with pytest.raises(ValueError, match="shared mount"):
    prepare(corpus=str(tmp_path / "none"), data_dir="gs://bucket/data", beam_runner="DirectRunner")
