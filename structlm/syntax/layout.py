"""Layout: the bytes between tokens, as classes from a small closed set.

A gap without a newline is its own class (`("flat", b" ")`). A gap with a newline keeps everything up to and
including its last newline, and states the new line's indentation relative to the indentation of the line on
which the enclosing node starts (its *base*): `("+", b"    ")` one level deeper, `("-", 4)` shallower. So the
gap between two statements of a block is the same class at every nesting depth.
"""
from __future__ import annotations

WHITESPACE = b" \t\x0c\r\n\x0b"


def line_indent(buf, pos: int) -> bytes:
  """Leading whitespace of the line that contains position `pos` of `buf` (up to pos)."""
  start = buf.rfind(b"\n", 0, pos) + 1
  end = start
  while end < pos and buf[end] in (32, 9, 12):
    end += 1
  return bytes(buf[start:end])


def normalize(gap: bytes, base: bytes):
  """Gap bytes -> hashable class key, relative to the enclosing node's base indentation; None if not
  expressible (non-whitespace, or indentation unrelated to the base)."""
  if gap.strip(WHITESPACE):
    return None
  nl = gap.rfind(b"\n")
  if nl < 0:
    return ("flat", gap)
  head, tail = gap[:nl + 1], gap[nl + 1:]
  if tail.startswith(base):
    return (head, "+", tail[len(base):])
  if base.startswith(tail):
    return (head, "-", len(base) - len(tail))
  return None


def render(key, base: bytes) -> bytes:
  if key[0] == "flat":
    return key[1]
  head, sign, rel = key
  if sign == "+":
    return head + base + rel
  return head + base[:len(base) - rel]


def to_json(key):
  if key[0] == "flat":
    return ["flat", key[1].decode("latin-1")]
  return [key[0].decode("latin-1"), key[1], key[2] if key[1] == "-" else key[2].decode("latin-1")]


def from_json(obj):
  if obj[0] == "flat":
    return ("flat", obj[1].encode("latin-1"))
  return (obj[0].encode("latin-1"), obj[1], obj[2] if obj[1] == "-" else obj[2].encode("latin-1"))
