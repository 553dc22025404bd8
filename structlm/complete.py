"""Next-line completion on held-out files, both variants, from exactly the same context.

Cursors: the starts of top-level statements (not the first, not the last) of the split's files, a fixed seeded
selection. Each model sees the file's text before the cursor and writes the cursor's line greedily; we score
exact match and edit similarity (difflib's ratio) of that line against the file's.

The token model continues the BPE ids of the text before the cursor (encoded on their own, so nothing after the
cursor shapes them). The structured model continues from the constraint state that the file's own action
sequence reaches right after the module segment that holds the statement at the cursor: every action of the
earlier statements, nothing of the layout before the statement (whose encoding depends on the statement's kind)
nor of the statement itself; so it writes the gap before the line too. A model's guess is the first non-blank
line it writes after its context. `structured_prefix` finds that point; a test checks that it is the same for two files that
agree before the cursor and differ after it (no look-ahead).
"""
from __future__ import annotations

import difflib

import numpy as np

from structlm.data.pipeline import open_split
from structlm.generate import LoadedRun, continue_ids
from structlm.syntax import languages
from structlm.syntax.codec import Encoded
from structlm.syntax.grammar import LAYOUT_C_RAW, LAYOUT_DEFAULT, LAYOUT_RAW
from structlm.syntax.machine import Machine, SlotTable

COMMENT_KINDS = ("comment",)


def statement_starts(source: bytes, language: str) -> tuple[list[int], str]:
  """Byte offsets of the top-level statements (comments are layout, not statements), and the root's kind."""
  root = languages.parser(language).parse(source).root_node
  return [c.start_byte for c in root.named_children if c.type not in COMMENT_KINDS], root.type


def structured_prefix(g, table, actions, statement: int, root_kind: str = "module") -> int | None:
  """The number of actions up to the module segment that holds statement `statement` (0-based, top level). None when that statement is not preceded by a continuing module
  segment (the first or last statement, or a short module written with a fixed rule)."""
  m = Machine(g, table=table)
  seen = -1
  seg_before = False
  after_seg = 0
  for i, a in enumerate(actions):
    a = int(a)
    top = len(m.frames) == 2 and m.sub is None
    layout = a in (LAYOUT_DEFAULT, LAYOUT_RAW, LAYOUT_C_RAW) or g.layout_base <= a < g.rule_base
    module_seg = g.seg_base <= a < g.open_base and g.segs[a - g.seg_base][0] == root_kind
    opener = (g.rule_base <= a < g.open_base or g.open_base <= a < g.lit_base) and not module_seg
    if top and module_seg:
      seg_before = not g.segs[a - g.seg_base][3]  # a module segment that is not the last
      after_seg = i + 1
    elif top and opener and not layout:
      seen += 1  # a statement opens here
      if seen == statement:
        return after_seg if seg_before and statement > 0 else None
      seg_before = False
    m.step(a)
  return None


def cursors(run: LoadedRun, split: str = "test", n: int = 50, seed: int = 0) -> list[dict]:
  """A fixed, seeded set of cursors: {path, source, cursor (byte), statement, k (structured prefix length)}."""
  source_split, _ = open_split(run.data["dataset_dir"], split)
  g = run.vocab.grammar
  table = run.table or SlotTable(g)  # a token run picks the same cursors through the dataset's grammar
  cands = []
  for i in range(len(source_split)):
    ex = source_split[i]  # the dataset holds both encodings of the same bytes
    text = run.vocab.source(ex["tokens"])
    starts, root_kind = statement_starts(text, g.language)
    actions, slots = np.asarray(ex["actions"]), np.asarray(ex["slots"])
    for s in range(1, len(starts) - 1):
      cands.append((i, s, text, starts[s], actions, slots, root_kind))
  rng = np.random.default_rng(seed)
  out = []
  for j in rng.permutation(len(cands)):
    i, s, text, c, actions, slots, root_kind = cands[j]
    k = structured_prefix(g, table, actions, s, root_kind)
    if k is None:
      continue
    out.append(dict(doc=i, statement=s, source=text, cursor=c, k=k, actions=actions, slots=slots))
    if len(out) == n:
      break
  return out


def line_at(text: bytes, start: int) -> bytes:
  end = text.find(b"\n", start)
  return text[start:] if end < 0 else text[start:end]


def complete(run: LoadedRun, split: str = "test", n: int = 50, max_len: int = 48, seed: int = 0) -> dict:
  """Greedy next-line completion at `n` cursors: exact match and mean edit similarity, with the cases."""
  cases = []
  for c in cursors(run, split, n, seed):
    src, cur = c["source"], c["cursor"]
    target = line_at(src, cur)
    if run.structured:
      ids = c["actions"][:c["k"]]
      if run.variant.refs:  # the same prefix with its repeated names as REFs (the prefix ends between leaves)
        zeros = np.zeros(len(ids), np.int32)
        ids = run.vocab.names.encode(Encoded(ids, c["slots"][:c["k"]], zeros, zeros)).actions
      ids = [int(a) for a in ids]
      m = run.variant.machine(run.vocab)
      m.feed(ids, check=False)
      known = len(m.output())  # the text before the gap: the model writes the gap (layout) itself
    else:
      ids = run.vocab.tokens.encode(src[:cur].decode("utf-8")).ids
      known = cur
    out = continue_ids(run, 1, ids, 0.0, 1.0, max_len, seed)[0].text
    guess = line_at(out[known:].lstrip(b"\r\n"), 0)  # the first line it writes that is not blank
    cases.append(dict(cursor=cur, doc=c["doc"], target=target.decode("utf-8", "replace"),
                      guess=guess.decode("utf-8", "replace"),
                      exact=guess == target, similarity=difflib.SequenceMatcher(None, guess, target).ratio()))
  return dict(cursors=len(cases), exact_match=float(np.mean([x["exact"] for x in cases])) if cases else 0.0,
              edit_similarity=float(np.mean([x["similarity"] for x in cases])) if cases else 0.0, cases=cases)
