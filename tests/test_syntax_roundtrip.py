"""Byte-exact round trips, the machine agreeing with the encoder, CPython's AST as an oracle, held-out coverage."""
import ast

import numpy as np
import pytest

from structlm.syntax import sources
from structlm.syntax.build import build_grammar
from structlm.syntax.codec import Codec
from structlm.syntax.grammar import ActionGrammar, GrammarConfig
from structlm.syntax.machine import Machine
from structlm.syntax.tree import Skip, parse, python3_ok, strip_comments


def replay(codec, enc):
  """Run the constraint machine over an encoding, checking each action and each feature."""
  m = Machine(codec.g, table=codec.table)
  for i, a in enumerate(enc.actions):
    assert m.slot() == enc.slots[i], (i, codec.g.action_name(int(a)))
    assert m.depth() == enc.depth[i]
    assert m.parent() == enc.parent[i]
    m.step(int(a))
  assert m.done
  return m.output()


def test_stdlib_subset_round_trips_exactly(py_files, py_codec):
  n_ast = 0
  for path, src in py_files:
    try:
      enc = py_codec.encode(src)
    except Skip:
      continue
    out = replay(py_codec, enc)
    assert out == src, path
    assert py_codec.decode(enc.actions) == src
    if python3_ok(src):
      assert ast.dump(ast.parse(out)) == ast.dump(ast.parse(src))
      n_ast += 1
  assert n_ast >= 40


def test_mask_table_is_one_gather(py_files, py_codec):
  table = py_codec.table.mask_table()
  assert table.shape == (py_codec.table.num_slots, py_codec.g.vocab_size)
  for _, src in py_files[:10]:
    enc = py_codec.encode(src)
    assert table[enc.slots, enc.actions].all()
    # and the table does forbid things: most actions are invalid at most positions
    assert table[enc.slots].mean() < 0.9


def test_held_out_half_encodes_exactly():
  files = [(p, s) for p, s in __import__("tests.conftest", fromlist=["x"]).stdlib_subset(80)]
  train = [f for f in files if sources.split_of(f[0], (("a", 0.5), ("b", 0.5))) == "a"]
  held = [f for f in files if f not in train]
  assert len(train) > 20 and len(held) > 20
  codec = Codec(build_grammar("python", train, GrammarConfig(vocab_size=4096)))
  generic = 0
  for path, src in held:
    try:
      enc = codec.encode(src)
    except Skip:
      continue
    assert replay(codec, enc) == src, path
    generic += int(((enc.actions >= codec.g.open_base) & (enc.actions < codec.g.lit_base)).sum())
  assert generic > 0  # unseen productions did occur, and went through the generic form


def test_grammar_json_round_trip(tmp_path, py_grammar, py_files):
  path = tmp_path / "g.json"
  py_grammar.save(path)
  g2 = ActionGrammar.load(path)
  assert g2.hash == py_grammar.hash and g2.vocab_size == py_grammar.vocab_size
  src = py_files[3][1]
  a = Codec(py_grammar).encode(src)
  b = Codec(g2).encode(src)
  assert np.array_equal(a.actions, b.actions) and np.array_equal(a.slots, b.slots)


def test_grammar_hash_depends_on_content(py_files):
  g1 = build_grammar("python", py_files[:10], GrammarConfig(vocab_size=2048))
  g2 = build_grammar("python", py_files[:11], GrammarConfig(vocab_size=2048))
  g3 = build_grammar("python", py_files[:10], GrammarConfig(vocab_size=2048))
  assert g1.hash == g3.hash != g2.hash


def test_comment_free_mode(py_files, py_codec):
  for path, src in py_files[:20]:
    try:
      stripped = strip_comments(src, "python")
      enc = py_codec.encode(src, strip=True)
    except Skip:
      continue
    assert replay(py_codec, enc) == stripped
    if python3_ok(src):
      assert ast.dump(ast.parse(stripped)) == ast.dump(ast.parse(src)), path
    assert not ((enc.actions >= py_codec.g.layout_c_base) & (enc.actions < py_codec.g.rule_base)).any()  # no comment
    assert not parse(stripped, "python").comments


def test_strip_keeps_tokens_apart():
  assert strip_comments(b"x = 1  # one\n# whole line\ny = 2\n", "python") == b"x = 1\ny = 2\n"
  assert strip_comments(b"let a = b/**/+c;\n", "javascript") == b"let a = b +c;\n"


def test_second_language_round_trips(js_files, js_grammar):
  codec = Codec(js_grammar)
  assert len(js_files) >= 2
  for path, src in js_files:
    assert replay(codec, codec.encode(src)) == src, path
    stripped = strip_comments(src, "javascript")
    assert replay(codec, codec.encode(src, strip=True)) == stripped


@pytest.mark.parametrize("source, reason", [
    (b"", "empty"),
    (b"  \n\n", "empty"),
    (b"x = 1\x00\n", "nul_bytes"),
    (b"x = '\xff\xfe'\n", "not_utf8"),
    (b"def f(:\n", "parse_error"),
    (b"x = (1\n", "parse_error"),
    (b"x = 1\ry = 2\r", "cr_line_endings"),  # valid Python (CPython reads it), not tree-sitter: its own reason
    (b"x = " + b"(" * 5000 + b"1" + b")" * 5000 + b"\n", "too_deep"),
])
def test_bad_input_is_a_counted_skip(py_codec, source, reason):
  with pytest.raises(Skip) as e:
    py_codec.encode(source)
  assert e.value.reason == reason


def test_oversized_file_is_skipped(py_codec):
  with pytest.raises(Skip) as e:
    py_codec.encode(b"x = 1\n" * 100, max_bytes=100)
  assert e.value.reason == "too_large"


def test_a_grammar_from_no_usable_file_says_why():
  from structlm.syntax.build import build_grammar
  deep = b"x = " + b"(" * 5000 + b"1" + b")" * 5000 + b"\n"
  with pytest.raises(ValueError, match=r"1 x too_deep.*1 x parse_error|1 x parse_error.*1 x too_deep"):
    build_grammar("python", [("a.py", deep), ("b.py", b"def f(:\n")])
  with pytest.raises(ValueError, match=r"too_large: 60 bytes > 30"):
    build_grammar("python", [("a.py", b"x = 1\n" * 10)], max_bytes=30)
