"""Property-based: random and mutated sources are either a clean, counted skip or an exact round trip."""
import collections

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from structlm.syntax.codec import Codec
from structlm.syntax.machine import Machine
from structlm.syntax.tree import Skip

SEED_SOURCES = [
    b"def f(a, b=1, *args, **kw):\n    '''doc'''\n    return a + b  # sum\n",
    b"class A(B, metaclass=M):\n    x: int = 0\n\n    @property\n    def y(self):\n        return [i for i in range(3) if i]\n",
    b"import os, sys\nfrom . import (a as b,\n    c)\ntry:\n    pass\nexcept (E1, E2) as e:\n    raise\nfinally:\n    x = f'{a!r:>10}'\n",
    b"with open(p) as f, g:\n    while x < 3 or not y:\n        x += 1; y = x ** 2 if x else -x\nprint(x[1:2, ::3], {**d, 'k': v})\n",
]


_REFERENCE = {}


def roundtrip_or_skip(codec, src: bytes) -> str:
  """`codec` encodes natively; the Python reference encoder must agree on the skip or on every action and tree
  feature. Returns "encoded" or the skip reason."""
  if id(codec) not in _REFERENCE:
    _REFERENCE[id(codec)] = Codec(codec.g, native=False)
  ref = _REFERENCE[id(codec)]
  try:
    want = ref.encode(src)
  except Skip as e:
    assert e.reason in {"empty", "nul_bytes", "not_utf8", "parse_error", "too_deep", "too_large",
                        "cr_line_endings"}
    with pytest.raises(Skip, match=e.reason):
      codec.encode(src)
    return e.reason
  enc = codec.encode(src)
  for field in ("actions", "slots", "depth", "parent"):
    assert getattr(enc, field).tolist() == getattr(want, field).tolist(), field
  m = Machine(codec.g, table=codec.table)
  assert m.feed(enc.actions) == src == codec.decode(enc.actions)
  return "encoded"


def run_property(strategy, examples: int, codec, make_source, min_encoded: int) -> None:
  """Run the property over `examples` generated cases and require that at least `min_encoded` of them encoded
  (so the test cannot pass by skipping everything)."""
  outcomes = collections.Counter()

  @settings(max_examples=examples, deadline=None)
  @given(strategy)
  def prop(x):
    outcomes[roundtrip_or_skip(codec, make_source(x))] += 1

  prop()
  assert outcomes["encoded"] >= min_encoded, outcomes


def test_random_bytes(py_codec):
  run_property(st.binary(max_size=200), 150, py_codec, bytes, min_encoded=3)  # most random bytes are no UTF-8


def test_random_code_like_text(py_codec):
  alphabet = st.sampled_from(list("abcxyz_019 ()[]{}:;,.=+-*/#'\"\\\n\t@%!<>é中"))
  run_property(st.text(alphabet=alphabet, max_size=120), 150, py_codec, str.encode, min_encoded=8)


EDITS = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 3),
                           st.sampled_from([b"", b" ", b"\n", b"(", b")", b":", b"x", b"\t", b"#", b"'", b"\\\n",
                                            b"  "])), max_size=4)


def mutate(case):
  src, edits = case
  buf = bytearray(src)
  for pos, cut, ins in edits:
    pos %= len(buf) + 1
    buf[pos:pos + cut] = ins
  return bytes(buf)


def test_mutated_sources(py_codec):
  run_property(st.tuples(st.sampled_from(SEED_SOURCES), EDITS), 300, py_codec, mutate, min_encoded=20)
