"""The C encoder and decoder (structlm/native) agree exactly with the Python reference encoder and machine."""
import pickle

import numpy as np
import pytest

from structlm.syntax import native
from structlm.syntax.build import build_grammar
from structlm.syntax.codec import Codec
from structlm.syntax.grammar import EOF, LAYOUT_RAW, GrammarConfig
from structlm.syntax.machine import InvalidAction, Machine, SlotTable
from structlm.syntax.tree import LEAF, Skip, parse, strip_comments

FIELDS = ("actions", "slots", "depth", "parent")


def test_native_module_is_built():
  # `pip install -e .` (make venv) compiles it; without it encoding falls back to the slow Python reference
  assert native.available()


def assert_same_encodings(g, sources, strip=False):
  py, nat = Codec(g, native=False), Codec(g, native=True)
  n = 0
  for src in sources:
    try:
      want = py.encode(src, strip=strip)
    except Skip as e:
      with pytest.raises(Skip) as got:
        nat.encode(src, strip=strip)
      assert got.value.reason == e.reason
      continue
    got = nat.encode(src, strip=strip)
    for f in FIELDS:
      np.testing.assert_array_equal(getattr(got, f), getattr(want, f), err_msg=f)
    target = strip_comments(src, g.language) if strip else src
    assert nat.decode(got.actions) == target == Machine(g, table=py.table).feed(got.actions, check=False)
    n += 1
  return n


def test_same_as_python_on_stdlib(py_grammar, py_files):
  assert assert_same_encodings(py_grammar, [s for _, s in py_files]) >= 45


def test_same_as_python_held_out_and_stripped(py_files):
  # a grammar from a few files: held-out files need segments, the generic form and raw layout
  g = build_grammar("python", py_files[:6], GrammarConfig(vocab_size=1100, layout_classes=8))
  held = [s for _, s in py_files[6:30]]
  assert assert_same_encodings(g, held) >= 20
  assert assert_same_encodings(g, held[:8], strip=True) == 8
  actions = np.concatenate([Codec(g).encode(s).actions for s in held])
  assert ((actions >= g.open_base) & (actions < g.lit_base)).any()  # the generic form was exercised
  assert ((actions >= g.seg_base) & (actions < g.open_base)).any()  # segments
  assert (actions == LAYOUT_RAW).any()  # and raw layout


def test_caches_starting_afresh_change_nothing(py_grammar, py_files):
  py, nat = Codec(py_grammar, native=False), Codec(py_grammar)
  nat.encode(py_files[0][1])
  before = nat._native._encoder.set_cache_limit(50)  # every file now starts with empty caches
  for _, src in py_files[:8]:
    assert nat.encode(src).actions.tolist() == py.encode(src).actions.tolist()
  assert nat._native._encoder.set_cache_limit(50) >= before + 7  # the caches did start afresh, file by file


def test_codec_pickles_after_use(py_grammar, py_files):
  codec = Codec(py_grammar)
  enc = codec.encode(py_files[0][1])
  assert codec.decode(enc.actions) == py_files[0][1]
  again = pickle.loads(pickle.dumps(codec))
  assert again.encode(py_files[0][1]).actions.tolist() == enc.actions.tolist()


def test_same_as_python_on_javascript(js_grammar, js_files):
  assert assert_same_encodings(js_grammar, [s for _, s in js_files]) == len(js_files)


def test_skips_agree(py_grammar):
  deep = b"x = " + b"(" * 3000 + b"1" + b")" * 3000 + b"\n"
  for src in (b"def f(:\n", deep, b"x = [\n"):
    assert_same_encodings(py_grammar, [src])
  with pytest.raises(Skip, match="too_deep"):
    Codec(py_grammar).encode(b"x = ((((1))))\n", max_depth=3)


def test_leaf_pieces_equal_the_tokenizer(py_grammar, py_files):
  enc = native.NativeEncoder(Codec(py_grammar))
  texts = set()
  for _, src in py_files[:20]:
    p = parse(src, "python")
    stack = [p.root]
    while stack:
      n = stack.pop()
      if n[0] == LEAF:
        texts.add(n[3])
      else:
        stack.extend(n[3])
    texts.update(src[s:e] for s, e in p.comments)
  texts |= {b"", b" ", b"\xff\xfe", "é中".encode(), b"a" * 500, b"ab" * 300}
  assert any(len(t) > 64 for t in texts) and len(texts) > 1000
  for short in (True, False):  # the scan for short leaves and the queue for long ones, both on every text
    enc._encoder.set_short_bpe(short)
    for t in texts:
      assert enc.pieces(t) == list(py_grammar.pieces.encode(t)), t


@pytest.mark.parametrize("lang", ["python", "javascript"])
def test_decoder_matches_machine_on_random_walks(lang, py_grammar, js_grammar):
  g = py_grammar if lang == "python" else js_grammar
  table, dec = SlotTable(g), native.NativeDecoder(g)
  rng = np.random.default_rng(7)
  for _ in range(20):  # strict walks, and training-mode walks that use layout, comments and the generic form
    for strict in (True, False):
      m = Machine(g, strict=strict, max_len=120, table=table)
      actions = []
      while not m.done and len(actions) < 400:
        a = int(rng.choice(np.flatnonzero(m.mask())))
        m.step(a)
        actions.append(a)
      assert dec.decode(actions) == m.output()


def test_decoder_rejects_invalid_sequences(py_grammar):
  dec = native.NativeDecoder(py_grammar)
  for bad in ([EOF], [py_grammar.vocab_size], [-1], [py_grammar.rule_base, EOF, EOF]):
    with pytest.raises(InvalidAction):
      dec.decode(bad)


def test_extension_is_built_from_the_pinned_tree_sitter_core():
  """The C core compiled into structlm._native (from the pinned sdist) and the tree_sitter wheel agree."""
  import importlib.metadata

  import tree_sitter

  from structlm import _native
  assert _native.TREE_SITTER_CORE_VERSION == importlib.metadata.version("tree-sitter")
  assert _native.LANGUAGE_VERSION == tree_sitter.LANGUAGE_VERSION
  assert _native.MIN_COMPATIBLE_LANGUAGE_VERSION == tree_sitter.MIN_COMPATIBLE_LANGUAGE_VERSION
