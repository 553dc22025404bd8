"""The constraint machine: decodes actions to bytes and knows, at every step, which actions are valid.

State: a stack of frames (the nodes being built), the *pending* run (gaps and implied literals between the
last content action and the next one), and the current choice point. Every choice point has a slot id; in
training mode the valid actions depend on the slot id alone (`mask_table()` is the [num_slots, vocab] table).

Strict mode (generation) narrows this with state the slot does not hold: only observed productions and segment
successions, leaf texts from the slot's lexicon, default layout, no comments and no generic fallback, and a
length cap after which only the actions that close the program soonest are allowed. Walking it with any choice
of valid actions gives source tree-sitter parses without errors.
"""
from __future__ import annotations


import numpy as np

from structlm.syntax import layout
from structlm.syntax.grammar import (CLOSE, EOF, LAYOUT_C_RAW, LAYOUT_DEFAULT, LAYOUT_RAW, PAD, START,
                                     ActionGrammar, advance_brackets, head_of, prev_marker)
from structlm.syntax.strict import StrictMask

# A hole's slot key: (parent kind, field, the parent's first literal, the literal right before the hole).
ROOT_KEY = ("#root", None, None, None)
UNK_KEY = ("#unk", None, None, None)


def kind_allowed(g: ActionGrammar, key, kind: str) -> bool:
  """May a node of `kind` fill the hole `key` as a rule or segments (else it takes the generic form)?"""
  return key == UNK_KEY or key not in g.slot_kinds or kind in g.slot_kinds[key]


class InvalidAction(ValueError):
  pass


class SlotTable:
  """Slot ids and training-mode masks of a grammar (shared by all machines of that grammar)."""

  def __init__(self, g: ActionGrammar):
    self.g = g
    keys = []
    hole_keys = sorted(set(g.slot_kinds) | {ROOT_KEY, UNK_KEY}, key=repr)
    for k in hole_keys:
      keys += [("hole", k, False), ("hole", k, True)]
    for kind in sorted(g.segs_by_kind):
      keys += [("seg", kind, False), ("seg", kind, True)]
    keys += [("gen", None, False), ("gen", None, True), ("eof", None, False), ("eof", None, True),
             ("leaf", None, False), ("comment", None, False), ("raw", None, False)]
    self.keys = keys
    self.index = {k: i for i, k in enumerate(keys)}
    self.num_slots = len(keys)
    self._rows: dict[int, np.ndarray] = {}
    self._strict: StrictMask | None = None

  def slot(self, kind: str, key, flag: bool) -> int:
    i = self.index.get((kind, key, flag))
    if i is None:
      i = self.index[(kind, UNK_KEY, flag)]
    return i

  @property
  def strict(self) -> StrictMask:
    """Strict mode's narrowing, with caches that depend on the grammar only: shared by all machines."""
    if self._strict is None:
      self._strict = StrictMask(self.g)
    return self._strict

  def row(self, slot: int) -> np.ndarray:
    r = self._rows.get(slot)
    if r is None:
      r = self._rows[slot] = self._make_row(self.keys[slot])
    return r

  def mask_table(self) -> np.ndarray:
    return np.stack([self.row(i) for i in range(self.num_slots)])

  def _make_row(self, key) -> np.ndarray:
    g = self.g
    m = np.zeros(g.vocab_size, bool)
    kind, hole, flag = key
    if flag:
      m[[LAYOUT_DEFAULT, LAYOUT_RAW, LAYOUT_C_RAW]] = True
      m[g.layout_base:g.rule_base] = True
    if kind == "hole":
      if hole == UNK_KEY:
        m[g.rule_base:g.seg_base] = True
        for s in g.seg_first:
          m[g.seg_base + s] = True
      else:
        for k in g.slot_kinds.get(hole, ()):
          m[g.starts_by_kind.get(k, [])] = True
      m[g.open_base:g.lit_base] = True
      m[g.piece_base:] = True
    elif kind == "seg":
      for s in g.segs_by_kind[hole]:
        m[g.seg_base + s] = True
    elif kind == "gen":
      m[g.lit_base:g.piece_base] = True
      m[CLOSE] = True
    elif kind == "eof":
      m[EOF] = True
    else:  # leaf, comment, raw: pieces
      m[g.piece_base:] = True
    return m


class Frame:
  """A node being built. t: rule / seg / gen / root / hole (a generic child hole being filled)."""
  __slots__ = ("t", "kind", "id", "idx", "base", "head", "first", "action", "brackets", "prev", "n", "kids", "names")

  def __init__(self, t, kind=None, id=-1, base=b"", head=None, action=PAD):
    self.t, self.kind, self.id, self.base, self.head, self.action = t, kind, id, base, head, action
    self.idx, self.first, self.brackets, self.prev, self.n = 0, True, b"", START, 0
    self.kids: list = []  # (kind, action) of each child begun so far (strict mode's placement rules read them)
    self.names: set = set()  # names strict mode's placement rules file here (a parameter list's names)


class Machine:
  """Feed actions with `step`; `mask()` gives the valid next actions; `output()` the decoded bytes."""

  def __init__(self, g: ActionGrammar, *, strict: bool = False, max_len: int | None = None,
               table: SlotTable | None = None):
    self.g = g
    self.table = table or SlotTable(g)
    self.strict = strict
    self.max_len = max_len
    self.out = bytearray()
    self.frames: list[Frame] = [Frame("root")]
    self.owner: Frame | None = None  # the frame whose hole is the current choice
    self.owner_field = None
    self._leaf_owner = (None, None)  # (frame, field) of the leaf being spelled
    # pending run: ["l", text] literals and ["g", default class, base, written parts, closed] gaps. Layout
    # actions fill the gaps from the last one (next to the coming content) backwards.
    self.pending: list = [["g", g.root_defaults[0], b"", [], False, None]]
    self.sub = None  # "leaf" / "comment" / "raw" while pieces are being read
    self.sub_text = bytearray()
    self.sub_key = None
    self.steps = 0
    self.done = False
    self.choice = ("hole", ROOT_KEY)


  # ---- features ------------------------------------------------------------------------------------------------
  def has_pending_gap(self) -> bool:
    return any(e[0] == "g" and not e[4] for e in self.pending)

  def slot(self) -> int:
    if self.sub is not None:
      return self.table.index[(self.sub, None, False)]
    kind, key = self.choice
    return self.table.slot(kind, key, self.has_pending_gap())

  def depth(self) -> int:
    return len(self.frames) - 1

  def parent(self) -> int:
    for f in reversed(self.frames):
      if f.t in ("rule", "seg", "gen"):
        return f.action
    return PAD

  # ---- masks ---------------------------------------------------------------------------------------------------
  def mask(self) -> np.ndarray:
    if self.done:
      return np.zeros(self.g.vocab_size, bool)
    m = self.table.row(self.slot())
    if not self.strict:
      return m
    return self.table.strict.narrow(self, m)  # a new array (the table's row is shared)

  def forced(self) -> bool:
    """Past the length cap: only the actions that close the program soonest."""
    return self.max_len is not None and self.steps >= self.max_len

  # ---- stepping ------------------------------------------------------------------------------------------------
  def step(self, a: int, check: bool = True) -> None:
    """Apply action `a`; check=False skips the mask test (for a caller that chose `a` from `mask()` already)."""
    if self.done:
      raise InvalidAction(f"action {a} after EOF")
    if check and not self.mask()[a]:
      raise InvalidAction(f"action {self.action_name(a)} is not valid at slot {self.table.keys[self.slot()]}")
    self.steps += 1
    self._apply(a)

  def action_name(self, a: int) -> str:
    return self.g.action_name(a)

  def feed(self, actions, check: bool = True) -> bytes:
    """Apply actions (checking each against the mask unless check=False) and return the decoded bytes."""
    if check:
      for a in actions:
        self.step(int(a))
    else:
      for a in actions:
        self.steps += 1
        self._apply(int(a))
    return self.output()

  def output(self) -> bytes:
    return bytes(self.out)

  def _apply(self, a: int) -> None:
    g = self.g
    if self.sub is not None:  # a piece
      p = a - g.piece_base
      self.sub_text += g.piece_bytes[p]
      if g.piece_final[p]:
        self._end_sub()
      return
    if a == LAYOUT_DEFAULT or g.layout_base <= a < g.layout_c_base or a == LAYOUT_RAW:
      if a == LAYOUT_RAW:
        self._begin_sub("raw")
        return
      gap = self._target_gap()
      cls = gap[1] if a == LAYOUT_DEFAULT else a - g.layout_base
      gap[3].append(layout.render(g.layout_keys[cls], gap[2]))
      gap[4] = True
      return
    if g.layout_c_base <= a < g.rule_base:
      gap = self._target_gap()
      gap[3].append(layout.render(g.layout_keys[a - g.layout_c_base], gap[2]))
      self._begin_sub("comment")
      return
    if a == LAYOUT_C_RAW:
      self._begin_sub("raw_c")
      return
    # content actions resolve every pending gap with its default
    kind, key = self.choice
    self._flush(self._child_kind(a) if kind == "hole" else None)
    if kind == "eof":
      self.done = True
      return
    if kind == "hole":
      if a >= g.piece_base:
        self._leaf_owner = (self.owner, self.owner_field)
        if self.strict:  # the lexicon strict mode spells this leaf from (structlm/syntax/placement.py)
          key = self.table.strict.placement.leaf_key(self, key)
        self._filled("#leaf", a)
        self._begin_sub("leaf", key)
        self._apply(a)
        return
      base = layout.line_indent(self.out, len(self.out))
      if a < g.seg_base:
        r = a - g.rule_base
        kind_, items = g.rules[r]
        self._filled(kind_, a)
        self.frames.append(Frame("rule", kind_, r, base, head_of(items), a))
      elif a < g.open_base:
        s = a - g.seg_base
        self._filled(g.segs[s][0], a)
        self.frames.append(Frame("seg", g.segs[s][0], s, base, head_of(g.segs[s][2]), a))
      else:
        self._filled(g.kinds[a - g.open_base], a)
        self.frames.append(Frame("gen", g.kinds[a - g.open_base], -1, base, None, a))
    elif kind == "seg":
      f = self.frames[-1]
      f.id, f.idx, f.first, f.action = a - g.seg_base, 0, False, a
    elif kind == "gen":
      f = self.frames[-1]
      if a == CLOSE:
        self.frames.pop()
      elif a < g.field_base:
        text = g.literals[a - g.lit_base]
        if f.n:
          self.pending.append(["g", g.generic_default, f.base, [], False, None])
        else:
          f.head = text
        self.pending.append(["l", text])
        f.n += 1
        f.prev = text
      else:
        if f.n:
          self.pending.append(["g", g.generic_default, f.base, [], False, None])
        f.n += 1
        self._hole(f, g.fields[a - g.field_base])
        self.frames.append(Frame("hole"))
        return
    self._advance()

  def _hole(self, f: Frame, field) -> None:
    self.choice = ("hole", (f.kind, field, f.head, prev_marker(f.prev, field)))
    self.owner, self.owner_field = f, field

  def _filled(self, child_kind: str, a: int) -> None:
    if self.owner is not None:
      self.owner.prev = (self.owner_field, child_kind)
      if self.strict:  # (read only by strict mode's placement rules)
        self.owner.kids.append((child_kind, a))
      self.owner = None

  def _target_gap(self):
    """The gap layout actions set now: the last one not yet closed."""
    for e in reversed(self.pending):
      if e[0] == "g" and not e[4]:
        return e
    raise InvalidAction("no pending gap")

  def _child_kind(self, a: int) -> str:
    g = self.g
    if a >= g.piece_base:
      return "#leaf"
    if a < g.seg_base:
      return g.rules[a - g.rule_base][0]
    if a < g.open_base:
      return g.segs[a - g.seg_base][0]
    return g.kinds[a - g.open_base]

  def _flush(self, child: str | None = None) -> None:
    """Write the pending run; an open gap right before a hole's content may default by the child's kind."""
    g = self.g
    last = len(self.pending) - 1
    for i, e in enumerate(self.pending):
      if e[0] == "l":
        self.out += e[1]
      else:
        self.out += b"".join(e[3])
        if not e[4]:
          cls = e[1]
          if i == last and e[5] is not None and child is not None:
            cls = e[5].get(child, cls)
          self.out += layout.render(g.layout_keys[cls], e[2])
    self.pending.clear()

  def leaf_offset(self) -> int:
    """Where a leaf would begin if the next action started one: the bytes written plus the pending run with its
    open gaps at their defaults (the last by a leaf's kind). Inside a leaf: its start. A function of the prefix
    (the C decoder's `leaf_offsets` gives the same)."""
    at = len(self.out)
    if self.sub == "leaf" or self.done:
      return at
    g, last = self.g, len(self.pending) - 1
    for i, e in enumerate(self.pending):
      if e[0] == "l":
        at += len(e[1])
        continue
      at += sum(map(len, e[3]))
      if not e[4]:
        cls = e[1]
        if i == last and e[5] is not None and self.choice[0] == "hole":
          cls = e[5].get("#leaf", cls)
        at += len(layout.render(g.layout_keys[cls], e[2]))
    return at

  def _begin_sub(self, sub: str, key=None) -> None:
    self.sub = "raw" if sub == "raw_c" else sub
    self.sub_mode = sub
    self.sub_key = key
    self.sub_text = bytearray()

  def _end_sub(self) -> None:
    mode, text = self.sub_mode, bytes(self.sub_text)
    self.sub = None
    if mode == "leaf":
      if self.strict:
        self.table.strict.placement.leaf_done(self, text)
      self.out += text
      self._advance()
    elif mode == "raw":
      gap = self._target_gap()
      gap[3].append(text)
      gap[4] = True
    elif mode == "raw_c":
      self._target_gap()[3].append(text)
      self._begin_sub("comment")
    else:  # comment: the gap goes on
      self._target_gap()[3].append(text)

  def _advance(self) -> None:
    """Walk the templates from the current position to the next choice point, queueing gaps and literals."""
    g = self.g
    while True:
      f = self.frames[-1]
      t = f.t
      if t == "hole":  # a generic child hole has been filled
        self.frames.pop()
        self.choice = ("gen", None)
        return
      if t == "rule" or t == "seg":
        if t == "rule":
          items, defaults, end = g.rules[f.id][1], g.rule_defaults[f.id], True
          kdefs = g.rule_kind_defaults[f.id]
        else:
          _, _, items, end = g.segs[f.id]
          defaults, kdefs = g.seg_defaults[f.id], g.seg_kind_defaults[f.id]
        if f.idx >= len(items):
          if end:
            self.frames.pop()
            continue
          self.choice = ("seg", f.kind)
          return
        i = f.idx
        f.idx += 1
        if i or (t == "seg" and not f.first):
          self.pending.append(["g", defaults[i], f.base, [], False, kdefs.get(i)])
        it = items[i]
        if it[0] == "L":
          self.pending.append(["l", it[1]])
          f.prev = it[1]
          if t == "seg":
            f.brackets = advance_brackets(f.brackets, (it,))
          continue
        self._hole(f, it[1])
        return
      if t == "gen":
        self.choice = ("gen", None)
        return
      if t == "root":
        if f.idx == 0:
          f.idx = 1
          self.pending.append(["g", g.root_defaults[1], b"", [], False, None])
        self.choice = ("eof", None)
        return
      raise AssertionError(t)
