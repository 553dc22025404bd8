"""encode(source) -> actions with per-position tree features; decode(actions) -> bytes.

The encoder mirrors the constraint machine (structlm/syntax/machine.py) without running it: each node becomes
a RULE when its whole production is in the grammar and its kind is allowed at the slot, else SEG elements, else
the generic OPEN/CHILD/CLOSE form. Pending gaps get layout actions only where they differ from the default.
"""
from __future__ import annotations

import bisect
import dataclasses
import sys

import numpy as np

from structlm.syntax import layout
from structlm.syntax import native as native_encoder
from structlm.syntax.build import production_items, split_gap
from structlm.syntax.grammar import (CLOSE, EOF, LAYOUT_C_RAW, LAYOUT_DEFAULT, LAYOUT_RAW, PAD, START,
                                     ActionGrammar, head_of, node_plan, prev_marker)
from structlm.syntax.machine import ROOT_KEY, Machine, SlotTable, kind_allowed
from structlm.syntax.tree import (DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, LEAF, NODE, Parsed, check_source, parse,
                                  strip_comments)


@dataclasses.dataclass
class Encoded:
  actions: np.ndarray  # int32 [n]
  slots: np.ndarray  # int32 [n]: the slot each action fills
  depth: np.ndarray  # int32 [n]
  parent: np.ndarray  # int32 [n]: action id that opened the enclosing node (PAD at top level)

  def __len__(self):
    return len(self.actions)


class Codec:
  """`native`: encode with the C encoder (structlm/syntax/native.py); None: when it is built. The Python encoder
  (native=False, and encode_parsed) is the reference both are tested against."""

  def __init__(self, g: ActionGrammar, native: bool | None = None):
    self.g = g
    self.table = SlotTable(g)
    self._slot_cache: dict = {}
    self.native = native_encoder.available() if native is None else native
    self._native = None
    self._native_decoder = None

  def __getstate__(self):  # the C objects are rebuilt on first use after unpickling (e.g. in a worker)
    return dict(self.__dict__, _native=None, _native_decoder=None)

  def encode(self, source: bytes, *, strip: bool = False, max_bytes: int = DEFAULT_MAX_BYTES,
             max_depth: int = DEFAULT_MAX_DEPTH, parser=None) -> Encoded:
    if strip:
      source = strip_comments(source, self.g.language)
    if not self.native or parser is not None or max_depth > native_encoder.MAX_DEPTH:
      return self.encode_parsed(parse(source, self.g.language, max_bytes=max_bytes, max_depth=max_depth,
                                      parser=parser))
    check_source(source, max_bytes)
    if self._native is None:
      self._native = native_encoder.NativeEncoder(self)
    rows = self._native.encode(source, max_depth)
    return Encoded(rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2].copy(), rows[:, 3].copy())

  def encode_parsed(self, parsed: Parsed) -> Encoded:
    # the encoder recurses a few frames per tree level; parse() already bounded the depth
    need = 4 * parsed.depth + 200
    old = sys.getrecursionlimit()
    if need > old:
      sys.setrecursionlimit(need)
    try:
      return _Encoder(self, parsed).run()
    finally:
      sys.setrecursionlimit(old)

  def decode(self, actions, check: bool = False) -> bytes:
    """Actions -> bytes. check=True also verifies every action against the constraint machine's mask (in
    Python); without it the C decoder decodes when built."""
    if self.native and not check:
      if self._native_decoder is None:
        self._native_decoder = native_encoder.NativeDecoder(self.g)
      a = np.asarray(actions, np.int32)
      return self._native_decoder.decode(a[a != PAD])
    return Machine(self.g, table=self.table).feed((a for a in actions if a != PAD), check=check)

  def slot(self, kind, key, flag) -> int:
    k = (kind, key, flag)
    s = self._slot_cache.get(k)
    if s is None:
      s = self._slot_cache[k] = self.table.slot(kind, key, flag)
    return s


class _Encoder:
  def __init__(self, codec: Codec, parsed: Parsed):
    self.c = codec
    self.g = codec.g
    self.src = parsed.source
    self.comments = parsed.comments
    self.parsed = parsed
    self.out: list = []  # (action, slot, depth, parent)
    # pending gaps: (start, end, default class, position whose line gives the base indentation,
    #                {child kind: default class} for the gap right before a hole, or None)
    self.pending: list = []
    self.depth = 0
    self.parent = [PAD]
    self.comment_starts = [c[0] for c in parsed.comments]
    self._base_cache: dict = {}
    self._slot = codec.slot

  def run(self) -> Encoded:
    root = self.parsed.root
    g = self.g
    self.pending.append((0, root[4], g.root_defaults[0], 0, None))
    self.node(root, ROOT_KEY)
    self.pending.append((root[5], len(self.src), g.root_defaults[1], 0, None))
    self.content(EOF, "eof", None)
    arr = np.asarray(self.out, np.int32).reshape(-1, 4)
    return Encoded(arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy(), arr[:, 3].copy())

  def emit(self, a: int, slot: int) -> None:
    self.out.append((a, slot, self.depth, self.parent[-1]))

  def _base(self, pos: int) -> bytes:
    """Indentation of the line where a node starts (0 stands for the file level, base b"")."""
    if pos == 0:
      return b""
    b = self._base_cache.get(pos)
    if b is None:
      b = self._base_cache[pos] = layout.line_indent(self.src, pos)
    return b

  def _class(self, gap: bytes, pos: int):
    if b"\n" not in gap:
      return self.g.layout_index.get(("flat", gap))
    return self.g.layout_index.get(layout.normalize(gap, self._base(pos)))

  # ---- layout --------------------------------------------------------------------------------------------------
  def content(self, a: int, kind: str, key, child: str | None = None) -> None:
    """Emit the layout actions the pending gaps need, then content action `a` at choice (kind, key); `child`:
    the kind `a` starts in a hole (the gap right before it may default by that kind)."""
    pend = self.pending
    if not pend:
      self.emit(a, self._slot(kind, key, False))
      return
    src, cstarts = self.src, self.comment_starts
    first = -1  # the first gap (in byte order) that is not its default
    parts = []
    n = len(pend)
    for i, (s, e, dflt, pos, kd) in enumerate(pend):
      if kd is not None and i == n - 1 and child is not None:
        dflt = kd.get(child, dflt)
      if cstarts:
        j = bisect.bisect_left(cstarts, s)
        has_comment = j < len(cstarts) and cstarts[j] < e
      else:
        has_comment = False
      if has_comment:
        ws, spans = split_gap(src, s, e, self.comments)
      else:
        ws, spans = (src[s:e],), ()
      cls = self._class(ws[-1], pos)
      parts.append((ws, spans, cls, dflt))
      if first < 0 and (spans or cls != dflt):
        first = i
    consumed = 0
    if first >= 0:
      self._layout(pend, parts, first, kind, key)
      # gaps after `first` were closed; `first` too unless its remainder is its default
      consumed = n - first - (parts[first][2] == parts[first][3])
    # the content action's slot: did a pending gap remain open?
    flag = consumed < len(pend)
    pend.clear()
    self.emit(a, self._slot(kind, key, flag))

  def _layout(self, pend, parts, first, kind, key) -> None:
    """Layout actions set the pending gaps from the last one backwards, down to `first`."""
    g = self.g
    slot_on = self._slot(kind, key, True)
    for i in range(len(pend) - 1, first - 1, -1):
      ws, spans, cls, dflt = parts[i]
      pos = pend[i][3]
      for w, (cs, ce) in zip(ws, spans):
        wc = self._class(w, pos)
        if wc is None:
          self.emit(LAYOUT_C_RAW, slot_on)
          self.pieces(w, "raw")
        else:
          self.emit(g.layout_c_base + wc, slot_on)
        self.pieces(self.src[cs:ce], "comment")
      if i > first or cls != dflt:
        if cls is None:
          self.emit(LAYOUT_RAW, slot_on)
          self.pieces(ws[-1], "raw")
        elif cls == pend[i][2]:  # LAYOUT_DEFAULT means the plain default: the machine cannot know the kind yet
          self.emit(LAYOUT_DEFAULT, slot_on)
        else:
          self.emit(g.layout_base + cls, slot_on)

  def pieces(self, text: bytes, sub: str) -> None:
    slot = self.c.table.index[(sub, None, False)]
    base = self.g.piece_base
    for p in self.g.pieces.encode(text):
      self.emit(base + p, slot)

  # ---- structure -----------------------------------------------------------------------------------------------
  def child(self, ch, key, field):
    """Encode a hole's content; returns what the next hole of the same node sees as its predecessor."""
    if ch[0] == NODE:
      self.node(ch, key)
      return (field, ch[1])
    ids = self.g.pieces.encode(ch[3])
    base = self.g.piece_base
    self.content(base + ids[0], "hole", key, "#leaf")
    if len(ids) > 1:
      slot, depth, parent = self.c.table.index[("leaf", None, False)], self.depth, self.parent[-1]
      self.out.extend((base + p, slot, depth, parent) for p in ids[1:])
    return (field, "#leaf")

  def node(self, n, key) -> None:
    kind = n[1]
    items = production_items(n[3], self.g.closed)
    plan = node_plan(self.g, kind, items) if kind_allowed(self.g, key, kind) else None
    if plan is None:
      self._generic(n, key)
    elif plan[0] == "rule":
      self._rule(n, key, plan[1], items)
    else:
      self._segments(n, key, plan[1], plan[2], items)

  def _rule(self, n, key, r, items) -> None:
    g = self.g
    a = g.rule_base + r
    self.content(a, "hole", key, n[1])
    base = n[4]
    head = head_of(items)
    defaults, kdefs = g.rule_defaults[r], g.rule_kind_defaults[r]
    self.depth += 1
    self.parent.append(a)
    children = n[3]
    prev = START
    for i, (ch, it) in enumerate(zip(children, items)):
      if i:
        self.pending.append((children[i - 1][5], ch[4], defaults[i], base, kdefs.get(i)))
      if it[0] == "H":
        prev = self.child(ch, (n[1], it[1], head, prev_marker(prev, it[1])), it[1])
      else:
        prev = it[1]
    self.depth -= 1
    self.parent.pop()

  def _segments(self, n, key, sids, segs, items) -> None:
    g = self.g
    kind, children = n[1], n[3]
    base = n[4]
    head = head_of(items)
    ci, prev = 0, START
    for j, (sid, (sitems, _)) in enumerate(zip(sids, segs)):
      a = g.seg_base + sid
      if j == 0:
        self.content(a, "hole", key, kind)
        self.depth += 1
        self.parent.append(a)
      else:
        self.content(a, "seg", kind)
        self.parent[-1] = a
      defaults, kdefs = g.seg_defaults[sid], g.seg_kind_defaults[sid]
      for i, it in enumerate(sitems):
        ch = children[ci]
        if ci:
          self.pending.append((children[ci - 1][5], ch[4], defaults[i], base, kdefs.get(i)))
        if it[0] == "H":
          prev = self.child(ch, (kind, it[1], head, prev_marker(prev, it[1])), it[1])
        else:
          prev = it[1]
        ci += 1
    self.depth -= 1
    self.parent.pop()

  def _generic(self, n, key) -> None:
    g = self.g
    kind, children = n[1], n[3]
    a = g.open_base + g.kind_index[kind]
    self.content(a, "hole", key, kind)
    base = n[4]
    self.depth += 1
    self.parent.append(a)
    head, prev = None, START
    for i, ch in enumerate(children):
      # the machine learns what child i is from the CHILD action, so the gap before it is pending after it
      lit = g.literal_index.get(ch[3]) if ch[0] == LEAF else None
      if lit is not None:
        self.content(g.lit_base + lit, "gen", None)
        if i == 0:
          head = ch[3]
      else:
        self.content(g.field_base + g.field_index[ch[2]], "gen", None)
      if i:
        self.pending.append((children[i - 1][5], ch[4], g.generic_default, base, None))
      if lit is None:
        self.depth += 1
        prev = self.child(ch, (kind, ch[2], head, prev_marker(prev, ch[2])), ch[2])
        self.depth -= 1
      else:
        prev = ch[3]
    self.content(CLOSE, "gen", None)
    self.depth -= 1
    self.parent.pop()
