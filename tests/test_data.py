"""Datasets: build, determinism, packing, per-host sharding, resume, data-constrained subsets, bad input."""
import glob
import hashlib
import json
import os
import shutil

import numpy as np
import pytest

from structlm import variants
from structlm.data.pipeline import DatasetError, PackedBatches, open_split
from structlm.data.prepare import prepare
from tests.conftest import stdlib_subset


def make_corpus(root):
  os.makedirs(root, exist_ok=True)
  for path, src in stdlib_subset(40, max_bytes=20_000):
    with open(os.path.join(root, os.path.basename(path).replace(".py", "") + "_" +
                           hashlib.md5(path.encode()).hexdigest()[:6] + ".py"), "wb") as f:
      f.write(src)
  with open(os.path.join(root, "copy_of_first.py"), "wb") as f:  # an exact duplicate
    f.write(stdlib_subset(40, max_bytes=20_000)[0][1])
  for name, data in [("broken.py", b"def f(:\n"), ("binary.py", b"\x00\x01\x02"), ("empty.py", b"")]:
    with open(os.path.join(root, name), "wb") as f:
      f.write(data)
  return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  base = tmp_path_factory.mktemp("data")
  corpus = make_corpus(str(base / "corpus"))
  res = prepare(corpus=corpus, data_dir=str(base / "d1"), vocab_size=2048, workers=2)
  return corpus, base, res


def test_prepare_reports_and_reuses(built):
  corpus, base, res = built
  for key in ("files", "bytes", "skipped", "splits", "tokens_per_byte", "actions_per_byte", "seconds",
              "dataset_dir", "grammar_hash", "vocab_hash"):
    assert key in res
  assert res["skipped"] == {"parse_error": 1, "nul_bytes": 1, "empty": 1}
  assert res["duplicates"] == 1
  assert sum(res["splits"].values()) == res["files"] - 3 and res["splits"]["train"] > 20
  again = prepare(corpus=corpus, data_dir=str(base / "d1"), vocab_size=2048)
  assert again["reused"] and again["dataset_dir"] == res["dataset_dir"]


def test_two_builds_are_identical(built):
  corpus, base, res = built
  res2 = prepare(corpus=corpus, data_dir=str(base / "d2"), vocab_size=2048, workers=1)

  def digests(d):
    files = sorted(glob.glob(os.path.join(d, "*.array_record-*")))
    return [hashlib.sha256(open(f, "rb").read()).hexdigest() for f in files]
  assert digests(res["dataset_dir"]) == digests(res2["dataset_dir"]) != []
  assert res2["grammar_hash"] == res["grammar_hash"] and res2["vocab_hash"] == res["vocab_hash"]


@pytest.mark.parametrize("variant", ["token", "structured", "scoped"])
def test_packing_predicts_every_token_once(built, variant):
  _, _, res = built
  pb = PackedBatches(res["dataset_dir"], variant=variant, seq_len=128, global_batch=4, seed=5, bos_id=9999)
  field = variants.get(variant).features[0]
  if variant == "scoped":  # the row carries the variant's features under its batch keys
    assert set(pb.row(0)) >= {"ids", "slots", "depth", "parent", "names", "name_count"}
  docs = sorted(tuple(np.asarray(pb.source[i][field])) for i in range(len(pb.source)))
  pieces, n_bytes, current, targets = [], 0, [], 0
  for r in range(pb.rows_per_epoch):
    row = pb.row(r)
    n_bytes += int(row["bytes"])
    seg = row["segment_ids"]
    targets += int(((seg[1:] == seg[:-1]) & (seg[1:] > 0)).sum())  # model_inputs' weights
    for s in range(1, seg.max() + 1):
      ids = row["ids"][seg == s]
      if r and s == 1:  # the row's first token is the previous row's last (context, not a target)
        ids = ids[1:]
        if not len(ids):
          continue
      if ids[0] == 9999:  # a document starts
        if current:
          pieces.append(tuple(current))
        current = list(ids[1:])
      else:
        current += list(ids)
    assert (row["positions"][row["segment_ids"] > 0] < 128).all()
  pieces.append(tuple(current))
  assert sorted(pieces) == docs
  assert n_bytes == int(pb.doc_bytes.sum())
  assert targets == sum(map(len, docs))  # every token but BOS is predicted exactly once


def test_evaluation_counts_each_document_of_the_split_once_and_no_row_past_it(built):
  """The last evaluation batch wraps into the next epoch: its rows past the split are masked out of the loss
  and their bytes not counted (counting them would inflate the bytes and flatter bits/byte)."""
  from structlm.run import eval_batches
  _, _, res = built
  kw = dict(variant="structured", seq_len=128, seed=0, bos_id=9999)
  rows_per_epoch = PackedBatches(res["dataset_dir"], global_batch=1, **kw).rows_per_epoch
  for global_batch in (rows_per_epoch // 2 + 1, rows_per_epoch - 1):  # the last batch: ~half or all but one
    pb = PackedBatches(res["dataset_dir"], global_batch=global_batch, **kw)  # of its rows past the split
    counted, rows = 0.0, 0
    for b, (host, n_bytes) in enumerate(eval_batches(pb)):
      counted += n_bytes
      live = (host["segment_ids"] > 0).any(axis=1)
      rows += int(live.sum())
      assert not live[max(0, pb.rows_per_epoch - b * global_batch):].any()  # no row past the split counts
    assert counted == int(pb.doc_bytes.sum()) and rows == pb.rows_per_epoch


def test_token_documents_end_with_eos(built):
  _, _, res = built
  pb = PackedBatches(res["dataset_dir"], variant="token", seq_len=128, global_batch=4, seed=5, bos_id=9999,
                     eos_id=9998)
  targets = eos = 0
  for r in range(pb.rows_per_epoch):
    row = pb.row(r)
    seg = row["segment_ids"]
    predicted = (seg[1:] == seg[:-1]) & (seg[1:] > 0)
    targets += int(predicted.sum())
    eos += int((row["ids"][1:][predicted] == 9998).sum())
  n_docs = len(pb.source)
  assert eos == n_docs  # each document's end is predicted once
  assert targets == sum(len(pb.source[i]["tokens"]) + 1 for i in range(n_docs))


def test_same_seed_same_batches_and_hosts_agree(built):
  _, _, res = built
  kw = dict(variant="structured", seq_len=64, global_batch=8)
  one = PackedBatches(res["dataset_dir"], seed=1, **kw)
  again = PackedBatches(res["dataset_dir"], seed=1, **kw)
  other = PackedBatches(res["dataset_dir"], seed=2, **kw)
  hosts = [PackedBatches(res["dataset_dir"], seed=1, process_index=h, process_count=2, **kw) for h in range(2)]
  for step in (0, 3, one.rows_per_epoch // 8 + 1):  # the last one is in the second epoch
    a, b = one.host_batch(step), again.host_batch(step)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    joined = {k: np.concatenate([h.host_batch(step)[k] for h in hosts]) for k in a}
    assert all(np.array_equal(a[k], joined[k]) for k in a)
  assert not np.array_equal(one.host_batch(0)["ids"], other.host_batch(0)["ids"])
  # each epoch reshuffles the documents: the same documents, another order
  first, second = one._plan(0)[0], one._plan(1)[0]
  assert sorted(first) == sorted(second) and not np.array_equal(first, second)


def test_resume_continues_with_the_next_batch(built):
  _, _, res = built
  pb = PackedBatches(res["dataset_dir"], variant="token", seq_len=64, global_batch=4, seed=0)
  it = pb.iterator(20)
  for _ in range(5):
    next(it)
  state = json.loads(json.dumps(it.get_state()))  # survives serialisation
  expected = next(it)
  resumed = pb.iterator(20, state)
  got = next(resumed)
  assert all(np.array_equal(expected[k], got[k]) for k in expected)


def test_data_constrained_subset_repeats(built):
  _, _, res = built
  pb = PackedBatches(res["dataset_dir"], variant="token", seq_len=64, global_batch=4, unique_fraction=0.3)
  assert 0 < pb.unique_bytes_used <= 0.3 * pb.doc_bytes.sum()
  docs0 = set(pb._plan(0)[0]) 
  assert docs0 == set(pb._plan(1)[0]) and len(docs0) < len(pb.doc_bytes)


def test_global_arrays_on_the_mesh(built):
  import jax
  from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

  from structlm.data.pipeline import to_global
  _, _, res = built
  pb = PackedBatches(res["dataset_dir"], variant="structured", seq_len=32, global_batch=8)
  mesh = Mesh(np.array(jax.devices()).reshape(-1), ("data",))
  batch = to_global(pb.host_batch(0), NamedSharding(mesh, P("data")))
  assert batch["ids"].shape == (8, 32) and len(batch["ids"].sharding.device_set) == len(jax.devices())
  assert np.array_equal(np.asarray(batch["slots"]), pb.host_batch(0)["slots"])


def test_missing_or_corrupt_dataset_names_the_command(built, tmp_path):
  _, _, res = built
  with pytest.raises(DatasetError, match="structlm prepare"):
    open_split(str(tmp_path / "nothing"), "train")
  broken = tmp_path / "broken"
  shutil.copytree(res["dataset_dir"], broken)
  for f in glob.glob(str(broken / "*train.array_record*")):
    os.remove(f)
  with pytest.raises(DatasetError, match="structlm prepare"):
    PackedBatches(str(broken), variant="token")


def test_jsonl_corpus_with_dedup(tmp_path):
  from structlm.data.corpora import dedup, iter_corpus
  rows = [{"content": "x = 1\n", "max_stars_repo_path": "a.py", "max_stars_repo_name": "r1"},
          {"content": "x = 1\n", "max_stars_repo_path": "b.py", "max_stars_repo_name": "r2"},
          {"content": "y = 2\n", "max_stars_repo_path": "c.py", "max_stars_repo_name": "r1"}]
  path = tmp_path / "stack.jsonl"
  path.write_text("\n".join(json.dumps(r) for r in rows))
  docs, dropped = dedup(iter_corpus(str(path), "python"))
  assert [d.key for d in docs] == ["a.py", "c.py"] and dropped == 1
  assert docs[0].split == docs[1].split  # same repository, same split
  many = [{"content": f"v{r}_{i} = {i}\n", "max_stars_repo_path": f"f{i}.py", "max_stars_repo_name": f"repo{r}"}
          for r in range(60) for i in range(5)]
  path.write_text("\n".join(json.dumps(r) for r in many))
  docs, _ = dedup(iter_corpus(str(path), "python"))
  by_repo = {}
  for d, row in zip(docs, many):
    by_repo.setdefault(row["max_stars_repo_name"], set()).add(d.split)
  assert all(len(s) == 1 for s in by_repo.values())  # every repository's files in one split...
  assert len(set().union(*by_repo.values())) >= 2  # ...and the repositories spread over the splits
  with pytest.raises(ValueError, match="content-column"):
    list(iter_corpus(str(path), "python", content_column="text"))


def test_beam_build_gives_the_same_records(built, tmp_path):
  pytest.importorskip("apache_beam", reason="apache-beam is the [beam] extra")
  corpus, base, res = built
  beamed = prepare(corpus=corpus, data_dir=str(tmp_path / "beam"), vocab_size=2048, beam_runner="DirectRunner")
  assert beamed["grammar_hash"] == res["grammar_hash"] and beamed["splits"] == res["splits"]
  for split in ("train", "validation", "test"):
    a, _ = open_split(res["dataset_dir"], split)
    b, _ = open_split(beamed["dataset_dir"], split)
    rows_a = sorted((x["path"], x["tokens"].tobytes(), x["actions"].tobytes(), x["slots"].tobytes())
                    for x in (a[i] for i in range(len(a))))
    rows_b = sorted((x["path"], x["tokens"].tobytes(), x["actions"].tobytes(), x["slots"].tobytes())
                    for x in (b[i] for i in range(len(b))))
    assert rows_a == rows_b
  # the documents reached the pipeline through shard files, not inside its graph (Dataflow caps a graph at 10 MB)
  import glob
  shards = glob.glob(str(tmp_path / "beam" / "code_corpus" / "*" / "beam_input" / "*" / "docs-*.pkl"))
  assert len(shards) >= 3 and sum(os.path.getsize(p) for p in shards) >= beamed["bytes"]  # every document, once


def test_parquet_corpus(tmp_path):
  pa = pytest.importorskip("pyarrow")
  import pyarrow.parquet as pq

  from structlm.data.corpora import iter_corpus
  table = pa.table({"content": ["def f():\n    return 1\n", "x = [1, 2]\n"], "path": ["a/f.py", "b/x.py"]})
  pq.write_table(table, str(tmp_path / "part-0.parquet"))
  docs = list(iter_corpus(str(tmp_path / "*.parquet"), "python"))
  assert [d.key for d in docs] == ["a/f.py", "b/x.py"] and docs[1].content == b"x = [1, 2]\n"


def test_a_failed_prepare_leaves_nothing_a_later_one_reuses(tmp_path):
  """A corpus too small for three splits is refused, saying how many files each split got, before any vocabulary
  is written; with files added the build starts afresh (the same vocabularies as a clean build of those files);
  two corpora whose paths slug alike get two datasets."""
  small = tmp_path / "corp"
  small.mkdir()
  (small / "only.py").write_text("x = 1\n")
  with pytest.raises(ValueError, match=r"train \d+, validation \d+, test \d+.*add files"):
    prepare(corpus=str(small), data_dir=str(tmp_path / "d"), vocab_size=512, workers=1)
  assert not [p for p in (tmp_path / "d").rglob("vocab.json")]
  make_corpus(str(small))
  grown = prepare(corpus=str(small), data_dir=str(tmp_path / "d"), vocab_size=512, workers=1)
  clean = prepare(corpus=str(small), data_dir=str(tmp_path / "clean"), vocab_size=512, workers=1)
  assert grown["vocab_hash"] == clean["vocab_hash"] and grown["grammar_hash"] == clean["grammar_hash"]
  other = tmp_path / "x_corp"
  make_corpus(str(other))
  (tmp_path / "x").mkdir()
  make_corpus(str(tmp_path / "x" / "corp"))
  (tmp_path / "x" / "corp" / "extra.py").write_text("def extra():\n    return 2\n")
  a = prepare(corpus=str(other), data_dir=str(tmp_path / "e"), vocab_size=512, workers=1)
  b = prepare(corpus=str(tmp_path / "x" / "corp"), data_dir=str(tmp_path / "e"), vocab_size=512, workers=1)
  assert a["dataset_dir"] != b["dataset_dir"] and not b["reused"]
