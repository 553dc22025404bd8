"""Vocabularies of a dataset (both from the train split only) and per-file encoding for the builder.

structured: the ActionGrammar (rules, segments, layout, leaf-piece BPE), `grammar.json`
scoped:     the same grammar with its REF actions (structlm/syntax/names.py; nothing stored): `names` within the
            dataset's name window, `file_names` over the whole file
token:      a byte-level BPE over source text of the same total size, `tokens.json`
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import json
import os

import numpy as np
from etils import epath
from tokenizers import Tokenizer

from structlm.data.corpora import Document
from structlm.syntax.build import build_grammar
from structlm.syntax.codec import Codec
from structlm.syntax.grammar import ActionGrammar, GrammarConfig
from structlm.syntax.pieces import train_source_bpe
from structlm.syntax.tree import Skip, check_source, parse, strip_comments

GRAMMAR_FILE, TOKENS_FILE, HASHES_FILE = "grammar.json", "tokens.json", "vocab.json"


@dataclasses.dataclass
class Stats:
  duplicates: int = 0
  skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)


DEFAULT_NAME_WINDOW = 768  # bytes a REF reaches back when a run sets neither name_window nor context_bytes


@dataclasses.dataclass
class Vocab:
  grammar: ActionGrammar
  tokens: Tokenizer
  name_window: int = DEFAULT_NAME_WINDOW  # bytes (the dataset's; structlm/syntax/names.py)

  @functools.cached_property
  def table(self):
    from structlm.syntax.machine import SlotTable
    return SlotTable(self.grammar)

  @functools.cached_property
  def codec(self) -> Codec:
    return Codec(self.grammar)

  @functools.cached_property
  def names(self):
    from structlm.syntax.names import NameScheme
    return NameScheme(self.grammar, self.table, window=self.name_window)

  @functools.cached_property
  def recency_names(self):
    from structlm.syntax.names import NameScheme
    return NameScheme(self.grammar, self.table, window=self.name_window, numbering="recency")

  @functools.cached_property
  def file_names(self):
    from structlm.syntax.names import NameScheme
    return NameScheme(self.grammar, self.table, window=0)

  def record(self, source: bytes) -> dict:
    """Every variant's fields of one file (a dataset record, less path and bytes)."""
    from structlm.variants import VARIANTS
    enc = self.codec.encode(source)
    out = {"tokens": np.asarray(self.tokens.encode(source.decode("utf-8")).ids, np.int32),
           "actions": enc.actions, "slots": enc.slots, "depth": enc.depth, "parent": enc.parent}
    serial = {}  # name window -> its serial encoding (another numbering relabels it, NameScheme.numbered)
    for v in (v for v in VARIANTS.values() if v.refs):
      scheme = v.scheme(self)
      sc = serial.get(scheme.window)
      sc = scheme.encode(enc) if sc is None else scheme.numbered(sc)
      if not scheme.recency:
        serial[scheme.window] = sc
      out.update(zip(v.features, (sc.actions, sc.slots, sc.depth, sc.parent, sc.names, sc.name_count,
                                  sc.name_live)))
    return out

  @property
  def token_hash(self) -> str:
    return hashlib.sha256(self.tokens.to_str().encode()).hexdigest()[:16]

  def source(self, token_ids) -> bytes:
    """The exact source bytes of a record's `tokens` (the byte-level BPE is lossless)."""
    return self.tokens.decode([int(t) for t in token_ids], skip_special_tokens=False).encode()

  def hashes(self) -> dict:
    return {"grammar_hash": self.grammar.hash, "vocab_hash": self.token_hash,
            "grammar_vocab_size": self.grammar.vocab_size, "token_vocab_size": self.tokens.get_vocab_size()}

  def breakdown(self) -> dict:
    """Both vocabularies' composition: the grammar's action groups and merges, the token BPE's merges."""
    n = self.tokens.get_vocab_size()
    scoped = dict(self.grammar.breakdown(), total=self.names.vocab_size, refs=self.names.refs)
    return dict(structured=self.grammar.breakdown(), token=dict(total=n, merges=n - 256),
                scoped=dict(scoped, name_window=self.name_window), scoped_file=dict(scoped, name_window=0))


def preprocess(doc: Document, cfg, stats: Stats) -> Document | None:
  """Bytes both variants train on: checked, and comment-free when asked. None (counted) if unusable."""
  try:
    check_source(doc.content, cfg.max_bytes)
    content = strip_comments(doc.content, cfg.language) if cfg.strip_comments else doc.content
    parse(content, cfg.language, max_bytes=cfg.max_bytes)  # both variants see only what the encoder accepts
  except Skip as e:
    stats.skipped[e.reason] += 1
    return None
  return dataclasses.replace(doc, content=content)


VOCAB_SAMPLE_BYTES = 512 << 20  # vocabularies are learned on at most this much of the train split


def build_or_load(vdir: str, train_docs: list[Document], cfg, sample_bytes: int = VOCAB_SAMPLE_BYTES) -> Vocab:
  """Both vocabularies from the train split (a fixed, hash-ordered sample of it when it is larger than
  `sample_bytes`: the grammar build holds its trees in memory)."""
  if (epath.Path(vdir) / HASHES_FILE).exists():
    return load(vdir)
  if not train_docs:
    raise ValueError("the corpus has no training file: nothing to build vocabularies from")
  if sum(len(d.content) for d in train_docs) > sample_bytes:
    ordered = sorted(train_docs, key=lambda d: hashlib.sha256(d.key.encode()).digest())
    sample, total = [], 0
    for d in ordered:
      if total + len(d.content) > sample_bytes:
        break
      sample.append(d)
      total += len(d.content)
    train_docs = sample
  grammar = build_grammar(cfg.language, [(d.key, d.content) for d in train_docs],
                          GrammarConfig(vocab_size=cfg.vocab_size, leaf_capacity=cfg.leaf_capacity), max_bytes=cfg.max_bytes)
  tokens = train_source_bpe([d.content.decode("utf-8") for d in train_docs], cfg.vocab_size)
  vocab = Vocab(grammar, tokens)
  local = "://" not in str(vdir)
  # local: built in a temporary directory and renamed into place whole, so a failed build leaves nothing behind
  d = epath.Path(f"{vdir}.tmp{os.getpid()}" if local else vdir)
  d.mkdir(parents=True, exist_ok=True)
  grammar.save(d / GRAMMAR_FILE)
  (d / TOKENS_FILE).write_text(tokens.to_str())
  (d / HASHES_FILE).write_text(json.dumps(vocab.hashes(), indent=1))  # written last: marks them complete
  if local:
    os.makedirs(os.path.dirname(os.path.abspath(vdir)), exist_ok=True)
    try:
      os.rename(str(d), vdir)
    except OSError:  # another builder finished first: theirs is the same build
      import shutil
      shutil.rmtree(str(d), ignore_errors=True)
  return vocab


def load(vdir: str, name_window: int = DEFAULT_NAME_WINDOW) -> Vocab:
  d = epath.Path(vdir)
  try:
    return Vocab(ActionGrammar.load(d / GRAMMAR_FILE), Tokenizer.from_str((d / TOKENS_FILE).read_text()),
                 name_window)
  except Exception as e:  # noqa: BLE001 - a missing file, bad JSON or a tokenizers error alike
    raise ValueError(f"vocabularies in {vdir} are missing or corrupt ({e}); delete the dataset directory and "
                     "rebuild it with `python -m structlm prepare ...`") from None


_WORKER: dict = {}


def init_worker(vdir: str, language: str, name_window: int = DEFAULT_NAME_WINDOW) -> None:
  _WORKER.update(vocab=load(vdir, name_window), language=language)


def encode_in_worker(arg):
  """(key, content) -> example dict, or the skip reason."""
  key, content = arg
  try:
    fields = _WORKER["vocab"].record(content)
  except Skip as e:
    return e.reason
  return {"path": key, "bytes": len(content), **fields}
