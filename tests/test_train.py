"""A whole run: config -> dataset -> training with checkpoints -> result.json; exact resume."""
import json
import os

import pytest

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


@pytest.mark.parametrize("variant", ["token", "structured"])
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
  steps = losses(str(tmp_path))
  assert len(steps) == 12 and steps[12] < steps[1]
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
  train(config(corpus), straight, progress=False)
  broken = str(tmp_path / "broken")
  with pytest.raises(SystemExit):
    train(config(corpus, stop_after=8), broken, progress=False)
  train(config(corpus), broken, progress=False)  # the same command again
  a, b = losses(straight), losses(broken)
  assert all(a[s] == b[s] for s in range(9, 13)), (a, b)


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
