"""The scoped variant's names by reference: the structured action sequence, except that a name spelled recently
enough is one REF action instead of its pieces.

Scheme: every spelling of a name (a leaf at a name slot whose text is a name) enters the file's name table as the
next *serial* and anchors the name at the byte offset where the spelling begins. `REF i` (i < `refs`, a ring
slot: serial mod refs) stands for the name of the newest serial in slot i, and is legal only for the `live`
newest serials: those anchored within the previous `window` bytes of source (the leaf's start minus the
anchor <= window) and among the last `refs`. A name whose last spelling is older is spelled again, which
re-anchors it. `window` = 0: the whole file so far (the `scoped_file` arm). The encoder emits a REF whenever one
is legal, so the sequence is canonical (one per file); the window is in source bytes of the file, so a file's
encoding does not depend on how documents are packed or where a model's row starts.

Serials in a ring (the first design; the `scoped` variant): a serial keeps its REF id while it is live, so the model
can match a REF to where the name was spelled (the `names` input feature carries id + 1 at the final piece of a
spelling and at every REF of it). The legal ids are a contiguous run of the ring, so two numbers per position say
which: `name_count` (serials before the action) and `name_live` (how many of the newest a REF may take there; 0
away from a name hole).

The `recency` numbering (`scoped_recency`, the study's headline scoped variant: lower bits/byte than serials at
equal FLOPs, docs/study.md): the same REFs, but `REF r` is the live name used (spelled or referred to) r-th most
recently, so the legal ids are 0 .. live - 1 (`name_count` = `name_live` there); the `names`
feature still says which serial the name is. Frequent names get small, repeated ids; the rank of a name changes as
others are used.

Offsets come from the prefix alone: before each action, `Machine.leaf_offset()` (the C decoder's
`leaf_offsets`) says where a leaf would begin (the bytes written plus the pending gaps at their defaults). The
encoder, the constraint machine and generation all decide with it.
"""
from __future__ import annotations

import bisect
import dataclasses
import functools

import numpy as np

from structlm.syntax import languages
from structlm.syntax import native as native_encoder
from structlm.syntax.codec import Encoded
from structlm.syntax.grammar import ActionGrammar
from structlm.syntax.machine import InvalidAction, Machine, SlotTable

NAME_REFS = 512
NUMBERINGS = ("serial", "recency")


@dataclasses.dataclass
class ScopedEncoded(Encoded):
  names: np.ndarray  # int32 [n]: REF id + 1 at a REF and at the final piece of a name's spelling, else 0
  name_count: np.ndarray  # int32 [n]: serials (spellings entered) before this action
  name_live: np.ndarray  # int32 [n]: how many of the newest serials a REF may take here (0 off a name hole)


def legal_refs(count, live, refs: int, xp=np):
  """Boolean [..., refs]: REF i is legal where (count - 1 - i) mod refs < live (xp: numpy or jax.numpy)."""
  return xp.mod(xp.asarray(count)[..., None] - 1 - xp.arange(refs), refs) < xp.asarray(live)[..., None]


def _slow_is_name(pieces, spec, memo: dict, rel: bytes) -> bool:
  """The C transform's question for a text with a non-ASCII piece: relative piece ids -> whether it is a name."""
  text = pieces.decode(np.frombuffer(rel, np.int32).tolist())
  flag = memo.get(text)
  if flag is None:
    flag = memo[text] = spec.is_name(text)
  return flag


class NameScheme:
  """The REF actions of a grammar: ids [ref_base, ref_base + refs) after the grammar's own actions.

  `window`: bytes a REF reaches back (0: the whole file). `native`: `encode` with the C transform
  (structlm/native/names.c); None: when it is built. `encode_reference` (Python) is what it is tested against."""

  def __init__(self, g: ActionGrammar, table: SlotTable | None = None, refs: int = NAME_REFS, window: int = 0,
               native: bool | None = None, numbering: str = "serial"):
    if window < 0 or refs < 1:
      raise ValueError(f"name window {window} / refs {refs}: the window is >= 0 bytes (0: whole file), refs >= 1")
    if numbering not in NUMBERINGS:
      raise ValueError(f"numbering {numbering!r}: one of {', '.join(NUMBERINGS)}")
    self.recency = numbering == "recency"
    self.g, self.table, self.refs, self.window = g, table or SlotTable(g), refs, int(window)
    self.native = native_encoder.available() if native is None else native
    self._native = None
    self._decoder = None
    self.ref_base = g.vocab_size
    self.vocab_size = g.vocab_size + refs
    self.spec = languages.spec(g.language)
    kinds = {"#leaf:" + k for k in self.spec.name_kinds}
    self.name_keys = {k for k, v in g.slot_kinds.items() if v & kinds}
    self.name_slot = np.zeros(self.table.num_slots, bool)  # slot id -> a name may fill it
    for key in self.name_keys:
      for flag in (False, True):
        i = self.table.index.get(("hole", key, flag))
        if i is not None:
          self.name_slot[i] = True
    self.piece_end = g.piece_base + g.pieces.size
    self._final = np.asarray(g.piece_final, bool)
    self._is_name: dict[bytes, bool] = {}
    # ASCII character classes of the language's name pattern (the C transform's fast path)
    start = {c for c in range(128) if self.spec.is_name(bytes([c]))}
    cont = {c for c in range(128) if self.spec.is_name(b"_z" + bytes([c]))}  # (no keyword starts with _z)
    pbytes = g.piece_bytes
    self._piece_ascii = np.array([all(c < 128 for c in b) for b in pbytes], bool)
    self._piece_cont = np.array([all(c in cont for c in b) for b in pbytes], bool)
    self._piece_start = np.array([bool(b) and b[0] in start and all(c in cont for c in b[1:]) for b in pbytes], bool)

  def __getstate__(self):
    return dict(self.__dict__, _native=None, _decoder=None)

  def _native_refs(self):
    """The C transform, built on first use from this scheme's tables."""
    if self._native is None:
      final = np.asarray(self.g.piece_final, bool)
      flags = (final * 1 | self._piece_ascii * 2 | self._piece_cont * 4 | self._piece_start * 8).astype(int)
      keywords = [self.g.pieces.encode(k.encode()) for k in sorted(self.spec.keywords)]
      self._native = native_encoder.name_refs(dict(
          piece_base=self.g.piece_base, ref_base=self.ref_base, refs=self.refs, window=self.window,
          name_slot=self.name_slot.astype(int).tolist(), piece_flags=flags.tolist(),
          keyword_pieces=[p for k in keywords for p in k], keyword_lengths=[len(k) for k in keywords],
          # (the callback must not hold this scheme: NameRefs is no GC container, a cycle would never be freed)
          slow=functools.partial(_slow_is_name, self.g.pieces, self.spec, self._is_name)))
    return self._native

  def is_name(self, text: bytes) -> bool:
    v = self._is_name.get(text)
    if v is None:
      if len(self._is_name) > 2_000_000:  # bound the memory over a large corpus
        self._is_name.clear()
      v = self._is_name[text] = self.spec.is_name(text)
    return v

  def live(self, anchors: list, count: int, offset: int) -> int:
    """How many of the newest serials a REF may take at a leaf beginning at `offset`; anchors: each serial's
    offset (increasing)."""
    lo = max(0, count - self.refs)
    if self.window:
      lo = max(lo, bisect.bisect_left(anchors, offset - self.window))
    return count - lo

  def mask_table(self) -> np.ndarray:
    """[num_slots, vocab_size] training-mode table: the grammar's, and REF columns on at name slots (which
    ids are legal is the model's `name_count`/`name_live` mask)."""
    base = self.table.mask_table()
    return np.concatenate([base, np.repeat(self.name_slot[:, None], self.refs, 1)], 1)

  def _leaves(self, actions: np.ndarray, slots: np.ndarray):
    """(start, end) of every leaf spelled or referenced at a name slot, in order (a REF is its own leaf)."""
    a = actions
    is_piece = (a >= self.g.piece_base) & (a < self.piece_end)
    is_ref = a >= self.ref_base
    starts = np.flatnonzero((is_piece | is_ref) & self.name_slot[slots])
    final = is_ref.copy()
    final[is_piece] = self._final[a[is_piece] - self.g.piece_base]
    fin = np.flatnonzero(final)
    k = np.searchsorted(fin, starts)
    if len(starts) and k[-1] >= len(fin):
      raise InvalidAction("the actions end inside a leaf")
    return starts, fin[k]

  def leaf_offsets(self, actions) -> np.ndarray:
    """int32 [n]: before each structured action, where a leaf would begin (Machine.leaf_offset), from the C
    decoder when built."""
    a = np.ascontiguousarray(actions, np.int32)
    if not self.native:
      return self.leaf_offsets_reference(a)
    if self._decoder is None:
      self._decoder = native_encoder.NativeDecoder(self.g)
    return self._decoder.leaf_offsets(a)

  def leaf_offsets_reference(self, actions) -> np.ndarray:
    m = Machine(self.g, table=self.table)
    out = np.zeros(len(actions), np.int32)
    for i, x in enumerate(np.asarray(actions).tolist()):
      out[i] = m.leaf_offset()
      m.step(x, check=False)
    return out

  def encode(self, enc: Encoded) -> ScopedEncoded:
    """The structured encoding of a file -> its scoped encoding."""
    if not self.native:
      return self.encode_reference(enc)
    cols = [np.ascontiguousarray(x, np.int32) for x in (enc.actions, enc.slots, enc.depth, enc.parent)]
    # (the whole-file arm needs no offsets: no decoder pass for it)
    offsets = self.leaf_offsets(cols[0]) if self.window else np.zeros(len(cols[0]), np.int32)
    try:
      rows = np.frombuffer(self._native_refs().encode(*cols, offsets), np.int32).reshape(-1, 7)
    except ValueError as e:
      raise InvalidAction(str(e)) from None
    return self.numbered(ScopedEncoded(*(rows[:, k].copy() for k in range(7))))

  def numbered(self, se: ScopedEncoded) -> ScopedEncoded:
    """The serial encoding in this scheme's numbering: REF ids as recency ranks among the live names (most
    recently used first) and `name_count` = `name_live`, when `recency`."""
    if not self.recency:
      return se
    a, base, refs = se.actions.copy(), self.ref_base, self.refs
    count, live = se.name_count.tolist(), se.name_live.tolist()
    order = []  # serials, most recently used first (dead ones dropped from time to time)
    for p in np.flatnonzero((a >= base) | (se.names > 0)).tolist():
      if a[p] < base:  # the final piece of a spelling: the next serial, used now
        order.insert(0, count[p])
        continue
      c = count[p]
      serial = c - 1 - (c - 1 - (int(a[p]) - base)) % refs
      lo = c - live[p]  # the oldest live serial
      k = order.index(serial)
      a[p] = base + sum(1 for x in order[:k] if x >= lo)
      del order[k]
      order.insert(0, serial)
      if len(order) > 2 * refs:
        order = [x for x in order if x >= lo]
    return ScopedEncoded(a, se.slots, se.depth, se.parent, se.names, se.name_live.copy(), se.name_live)

  def encode_reference(self, enc: Encoded, offsets=None) -> ScopedEncoded:
    """`encode` in Python, one leaf at a time (offsets from the Python machine unless given): the reference the
    C transform is tested against."""
    a, sl, dp, pa = (np.asarray(x).tolist() for x in (enc.actions, enc.slots, enc.depth, enc.parent))
    if offsets is None:
      offsets = self.leaf_offsets_reference(enc.actions) if self.window else np.zeros(len(enc.actions), np.int32)
    off = np.asarray(offsets).tolist()
    leaf_end = dict(zip(*(x.tolist() for x in self._leaves(np.asarray(enc.actions), np.asarray(enc.slots)))))
    rows, anchors, latest, count, i, n = [], [], {}, 0, 0, len(a)
    while i < n:
      live = self.live(anchors, count, off[i]) if self.name_slot[sl[i]] else 0
      e = leaf_end.get(i)
      if e is None:
        rows.append([a[i], sl[i], dp[i], pa[i], 0, count, live])
        i += 1
        continue
      text = self.g.pieces.decode([x - self.g.piece_base for x in a[i:e + 1]])
      name = self.is_name(text)
      serial = latest.get(text) if name else None
      if serial is not None and serial >= count - live:  # a legal REF
        rid = serial % self.refs
        rows.append([self.ref_base + rid, sl[i], dp[i], pa[i], rid + 1, count, live])
        i = e + 1
        continue
      for k in range(i, e + 1):
        rows.append([a[k], sl[k], dp[k], pa[k], 0, count, live if k == i else 0])
      if name:  # a spelling: the next serial, anchored where it begins
        rows[-1][4] = count % self.refs + 1
        latest[text] = count
        anchors.append(off[i])
        count += 1
      i = e + 1
    arr = np.asarray(rows, np.int32).reshape(-1, 7)
    return self.numbered(ScopedEncoded(*(arr[:, k].copy() for k in range(7))))

  def expand(self, actions, slots) -> np.ndarray:
    """Scoped actions with their slots (as a dataset stores them) -> the structured actions: each REF spelled
    (the newest name in its ring slot; whether the REF was legal there is the machine's check)."""
    a, s = np.asarray(actions, np.int32), np.asarray(slots, np.int32)
    if self.recency:  # a rank names a name only with the window's live set: the machine replays the prefix
      return self._expand_by_machine(a)
    parts, last, ring = [], 0, [None] * self.refs
    count = 0
    for st, en in zip(*(x.tolist() for x in self._leaves(a, s))):
      if a[st] >= self.ref_base:
        i = int(a[st]) - self.ref_base
        if i >= self.refs or ring[i] is None:
          raise InvalidAction(f"REF {i} at position {st}, but no name was spelled for it")
        parts += [a[last:st], self.spell(ring[i])]
        last = st + 1
        continue
      text = self.g.pieces.decode((a[st:en + 1] - self.g.piece_base).tolist())
      if self.is_name(text):
        ring[count % self.refs] = text
        count += 1
    parts.append(a[last:])
    return np.concatenate(parts).astype(np.int32)

  def _expand_by_machine(self, actions: np.ndarray) -> np.ndarray:
    m, out = ScopedMachine(self), []
    for x in actions.tolist():
      if x >= self.ref_base:
        text = dict(m.legal()).get(x - self.ref_base)
        if text is None:
          raise InvalidAction(f"REF {x - self.ref_base} after {len(out)} structured actions: not legal there")
        out.extend(self.spell(text).tolist())
      else:
        out.append(x)
      m.step(x, check=False)
    return np.asarray(out, np.int32)

  def spell(self, text: bytes) -> np.ndarray:
    return np.asarray(self.g.pieces.encode(text), np.int32) + self.g.piece_base


class ScopedMachine(Machine):
  """The constraint machine with REF actions and the file's name table (a ring of serials, as NameScheme
  describes). `strict=True` also applies the scope rules of generation (structlm/syntax/scope_rules.py): a read
  only of a name bound in a visible scope."""

  def __init__(self, scheme: NameScheme, **kw):
    super().__init__(scheme.g, table=scheme.table, **kw)
    self.scheme = scheme
    self.ring: list[bytes | None] = [None] * scheme.refs  # ring slot -> the newest serial's name in that slot
    self.anchors: list[int] = []  # each serial's leaf offset
    self.order: list[int] = []  # recency numbering: serials, most recently used first
    self.count = 0
    self.last_name = 0  # the `names` feature of the last action applied
    self._name_leaf = False
    self._leaf_start = 0
    self._replaying = False
    self._live_at = (-1, 0)  # (steps, live) cache
    self.scopes = None
    if self.strict:
      from structlm.syntax.scope_rules import ScopeTracker
      self.scopes = ScopeTracker(self)

  def name_count(self) -> int:
    return self.name_live() if self.scheme.recency else self.count

  def name_live(self) -> int:
    """How many of the newest serials a REF may take at this point (0 away from a name hole)."""
    if not self.at_name():
      return 0
    if self._live_at[0] != self.steps:
      self._live_at = (self.steps, self.scheme.live(self.anchors, self.count, self.leaf_offset()))
    return self._live_at[1]

  def legal(self) -> list[tuple[int, bytes]]:
    """(REF id, name) of every legal REF here: serials oldest first, or recency ranks from 0."""
    r = self.scheme.refs
    return [(i, self.ring[k % r]) for i, k in self._legal_serials()]

  def _legal_serials(self) -> list[tuple[int, int]]:
    """(REF id, serial) of every legal REF here."""
    lo = self.count - self.name_live()
    if self.scheme.recency:
      if len(self.order) > 2 * self.scheme.refs:  # (past the ring: dead wherever the machine stands)
        self.order = [k for k in self.order if k >= self.count - self.scheme.refs]
      return list(enumerate(k for k in self.order if k >= lo))
    return [(k % self.scheme.refs, k) for k in range(lo, self.count)]

  @property
  def index(self) -> dict[bytes, int]:
    """Name -> the REF id that stands for it here (the legal ones only)."""
    return {t: i for i, t in self.legal()}

  def at_name(self) -> bool:
    return (not self.done and self.sub is None and self.choice[0] == "hole"
            and bool(self.scheme.name_slot[self.slot()]))

  def mask(self) -> np.ndarray:
    s = self.scheme
    m = np.zeros(s.vocab_size, bool)
    m[:s.ref_base] = super().mask()
    if self.scopes is not None and not self.done and self.sub is None and self.choice[0] == "hole":
      self.scopes.narrow_statements(m)
    if self.at_name():
      if self.scopes is not None:  # strict mode
        base = m.copy()
        self.scopes.narrow(m)
        self._not_taken(m)
        if not m.any():  # the scope rules leave no name (a forced close in a `del` target): any legal one
          m = base
          m[[s.ref_base + i for i, _ in self.legal()]] = True
      else:
        m[[s.ref_base + i for i, _ in self.legal()]] = True
    return m

  def _not_taken(self, m: np.ndarray) -> None:
    """Strict mode: no REF to, nor spelling of, a name the language's placement rules refuse here (a parameter
    list's names so far, structlm/syntax/placement.py)."""
    taken = self.table.strict.placement.taken(self)
    if not taken:
      return
    s = self.scheme
    for i, t in self.legal():
      if t in taken:
        m[s.ref_base + i] = False
    pieces = m[s.g.piece_base:s.piece_end]
    if pieces.any():
      ok = np.zeros(s.vocab_size, bool)
      ok[self.table.strict._lexicon_actions(self._spelled_key(taken), b"")] = True
      m[s.g.piece_base:s.piece_end] &= ok[s.g.piece_base:s.piece_end]

  def _spelled_key(self, taken):
    """The lexicon a name spelled here comes from: the scope rules' (or the slot's, as placement narrows it)
    less the names taken."""
    from structlm.syntax.placement import fresh_lexicon
    key = self.scopes.spelling_key_here() or self.table.strict.placement.leaf_key(self, self.choice[1])
    return fresh_lexicon(self, key, taken)

  def action_name(self, a: int) -> str:
    s = self.scheme
    if a >= s.ref_base:
      return (f"REF {a - s.ref_base} (legal here: {sorted(i for i, _ in self.legal())}; the window reaches "
              f"{s.window or 'the whole file'} bytes back)")
    return super().action_name(a)

  def _apply(self, a: int) -> None:
    self._live_at = (-1, 0)
    self._apply_scoped(a)
    self._live_at = (-1, 0)

  def _apply_scoped(self, a: int) -> None:
    s = self.scheme
    if a >= s.ref_base:
      i = a - s.ref_base
      serial = dict(self._legal_serials()).get(i) if self.at_name() else None
      if serial is None:
        raise InvalidAction(f"REF {i} is not legal here (legal: {sorted(j for j, _ in self.legal())})")
      text = self.ring[serial % s.refs]
      if s.recency:
        self.order.remove(serial)
        self.order.insert(0, serial)
      if self.scopes is not None:
        self.scopes.begin()
        self.scopes.end(text)
      self._replaying = True
      for p in s.spell(text):
        super()._apply(int(p))
      self._replaying = False
      self.last_name = serial % s.refs + 1
      return
    self.last_name = 0
    starts = not self._replaying and s.g.piece_base <= a < s.piece_end and self.at_name()
    taken = frozenset()
    if starts:
      self._name_leaf = True
      self._leaf_start = self.leaf_offset()
      if self.scopes is not None:
        self.scopes.begin()
        taken = self.table.strict.placement.taken(self)
        spelled = self._spelled_key(taken) if taken else None
    super()._apply(a)
    if starts and self.sub == "leaf" and self.scopes is not None:
      key = spelled if taken else self.scopes.spelling_key()
      if key is not None:
        self.sub_key = key
    if self._name_leaf and self.sub is None:  # the name's last piece
      self._name_leaf = False
      text = bytes(self.sub_text)
      if self.scopes is not None:
        self.scopes.end(text)
      if s.is_name(text):  # a spelling: the next serial, anchored where it began
        self.ring[self.count % s.refs] = text
        self.anchors.append(self._leaf_start)
        if s.recency:
          self.order.insert(0, self.count)
        self.count += 1
        self.last_name = (self.count - 1) % s.refs + 1



def window_report(scheme: NameScheme, actions, slots, source: bytes) -> dict:
  """Where each REF stands and where its name was last spelled, found again from the decoded `source` (not from
  the encoder's bookkeeping): the scoped actions are expanded and replayed through the plain structured machine,
  whose leaf offsets say where every name leaf begins; each (offset, text) must be a name node of tree-sitter's
  parse of `source`. Counts: refs; refs_beyond_window (a REF whose name's last spelling began more than
  `scheme.window` bytes before it); unplaced (a name leaf tree-sitter does not confirm at that offset)."""
  a, sl = np.asarray(actions, np.int32), np.asarray(slots, np.int32)
  structured = scheme.expand(a, sl).tolist()
  kinds, nodes, stack = set(scheme.spec.name_kinds), set(), [languages.parser(scheme.g.language).parse(source).root_node]
  while stack:
    n = stack.pop()
    if n.type in kinds:
      nodes.add((n.start_byte, source[n.start_byte:n.end_byte]))
    stack.extend(n.children)
  m = Machine(scheme.g, table=scheme.table)
  spelled_at, base = {}, scheme.g.piece_base
  out = dict(refs=0, refs_beyond_window=0, unplaced=0)
  j = prev = 0  # j: position in the structured actions; prev: in the scoped ones
  for st, en in zip(*(x.tolist() for x in scheme._leaves(a, sl))):
    for x in structured[j:j + st - prev]:
      m.step(x, check=False)
    j += st - prev
    at = m.leaf_offset()
    ref = a[st] >= scheme.ref_base
    n_pieces = en - st + 1
    if ref:  # the leaf the REF expanded to: pieces up to a final one
      n_pieces = next(k for k in range(j, len(structured)) if scheme._final[structured[k] - base]) - j + 1
    text = scheme.g.pieces.decode([x - base for x in structured[j:j + n_pieces]])
    for x in structured[j:j + n_pieces]:
      m.step(x, check=False)
    j, prev = j + n_pieces, en + 1
    if not scheme.is_name(text):
      continue
    out["unplaced"] += (at, text) not in nodes
    if ref:
      last = spelled_at.get(text)
      out["refs"] += 1
      out["refs_beyond_window"] += last is None or bool(scheme.window and at - last > scheme.window)
    else:
      spelled_at[text] = at
  return out
