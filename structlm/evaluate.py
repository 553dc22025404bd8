"""`python -m structlm evaluate`: bits per byte on a split with a per-file table, and samples' validity, diversity
and length -- the same JSON keys for every variant (Python samples also: reads of unbound names, by pyflakes).

Bits per byte = total NLL / total source bytes / ln 2 over whole documents, as in training. A sample is valid when
tree-sitter parses it without ERROR or MISSING nodes (an empty program counts as valid); for Python `ast.parse`
and the language's own compiler (CPython's `compile`, V8 through node) too, with what it refuses grouped by kind. distinct-n: distinct n-grams / all n-grams over the samples' BPE tokens (one tokenizer for both
variants: the dataset's token BPE).
"""
from __future__ import annotations

import math
import shutil

import jax
import numpy as np
from flax import nnx

from structlm.data.pipeline import PackedBatches
from structlm.generate import LoadedRun, sample
from structlm.model import model_inputs, position_nll
from structlm.run import batch_options
from structlm.syntax import language_check, languages
from structlm.syntax.tree import python3_ok


def encode_corpus(run: LoadedRun, corpus: str) -> tuple[list[dict], dict]:
  """A corpus (directory, glob, .jsonl/.parquet: what `prepare` accepts) encoded with the run's own vocabularies,
  every variant's fields per file (so every variant scores the same files and bytes): (records, skipped by
  reason). A corpus with no file of the run's language is refused."""
  import collections

  from structlm.data.corpora import dedup, iter_corpus
  from structlm.syntax.tree import Skip, check_source, strip_comments
  lang = run.cfg.language
  docs, duplicates = dedup(iter_corpus(corpus, lang))
  if not docs:
    others = [name for name in sorted(languages.LANGUAGES) if name != lang and list(iter_corpus(corpus, name))]
    hint = f" (it holds {', '.join(others)} files: this run was trained on {lang})" if others else ""
    raise ValueError(f"{corpus} holds no {lang} file{hint}")
  skipped = collections.Counter()
  records = []
  for d in docs:
    try:
      check_source(d.content)
      content = strip_comments(d.content, lang) if run.cfg.strip_comments else d.content
      fields = run.vocab.record(content)
    except Skip as e:
      skipped[e.reason] += 1
      continue
    records.append({"path": d.key, "bytes": len(content), **fields})
  if not records:
    raise ValueError(f"no file of {corpus} could be encoded (skipped: {dict(skipped)})")
  return records, dict(skipped, duplicates=duplicates) if duplicates else dict(skipped)


def per_file_bpb(run: LoadedRun, split: str = "test", batch: int = 8, records: list | None = None) -> dict:
  """{bpb, files, bytes, table: [{path, bytes, bits, bpb}]} over every document of the split (or of `records`,
  from encode_corpus)."""
  pb = PackedBatches(run.data["dataset_dir"], split, **dict(batch_options(run.cfg, run.mcfg), global_batch=batch),
                     process_index=0, process_count=1, records=records)
  fn = jax.jit(lambda p, b, m: position_nll(nnx.merge(run.graphdef, p), b, m)[0])
  nll = np.zeros(len(pb.doc_bytes))
  usage = NameUsage(run.variant.scheme(run.vocab)) if run.variant.refs else None
  rows = pb.rows_per_epoch
  for b in range(-(-rows // batch)):
    idx = list(range(b * batch, (b + 1) * batch))
    host = pb._rows([min(r, rows - 1) for r in idx], with_docs=True)
    keep = np.array([r < rows for r in idx])
    host["segment_ids"] = host["segment_ids"] * keep[:, None]
    out = np.asarray(fn(run.params, model_inputs(host), run.mask_bias), np.float64)  # [B, T] over targets
    target_doc = host["doc"][:, 1:]
    ok = (target_doc >= 0) & keep[:, None]
    np.add.at(nll, target_doc[ok], out[ok])
    if usage is not None:
      usage.add(host, out, ok)
  table = []
  for i in pb.docs:
    path = pb.source[int(i)]["path"]
    n_bytes = int(pb.doc_bytes[i])
    bits = nll[i] / math.log(2)
    table.append(dict(path=path.decode() if isinstance(path, bytes) else str(path), bytes=n_bytes, bits=bits,
                      bpb=bits / max(n_bytes, 1)))
  total_bits = sum(r["bits"] for r in table)
  total_bytes = sum(r["bytes"] for r in table)
  out = dict(bpb=total_bits / max(total_bytes, 1), files=len(table), bytes=total_bytes, table=table)
  if usage is not None:
    out["names"] = usage.summary(total_bytes)
  return out


class NameUsage:
  """How a scoped model uses names, over the scored positions: REFs (count, bits, and the uniform bound: log2 of
  the legal REFs where each stands) and spellings at name slots (leaves spelled in pieces where a name may
  stand: their bits per leaf)."""

  def __init__(self, scheme):
    self.s = scheme
    self.final = np.asarray(scheme.g.piece_final, bool)
    self.refs = self.spelled = 0
    self.ref_bits = self.uniform_bits = self.spelled_bits = 0.0

  def add(self, host: dict, nll, ok) -> None:
    s, ln2 = self.s, math.log(2)
    tgt, slots, live = host["ids"][:, 1:], host["slots"][:, 1:], host["name_live"][:, 1:]
    ref = ok & (tgt >= s.ref_base) & (tgt < s.ref_base + s.refs)  # (BOS, after them, is never a target)
    self.refs += int(ref.sum())
    self.ref_bits += float(nll[ref].sum()) / ln2
    self.uniform_bits += float(np.log2(np.maximum(live[ref], 1)).sum())
    piece = (tgt >= s.g.piece_base) & (tgt < s.piece_end)
    for b in range(tgt.shape[0]):
      acc, inside = 0.0, False
      for t in np.flatnonzero(ok[b] & piece[b]).tolist():
        a = int(tgt[b, t])
        if not inside and s.name_slot[slots[b, t]]:
          inside, acc = True, 0.0
        if inside:
          acc += float(nll[b, t])
          if self.final[a - s.g.piece_base]:
            self.spelled += 1
            self.spelled_bits += acc / ln2
            inside = False

  def summary(self, n_bytes: int) -> dict:
    uses = self.refs + self.spelled
    return dict(refs=self.refs, refs_per_byte=self.refs / max(n_bytes, 1), ref_share=self.refs / max(uses, 1),
                bits_per_ref=self.ref_bits / max(self.refs, 1),
                uniform_bits_per_ref=self.uniform_bits / max(self.refs, 1),
                spelled=self.spelled, bits_per_spelled_name=self.spelled_bits / max(self.spelled, 1))


def validity(texts: list[bytes], language: str) -> dict:
  tree_ok = ast_ok = 0
  parser = languages.parser(language)
  for t in texts:
    if not parser.parse(t).root_node.has_error:  # no ERROR and no MISSING node
      tree_ok += 1
    if language == "python" and python3_ok(t):
      ast_ok += 1
  out = dict(valid_fraction=tree_ok / max(len(texts), 1))
  if language == "python":
    out["ast_valid_fraction"] = ast_ok / max(len(texts), 1)
  if language == "python" or (language == "javascript" and shutil.which("node")):
    # the language's own compiler (CPython's compile, V8): its accepted fraction and what it refuses, by kind
    judged = language_check.rejections(texts, language)
    out["compiler_valid_fraction"] = judged["accepted_fraction"]
    out["compiler_rejections"] = {k: dict(count=c, example=ex[0] if ex else "")
                                  for k, (c, ex) in list(judged["kinds"].items())[:8]}
  return out


def undefined_names(texts: list[bytes]) -> dict:
  """Reads of unbound names in the samples that are valid Python 3, by pyflakes (independent of our scope code):
  its undefined-name and referenced-before-assignment messages."""
  import ast

  from pyflakes import checker, messages

  from structlm.syntax.languages import python_builtins

  class _Checker(checker.Checker):  # pyflakes takes this process's builtins: less what extension modules added
    builtIns = (checker.Checker.builtIns - set(checker.builtin_vars)) | python_builtins()
  checked = flagged = count = 0
  for t in texts:
    try:
      tree = ast.parse(t)
    except (SyntaxError, ValueError):
      continue
    found = [m for m in _Checker(tree, filename="sample").messages
             if isinstance(m, (messages.UndefinedName, messages.UndefinedLocal))]
    checked += 1
    flagged += bool(found)
    count += len(found)
  return dict(pyflakes_checked=checked, undefined_name_samples=flagged, undefined_names=count,
              undefined_name_fraction=flagged / max(checked, 1))


def distinct_n(token_lists: list[list[int]], ns=(1, 2, 3, 4)) -> dict:
  out = {}
  for n in ns:
    grams = [tuple(t[i:i + n]) for t in token_lists for i in range(len(t) - n + 1)]
    out[str(n)] = len(set(grams)) / len(grams) if grams else 0.0
  return out


def sample_metrics(run: LoadedRun, n: int, max_len: int | None = None, temperature: float = 1.0,
                   top_p: float = 1.0, seed: int = 0) -> tuple[dict, list]:
  samples = sample(run, n, temperature=temperature, top_p=top_p, max_len=max_len, seed=seed)
  texts = [s.text for s in samples]
  toks = [run.vocab.tokens.encode(t.decode("utf-8", "replace")).ids for t in texts]
  m = dict(samples=len(samples), finished_fraction=sum(s.finished for s in samples) / max(len(samples), 1),
           mean_length_bytes=float(np.mean([len(t) for t in texts])) if texts else 0.0,
           mean_length_steps=float(np.mean([s.length for s in samples])) if samples else 0.0,
           distinct_n=distinct_n(toks), **validity(texts, run.cfg.language))
  if run.cfg.language == "python":
    m.update(undefined_names(texts))
  return m, samples
