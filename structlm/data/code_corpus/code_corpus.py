"""tfds builder: a code corpus as ArrayRecord, one record per file, with both variants' ids.

Features: path, bytes (source byte length), tokens (BPE ids, token variant), actions / slots / depth / parent
(structured variant), scoped_actions / ... / names / name_count / name_live (scoped variant, REFs within the
config's name_window bytes), recency_actions (the same REFs numbered by recency: scoped_recency) and the same
prefixed file_ (scoped_file: whole-file REFs); structlm/variants.py
says which variant reads which. The name window is part of the config's name; the vocabularies do not depend
on it and are shared. Vocabularies are built from the train split only, before any record is written, and live
beside the dataset (`<data_dir>/code_corpus/<config>/vocab/`); their hashes are in the dataset's metadata.
"""
from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from structlm.data import vocab as vocab_lib
from structlm.data.corpora import Document, dedup, iter_corpus

# 1.1: leaf pieces get the token BPE's merges (leaf_capacity); 1.2: int arrays as raw bytes; 1.3: scoped fields;
# 1.4: scoped REFs within a name window (name_live), the whole-file arm as file_ fields; 1.5: recency_actions
VERSION = "1.5.0"


@dataclasses.dataclass(kw_only=True)
class CodeCorpusConfig(tfds.core.BuilderConfig):
  corpus: str = "stdlib"
  language: str = "python"
  strip_comments: bool = False
  vocab_size: int = 8192
  leaf_capacity: str = "merges"  # structlm.syntax.grammar.GrammarConfig.leaf_capacity
  name_window: int = vocab_lib.DEFAULT_NAME_WINDOW  # bytes a scoped REF reaches back (structlm/syntax/names.py)
  max_bytes: int = 1 << 20
  workers: int = 0  # encoding processes (0: one per core)
  beam: bool = False  # encode in an Apache Beam pipeline (needs apache-beam and a runner in DownloadConfig)


def vocab_name(corpus: str, language: str, strip_comments: bool, vocab_size: int,
               leaf_capacity: str = "merges") -> str:
  """The vocabularies' directory name: what they depend on (the corpus as it is now: its fingerprint)."""
  from structlm.data.corpora import fingerprint
  slug = "".join(ch if ch.isalnum() else "_" for ch in corpus).strip("_")[-40:] or "corpus"
  fp = fingerprint(corpus, language)
  slug = f"{slug}-{fp}" if fp else slug
  tail = "" if leaf_capacity == "merges" else f"-{leaf_capacity}"
  return f"{slug}-{language}-{'nocomments' if strip_comments else 'raw'}-v{vocab_size}{tail}"


def config_name(corpus: str, language: str, strip_comments: bool, vocab_size: int, leaf_capacity: str = "merges",
                name_window: int = vocab_lib.DEFAULT_NAME_WINDOW) -> str:
  """The dataset's name: its vocabularies' and its name window (two windows never share a dataset)."""
  return f"{vocab_name(corpus, language, strip_comments, vocab_size, leaf_capacity)}-w{name_window}"


class CodeCorpus(tfds.core.GeneratorBasedBuilder):
  VERSION = tfds.core.Version(VERSION)
  BUILDER_CONFIGS: list = []  # configs are made per (corpus, language, comments, vocab size) by `prepare`

  def _info(self) -> tfds.core.DatasetInfo:
    # int32 arrays stored as raw little-endian bytes: they decode with one np.frombuffer, where tf.Example int
    # lists cost a per-element conversion (about 90% of the loader's time)
    ints = tfds.features.Tensor(shape=(None,), dtype=np.int32, encoding=tfds.features.Encoding.BYTES)
    return tfds.core.DatasetInfo(
        builder=self,
        description="Source files as BPE token ids and as grammar actions with tree features.",
        features=tfds.features.FeaturesDict({
            "path": tfds.features.Text(), "bytes": np.int64, "tokens": ints,
            "actions": ints, "slots": ints, "depth": ints, "parent": ints,
            "scoped_actions": ints, "scoped_slots": ints, "scoped_depth": ints, "scoped_parent": ints,
            "names": ints, "name_count": ints, "name_live": ints, "recency_actions": ints,
            **{"file_" + k: ints for k in ("scoped_actions", "scoped_slots", "scoped_depth", "scoped_parent",
                                            "names", "name_count", "name_live")},
        }),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager):
    cfg = self.builder_config
    docs, dropped = dedup(iter_corpus(cfg.corpus, cfg.language))
    self.stats = vocab_lib.Stats(duplicates=dropped)
    docs = [vocab_lib.preprocess(d, cfg, self.stats) for d in docs]
    docs = [d for d in docs if d is not None]
    counts = {name: sum(d.split == name for d in docs) for name in ("train", "validation", "test")}
    if not all(counts.values()):  # checked before anything is written
      skipped = f"; skipped: {dict(self.stats.skipped)}" if self.stats.skipped else ""
      raise ValueError(f"{len(docs)} files of {cfg.corpus} are usable (train {counts['train']}, validation "
                       f"{counts['validation']}, test {counts['test']}{skipped}); every split needs at least one "
                       "file (files go 90/5/5% to train/validation/test by a hash of their path): add files")
    vdir = vocab_dir(self._data_dir_root, vocab_name(cfg.corpus, cfg.language, cfg.strip_comments, cfg.vocab_size,
                                                     cfg.leaf_capacity))
    vocab = vocab_lib.build_or_load(vdir, [d for d in docs if d.split == "train"], cfg)
    self.info.metadata.update(vocab.hashes())
    by_split = {name: [d for d in docs if d.split == name] for name in ("train", "validation", "test")}
    return {name: self._generate_examples(split_docs, vdir) for name, split_docs in by_split.items()}

  def _generate_examples(self, docs: list[Document], vdir: str):
    cfg = self.builder_config
    if cfg.beam:
      return _beam_examples(docs, vdir, cfg.language, cfg.name_window)
    return self._local_examples(docs, vdir)

  def _local_examples(self, docs: list[Document], vdir: str):
    cfg = self.builder_config
    workers = cfg.workers or os.cpu_count() or 1
    args = [(d.key, d.content) for d in docs]
    if workers > 1 and len(args) > 8:
      # forkserver: workers fork from a clean single-threaded server, never from this process, whose JAX or
      # grain threads may hold locks a forked child would wait on forever
      ctx = mp.get_context("forkserver")
      ctx.set_forkserver_preload(["structlm.data.vocab"])
      with ctx.Pool(workers, initializer=vocab_lib.init_worker, initargs=(vdir, cfg.language, cfg.name_window)) as pool:
        results = list(pool.imap(vocab_lib.encode_in_worker, args, chunksize=8))
    else:
      vocab_lib.init_worker(vdir, cfg.language, cfg.name_window)
      results = [vocab_lib.encode_in_worker(a) for a in args]
    for (key, _), res in zip(args, results):
      if isinstance(res, str):
        self.stats.skipped[res] += 1
        continue
      yield key, res


def _beam_examples(docs: list[Document], vdir: str, language: str, name_window: int, shards: int = 64):
  """The same encoding as a Beam PTransform: tfds runs it on the runner given in DownloadConfig (DirectRunner,
  Spark, Flink; the data dir a mount every worker shares). The documents go to the workers through shard files
  beside the vocabulary, so the job graph holds only the shards' paths (runners cap a graph's size: Dataflow at
  10 MB); vocabularies are read once per worker from `vdir`."""
  import hashlib
  import pickle
  beam = tfds.core.lazy_imports.apache_beam
  digest = hashlib.sha256()
  for d in docs:
    digest.update(d.key.encode() + b"\0" + hashlib.sha256(d.content).digest())
  folder = epath.Path(vdir).parent / "beam_input" / digest.hexdigest()[:16]
  folder.mkdir(parents=True, exist_ok=True)
  paths = []
  for i in range(min(shards, max(len(docs), 1))):
    path = folder / f"docs-{i:05d}.pkl"
    path.write_bytes(pickle.dumps([(d.key, d.content) for d in docs[i::shards]]))
    paths.append(str(path))

  def read_shard(path):
    yield from pickle.loads(epath.Path(path).read_bytes())

  class Encode(beam.DoFn):
    def setup(self):
      vocab_lib.init_worker(vdir, language, name_window)

    def process(self, arg):
      res = vocab_lib.encode_in_worker(arg)
      if not isinstance(res, str):
        yield arg[0], res

  return beam.Create(paths) | beam.FlatMap(read_shard) | beam.Reshuffle() | beam.ParDo(Encode())


def vocab_dir(data_dir: str, name: str) -> str:
  return str(epath.Path(data_dir) / "code_corpus" / name / "vocab")
