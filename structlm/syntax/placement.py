"""Where a language allows a node beyond what its grammar says: strict (generation) mode's placement rules, so
that samples pass the language's own compiler (CPython's `compile`), not only tree-sitter.

Tree-sitter's grammar is context-free and looser than the language: it takes `return` at module level, `await`
in a plain function, `break` in a loop's `else`, Python 2's `print x`, a positional argument after a keyword one.
At a hole strict mode offers a node only where the open nodes around the hole (the machine's frames, with the
children each has begun) allow it, and at a list's next segment only segments that keep the list legal: all
prefix-computable. The rules were found by measurement (`python -m structlm.syntax.language_check`: random walks of
the strict machine compiled by the language, rejections grouped by kind); docs/generation.md lists them with
what each removed. Training masks are untouched (they describe the data); only generation narrows.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from structlm.syntax import languages

LEAF = "#leaf"


class Open:
  """An open node around the hole: its kind, its production's tag (see `Placement.tag`), the field of its child
  being built (the hole's own field for the innermost), and (kind, tag) of each child it has begun (tag and
  kids computed when a rule asks)."""
  __slots__ = ("kind", "field", "_frame", "_start", "_mask", "_kids")

  def __init__(self, kind, field, frame=None, start=None, mask=None):
    self.kind, self.field, self._frame, self._start, self._mask = kind, field, frame, start, mask
    self._kids = None

  @property
  def tag(self) -> str | None:
    return None if self._mask is None else self._mask.tag_of(self._start)

  @property
  def kids(self) -> tuple:
    if self._kids is None:
      self._kids = () if self._frame is None else tuple((k, self._mask.tag_of(a)) for k, a in self._frame.kids)
    return self._kids


@dataclasses.dataclass(frozen=True)
class Placement:
  tag: Callable  # (kind, production items, ends) -> a tag for productions some rule treats apart, or None
  never: frozenset  # kinds strict mode never starts
  need: dict  # kind or (kind, tag) -> predicate(chain of Open, innermost last) that must hold where it starts
  # list kind -> predicate(the list's Open) that is true when no further child may come (only closing segments)
  closed: dict = dataclasses.field(default_factory=dict)
  seg_tags: frozenset = frozenset()  # tags whose `need` rule also governs continuation segments (it sees the
  #                                   node's ancestors, as when the node started)
  # (kind, tag) -> predicate(chain with the node itself innermost) for its continuation segments of that tag
  seg_need: dict = dataclasses.field(default_factory=dict)
  # list kind -> predicate([the list's Open]) under which segments with literal children (`None`, `True`) are
  # not offered
  no_literal_kids: dict = dataclasses.field(default_factory=dict)
  # owner kind -> (which literal, kinds): the hole may not take those kinds while such a literal is still to come
  # in the owner's production
  before_literal: dict = dataclasses.field(default_factory=dict)
  # owner kind -> kinds its hole may not take while the owner's production has another hole still to come
  last_only: dict = dataclasses.field(default_factory=dict)
  # owner kind -> kinds that must be followed by another child (a bare `*` needs a parameter after it)
  not_last: dict = dataclasses.field(default_factory=dict)
  # container kind -> the only kinds (LEAF: leaf pieces) that may start anywhere inside it
  inside: dict = dataclasses.field(default_factory=dict)
  # owner kind -> (chain, the owner innermost -> the only kinds its hole may take now, or None for any)
  restrict: dict = dataclasses.field(default_factory=dict)
  punct: frozenset = frozenset()  # literals that are punctuation, not children (`,`, `(`)
  # (mask, machine, slot key) -> the lexicon key a leaf at the machine's hole is spelled from
  leaf_key: Callable | None = None
  leaf_done: Callable | None = None  # (mask, machine, text): a leaf is spelled
  taken: Callable | None = None  # (mask, machine) -> names the leaf at the hole may not be (REFs included)
  # chain -> whether a line may break here; strict mode writes default layout, and a child kind whose gap defaults
  # to a line break at this position is not started where the language would end the statement there
  line_break_ok: Callable | None = None
  free_lines: Callable = lambda kind: True  # kind -> its own gaps' line breaks are the language's (a block's)


def fresh_lexicon(mc, key, taken: frozenset):
  """The lexicon key for a name that must not be one of `taken`: the slot's own texts less those, or, when none
  is left, every identifier any slot knows less those (so a small grammar never dead-ends); the slot's own
  when even that is empty."""
  strict = mc.table.strict
  new = ("#fresh", key, taken)
  if new not in strict.extra_lexicons:
    own = [t for t in strict._lexicon(key) if t not in taken]
    if not own:
      every = strict.extra_lexicons.get(("#identifiers",))
      if every is None:  # (the language's names: no keyword, `delete` is a JavaScript property but no name)
        spec = languages.spec(strict.g.language)
        every = strict.extra_lexicons[("#identifiers",)] = sorted(
            {t for lex in strict.g.slot_lexicon.values() for t in lex if t.isascii() and spec.is_name(t)})
      own = [t for t in every if t not in taken] or list(strict._lexicon(key))
    strict.extra_lexicons[new] = own
  return new


def rules_for(language: str) -> Placement | None:
  """The language's placement rules, found through its LanguageSpec (structlm/syntax/languages.py), or None."""
  return languages.provided(language, "placement")


class PlacementMask:
  """Per grammar: the actions each rule governs as masks, so that a choice point is narrowed with array ops."""

  def __init__(self, g, rules: Placement | None = None):
    """`rules`: the language's own (from its LanguageSpec) unless given."""
    self.g = g
    self.rules = r = rules if rules is not None else rules_for(g.language)
    self.rule_tag = [None] * len(g.rules)
    self.seg_tag = [None] * len(g.segs)
    self.checks: list = []  # (actions as a bool mask, predicate or None for never)
    self.check_of = np.full((2, g.vocab_size), -1, np.int32)
    # node kind -> [(its continuation segments of a tag as a bool mask, predicate, whether it sees the node itself)]
    self.seg_checks: dict = {}
    self.hole_items = np.zeros(g.vocab_size, bool)  # segments with a hole (not offered once a list is closed)
    self.seg_mask = np.zeros(g.vocab_size, bool)
    self.seg_mask[g.seg_base:g.open_base] = True
    self.literal_kids = np.zeros(g.vocab_size, bool)  # segments with a literal child (`None`, `True`, ...)
    self.kind_starts: dict = {}
    self.inside: dict = {}
    self.cache: dict = {}  # the rules' own memo (lexicon keys by slot)
    self.line_breaks = {i for i, k in enumerate(g.layout_keys) if isinstance(k[0], bytes) and b"\n" in k[0]}
    self.breaks_line = np.zeros(g.vocab_size, bool)  # productions with a line break in a gap outside their brackets
    if r is None:
      return
    if r.line_break_ok is not None:
      from structlm.syntax.grammar import advance_brackets
      for base, table, defaults in ((g.rule_base, [it for _, it in g.rules], g.rule_defaults),
                                    (g.seg_base, [s[2] for s in g.segs], g.seg_defaults)):
        kinds = [k for k, _ in g.rules] if base == g.rule_base else [s[0] for s in g.segs]
        for i, items in enumerate(table):
          self.breaks_line[base + i] = not r.free_lines(kinds[i]) and any(
              d in self.line_breaks and not advance_brackets(b"", items[:j]) for j, d in enumerate(defaults[i]))
    groups: dict = {}
    for i, (kind, items) in enumerate(g.rules):
      self.rule_tag[i] = r.tag(kind, items)
      groups.setdefault((kind, self.rule_tag[i]), []).append(g.rule_base + i)
    for i, (kind, _, items, end) in enumerate(g.segs):
      self.seg_tag[i] = r.tag(kind, items, end)
      if i in g.seg_first:
        groups.setdefault((kind, self.seg_tag[i]), []).append(g.seg_base + i)
      self.hole_items[g.seg_base + i] = any(it[0] == "H" for it in items)
      self.literal_kids[g.seg_base + i] = any(it[0] == "L" and it[1] not in r.punct for it in items)
    groups[(LEAF, None)] = list(range(g.piece_base, g.vocab_size))
    self.inside = {}  # container kind -> the start actions allowed inside it
    for container, kinds in r.inside.items():
      ok = np.ones(g.vocab_size, bool)
      ok[g.rule_base:g.open_base] = False
      ok[g.piece_base:] = LEAF in kinds
      for (k, _), actions in groups.items():
        if k in kinds:
          ok[actions] = True
      self.inside[container] = ok
    self.all_starts = {}  # kind -> all its start actions (LEAF: the pieces)
    for (k, _), actions in groups.items():
      self.all_starts.setdefault(k, np.zeros(g.vocab_size, bool))[actions] = True
    # the kinds `before_literal`, `last_only` and `not_last` name (none of them in this grammar: no actions)
    for kinds in [k for _, k in r.before_literal.values()] + list(r.last_only.values()) + list(r.not_last.values()):
      for kind in kinds:
        self.kind_starts[kind] = self.all_starts.get(kind, np.zeros(g.vocab_size, bool))
    for (kind, tag), actions in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
      starts = np.zeros(g.vocab_size, bool)
      starts[actions] = True
      if kind in r.never:
        self.checks.append((starts, None))
        continue
      for key in (kind, (kind, tag)):
        if key in r.need:
          self.checks.append((starts, r.need[key]))
    self.check_of = np.full((2, g.vocab_size), -1, np.int32)  # action -> the checks governing it (at most two)
    for c, (starts, _) in enumerate(self.checks):
      idx = np.flatnonzero(starts)
      row = (self.check_of[0, idx] >= 0).astype(int)
      assert not (self.check_of[1, idx[row == 1]] >= 0).any(), "an action under more than two placement checks"
      self.check_of[row, idx] = c
    seg_rules = [(k, p, False) for k, p in r.need.items() if isinstance(k, tuple) and k[1] in r.seg_tags]
    seg_rules += [(k, p, True) for k, p in r.seg_need.items()]
    for (kind, tag), pred, sees_self in seg_rules:
      segs = np.zeros(g.vocab_size, bool)
      for i in g.segs_by_kind.get(kind, ()):
        segs[g.seg_base + i] = self.seg_tag[i] == tag and i not in g.seg_first
      if segs.any():
        self.seg_checks.setdefault(kind, []).append((segs, pred, sees_self))

  def _line_breaks(self, mc, m: np.ndarray):
    """Drop the child kinds whose default gap here is a line break where no line may break; the chain, if made."""
    f, ok = mc.owner, self.rules.line_break_ok
    if ok is None or f is None or f.t not in ("rule", "seg") or self.rules.free_lines(f.kind):
      return None
    by_kind = (self.g.rule_kind_defaults if f.t == "rule" else self.g.seg_kind_defaults)[f.id].get(f.idx - 1)
    kinds = [k for k, lay in (by_kind or {}).items() if lay in self.line_breaks and k in self.all_starts]
    if not kinds:
      return None
    chain = self.chain(mc)
    if not ok(chain):
      for k in kinds:
        m &= ~self.all_starts[k]
    return chain

  def tag_of(self, a) -> str | None:
    """The tag of the production an action starts (None for leaves and generic nodes)."""
    g = self.g
    if g.rule_base <= a < g.seg_base:
      return self.rule_tag[a - g.rule_base]
    if g.seg_base <= a < g.open_base:
      return self.seg_tag[a - g.seg_base]
    return None

  def chain(self, mc) -> list[Open]:
    """The open nodes around the machine's choice point, outermost first; each one's tag from the action that
    started it (its parent's latest child: a list's frame moves on to each next segment)."""
    frames = [f for f in mc.frames if f.t in ("rule", "seg", "gen", "root")]
    out = []
    for i in range(1, len(frames)):
      f, parent = frames[i], frames[i - 1]
      field = mc.owner_field if i == len(frames) - 1 else (f.prev[0] if isinstance(f.prev, tuple) else None)
      out.append(Open(f.kind, field, f, parent.kids[-1][1] if parent.kids else f.action, self))
    return out

  def narrow_seg(self, mc, m: np.ndarray) -> None:
    """At a list's next segment: keep the segments that keep the list legal (the predicates see the list's
    ancestors, as when the list started; a closed list only closes)."""
    if self.rules is None:
      return
    kind = mc.frames[-1].kind
    r = self.rules
    if (m & self.breaks_line).any() and not r.line_break_ok(self.chain(mc)):
      m &= ~self.breaks_line
    if (kind not in self.seg_checks and kind not in r.closed and kind not in r.no_literal_kids
        and kind not in r.not_last):
      return
    chain = None
    for segs, pred, sees_self in self.seg_checks.get(kind, ()):
      if (m & segs).any():
        chain = self.chain(mc) if chain is None else chain
        if not pred(chain if sees_self else chain[:-1]):
          m &= ~segs
    f = mc.frames[-1]
    last = chain[-1] if chain else Open(f.kind, None, f, None, self)
    if kind in r.closed and r.closed[kind](last):
      m &= ~self.hole_items
    if kind in r.no_literal_kids and r.no_literal_kids[kind]([last]):
      m &= ~self.literal_kids
    kids = f.kids
    if kind in r.not_last and kids and kids[-1][0] in r.not_last[kind]:
      m &= self.hole_items | ~self.seg_mask  # another child must come: only segments with a hole

  def narrow(self, mc, m: np.ndarray) -> None:
    """At a hole: drop the starts of nodes the language does not allow here."""
    if not self.checks:
      return
    chain = self._line_breaks(mc, m)
    if (m & self.breaks_line).any():
      chain = self.chain(mc) if chain is None else chain
      if not self.rules.line_break_ok(chain):
        m &= ~self.breaks_line
    hit = self.check_of[:, np.flatnonzero(m)]
    for c in np.unique(hit[hit >= 0]):
      starts, pred = self.checks[c]
      if pred is not None:
        chain = self.chain(mc) if chain is None else chain
        if pred(chain):
          continue
      m &= ~starts
    for f in mc.frames:
      if f.kind in self.inside:
        m &= self.inside[f.kind]
    if chain is None and mc.owner is not None and mc.owner.kind in self.rules.restrict:
      chain = self.chain(mc)
    f, r = mc.owner, self.rules
    if f is not None and f.kind in r.restrict:
      only = r.restrict[f.kind](chain)
      if only is not None:
        keep = np.zeros_like(m)
        keep[:self.g.rule_base] = True
        for k in only:
          keep |= self.all_starts.get(k, False)
        m &= keep
    if f is not None and (f.kind in r.before_literal or f.kind in r.last_only or f.kind in r.not_last):
      rest = self._rest(f)
      ends = f.t == "rule" or (f.t == "seg" and f.id >= 0 and self.g.segs[f.id][3])
      if ends and not any(it[0] == "H" for it in rest):
        for kind in r.not_last.get(f.kind, ()):
          m &= ~self.kind_starts[kind]
      which, kinds = r.before_literal.get(f.kind, (None, ()))
      if kinds and any(it[0] == "L" and which(it[1]) for it in rest):
        for kind in kinds:
          m &= ~self.kind_starts[kind]
      if any(it[0] == "H" for it in rest) or not ends:  # (a list that goes on may need another child)
        for kind in r.last_only.get(f.kind, ()):
          m &= ~self.kind_starts[kind]

  # ---- leaves ------------------------------------------------------------------------------------------------
  def leaf_key(self, mc, key):
    """The lexicon a leaf at the machine's hole is spelled from (the slot's own unless a rule narrows it). Asked
    twice per leaf (the hole's mask, then the leaf's first piece): the second answer is the first's."""
    if self.rules is None or self.rules.leaf_key is None:
      return key
    at = (mc.owner, len(mc.owner.kids) if mc.owner is not None else -1, key)
    memo = getattr(mc, "_placement_leaf_key", None)
    if memo is None or memo[0] != at:
      memo = mc._placement_leaf_key = (at, self.rules.leaf_key(self, mc, key))
    return memo[1]

  def taken(self, mc) -> frozenset:
    """Names the leaf at the machine's hole may not be, spelled or by reference (a parameter list's so far)."""
    if self.rules is None or self.rules.taken is None:
      return frozenset()
    return self.rules.taken(self, mc)

  def leaf_done(self, mc, text: bytes) -> None:
    if self.rules is not None and self.rules.leaf_done is not None:
      self.rules.leaf_done(self, mc, text)

  def _rest(self, f) -> tuple:
    """The items of frame f's production after the hole being filled."""
    if f.t == "rule":
      return self.g.rules[f.id][1][f.idx:]
    if f.t == "seg" and f.id >= 0:
      return self.g.segs[f.id][2][f.idx:]
    return ()
