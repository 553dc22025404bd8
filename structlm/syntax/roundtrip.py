"""Round trip a set of files through encode -> constraint machine -> decode, with figures (the `roundtrip` CLI)."""
from __future__ import annotations

import ast
import collections
import time
import warnings

from tqdm import tqdm

from structlm.syntax import sources
from structlm.syntax.build import build_grammar
from structlm.syntax.codec import Codec
from structlm.syntax.grammar import ActionGrammar, GrammarConfig
from structlm.syntax.machine import Machine
from structlm.syntax.names import NameScheme, ScopedMachine, window_report
from structlm.syntax.pieces import train_source_bpe
from structlm.syntax.tree import DEFAULT_MAX_BYTES, Skip, strip_comments


def _ast_dump(src: bytes):
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      return ast.dump(ast.parse(src))
  except (SyntaxError, ValueError, RecursionError, MemoryError):
    return None


def roundtrip(paths: list[str], language: str = "python", *, strip: bool = False, grammar: ActionGrammar | None = None,
              config: GrammarConfig | None = None, max_bytes: int = DEFAULT_MAX_BYTES, holdout: float = 0.0,
              progress: bool = True, scoped: bool = False, name_window: int = 768) -> dict:
  """Encode and decode every file. With `holdout` > 0, the grammar is built from the other files only and the
  figures are for the held-out ones. With `scoped`, each file's scoped encoding (names by reference) is replayed
  through the scoped machine too, slot and REF validity checked at every action, REFs within `name_window` source
  bytes (checked again from the decoded source by names.window_report); the whole-file arm's length beside it."""
  t0 = time.time()
  skipped = collections.Counter()
  files = []
  for p in paths:
    src = sources.read(p)
    if src is None:
      skipped["unreadable"] += 1
      continue
    if strip:
      try:
        src = strip_comments(src, language)
      except Exception:  # noqa: BLE001 - any failure here is a skip, reported by reason
        skipped["strip_failed"] += 1
        continue
    files.append((p, src))
  if holdout:
    train = [f for f in files if sources.split_of(f[0], (("train", 1 - holdout), ("held", holdout))) == "train"]
    evaluate = [f for f in files if f not in train]
  else:
    train = evaluate = files
  given = grammar is not None
  if grammar is None:
    grammar = build_grammar(language, train, config, max_bytes=max_bytes)
  build_s = time.time() - t0
  codec = Codec(grammar)
  names = NameScheme(grammar, codec.table, window=name_window) if scoped else None
  file_names = NameScheme(grammar, codec.table, window=0) if scoped else None
  stats = collections.Counter()
  encode_s = 0.0
  violations = 0
  failures = []
  ok_texts = []
  for path, src in tqdm(evaluate, desc="roundtrip", unit="file", disable=not progress, mininterval=2):
    stats["files"] += 1
    t = time.perf_counter()
    try:
      enc = codec.encode(src, max_bytes=max_bytes)  # the C encoder; the machine below replays it in Python
    except Skip as e:
      skipped[e.reason] += 1
      continue
    encode_s += time.perf_counter() - t
    stats["parsed"] += 1
    stats["bytes"] += len(src)
    stats["actions"] += len(enc)
    ok_texts.append(src.decode("utf-8"))
    m = Machine(grammar, table=codec.table)
    try:
      for i, a in enumerate(enc.actions):
        if m.slot() != enc.slots[i]:
          raise ValueError(f"slot mismatch at {i}")
        m.step(int(a))
      out = m.output()
    except ValueError as e:
      violations += 1
      failures.append(f"{path}: {e}")
      continue
    if out == src:
      stats["exact"] += 1
      if language == "python":
        d = _ast_dump(src)
        if d is not None:
          stats["ast_checked"] += 1
          stats["ast_equal"] += d == _ast_dump(out)
    else:
      failures.append(f"{path}: decoded bytes differ")
    if names is not None:
      _scoped_check(path, src, enc, names, stats, failures)
      stats["scoped_file_actions"] += len(file_names.encode(enc))
  # the token BPE paired with the grammar: trained on the same files as the grammar, with the BPE size the grammar
  # was built for (its leaf pieces have as many merges). A grammar built elsewhere has no such BPE here: no column
  n_bytes = max(stats["bytes"], 1)
  bpe_per_byte = None
  if not given:
    bpe = train_source_bpe([s.decode("utf-8", "replace") for _, s in train],
                           grammar.data.get("config", {}).get("vocab_size", grammar.vocab_size))
    bpe_per_byte = (sum(len(e.ids) for e in bpe.encode_batch(ok_texts)) if ok_texts else 0) / n_bytes
  extra = {}
  if scoped:
    extra = dict(scoped_exact=stats["scoped_exact"], scoped_actions=stats["scoped_actions"],
                 scoped_actions_per_byte=stats["scoped_actions"] / n_bytes, name_window=name_window,
                 scoped_refs=stats["scoped_refs"], scoped_refs_beyond_window=stats["scoped_refs_beyond_window"],
                 scoped_names_unplaced=stats["scoped_unplaced"],
                 scoped_file_actions_per_byte=stats["scoped_file_actions"] / n_bytes,
                 scoped_constraint_violations=stats["scoped_violations"], scoped_ast_equal=stats["scoped_ast_equal"])
  return dict(
      files=stats["files"], parsed=stats["parsed"], exact=stats["exact"], skipped=dict(skipped), **extra,
      bytes=stats["bytes"], actions=stats["actions"], actions_per_byte=stats["actions"] / n_bytes,
      bpe_tokens_per_byte=bpe_per_byte, vocab_size=grammar.vocab_size,
      constraint_violations=violations, ast_checked=stats["ast_checked"], ast_equal=stats["ast_equal"],
      encode_mb_s=stats["bytes"] / 1e6 / max(encode_s, 1e-9), grammar_hash=grammar.hash,
      grammar_files=len(train), grammar_seconds=round(build_s, 2), seconds=round(time.time() - t0, 2),
      failures=failures[:20])


def _scoped_check(path, src: bytes, enc, names: NameScheme, stats, failures) -> None:
  se = names.encode(enc)
  stats["scoped_actions"] += len(se)
  m = ScopedMachine(names)
  try:
    for i, a in enumerate(se.actions):
      if (m.slot(), m.name_count(), m.name_live()) != (se.slots[i], se.name_count[i], se.name_live[i]):
        raise ValueError(f"scoped feature mismatch at {i}")
      m.step(int(a))
  except ValueError as e:
    stats["scoped_violations"] += 1
    failures.append(f"{path} (scoped): {e}")
    return
  out = m.output()
  if out != src:
    failures.append(f"{path} (scoped): decoded bytes differ")
    return
  stats["scoped_exact"] += 1
  rep = window_report(names, se.actions, se.slots, out)
  for k in ("refs", "refs_beyond_window", "unplaced"):
    stats["scoped_" + k] += rep[k]
  if names.g.language == "python":
    d = _ast_dump(src)
    stats["scoped_ast_equal"] += d is not None and d == _ast_dump(out)
