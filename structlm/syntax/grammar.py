"""The action grammar: every action a structured model can emit, learned from a Language plus training files.

Actions (ids laid out by `ActionGrammar._assign_ids`):
  EOF                      end of file (resolves the trailing layout)
  RULE r                   a whole observed production: node kind -> its ordered children; keywords,
                           punctuation and closed leaves (e.g. string quotes, None) are literals of the rule
  SEG s                    one element of a node built piecewise (TranX-style list): literals then one child
                           hole; a closing segment also carries the trailing literals (End folded in). Later
                           segments are keyed by the node's first literal and its unclosed brackets, so an
                           opening quote or '(' determines how the node may close
  OPEN k / CHILD_LIT t / CHILD_HOLE f / CLOSE
                           the generic form for productions and segments never seen (coverage)
  LAYOUT_DEFAULT, LAYOUT c, LAYOUT_RAW   set the next pending gap (default, class, raw bytes as pieces)
  LAYOUT_C c, LAYOUT_C_RAW               whitespace then a comment (comment text as pieces) inside the gap
  PIECE p                  leaf-text piece (byte-level BPE; a flag marks the last piece of a leaf)

Gaps not set by a layout action take the default stored for their position in the rule or segment, so the
common single space and newline+indent cost nothing.
"""
from __future__ import annotations

import collections
import dataclasses
import hashlib
import json

from etils import epath

from structlm.syntax import layout
from structlm.syntax.pieces import LeafPieces

VERSION = 1
SPECIALS = ("PAD", "EOF", "LAYOUT_DEFAULT", "LAYOUT_RAW", "LAYOUT_C_RAW", "CLOSE")
PAD, EOF, LAYOUT_DEFAULT, LAYOUT_RAW, LAYOUT_C_RAW, CLOSE = range(len(SPECIALS))
FLAT_EMPTY = ("flat", b"")
LEAF_CAPACITIES = ("merges", "total")
BYTE_ALPHABET = 256  # the token BPE's initial alphabet; leaf pieces add the END sentinel (257)
START = b"\x00^"  # "the hole is its node's first child" in slot keys (no literal contains NUL)


@dataclasses.dataclass
class GrammarConfig:
  vocab_size: int = 8192  # the token variant's BPE size this grammar is paired with (see leaf_capacity)
  # "merges" (fair, the default): leaf pieces get as many BPE merges as the token variant's BPE of vocab_size
  # (vocab_size - 256), and the structural actions come on top; "total": the grammar's whole vocabulary is
  # vocab_size and leaf pieces get what the structural actions leave (the equal-total ablation)
  leaf_capacity: str = "merges"
  max_rules: int = 0  # 0: a quarter of vocab_size (2,048 at 8,192)
  max_segments: int = 0  # 0: 3/16 of vocab_size (1,536 at 8,192)
  layout_classes: int = 96
  min_count: int = 8  # productions and segments seen fewer times use the segment or generic forms
  list_rule_max_holes: int = 4  # lists with more children than this always go element by element
  closed_leaf_max_texts: int = 32  # named leaf kinds with at most this many texts become literals
  lexicon_per_slot: int = 400  # leaf texts remembered per slot for strict (generation) mode
  min_leaf_pieces: int = 512

  def __post_init__(self):
    if self.leaf_capacity not in LEAF_CAPACITIES:
      raise ValueError(f"leaf_capacity must be one of {', '.join(LEAF_CAPACITIES)}, not {self.leaf_capacity!r}")
    self.max_rules = self.max_rules or self.vocab_size // 4
    self.max_segments = self.max_segments or self.vocab_size * 3 // 16


def head_of(items) -> bytes | None:
  return items[0][1] if items and items[0][0] == "L" else None


def prev_marker(prev, field):
  """The last part of a hole's slot key, from what precedes the hole in its node: START (nothing), a literal's
  bytes, or (field, kind) of the previous child hole -- kept as b"#kind" when that hole had the same field,
  so list elements know their predecessor (an `else` clause cannot follow a `finally`)."""
  if isinstance(prev, tuple):
    return b"#" + prev[1].encode() if prev[0] == field else None
  return prev


_OPEN, _CLOSE = (b"(", b"[", b"{"), (b")", b"]", b"}")


def advance_brackets(brackets: bytes, items) -> bytes:
  """Unclosed brackets after the literals of `items` (keys later segments of a node to how it opened)."""
  for it in items:
    if it[0] == "L":
      if it[1] in _OPEN:
        brackets += it[1]
      elif it[1] in _CLOSE and brackets:
        brackets = brackets[:-1]
  return brackets


def segments_of(items) -> list[tuple[tuple, bool]]:
  """Split a production's items into segments, one per child hole (the literals before it, then the hole).
  The last segment also takes the trailing literals and closes the node (end=True): the End of the list is
  folded into its last element. A production without holes is one closing segment of literals."""
  holes = [i for i, it in enumerate(items) if it[0] == "H"]
  if not holes:
    return [(tuple(items), True)]
  segs, start = [], 0
  for h in holes[:-1]:
    segs.append((tuple(items[start:h + 1]), False))
    start = h + 1
  segs.append((tuple(items[start:]), True))
  return segs


class ActionGrammar:
  """Vocabulary, rules, segments, layout classes, defaults and slot information. JSON round-trips."""

  def __init__(self, data: dict, pieces: LeafPieces):
    self.data = data
    self.language = data["language"]
    self.pieces = pieces
    self.closed = {k: set(texts) for k, texts in data["closed"].items()}
    self.layout_keys = [tuple(k) for k in data["layout"]]
    self.layout_index = {k: i for i, k in enumerate(self.layout_keys)}
    self.rules = [(k, tuple(tuple(it) for it in items)) for k, items in data["rules"]]
    self.rule_defaults = [tuple(d) for d in data["rule_defaults"]]
    # the gap before a child hole may default differently by the child's kind (a blank line before a def)
    self.rule_kind_defaults = [{int(i): v for i, v in d.items()} for d in data["rule_kind_defaults"]]
    self.seg_kind_defaults = [{int(i): v for i, v in d.items()} for d in data["seg_kind_defaults"]]
    self.segs = [(k, None if ctx is None else tuple(ctx), tuple(tuple(it) for it in items), end)
                 for k, ctx, items, end in data["segments"]]
    self.seg_defaults = [tuple(d) for d in data["seg_defaults"]]
    self.seg_first = set(data["seg_first"])
    self.seg_next = {int(a): set(b) for a, b in data["seg_next"].items()}
    self.kinds = list(data["kinds"])
    self.literals = list(data["literals"])
    self.fields = list(data["fields"])
    self.generic_default = data["generic_default"]
    self.root_defaults = tuple(data["root_defaults"])
    self.slot_kinds = {tuple(k): set(v) for k, v in data["slot_kinds"]}
    self.slot_lexicon = {tuple(k): v for k, v in data["slot_lexicon"]}
    self._assign_ids()

  # ---- vocabulary layout -------------------------------------------------------------------------------------
  def _assign_ids(self):
    n = len(SPECIALS)
    L = len(self.layout_keys)
    self.layout_base = n; n += L
    self.layout_c_base = n; n += L
    self.rule_base = n; n += len(self.rules)
    self.seg_base = n; n += len(self.segs)
    self.open_base = n; n += len(self.kinds)
    self.lit_base = n; n += len(self.literals)
    self.field_base = n; n += len(self.fields)
    self.piece_base = n; n += self.pieces.size
    self.vocab_size = n
    self.rule_index = {r: i for i, r in enumerate(self.rules)}
    self.seg_index = {s: i for i, s in enumerate(self.segs)}
    self.kind_index = {k: i for i, k in enumerate(self.kinds)}
    self.literal_index = {t: i for i, t in enumerate(self.literals)}
    self.field_index = {f: i for i, f in enumerate(self.fields)}
    self.rules_by_kind = collections.defaultdict(list)
    for i, (k, _) in enumerate(self.rules):
      self.rules_by_kind[k].append(i)
    self.segs_by_kind = collections.defaultdict(list)
    for i, (k, _, _, _) in enumerate(self.segs):
      self.segs_by_kind[k].append(i)
    # the actions that start a node of each kind: its rules and its first segments
    self.starts_by_kind = {k: [self.rule_base + r for r in self.rules_by_kind.get(k, ())]
                              + [self.seg_base + x for x in self.segs_by_kind.get(k, ()) if x in self.seg_first]
                           for k in set(self.rules_by_kind) | set(self.segs_by_kind)}
    self.piece_final = self.pieces.piece_final
    self.piece_bytes = self.pieces.piece_bytes

  def breakdown(self) -> dict:
    """How the vocabulary is spent: action ids per group, and the leaf pieces' BPE merges."""
    return dict(total=self.vocab_size, specials=len(SPECIALS), layout=2 * len(self.layout_keys),
                rules=len(self.rules), segments=len(self.segs), open_kinds=len(self.kinds),
                literals=len(self.literals), fields=len(self.fields), pieces=self.pieces.size,
                piece_merges=self.pieces.size - (BYTE_ALPHABET + 1),
                leaf_capacity=self.data.get("config", {}).get("leaf_capacity", "total"))

  @property
  def parent_ids(self) -> tuple[int, int]:
    """[start, end) of the actions that can open a node (rules, segments, generic OPEN): the only parents."""
    return self.rule_base, self.lit_base

  def action_name(self, a: int) -> str:
    if a < len(SPECIALS):
      return SPECIALS[a]
    if a < self.layout_c_base:
      return f"LAYOUT {_show_layout(self.layout_keys[a - self.layout_base])}"
    if a < self.rule_base:
      return f"LAYOUT_C {_show_layout(self.layout_keys[a - self.layout_c_base])}"
    if a < self.seg_base:
      k, items = self.rules[a - self.rule_base]
      return f"RULE {k} -> {_show_items(items)}"
    if a < self.open_base:
      k, _, items, end = self.segs[a - self.seg_base]
      return f"SEG{'_END' if end else ''} {k} : {_show_items(items)}"
    if a < self.lit_base:
      return f"OPEN {self.kinds[a - self.open_base]}"
    if a < self.field_base:
      return f"CHILD_LIT {self.literals[a - self.lit_base]!r}"
    if a < self.piece_base:
      return f"CHILD_HOLE {self.fields[a - self.field_base]}"
    p = a - self.piece_base
    return f"PIECE {self.piece_bytes[p]!r}{' (end)' if self.piece_final[p] else ''}"

  # ---- serialisation -----------------------------------------------------------------------------------------
  def to_json(self) -> str:
    body = dict(_encode_json(self.data), pieces=self.pieces.to_json())
    return json.dumps(body, sort_keys=True)

  @property
  def hash(self) -> str:
    return self.data["hash"]

  def save(self, path) -> None:
    """Local or remote (gs://...) path."""
    epath.Path(path).write_text(self.to_json())

  @classmethod
  def load(cls, path) -> "ActionGrammar":
    body = json.loads(epath.Path(path).read_text())
    if body.get("version") != VERSION:
      raise ValueError(f"{path}: grammar version {body.get('version')} is not {VERSION}; rebuild it "
                       "(python -m structlm roundtrip/prepare rebuilds grammars)")
    pieces = LeafPieces.from_json(body.pop("pieces"))
    return cls(_decode_json(body), pieces)


def _show_items(items) -> str:
  return " ".join(repr(it[1].decode("utf-8", "replace")) if it[0] == "L" else f"<{it[1] or '_'}>"
                  for it in items)


def _show_layout(key) -> str:
  if key[0] == "flat":
    return repr(key[1].decode())
  head, sign, rel = key
  return f"{head.decode()!r}{sign}{rel if sign == '-' else repr(rel.decode())}"


# ---- JSON: bytes travel as latin-1 strings ----------------------------------------------------------------------
def _items_json(items):
  return [[it[0], it[1].decode("latin-1") if it[0] == "L" else it[1]] for it in items]


def _items_from_json(items):
  return tuple((it[0], it[1].encode("latin-1") if it[0] == "L" else it[1]) for it in items)


def _ctx_json(ctx):
  return None if ctx is None else [None if ctx[0] is None else ctx[0].decode("latin-1"), ctx[1].decode("latin-1")]


def _ctx_from_json(ctx):
  return None if ctx is None else (None if ctx[0] is None else ctx[0].encode("latin-1"), ctx[1].encode("latin-1"))


def _slot_json(key):
  return [key[0], key[1]] + [None if t is None else t.decode("latin-1") for t in key[2:]]


def _slot_from_json(key):
  return (key[0], key[1]) + tuple(None if t is None else t.encode("latin-1") for t in key[2:])


def _encode_json(d: dict) -> dict:
  out = dict(d)
  out["layout"] = [layout.to_json(k) for k in d["layout"]]
  out["rules"] = [[k, _items_json(items)] for k, items in d["rules"]]
  out["segments"] = [[k, _ctx_json(ctx), _items_json(items), end] for k, ctx, items, end in d["segments"]]
  out["literals"] = [t.decode("latin-1") for t in d["literals"]]
  out["closed"] = {k: sorted(t.decode("latin-1") for t in v) for k, v in d["closed"].items()}
  out["slot_kinds"] = [[_slot_json(k), sorted(v)] for k, v in d["slot_kinds"]]
  out["slot_lexicon"] = [[_slot_json(k), [t.decode("latin-1") for t in v]] for k, v in d["slot_lexicon"]]
  out["seg_next"] = {str(a): sorted(b) for a, b in d["seg_next"].items()}
  out["seg_first"] = sorted(d["seg_first"])
  for k in ("rule_kind_defaults", "seg_kind_defaults"):
    out[k] = [{str(i): v for i, v in sorted(x.items())} for x in d[k]]
  return out


def _decode_json(d: dict) -> dict:
  out = dict(d)
  out["layout"] = [layout.from_json(k) for k in d["layout"]]
  out["rules"] = [(k, _items_from_json(items)) for k, items in d["rules"]]
  out["segments"] = [(k, _ctx_from_json(ctx), _items_from_json(items), end) for k, ctx, items, end in d["segments"]]
  out["literals"] = [t.encode("latin-1") for t in d["literals"]]
  out["closed"] = {k: {t.encode("latin-1") for t in v} for k, v in d["closed"].items()}
  out["slot_kinds"] = [(_slot_from_json(k), v) for k, v in d["slot_kinds"]]
  out["slot_lexicon"] = [(_slot_from_json(k), [t.encode("latin-1") for t in v]) for k, v in d["slot_lexicon"]]
  out["seg_next"] = {int(a): b for a, b in d["seg_next"].items()}
  out["fields"] = [f for f in d["fields"]]
  return out


def _finish(data: dict, pieces: LeafPieces) -> ActionGrammar:
  data["version"] = VERSION
  data.pop("hash", None)
  enc = _encode_json(data)
  digest = hashlib.sha256(json.dumps(enc, sort_keys=True).encode() + pieces.to_json().encode()).hexdigest()
  enc["hash"] = digest[:16]
  return ActionGrammar(_decode_json(enc), pieces)


def node_plan(g: ActionGrammar, kind: str, items: tuple):
  """How a node with production `items` is encoded: ("rule", r), ("segs", segment ids, segments), or None
  (the generic form)."""
  r = g.rule_index.get((kind, items))  # long lists never become rules (see build_grammar)
  if r is not None:
    return ("rule", r)
  segs = segments_of(items)
  sids, brackets, head = [], b"", head_of(items)
  for j, (sitems, end) in enumerate(segs):
    sids.append(g.seg_index.get((kind, (head, brackets) if j else None, sitems, end)))
    brackets = advance_brackets(brackets, sitems)
  if None not in sids and sids[0] in g.seg_first:
    return ("segs", sids, segs)
  return None
