"""Property-based: random and mutated sources are either a clean, counted skip or an exact round trip."""
import pytest
from hypothesis import HealthCheck, given, settings
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


def roundtrip_or_skip(codec, src: bytes) -> None:
  """`codec` encodes natively; the Python reference encoder must agree on the skip or on every action."""
  if id(codec) not in _REFERENCE:
    _REFERENCE[id(codec)] = Codec(codec.g, native=False)
  ref = _REFERENCE[id(codec)]
  try:
    want = ref.encode(src)
  except Skip as e:
    assert e.reason in {"empty", "nul_bytes", "not_utf8", "parse_error", "too_deep", "too_large"}
    with pytest.raises(Skip, match=e.reason):
      codec.encode(src)
    return
  enc = codec.encode(src)
  assert enc.actions.tolist() == want.actions.tolist() and enc.slots.tolist() == want.slots.tolist()
  m = Machine(codec.g, table=codec.table)
  assert m.feed(enc.actions) == src == codec.decode(enc.actions)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200))
def test_random_bytes(py_codec, src):
  roundtrip_or_skip(py_codec, src)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from(list("abcxyz_019 ()[]{}:;,.=+-*/#'\"\\\n\t@%!<>é中")), max_size=120))
def test_random_code_like_text(py_codec, text):
  roundtrip_or_skip(py_codec, text.encode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(SEED_SOURCES), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 3),
                                                         st.sampled_from([b"", b" ", b"\n", b"(", b")", b":", b"x",
                                                                          b"\t", b"#", b"'", b"\\\n", b"  "])),
                                               max_size=4))
def test_mutated_sources(py_codec, src, edits):
  buf = bytearray(src)
  for pos, cut, ins in edits:
    pos %= len(buf) + 1
    buf[pos:pos + cut] = ins
  roundtrip_or_skip(py_codec, bytes(buf))
