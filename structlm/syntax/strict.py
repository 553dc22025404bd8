"""Strict (generation) mode of the constraint machine: the training mask narrowed with state the slot does not
hold, so that any walk through it gives source that parses.

- holes: only productions and first segments of kinds observed at exactly this slot; leaves only with texts
  from the slot's lexicon (a prefix check over pieces); no layout overrides, comments or generic forms;
- lists: only observed successions of segments, looking a few segments ahead so a walk never paints itself into
  a corner (a statement that nothing may follow cannot be chosen where something must follow);
- past `max_len`, only the actions that close the program soonest (fewest-action costs from a fixed point).
"""
from __future__ import annotations

import bisect
import collections
import math

import numpy as np

from structlm.syntax.grammar import (LAYOUT_C_RAW, LAYOUT_DEFAULT, LAYOUT_RAW, ActionGrammar, prev_marker)
from structlm.syntax.placement import PlacementMask

# Leaf texts longer than this (long docstrings) are not generated in strict mode: a leaf must be finishable
# within the room left after the length cap.
MAX_LEAF_BYTES = 64


class StrictMask:
  def __init__(self, g: ActionGrammar):
    self.g = g
    self.costs = Costs(g)
    self._fill_memo: dict = {}
    self._follow_memo: dict = {}
    self._lex_cache: dict = {}
    self._pbb = None
    self._lp_memo: dict = {}
    self._la_memo: dict = {}
    self.extra_lexicons: dict = {}  # lexicons under keys of their own (structlm/syntax/scope_rules.py)
    self._context = _context_actions(g)
    self.placement = PlacementMask(g)  # where the language allows a node (structlm/syntax/placement.py)
    self._context_ids = np.flatnonzero(self._context[3]) if self._context is not None else None

  def narrow(self, mc, row: np.ndarray) -> np.ndarray:
    """A new mask: the training mask `row` narrowed to what strict mode allows in machine state `mc`."""
    g = self.g
    if mc.sub == "leaf":  # only the lexicon decides (the most frequent state while generating)
      m = np.zeros(len(row), bool)
      prefix = bytes(mc.sub_text)
      if mc.forced():  # past the length cap: finish the shortest lexicon text with this prefix, in long strides
        pieces = self._shortest_finish(mc.sub_key, prefix) or self._lexicon_pieces(mc.sub_key, prefix)
        m[[g.piece_base + p for p in pieces]] = True
      else:
        m[self._lexicon_actions(mc.sub_key, prefix)] = True
      return m
    m = row.copy()
    m[LAYOUT_DEFAULT] = m[LAYOUT_RAW] = m[LAYOUT_C_RAW] = False
    m[g.layout_base:g.rule_base] = False
    m[g.open_base:g.piece_base] = False
    if mc.choice[0] == "hole":
      key = mc.choice[1]
      kinds = g.slot_kinds.get(key, set())
      same_line = _SAME_LINE.get(g.language)
      if same_line is not None and key[3] == same_line[0]:
        kinds = kinds - same_line[1]
      f = mc.owner
      if f is not None and f.t == "seg" and not g.segs[f.id][3] and f.idx == len(g.segs[f.id][2]):
        # the last hole of a segment that does not close: keep the kinds some next segment can follow
        reach = {}
        for k in kinds:
          prev = (mc.owner_field, _kind_of(k))
          d = [self.costs.to_end[t]
               for t in g.seg_next.get(f.id, ()) if self._seg_can_follow(f, t, prev)]
          if d:
            reach[k] = min(d)
        if mc.forced() and reach:  # past the length cap: the kinds that let the node close soonest
          best = min(reach.values())
          reach = {k: v for k, v in reach.items() if v == best}
        kinds = set(reach)
      elif f is not None and f.t == "rule":
        items = g.rules[f.id][1]
        if f.idx < len(items) and items[f.idx] == ("H", mc.owner_field):
          # the next child is a sibling of the same field: its slot must have been seen after this kind
          kinds = {k for k in kinds if self._rule_can_fill(f, f.idx, (mc.owner_field, _kind_of(k)))}
      m[g.rule_base:g.open_base] = False
      for k in kinds:
        m[g.starts_by_kind.get(k, [])] = True
      m[g.rule_base:g.open_base] &= self.costs.finite  # never start a node that cannot be completed
      m[g.piece_base:] = False
      if any(k.startswith("#leaf:") for k in kinds):
        key = self.placement.leaf_key(mc, key)
        pieces = self._lexicon_pieces(key, b"")
        if mc.forced():
          pieces = self._shortest_finish(key, b"") or pieces
        for p in pieces:
          m[g.piece_base + p] = True
      self.placement.narrow(mc, m)
    elif mc.choice[0] == "seg":
      m[g.seg_base:g.open_base] = False
      f = mc.frames[-1]
      nxt = [s for s in g.seg_next.get(f.id, ())  # observed successions that can still close the node
             if self.costs.to_end[s] < math.inf and self._seg_can_follow(f, s, f.prev)]
      same_line = _SAME_LINE.get(g.language)
      if same_line is not None and isinstance(f.prev, tuple) and f.prev[1] in same_line[1]:
        # `class A: x` then `; y` on its line would put y in the class's body
        nxt = [s for s in nxt if g.segs[s][2][:1] != (("L", same_line[0]),)]
      if mc.forced() and nxt:
        best = min(self.costs.to_end[s] for s in nxt)
        nxt = [s for s in nxt if self.costs.to_end[s] == best]
      for s in nxt:
        m[g.seg_base + s] = True
      self.placement.narrow_seg(mc, m)
    if self._context is not None:
      self._in_context(mc, m)
    if mc.forced():
      m = self.costs.cheapest(m)
    return m

  def _in_context(self, mc, m: np.ndarray) -> None:
    """Productions of `kind` with a `field` hole only under `parent`, the others never (see _CONTEXT)."""
    kind, _, parent, every, only = self._context
    if not m[self._context_ids].any():  # the usual case: none of the kind's productions is on offer
      return
    nodes = [f for f in mc.frames if f.t in ("rule", "seg", "gen")]
    if mc.choice[0] == "hole":  # a node starting here has the hole's owner as its parent
      under = nodes[-1].kind if nodes else None
    elif mc.choice[0] == "seg" and nodes and nodes[-1].kind == kind:
      under = nodes[-2].kind if len(nodes) > 1 else None
    else:
      return
    m &= ~(every & ~only) if under == parent else ~only

  def _rule_can_fill(self, f, j: int, prev) -> bool:
    """Whether hole j of rule frame f, after `prev`, and the same-field holes right after it can be filled."""
    memo = self._fill_memo
    mk = (f.id, f.head, j, prev)
    if mk not in memo:
      g = self.g
      items = g.rules[f.id][1]
      field = items[j][1]
      kinds = g.slot_kinds.get((f.kind, field, f.head, prev_marker(prev, field)), ())
      if j + 1 < len(items) and items[j + 1] == ("H", field):
        memo[mk] = any(self._rule_can_fill(f, j + 1, (field, _kind_of(k))) for k in kinds)
      else:
        memo[mk] = bool(kinds)
    return memo[mk]

  def _seg_can_follow(self, f, s: int, prev, depth: int = 3) -> bool:
    """Whether segment s, after `prev`, reaches a hole with observed contents and -- unless s closes the node
    -- some content of it lets a further segment follow (looking `depth` segments ahead)."""
    memo = self._follow_memo
    mk = (f.kind, f.head, s, prev, depth)
    if mk in memo:
      return memo[mk]
    g = self.g
    ok = True
    for it in g.segs[s][2]:
      if it[0] == "L":
        prev = it[1]
        continue
      kinds = g.slot_kinds.get((f.kind, it[1], f.head, prev_marker(prev, it[1])), ())
      if g.segs[s][3] or depth == 0:
        ok = bool(kinds)
      else:
        nxt = g.seg_next.get(s, ())
        ok = any(self._seg_can_follow(f, t, (it[1], _kind_of(k)), depth - 1)
                 for k in kinds for t in nxt)
      break
    memo[mk] = ok
    return ok

  def _lexicon_actions(self, key, prefix: bytes) -> np.ndarray:
    """`_lexicon_pieces` as an index array of action ids (memoised with it)."""
    memo = self._la_memo
    hit = memo.get((key, prefix))
    if hit is None:
      if len(memo) > 200_000:
        memo.clear()
      hit = memo[(key, prefix)] = np.fromiter(
          (self.g.piece_base + p for p in self._lexicon_pieces(key, prefix)), np.int64)
    return hit

  def _lexicon_pieces(self, key, prefix: bytes):
    """Pieces p such that prefix+p stays a prefix of (or, for final pieces, equals) a lexicon text."""
    memo = self._lp_memo
    hit = memo.get((key, prefix))
    if hit is None:
      if len(memo) > 200_000:  # generation revisits the same leaf prefixes; bound the memory anyway
        memo.clear()
      hit = memo[(key, prefix)] = frozenset(self._lexicon_pieces_uncached(key, prefix))
    return hit

  def _lexicon_pieces_uncached(self, key, prefix: bytes):
    lex = self._lexicon(key)
    out = set()
    i = bisect.bisect_left(lex, prefix)
    n = len(prefix)
    by_bytes = self._piece_by_bytes()
    if i < len(lex) and lex[i] == prefix and prefix:
      end_only = by_bytes.get(b"", (None, None))[1]  # the lone end-of-leaf piece
      if end_only is not None:
        out.add(end_only)
    while i < len(lex) and lex[i].startswith(prefix):
      t = lex[i]
      for k in range(n + 1, len(t) + 1):
        ids = by_bytes.get(t[n:k])
        if ids is None:
          continue
        nonfinal, final = ids
        if k == len(t) and final is not None:
          out.add(final)
        if nonfinal is not None:  # at k == len(t) the lone end piece can follow
          out.add(nonfinal)
      i += 1
    return out

  def _shortest_finish(self, key, prefix: bytes) -> set:
    """The one piece that goes furthest toward the shortest lexicon text extending `prefix` (its final piece
    when that text can end now)."""
    lex = self._lexicon(key)
    i = bisect.bisect_left(lex, prefix)
    cands = []
    while i < len(lex) and lex[i].startswith(prefix):
      cands.append(lex[i])
      i += 1
    if not cands:
      return set()
    t = min(cands, key=lambda x: (len(x), x))
    by_bytes = self._piece_by_bytes()
    n = len(prefix)
    if len(t) == n:
      end_only = by_bytes.get(b"", (None, None))[1]
      return {end_only} if end_only is not None else set()
    for k in range(len(t), n, -1):
      nonfinal, final = by_bytes.get(t[n:k], (None, None))
      if k == len(t) and final is not None:
        return {final}
      if nonfinal is not None:
        return {nonfinal}
    return set()

  def _lexicon(self, key):
    cache = self._lex_cache
    lex = cache.get(key)
    if lex is None:
      texts = self.extra_lexicons[key] if key in self.extra_lexicons else self.g.slot_lexicon.get(key, ())
      lex = cache[key] = sorted(t for t in set(texts) if 0 < len(t) <= MAX_LEAF_BYTES)
    return lex

  def _piece_by_bytes(self):
    d = self._pbb
    if d is None:
      d = {}
      for i, (b, f) in enumerate(zip(self.g.piece_bytes, self.g.piece_final)):
        nf, fi = d.get(b, (None, None))
        d[b] = (nf, i) if f else (i, fi)
      self._pbb = d
    return d


# Slot keys know a hole's node but not the node's parent. Where a grammar gives one node kind different children by
# its parent, strict mode tells them apart here: (node kind, a field its children take only under `parent`,
# parent). A Python `match` statement's body is a `block` of `case_clause`s (field `alternative`), like any block.
_CONTEXT = {"python": ("block", "alternative", "match_statement")}
# Statements that cannot share a line with a separator: after `;` (strict mode writes default layout, and the default
# gap after `;` is a space; files that end a line with `;` taught the slot that a loop may follow it), nor before
# one (the statement after the `;` would join the compound statement's body).
_SAME_LINE = {"python": (b";", {"while_statement", "with_statement", "for_statement", "if_statement", "try_statement",
                                "function_definition", "class_definition", "decorated_definition",
                                "match_statement"})}


def _context_actions(g: ActionGrammar):
  """(kind, field, parent, the kind's rule/segment actions, those with a `field` hole) as [vocab] masks, or None."""
  ctx = _CONTEXT.get(g.language)
  if ctx is None:
    return None
  kind, field = ctx[0], ctx[1]
  every, only = np.zeros(g.vocab_size, bool), np.zeros(g.vocab_size, bool)
  for r, (k, items) in enumerate(g.rules):
    if k == kind:
      every[g.rule_base + r] = True
      only[g.rule_base + r] = ("H", field) in items
  for i, (k, _, items, _) in enumerate(g.segs):
    if k == kind:
      every[g.seg_base + i] = True
      only[g.seg_base + i] = ("H", field) in items
  return ctx + (every, only)


def _kind_of(slot_kind: str) -> str:
  """Slot contents are node kinds or "#leaf:<kind>"; a following sibling sees leaves as "#leaf"."""
  return "#leaf" if slot_kind.startswith("#leaf:") else slot_kind


class Costs:
  """Fewest actions that complete each choice in strict mode (fixed point), to force closing past max_len."""

  def __init__(self, g: ActionGrammar):
    self.g = g
    self.relaxed = collections.defaultdict(set)  # (kind, field) -> contents seen in any context
    for (kind, field, _, _), kinds in g.slot_kinds.items():
      self.relaxed[(kind, field)] |= kinds
    inf = math.inf
    self.rule = [inf] * len(g.rules)
    self.seg = [inf] * len(g.segs)
    self.hole: dict = {}
    for _ in range(64):
      changed = False
      for r, (kind, items) in enumerate(g.rules):
        c = 1 + sum(self._hole((kind, it[1])) for it in items if it[0] == "H")
        if c < self.rule[r]:
          self.rule[r], changed = c, True
      for s, (kind, _, items, end) in enumerate(g.segs):
        c = 1 + sum(self._hole((kind, it[1])) for it in items if it[0] == "H")
        if not end:
          c += min((self.seg[t] for t in g.seg_next.get(s, ())), default=inf)
        if c < self.seg[s]:
          self.seg[s], changed = c, True
      if not changed:
        break
    # rules and segments that can be completed at all (a list whose closing segment was pruned cannot)
    self.finite = np.isfinite(np.array(self.rule + self.seg, float))
    # segments still to come before a closing one, along observed successions
    self.to_end = [0 if end else inf for (_, _, _, end) in g.segs]
    for _ in range(len(g.segs)):
      changed = False
      for s, nxt in g.seg_next.items():
        d = 1 + min((self.to_end[t] for t in nxt), default=inf)
        if d < self.to_end[s]:
          self.to_end[s], changed = d, True
      if not changed:
        break

  def _hole(self, kind_field):
    """Cheapest content of a hole of this (kind, field), over all its contexts (a lower bound)."""
    best = math.inf
    g = self.g
    for k in self.relaxed.get(kind_field, ()):
      if k.startswith("#leaf:"):
        best = min(best, 1)
      for r in g.rules_by_kind.get(k, ()):
        best = min(best, self.rule[r])
      for s in g.segs_by_kind.get(k, ()):
        if s in g.seg_first:
          best = min(best, self.seg[s])
    return best

  def cheapest(self, m: np.ndarray) -> np.ndarray:
    g = self.g
    ids = np.flatnonzero(m)
    if len(ids) <= 1:
      return m
    cost = np.full(len(ids), math.inf)
    for j, a in enumerate(ids):
      if a >= g.piece_base:  # finish the leaf, else take the longest piece
        p = a - g.piece_base
        cost[j] = 0 if g.piece_final[p] else 1 + 1 / (1 + len(g.piece_bytes[p]))
      elif g.rule_base <= a < g.seg_base:
        cost[j] = self.rule[a - g.rule_base]
      elif g.seg_base <= a < g.open_base:
        cost[j] = self.seg[a - g.seg_base]
      else:
        cost[j] = 0
    out = np.zeros_like(m)
    out[ids[cost == cost.min()]] = True
    return out
