"""The C structured encoder (structlm/native/encoder.c) behind Codec.encode: tables in, the same Encoded out.

The C side parses, flattens and walks the tree and splits leaves into pieces; every grammar decision it meets for
the first time (a node's rule or segments, whether a kind may fill a slot, a slot id, a layout class) is asked of
the `_Resolver` below, which answers with the same functions the Python encoder uses, and cached in C. So the
two encoders agree by construction, and tests check they give identical actions and features.
"""
from __future__ import annotations

import importlib
import json

import numpy as np

from structlm.syntax import languages, layout
from structlm.syntax.grammar import CLOSE, EOF, LAYOUT_C_RAW, LAYOUT_DEFAULT, LAYOUT_RAW, START, node_plan
from structlm.syntax.machine import ROOT_KEY, kind_allowed
from structlm.syntax.pieces import BYTE_CHARS, END
from structlm.syntax.tree import DEFAULT_MAX_DEPTH, Skip, _tables, parse_error

try:
  from structlm import _native
except ImportError:  # not built: `pip install -e .` (make venv) compiles it
  _native = None

_SKIPS = {1: "parse_error", 2: "too_deep"}
MAX_DEPTH = 5000  # the C encoder recurses a few small frames per level; deeper limits use the Python encoder


def available() -> bool:
  return _native is not None


class NativeEncoder:
  """source bytes -> (actions, slots, depth, parent) int32 arrays, for one Codec's grammar."""

  def __init__(self, codec):
    if _native is None:
      raise ImportError("structlm._native is not built; reinstall with `pip install -e .` (needs a C compiler)")
    g = codec.g
    spec = languages.spec(g.language)
    capsule = getattr(importlib.import_module(spec.module), spec.attribute)()
    self._resolver = _Resolver(codec)
    self._encoder = _native.Encoder(capsule, _tables_for(codec, self._resolver.kind_ids), self._resolver)

  def encode(self, source: bytes, max_depth: int = DEFAULT_MAX_DEPTH):
    """The rows of Codec.encode; raises Skip for a parse error or nesting deeper than max_depth."""
    out = self._encoder.encode(source, max_depth)
    if isinstance(out, int):
      if out == 1:
        raise parse_error(source)
      raise Skip(_SKIPS[out], f"nesting deeper than {max_depth}" if out == 2 else "")
    return np.frombuffer(out, np.int32).reshape(-1, 4)

  def pieces(self, text: bytes) -> list[int]:
    """Leaf piece ids from the C BPE (equal to LeafPieces.encode; tests compare them)."""
    return self._encoder.pieces(text)


def name_refs(config: dict):
  """The scoped variant's name references in C (structlm/native/names.c), for NameScheme.encode."""
  if _native is None:
    raise ImportError("structlm._native is not built; reinstall with `pip install -e .` (needs a C compiler)")
  return _native.NameRefs(config)


class NativeDecoder:
  """actions -> bytes for one grammar, as Machine.feed(actions, check=False) gives them (no mask checks)."""

  def __init__(self, g):
    if _native is None:
      raise ImportError("structlm._native is not built; reinstall with `pip install -e .` (needs a C compiler)")
    self._decoder = _native.Decoder(_decoder_tables(g))

  def decode(self, actions) -> bytes:
    """`actions` without PAD; raises InvalidAction for a sequence the grammar cannot produce."""
    from structlm.syntax.machine import InvalidAction
    try:
      return self._decoder.decode(np.ascontiguousarray(actions, dtype=np.int32))
    except ValueError as e:
      raise InvalidAction(str(e)) from None

  def leaf_offsets(self, actions) -> np.ndarray:
    """int32 [n]: before each action, where a leaf would begin (Machine.leaf_offset)."""
    from structlm.syntax.machine import InvalidAction
    try:
      out = self._decoder.leaf_offsets(np.ascontiguousarray(actions, dtype=np.int32))
    except ValueError as e:
      raise InvalidAction(str(e)) from None
    return np.frombuffer(out, np.int32)


class _Resolver:
  """Answers the C encoder's cache misses with the Python encoder's own decisions."""

  def __init__(self, codec):
    self.codec = codec
    self.g = codec.g
    sym_kinds, _ = _tables(self.g.language)
    self.kind_strs = list(dict.fromkeys(sym_kinds))
    self.kind_ids = {k: i for i, k in enumerate(self.kind_strs)}

  def plan(self, kind: str, items: tuple) -> list[int]:
    """[mode, nseg, per segment: action, nitems, defaults..., nkd, (item, child kind, class)...]."""
    g = self.g
    plan = node_plan(g, kind, items)
    if plan is None:
      return [2, 0]
    if plan[0] == "rule":
      r = plan[1]
      return [0, 1] + self._segment(g.rule_base + r, len(items), g.rule_defaults[r], g.rule_kind_defaults[r])
    _, sids, segs = plan
    out = [1, len(sids)]
    for sid, (sitems, _) in zip(sids, segs):
      out += self._segment(g.seg_base + sid, len(sitems), g.seg_defaults[sid], g.seg_kind_defaults[sid])
    return out

  def _segment(self, action, nitems, defaults, kind_defaults) -> list[int]:
    kd = []
    for i, by_kind in sorted(kind_defaults.items()):
      for child_kind, cls in by_kind.items():
        k = -2 if child_kind == "#leaf" else self.kind_ids.get(child_kind)
        if k is not None:
          kd += [i, k, cls]
    return [action, nitems] + [-1 if d is None else d for d in defaults] + [len(kd) // 3] + kd

  def allowed(self, key, kind: str) -> bool:
    return kind_allowed(self.g, key, kind)

  def slot(self, kind: str, key, flag: bool) -> int:
    return self.codec.slot(kind, key, flag)

  def layout(self, gap: bytes, base: bytes | None) -> int:
    key = ("flat", gap) if base is None else layout.normalize(gap, base)
    c = self.g.layout_index.get(key)
    return -1 if c is None else c


def _tables_for(codec, kind_ids: dict) -> dict:
  g, table = codec.g, codec.table
  lang = languages.language(g.language)
  sym_kinds, fields = _tables(g.language)
  kind_strs = list(kind_ids)
  model = json.loads(g.pieces.tokenizer.to_str())["model"]
  vocab = model["vocab"]
  merges = []
  for m in model["merges"]:
    a, b = m.split(" ", 1) if isinstance(m, str) else m
    merges += [vocab[a], vocab[b], vocab[a + b]]
  closed = [(kind_ids[k], g.literal_index[t]) for k, texts in g.closed.items() if k in kind_ids for t in sorted(texts)]
  return dict(
      sym_kind=[kind_ids[k] for k in sym_kinds],
      sym_named=[bool(lang.node_kind_is_named(i)) for i in range(len(sym_kinds))],
      sym_comment=["comment" in k for k in sym_kinds],
      kind_strs=kind_strs,
      hash_kinds=[b"#" + k.encode() for k in kind_strs] + [b"##leaf"],
      kind_has_closed=[k in g.closed for k in kind_strs],
      open_action=[g.open_base + g.kind_index[k] if k in g.kind_index else -1 for k in kind_strs],
      field_strs=list(fields),
      field_action=[g.field_base + g.field_index[f] if f in g.field_index else -1 for f in fields],
      closed=[x for pair in closed for x in pair],
      literal_texts=list(g.literals),
      literal_actions=[g.lit_base + i for i in range(len(g.literals))],
      root_key=ROOT_KEY, start_marker=START,
      eof=EOF, layout_default=LAYOUT_DEFAULT, layout_raw=LAYOUT_RAW, layout_c_raw=LAYOUT_C_RAW, close=CLOSE,
      layout_base=g.layout_base, layout_c_base=g.layout_c_base, piece_base=g.piece_base,
      root_default0=g.root_defaults[0], root_default1=g.root_defaults[1], generic_default=g.generic_default,
      slot_raw=table.index[("raw", None, False)], slot_comment=table.index[("comment", None, False)],
      slot_leaf=table.index[("leaf", None, False)],
      bpe_byte_ids=[vocab[c] for c in BYTE_CHARS], bpe_end_id=vocab[END], bpe_merges=merges,
  )


def _decoder_tables(g) -> dict:
  kind_ids = {k: i for i, k in enumerate(g.kinds)}
  for k, *_ in list(g.rules) + list(g.segs):
    kind_ids.setdefault(k, len(kind_ids))
  texts: dict[bytes, int] = {}

  def text(t: bytes) -> int:
    return texts.setdefault(t, len(texts))

  tmpl, tmpl_off = [], []
  templates = [(k, items, True, g.rule_defaults[r], g.rule_kind_defaults[r]) for r, (k, items) in enumerate(g.rules)]
  templates += [(k, items, end, g.seg_defaults[s], g.seg_kind_defaults[s])
                for s, (k, _, items, end) in enumerate(g.segs)]
  for kind, items, end, defaults, kind_defaults in templates:
    tmpl_off.append(len(tmpl))
    kd = [x for i, by_kind in sorted(kind_defaults.items()) for child, cls in by_kind.items()
          if (k := -2 if child == "#leaf" else kind_ids.get(child)) is not None for x in (i, k, cls)]
    tmpl += [kind_ids[kind], len(items), int(end)]
    tmpl += [text(it[1]) if it[0] == "L" else -1 for it in items]
    tmpl += [-1 if d is None else d for d in defaults] + [len(kd) // 3] + kd
  layout_type, layout_head, layout_rel = [], [], []
  for key in g.layout_keys:
    if key[0] == "flat":
      layout_type.append(0); layout_head.append(text(key[1])); layout_rel.append(0)
    else:
      head, sign, rel = key
      layout_type.append(1 if sign == "+" else 2)
      layout_head.append(text(head))
      layout_rel.append(text(rel) if sign == "+" else rel)
  lit_text = [text(t) for t in g.literals]
  text_off = [0]
  for t in texts:
    text_off.append(text_off[-1] + len(t))
  piece_off = [0]
  for b in g.piece_bytes:
    piece_off.append(piece_off[-1] + len(b))
  return dict(
      tmpl=tmpl, tmpl_off=tmpl_off, texts=b"".join(texts), text_off=text_off, lit_text=lit_text,
      open_kind=[kind_ids[k] for k in g.kinds], layout_type=layout_type, layout_head=layout_head,
      layout_rel=layout_rel, piece_off=piece_off, piece_bytes=b"".join(g.piece_bytes),
      piece_final=[int(f) for f in g.piece_final],
      eof=EOF, layout_default=LAYOUT_DEFAULT, layout_raw=LAYOUT_RAW, layout_c_raw=LAYOUT_C_RAW, close=CLOSE,
      layout_base=g.layout_base, layout_c_base=g.layout_c_base, rule_base=g.rule_base, seg_base=g.seg_base,
      open_base=g.open_base, lit_base=g.lit_base, field_base=g.field_base, piece_base=g.piece_base,
      vocab_size=g.vocab_size, root_default0=g.root_defaults[0], root_default1=g.root_defaults[1],
      generic_default=g.generic_default,
  )
