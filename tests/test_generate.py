"""Generation and evaluation: KV-cache decoding equals the full forward pass; samples from tiny trained
grammar models all parse, the scoped model's read only bound names; bits per byte per file add up to training's evaluation; bad input is refused."""
import json
import os
import shutil

import numpy as np
import pytest
from flax import nnx

from structlm.evaluate import per_file_bpb, sample_metrics, validity
from structlm.generate import RunError, choose, load_run, prompt_ids, sample
from structlm.model import ModelConfig, Transformer, decode_step, init_cache, mask_bias, model_inputs
from structlm.run import load_config, train
from tests.test_data import make_corpus


@pytest.mark.parametrize("variant", ["token", "structured", "scoped"])
def test_kv_cache_decoding_matches_the_full_forward_pass(variant):
  V, S, T, R = 50, 7, 12, 6
  cfg = ModelConfig(variant=variant, vocab_size=V, d_model=32, n_layers=2, n_heads=4, d_ff=64, num_slots=S,
                    num_refs=R if variant == "scoped" else 0)
  model = Transformer(cfg, nnx.Rngs(3))
  rng = np.random.default_rng(0)
  b = {"ids": rng.integers(0, V, (2, T + 1)).astype(np.int32), "segment_ids": np.ones((2, T + 1), np.int32),
       "positions": np.tile(np.arange(T + 1), (2, 1)).astype(np.int32),
       "slots": rng.integers(0, S, (2, T + 1)).astype(np.int32),
       "depth": rng.integers(0, 9, (2, T + 1)).astype(np.int32),
       "parent": rng.integers(0, V, (2, T + 1)).astype(np.int32),
       "names": rng.integers(0, R + 1, (2, T + 1)).astype(np.int32),
       "name_count": (np.arange(T + 1) // 2)[None].repeat(2, 0).astype(np.int32),
       "name_live": np.minimum(np.arange(T + 1) // 3, R)[None].repeat(2, 0).astype(np.int32)}
  if variant != "scoped":
    b = {k: v for k, v in b.items() if k not in ("names", "name_count", "name_live")}
  if variant == "token":
    b = {k: b[k] for k in ("ids", "segment_ids", "positions")}
  table = rng.random((S, V)) < 0.5
  table[:, 0] = True
  bias = mask_bias(table) if variant != "token" else None
  inputs = model_inputs(b)
  full = np.asarray(model(inputs, bias))
  cache = init_cache(cfg, 2, T)
  for t in range(T):
    step = {k: inputs[k][:, t:t + 1] for k in ("inputs", "next_slots", "next_depth", "next_parent", "names",
                                                "next_name_count", "next_name_live") if k in inputs}
    logits, cache = decode_step(model, step, t, cache, bias)
    np.testing.assert_allclose(np.asarray(logits), full[:, t], rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  base = tmp_path_factory.mktemp("gen")
  corpus = make_corpus(str(base / "corpus"))
  out = {}
  for variant in ("token", "structured", "scoped"):
    cfg = load_config("experiments/base.py")
    cfg.update(dict(variant=variant, corpus=corpus, data_dir=str(base / "data"), vocab_size=2048, seq_len=128,
                    global_batch=8, steps=40, warmup=5, mesh=(-1, 1, 1), preset="200k", checkpoint_every=40,
                    log_every=10, eval_bytes=0))
    workdir = str(base / variant)
    res = train(cfg, workdir, progress=False)
    out[variant] = (workdir, res)
  return out


def test_grammar_samples_all_parse_and_scoped_reads_only_bound_names(runs):
  """200 samples per variant: the grammar models' all parse; the scoped model's read no unbound name (pyflakes,
  on the samples that are valid Python 3); the other models' rates printed beside it."""
  report = {}
  for variant, (workdir, _) in runs.items():
    run = load_run(workdir)
    m, samples = sample_metrics(run, 200, max_len=96, seed=1)
    report[variant] = m
    if variant != "token":
      assert m["samples"] == 200 and m["finished_fraction"] == 1.0
      assert m["valid_fraction"] == 1.0, [s.text for s in samples][:3]
    if variant == "scoped":
      assert m["pyflakes_checked"] >= 50, m  # enough samples are valid Python 3 for the check to mean something
      assert m["undefined_names"] == 0, [s.text for s in samples if s.text][:3]
    assert set(m) >= {"samples", "valid_fraction", "distinct_n", "mean_length_bytes", "undefined_name_fraction"}
  print(json.dumps({v: {k: m[k] for k in ("valid_fraction", "ast_valid_fraction", "finished_fraction",
                                          "mean_length_bytes", "pyflakes_checked", "undefined_name_samples",
                                          "undefined_name_fraction")} for v, m in report.items()}))


def test_per_file_bits_add_up_to_the_training_evaluation(runs):
  for variant, (workdir, res) in runs.items():
    ev = per_file_bpb(load_run(workdir), "validation")
    assert ev["files"] == len(ev["table"]) > 0
    np.testing.assert_allclose(ev["bpb"], res["eval_bpb"], rtol=1e-4)
    assert abs(sum(r["bits"] for r in ev["table"]) / ev["bytes"] - ev["bpb"]) < 1e-9


def test_evaluation_counts_each_byte_of_the_split_once(runs):
  """A last batch that wraps past the split's end: its extra rows count neither loss nor bytes."""
  from structlm.data.pipeline import PackedBatches
  from structlm.run import batch_options, eval_batches
  run = load_run(runs["structured"][0])
  kw = batch_options(run.cfg, run.mcfg)
  probe = PackedBatches(run.data["dataset_dir"], "validation", **dict(kw, seed=0))
  rows = probe.rows_per_epoch
  val = PackedBatches(run.data["dataset_dir"], "validation", **dict(kw, seed=0, global_batch=max(rows - 1, 2)))
  batches = list(eval_batches(val))
  assert len(batches) * val.global_batch > rows  # the last batch wraps
  assert sum(host["bytes"].sum() for host, _ in batches) > sum(n for _, n in batches)  # ... into counted rows
  assert sum(n for _, n in batches) == per_file_bpb(run, "validation")["bytes"]


def test_prompts_and_bad_input(runs, tmp_path):
  workdir, _ = runs["structured"]
  run = load_run(workdir)
  prompt = b"import os\n\n\ndef main(path):\n    return os.path.join(path, 'x')\n"
  ids = prompt_ids(run, prompt)
  assert 0 < len(ids)
  for s in sample(run, 4, prompt=prompt, max_len=64, seed=0):
    assert s.text.startswith(b"import os\n\n\ndef main(path):\n    return os.path.join(path, 'x'")
    assert validity([s.text], "python")["valid_fraction"] == 1.0
  with pytest.raises(RunError, match="does not parse"):
    sample(run, 1, prompt=b"def f(:\n")
  tok_dir, _ = runs["token"]
  tok = load_run(tok_dir)
  assert all(s.text.startswith(b"import os") for s in sample(tok, 2, prompt=b"import os\n", max_len=16))

  copy = str(tmp_path / "copy")
  shutil.copytree(workdir, copy)
  with open(os.path.join(copy, "vocab_hashes.json"), "w") as f:
    json.dump({"grammar_hash": "0000", "vocab_hash": "1111"}, f)
  with pytest.raises(RunError, match="was trained with grammar"):
    load_run(copy)
  shutil.rmtree(os.path.join(copy, "checkpoints"))
  os.remove(os.path.join(copy, "vocab_hashes.json"))
  with pytest.raises(RunError, match="no finished checkpoint"):
    load_run(copy)
  with pytest.raises(RunError, match="no config.json"):
    load_run(str(tmp_path))


def test_completion_context_has_no_look_ahead(runs):
  import sysconfig

  from structlm.complete import COMMENT_KINDS, statement_starts, structured_prefix
  from structlm.syntax import languages
  from structlm.syntax.codec import Codec
  from structlm.syntax.machine import Machine
  run = load_run(runs["structured"][0])
  g = run.vocab.grammar
  codec = Codec(g)
  src = open(os.path.join(sysconfig.get_paths()["stdlib"], "bisect.py"), "rb").read()
  starts, root = statement_starts(src, "python")
  checked = 0
  for s in range(1, len(starts) - 1):
    a1 = codec.encode(src).actions
    k1 = structured_prefix(g, run.table, a1, s, root)
    if k1 is None:
      continue
    a2 = codec.encode(src[:starts[s]] + b"pass\npass\n").actions  # same text before the cursor, other after
    k2 = structured_prefix(g, run.table, a2, s, root)
    assert k1 == k2 and list(a1[:k1]) == list(a2[:k2]), s
    # the prefix decodes to exactly the source up to the gap before the cursor's statement
    prev_end = [c.end_byte for c in languages.parser("python").parse(src).root_node.named_children
                if c.start_byte < starts[s] and c.type not in COMMENT_KINDS][-1]  # comments are layout
    assert Machine(g, table=run.table).feed(a1[:k1]) == src[:prev_end], s
    checked += 1
  assert checked >= 3


def test_evaluate_command_gives_the_same_keys_for_every_variant(runs, capsys):
  from structlm import cli
  keys = []
  for variant, (workdir, _) in runs.items():
    with pytest.raises(SystemExit) as e:
      cli.main(["evaluate", "--workdir", workdir, "--split", "validation", "--samples", "8", "--max-len", "32",
                "--complete", "3", "--json"])
    assert e.value.code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"bpb", "valid_fraction", "samples", "distinct_n", "completion"} <= set(out)
    assert out["completion"]["cursors"] == 3 and 0 <= out["completion"]["edit_similarity"] <= 1
    keys.append(set(out))
  assert keys[0] == keys[1] == keys[2]


def test_choose_greedy_nucleus_and_temperature():
  rng = np.random.default_rng(0)
  logits = np.log(np.array([[0.6, 0.3, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4]]) + 1e-12)
  assert list(choose(logits, rng, 0.0, 1.0)) == [0, 3]
  assert all(list(choose(logits, rng, 1.0, 0.35)) == [0, 3] for _ in range(20))  # the nucleus holds one id
  draws = np.array([choose(logits[:1], rng, 1.0, 1.0)[0] for _ in range(4000)])
  np.testing.assert_allclose(np.bincount(draws, minlength=4) / 4000, [0.6, 0.3, 0.1, 0.0], atol=0.03)
  masked = np.array([[-np.inf, 0.0, -np.inf, 0.0]])
  assert {int(choose(masked, rng, 1.0, 1.0)[0]) for _ in range(50)} == {1, 3}


def test_evaluate_on_a_foreign_corpus(runs, tmp_path):
  """`evaluate --corpus`: files that are in no split of the run's corpus, encoded with the run's vocabularies:
  every variant scores the same files and bytes, per file; a file with a production the grammar never saw is
  scored (the generic path), not skipped; a parse error is counted by reason; a JavaScript directory is refused."""
  from structlm.evaluate import encode_corpus
  foreign = tmp_path / "foreign"
  foreign.mkdir()
  (foreign / "a.py").write_text("def f(x):\n    return [y async for y in x]\n")  # (an async comprehension)
  (foreign / "b.py").write_text("def g(a, b):\n    c = a + b\n    return c * a\n")
  (foreign / "c.py").write_text("match p:\n    case [1, *rest] if rest:\n        pass\n")  # unseen productions
  (foreign / "broken.py").write_text("def f(:\n")
  tables = {}
  for variant, (workdir, _) in runs.items():
    run = load_run(workdir)
    records, skipped = encode_corpus(run, str(foreign))
    assert skipped == {"parse_error": 1}
    ev = per_file_bpb(run, records=records)
    tables[variant] = {r["path"]: r for r in ev["table"]}
    assert ev["files"] == 3 and all(0 < r["bpb"] < 20 for r in ev["table"])
    if variant == "scoped":  # how names are used: REFs against the uniform bound, spellings at name slots
      names = ev["names"]
      assert names["refs"] > 0 and names["spelled"] > 0 and 0 < names["ref_share"] < 1
      assert names["bits_per_ref"] > 0 and names["uniform_bits_per_ref"] >= 0
  paths = {v: sorted((os.path.basename(p), r["bytes"]) for p, r in t.items()) for v, t in tables.items()}
  assert paths["token"] == paths["structured"] == paths["scoped"] and [p for p, _ in paths["token"]] == [
      "a.py", "b.py", "c.py"]
  # the study's transfer rows: each variant's best run per budget re-scored on the foreign files, kept per file
  from analysis import file_bootstrap, heldout
  base = os.path.dirname(runs["token"][0])
  rows = heldout.rescore(base, "test", corpus=str(foreign), frontier=True)
  assert sorted(r["variant"] for r in rows) == ["scoped", "structured", "token"]
  for r in rows:
    assert abs(r["bpb"] - sum(t["bits"] for t in tables[r["variant"]].values()) / sum(
        t["bytes"] for t in tables[r["variant"]].values())) < 1e-6
  _, bits, n_bytes, paths = file_bootstrap.per_file(base, heldout.corpus_key(str(foreign)), frontier=True)
  assert bits.shape == (3, 3) and len(paths) == 3
  js = tmp_path / "js"
  js.mkdir()
  (js / "x.js").write_text("const a = 1;\n")
  with pytest.raises(ValueError, match="javascript"):
    encode_corpus(load_run(runs["token"][0]), str(js))
