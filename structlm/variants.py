"""The variants as objects: what each reads from a dataset, what its model sees and emits, its constraints.

token       BPE ids over the source text; a document ends with EOS (the last output id).
structured  grammar actions (structlm/syntax) with tree features (slot, depth, parent of the predicted action) and
            the grammar-masked softmax; a document ends with the grammar's EOF action.
scoped      the structured actions, except that a name spelled within the dataset's name window (the run's
            context in source bytes) is one REF action (structlm/syntax/names.py); adds the `names`,
            `name_count` and `name_live` features and masks REFs to the legal ones; REF ids are serials in a
            ring. It knows no more of the file than the other variants' context holds.
scoped_file the same with the whole file so far as the name table (what whole-file memory adds: an arm of its
            own, never the headline).
scoped_recency  scoped's REFs numbered by recency (REF r: the live name used r-th most recently) instead of by
            serial: the headline's scoped variant (lower bits/byte than serials at equal FLOPs; `scoped` is
            an arm since).

Everything else (the model, training, evaluation, sweeps, analysis) is written once for all of them and asks
the variant object; `get(name)` raises a clear error for an unknown name.
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Variant:
  name: str
  features: tuple[str, ...]  # the dataset features the variant reads, in order; the first holds its ids
  batch_keys: tuple[str, ...]  # the packed rows' names for them
  grammar: bool = False  # actions of the grammar: tree features, grammar mask, constraint machine
  refs: bool = False  # names by reference
  whole_file: bool = False  # scoped: REFs reach the whole file (else the dataset's name window)
  recency: bool = False  # scoped: REF ids are recency ranks (else serials)

  def vocab_size(self, vocab) -> int:
    """Output classes (the input id after them is BOS). Tokens: the BPE's, then EOS (the loader appends it to
    every document); the grammar variants' documents end with the grammar's EOF action instead."""
    return vocab.tokens.get_vocab_size() + 1

  def mask_table(self, vocab) -> np.ndarray | None:
    """The [num_slots, vocab] valid-action table of the grammar mask (None: no mask)."""
    return None

  def machine(self, vocab, **kw):
    """A constraint machine for this variant's ids (grammar variants only)."""
    raise ValueError(f"the {self.name} variant has no constraint machine")

  def encode(self, vocab, source: bytes) -> dict:
    """{feature: int32 array} of one file (the dataset record's fields of this variant)."""
    return {"tokens": np.asarray(vocab.tokens.encode(source.decode("utf-8")).ids, np.int32)}

  def leaf_ends(self, vocab, ids) -> np.ndarray:
    """Boolean [n]: id i ends a leaf (prompts are cut after the last one). Tokens: every id."""
    return np.ones(len(ids), bool)


@dataclasses.dataclass(frozen=True)
class Structured(Variant):
  def vocab_size(self, vocab) -> int:
    return vocab.grammar.vocab_size

  def mask_table(self, vocab) -> np.ndarray:
    return vocab.table.mask_table()

  def machine(self, vocab, **kw):
    from structlm.syntax.machine import Machine
    return Machine(vocab.grammar, table=vocab.table, **kw)

  def encode(self, vocab, source: bytes) -> dict:
    enc = vocab.codec.encode(source)
    return dict(zip(self.features, (enc.actions, enc.slots, enc.depth, enc.parent)))

  def leaf_ends(self, vocab, ids) -> np.ndarray:
    g = vocab.grammar
    a = np.asarray(ids, np.int64)
    is_piece = (a >= g.piece_base) & (a < g.piece_base + g.pieces.size)
    out = np.zeros(len(a), bool)
    out[is_piece] = np.asarray(g.piece_final, bool)[a[is_piece] - g.piece_base]
    return out


@dataclasses.dataclass(frozen=True)
class Scoped(Structured):
  def scheme(self, vocab):
    """The NameScheme of this arm: the dataset's window, or the whole file."""
    return vocab.file_names if self.whole_file else vocab.recency_names if self.recency else vocab.names

  def vocab_size(self, vocab) -> int:
    return self.scheme(vocab).vocab_size

  def mask_table(self, vocab) -> np.ndarray:
    return self.scheme(vocab).mask_table()

  def machine(self, vocab, **kw):
    from structlm.syntax.names import ScopedMachine
    return ScopedMachine(self.scheme(vocab), **kw)

  def encode(self, vocab, source: bytes) -> dict:
    enc = self.scheme(vocab).encode(vocab.codec.encode(source))
    return dict(zip(self.features, (enc.actions, enc.slots, enc.depth, enc.parent, enc.names, enc.name_count,
                                    enc.name_live)))

  def leaf_ends(self, vocab, ids) -> np.ndarray:
    return super().leaf_ends(vocab, ids) | (np.asarray(ids) >= self.scheme(vocab).ref_base)


TREE = ("slots", "depth", "parent")
SCOPED_FIELDS = ("scoped_actions", "scoped_slots", "scoped_depth", "scoped_parent", "names", "name_count", "name_live")
SCOPED_KEYS = ("ids",) + TREE + ("names", "name_count", "name_live")
VARIANTS: dict[str, Variant] = {
    "token": Variant("token", ("tokens",), ("ids",)),
    "structured": Structured("structured", ("actions", "slots", "depth", "parent"), ("ids",) + TREE, grammar=True),
    "scoped": Scoped("scoped", SCOPED_FIELDS, SCOPED_KEYS, grammar=True, refs=True),
    "scoped_file": Scoped("scoped_file", tuple("file_" + f for f in SCOPED_FIELDS), SCOPED_KEYS, grammar=True,
                          refs=True, whole_file=True),
    # (name_count is name_live under recency numbering: the legal ids are 0 .. live - 1)
    "scoped_recency": Scoped("scoped_recency", ("recency_actions",) + SCOPED_FIELDS[1:5] + ("name_live", "name_live"),
                             SCOPED_KEYS, grammar=True, refs=True, recency=True),
}
NAMES = tuple(VARIANTS)
# the study's comparison at equal context. Its scoped variant numbers REFs by recency: on the arms' two budgets
# that numbering was lower than serials in 9 of 11 paired runs (docs/study.md, issue "Scoped names that stay
# inside the window": keep the numbering with the lower bits/byte); `scoped` (serials) and scoped_file are arms.
HEADLINE = ("token", "structured", "scoped_recency")
# the variants of the studies run before that choice (the data study, the JavaScript runs): their published designs
SERIAL_HEADLINE = ("token", "structured", "scoped")


def get(name: str) -> Variant:
  try:
    return VARIANTS[name]
  except KeyError:
    raise ValueError(f"unknown variant {name!r}; one of {', '.join(NAMES)}") from None
