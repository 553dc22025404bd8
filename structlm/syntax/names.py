"""The scoped variant's names by reference: the structured action sequence, except that a name already used in
the file is one REF action instead of its pieces.

Scheme: a per-file name table in order of first appearance; `REF i` (i < NAME_REFS) stands for the text of
entry i. Why first appearance and not a recency rank: an entry keeps its index for the whole file, so the model
can match a REF to where the name was first spelled (the `names` input feature carries index + 1 at the final
piece of that spelling and at every REF of it); a recency rank changes at every use, and attention would have to
count. 512 entries cover 97% of the repeated name uses in the stdlib (256: 90%, 1,024: 99.4%); a file's new
names beyond the 512th are spelled every time.

A *name* is a leaf spelled in a hole whose grammar slot admits one of the language's name kinds
(`LanguageSpec.name_kinds`) and whose text looks like a name (`LanguageSpec.is_name`). The encoder and the
decoder both see exactly that (the slot and the text), which makes the scheme lossless, and the encoder emits a
REF whenever one exists, which makes the sequence canonical (one per file).

Features besides the structured ones: `names` (index + 1 as above, else 0: a feature of the action itself, known
once it is read) and `name_count` (table entries complete before the action: REF i is valid only for
i < name_count; a feature of the action being predicted, known from the prefix).
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np

from structlm.syntax import languages
from structlm.syntax import native as native_encoder
from structlm.syntax.codec import Encoded
from structlm.syntax.grammar import ActionGrammar
from structlm.syntax.machine import InvalidAction, Machine, SlotTable

NAME_REFS = 512


@dataclasses.dataclass
class ScopedEncoded(Encoded):
  names: np.ndarray  # int32 [n]: index + 1 at a REF and at the final piece of a name's first spelling, else 0
  name_count: np.ndarray  # int32 [n]: names in the table before this action


def _slow_is_name(pieces, spec, memo: dict, rel: bytes) -> bool:
  """The C transform's question for a text with a non-ASCII piece: relative piece ids -> whether it is a name."""
  text = pieces.decode(np.frombuffer(rel, np.int32).tolist())
  flag = memo.get(text)
  if flag is None:
    flag = memo[text] = spec.is_name(text)
  return flag


class NameScheme:
  """The REF actions of a grammar: ids [ref_base, ref_base + refs) after the grammar's own actions.

  `native`: `encode` with the C transform (structlm/native/names.c); None: when it is built. The numpy
  `encode_reference` is the reference it is tested against."""

  def __init__(self, g: ActionGrammar, table: SlotTable | None = None, refs: int = NAME_REFS,
               native: bool | None = None):
    self.g, self.table, self.refs = g, table or SlotTable(g), refs
    self.native = native_encoder.available() if native is None else native
    self._native = None
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
    self._names_of: dict = {}  # text id -> whether the text is a name
    self._seq_ids: dict = {}  # piece sequence longer than _per_key -> text id (negative)
    self._seq_keys: list = []
    self._bits = max(1, int(g.pieces.size).bit_length())  # bits of a piece id in a packed text id
    self._per_key = max(1, 60 // self._bits)
    # ASCII character classes of the language's name pattern: the first character, the others
    start = {c for c in range(128) if self.spec.is_name(bytes([c]))}
    cont = {c for c in range(128) if self.spec.is_name(b"_z" + bytes([c]))}  # (no keyword starts with _z)
    pbytes = g.piece_bytes
    self._piece_ascii = np.array([all(c < 128 for c in b) for b in pbytes], bool)
    self._piece_cont = np.array([all(c in cont for c in b) for b in pbytes], bool)
    self._piece_start = np.array([bool(b) and b[0] in start and all(c in cont for c in b[1:]) for b in pbytes], bool)
    self._keyword_tids = np.array(sorted(self._pack(g.pieces.encode(k.encode())) for k in self.spec.keywords
                                         if len(g.pieces.encode(k.encode())) <= self._per_key), np.int64)

  def __getstate__(self):
    return dict(self.__dict__, _native=None)

  def _native_refs(self):
    """The C transform, built on first use from this scheme's tables."""
    if self._native is None:
      final = np.asarray(self.g.piece_final, bool)
      flags = (final * 1 | self._piece_ascii * 2 | self._piece_cont * 4 | self._piece_start * 8).astype(int)
      keywords = [self.g.pieces.encode(k.encode()) for k in sorted(self.spec.keywords)]
      self._native = native_encoder.name_refs(dict(
          piece_base=self.g.piece_base, ref_base=self.ref_base, refs=self.refs,
          name_slot=self.name_slot.astype(int).tolist(), piece_flags=flags.tolist(),
          keyword_pieces=[p for k in keywords for p in k], keyword_lengths=[len(k) for k in keywords],
          # (the callback must not hold this scheme: NameRefs is no GC container, a cycle would never be freed)
          slow=functools.partial(_slow_is_name, self.g.pieces, self.spec, self._is_name)))
    return self._native

  def is_name(self, text: bytes) -> bool:
    v = self._is_name.get(text)
    if v is None:
      v = self._is_name[text] = self.spec.is_name(text)
    return v

  def mask_table(self) -> np.ndarray:
    """[num_slots, vocab_size] training-mode table: the grammar's, and REF columns on at name slots (which
    entries exist is the model's `name_count` mask)."""
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

  def _names_among(self, tids: np.ndarray) -> np.ndarray:
    """Whether each text id is a name: from per-piece character classes for ASCII texts of up to `_per_key`
    pieces (a name is a start character, then continuation characters, and not a keyword: the LanguageSpec's
    pattern has that form), else by the pattern itself (memoised)."""
    out = np.zeros(len(tids), bool)
    packed = tids >= 0
    t = tids[packed]
    length = t >> 60
    mask = (1 << self._bits) - 1
    ascii_ok = np.ones(len(t), bool)
    cont_ok = np.ones(len(t), bool)
    for j in range(self._per_key):
      p = (t >> (self._bits * j)) & mask
      used = length > j
      ascii_ok &= ~used | self._piece_ascii[p]
      cont_ok &= ~used | self._piece_cont[p]
    first_ok = self._piece_start[t & mask]
    flags = first_ok & cont_ok & ~np.isin(t, self._keyword_tids)
    out[packed] = flags
    slow = np.flatnonzero(packed)[~ascii_ok].tolist() + np.flatnonzero(~packed).tolist()
    for k in slow:
      out[k] = self._name_of(int(tids[k]))
    return out

  def _name_of(self, tid: int) -> bool:
    """Whether a leaf's text is a name; `tid`: its text id (`_text_ids`; memoised in `_names_of`)."""
    cache = self._names_of
    if len(cache) > 2_000_000:  # bound the memory over a large corpus
      cache.clear()
    cache[tid] = flag = self.is_name(self.g.pieces.decode(self._pieces_of(tid)))
    return flag

  def encode(self, enc: Encoded) -> ScopedEncoded:
    """The structured encoding of a file -> its scoped encoding."""
    if not self.native:
      return self.encode_reference(enc)
    cols = [np.ascontiguousarray(x, np.int32) for x in (enc.actions, enc.slots, enc.depth, enc.parent)]
    try:
      rows = np.frombuffer(self._native_refs().encode(*cols), np.int32).reshape(-1, 6)
    except ValueError as e:
      raise InvalidAction(str(e)) from None
    return ScopedEncoded(*(rows[:, k].copy() for k in range(6)))

  def encode_reference(self, enc: Encoded) -> ScopedEncoded:
    """`encode` in numpy (vectorised over the file's name leaves): the reference the C transform is tested
    against."""
    a = enc.actions
    n = len(a)
    starts, ends = (x.astype(np.int64) for x in self._leaves(a, enc.slots))
    tid = self._text_ids(a, starts, ends)  # equal ids <=> equal texts (a text has one piece sequence)
    uniq, inv = np.unique(tid, return_inverse=True)
    is_name = self._names_among(uniq)[inv]
    starts, ends, tid = starts[is_name], ends[is_name], tid[is_name]
    # the table in order of first appearance: each name's index, and whether this leaf is its first use
    uniq, first, inv = np.unique(tid, return_index=True, return_inverse=True)
    rank = np.empty(len(uniq), np.int64)
    rank[np.argsort(first)] = np.arange(len(uniq))
    index = rank[inv]
    is_first = first[inv] == np.arange(len(tid))
    new = is_first & (index < self.refs)
    ref = ~is_first & (index < self.refs)
    ref_at, ref_end, ref_id, new_end = starts[ref], ends[ref], index[ref], ends[new]
    out = a.copy()
    names = np.zeros(n, np.int32)
    out[ref_at] = self.ref_base + ref_id
    names[ref_at] = ref_id + 1
    names[new_end] = index[new] + 1
    grow = np.zeros(n + 1, np.int32)
    grow[new_end + 1] = 1
    count = np.cumsum(grow[:n], dtype=np.int32)
    # a REF's other pieces go: +1 after its first piece, -1 after its last
    drop = np.bincount(ref_at + 1, minlength=n + 1) - np.bincount(ref_end + 1, minlength=n + 1)
    keep = np.cumsum(drop[:n]) == 0
    return ScopedEncoded(out[keep], enc.slots[keep], enc.depth[keep], enc.parent[keep], names[keep], count[keep])

  def _text_ids(self, a: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """An exact int64 id per leaf, equal ids <=> equal piece sequences (<=> equal texts): up to `_per_key` piece
    ids packed with the length in bits 60-62; a longer leaf gets a negative id from a scheme-wide table."""
    length = ends - starts + 1
    tid = length << 60
    last = len(a) - 1
    for j in range(self._per_key):
      p = a[np.minimum(starts + j, last)].astype(np.int64) - self.g.piece_base
      tid |= np.where(length > j, p, 0) << (self._bits * j)
    long = np.flatnonzero(length > self._per_key)
    if len(long):
      al, seqs = a.tolist(), self._seq_ids
      ids = []
      for st, en in zip(starts[long].tolist(), ends[long].tolist()):
        key = tuple(p - self.g.piece_base for p in al[st:en + 1])
        i = seqs.get(key)
        if i is None:
          if len(seqs) > 1_000_000:  # bound the memory (the ids start again; so does their name cache)
            seqs.clear()
            self._seq_keys.clear()
            self._names_of.clear()
          i = seqs[key] = -1 - len(self._seq_keys)
          self._seq_keys.append(key)
        ids.append(i)
      tid[long] = ids
    return tid

  def _pack(self, pieces) -> int:
    """The text id of a short piece sequence (piece ids relative to piece_base), as `_text_ids` packs it."""
    tid = len(pieces) << 60
    for j, p in enumerate(pieces):
      tid |= p << (self._bits * j)
    return tid

  def _pieces_of(self, tid: int) -> tuple:
    """The piece ids (relative to piece_base) of a text id."""
    if tid < 0:
      return self._seq_keys[-1 - tid]
    mask = (1 << self._bits) - 1
    return tuple((tid >> (self._bits * j)) & mask for j in range(tid >> 60))

  def expand(self, actions, slots) -> np.ndarray:
    """Scoped actions with their slots (as a dataset stores them) -> the structured actions: each REF spelled."""
    a, s = np.asarray(actions, np.int32), np.asarray(slots, np.int32)
    parts, last, table, index = [], 0, [], {}
    for st, en in zip(*(x.tolist() for x in self._leaves(a, s))):
      if a[st] >= self.ref_base:
        i = int(a[st]) - self.ref_base
        if i >= len(table):
          raise InvalidAction(f"REF {i} at position {st}, but the name table holds {len(table)} names")
        parts += [a[last:st], self.spell(table[i])]
        last = st + 1
        continue
      text = self.g.pieces.decode((a[st:en + 1] - self.g.piece_base).tolist())
      if self.is_name(text) and text not in index and len(table) < self.refs:
        index[text] = len(table)
        table.append(text)
    parts.append(a[last:])
    return np.concatenate(parts).astype(np.int32)

  def spell(self, text: bytes) -> np.ndarray:
    return np.asarray(self.g.pieces.encode(text), np.int32) + self.g.piece_base


class ScopedMachine(Machine):
  """The constraint machine with REF actions and the file's name table. `strict=True` also applies the scope
  rules of generation (structlm/syntax/scope_rules.py): a read only of a name bound in a visible scope."""

  def __init__(self, scheme: NameScheme, **kw):
    super().__init__(scheme.g, table=scheme.table, **kw)
    self.scheme = scheme
    self.names: list[bytes] = []
    self.index: dict[bytes, int] = {}
    self.last_name = 0  # the `names` feature of the last action applied
    self._name_leaf = False
    self._replaying = False
    self.scopes = None
    if self.strict:
      from structlm.syntax.scope_rules import ScopeTracker
      self.scopes = ScopeTracker(self)

  def name_count(self) -> int:
    return len(self.names)

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
        self.scopes.narrow(m)
      else:
        m[s.ref_base:s.ref_base + len(self.names)] = True
    return m

  def action_name(self, a: int) -> str:
    s = self.scheme
    if a >= s.ref_base:
      return f"REF {a - s.ref_base} (the file's name table holds {len(self.names)} names)"
    return super().action_name(a)

  def _apply(self, a: int) -> None:
    s = self.scheme
    if a >= s.ref_base:
      i = a - s.ref_base
      if i >= len(self.names) or not self.at_name():
        raise InvalidAction(f"REF {i} is not valid here (the name table holds {len(self.names)} names)")
      if self.scopes is not None:
        self.scopes.begin()
        self.scopes.end(self.names[i])
      self._replaying = True
      for p in s.spell(self.names[i]):
        super()._apply(int(p))
      self._replaying = False
      self.last_name = i + 1
      return
    self.last_name = 0
    starts = not self._replaying and s.g.piece_base <= a < s.piece_end and self.at_name()
    if starts:
      self._name_leaf = True
      if self.scopes is not None:
        self.scopes.begin()
    super()._apply(a)
    if starts and self.sub == "leaf" and self.scopes is not None:
      key = self.scopes.spelling_key()
      if key is not None:
        self.sub_key = key
    if self._name_leaf and self.sub is None:  # the name's last piece
      self._name_leaf = False
      text = bytes(self.sub_text)
      if self.scopes is not None:
        self.scopes.end(text)
      if s.is_name(text) and text not in self.index and len(self.names) < s.refs:
        self.index[text] = len(self.names)
        self.names.append(text)
        self.last_name = len(self.names)
