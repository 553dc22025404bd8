"""Random walks through the constraint machine (strict mode) always give source that parses, and terminate."""
import numpy as np
import pytest

from structlm.syntax import languages
from structlm.syntax.grammar import EOF
from structlm.syntax.machine import InvalidAction, Machine, SlotTable


def walk(g, table, rng, max_len):
  m = Machine(g, strict=True, max_len=max_len, table=table)
  n = 0
  while not m.done:
    ids = np.flatnonzero(m.mask())
    assert len(ids), f"dead end at {table.keys[m.slot()]}"
    m.step(int(rng.choice(ids)))
    n += 1
    assert n < 50 * max_len, "the length cap did not close the program"
  return m.output(), n


@pytest.mark.parametrize("lang", ["python", "javascript"])
def test_uniform_random_walks_parse(lang, py_grammar, js_grammar):
  g = py_grammar if lang == "python" else js_grammar
  table = SlotTable(g)
  parser = languages.parser(lang)
  rng = np.random.default_rng(1234)
  lengths = []
  for _ in range(25):
    out, n = walk(g, table, rng, max_len=150)
    lengths.append(n)
    tree = parser.parse(out)
    assert not tree.root_node.has_error, out.decode("utf-8", "replace")
  assert max(lengths) > 20  # the walks do build real programs


def test_strict_mask_is_within_training_mask(py_grammar):
  table = SlotTable(py_grammar)
  rng = np.random.default_rng(0)
  m = Machine(py_grammar, strict=True, max_len=100, table=table)
  while not m.done:
    strict = m.mask()
    assert not (strict & ~table.row(m.slot())).any()
    m.step(int(rng.choice(np.flatnonzero(strict))))


def test_invalid_action_is_refused(py_codec, py_files):
  with pytest.raises(InvalidAction):
    Machine(py_codec.g).step(EOF)  # the file's root must come first
  enc = py_codec.encode(py_files[0][1])
  m = Machine(py_codec.g)
  m.feed(enc.actions)
  with pytest.raises(InvalidAction):
    m.step(int(enc.actions[0]))  # nothing after EOF
