"""Parse source with tree-sitter, reject what cannot be encoded (with a reason), flatten the tree.

The flattened form is what the action grammar sees: non-extra nodes only, comments (tree-sitter extras) kept
aside as byte spans, since they live in the gaps between tokens; other extras are just gap bytes.

  Leaf: (LEAF, kind, field, text, start, end)
  Node: (NODE, kind, field, children, start, end)  start/end of its first/last token

`kind` is the tree-sitter type for named nodes and the type prefixed with a double quote for anonymous ones.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import re
import warnings

from structlm.syntax import languages

LEAF, NODE = 0, 1
DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_MAX_DEPTH = 1500  # the stdlib's deepest file (test_exceptions.py) nests 808 levels


class Skip(Exception):
  """A file that cannot be encoded; `reason` is a short stable key used in skip counts."""

  def __init__(self, reason: str, detail: str = ""):
    super().__init__(f"{reason}: {detail}" if detail else reason)
    self.reason = reason


@dataclasses.dataclass
class Parsed:
  source: bytes
  root: tuple  # flattened root node
  comments: list  # [(start, end)] of comment extras, in order
  tokens: int
  depth: int = 0  # deepest nesting of the tree


def check_source(source: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
  """Return the text of `source`, or raise Skip for bytes we refuse to encode."""
  if not source.strip():
    raise Skip("empty")
  if len(source) > max_bytes:
    raise Skip("too_large", f"{len(source)} bytes > {max_bytes}")
  if b"\x00" in source:
    raise Skip("nul_bytes")
  try:
    return source.decode("utf-8")
  except UnicodeDecodeError as e:
    raise Skip("not_utf8", str(e)) from None


def parse_error(source: bytes) -> Skip:
  """The skip for a file tree-sitter does not parse: a file with CR-only line ends (valid Python, which
  tree-sitter cannot read) is counted apart from real parse errors."""
  if re.search(rb"\r(?!\n)", source):
    return Skip("cr_line_endings", "a line ends in CR alone (tree-sitter reads LF and CRLF only)")
  return Skip("parse_error")


def parse(source: bytes, language: str, *, max_bytes: int = DEFAULT_MAX_BYTES,
          max_depth: int = DEFAULT_MAX_DEPTH, parser=None) -> Parsed:
  check_source(source, max_bytes)
  tree = (parser or languages.parser(language)).parse(source)
  if tree.root_node.has_error:
    raise parse_error(source)
  root, comments, tokens, depth = _flatten(tree, source, _tables(language), max_depth)
  return Parsed(source, root, comments, tokens, depth)


@functools.cache
def _tables(language: str):
  lang = languages.language(language)
  kinds = []
  for i in range(lang.node_kind_count):
    k = lang.node_kind_for_id(i)
    kinds.append(k if lang.node_kind_is_named(i) else '"' + str(k))
  fields = [None] + [lang.field_name_for_id(i) for i in range(1, lang.field_count + 1)]
  return kinds, fields


def _flatten(tree, src: bytes, tables, max_depth: int):
  """One iterative cursor walk (node.children is several times slower)."""
  kinds, fields = tables
  c = tree.walk()
  comments = []
  stack = []  # (siblings so far, parent node, parent field id)
  cur = []
  tokens = deepest = 0
  while True:
    node = c.node
    fid = c.field_id
    if node.is_extra:
      # comments become comment layout; other extras (e.g. a line continuation) stay plain gap bytes
      if node.end_byte > node.start_byte and "comment" in kinds[node.kind_id]:
        comments.append((node.start_byte, node.end_byte))
    elif c.goto_first_child():
      stack.append((cur, node, fid))
      if len(stack) > deepest:
        deepest = len(stack)
        if deepest > max_depth:
          raise Skip("too_deep", f"nesting deeper than {max_depth}")
      cur = []
      continue
    else:
      s, e = node.start_byte, node.end_byte
      cur.append((LEAF, kinds[node.kind_id], fields[fid or 0], src[s:e], s, e))
      tokens += 1
    while not c.goto_next_sibling():
      if not c.goto_parent():
        return cur[0], comments, tokens, deepest
      parent_cur, pnode, fid = stack.pop()
      if cur:
        parent_cur.append((NODE, kinds[pnode.kind_id], fields[fid or 0], cur, cur[0][4], cur[-1][5]))
      else:
        parent_cur.append((NODE, kinds[pnode.kind_id], fields[fid or 0], cur, pnode.start_byte,
                           pnode.start_byte))
      cur = parent_cur


def python3_ok(source: bytes) -> bool:
  """CPython's own parser as an independent oracle (tree-sitter also accepts Python 2)."""
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      ast.parse(source)
    return True
  except (SyntaxError, ValueError, RecursionError, MemoryError):
    return False


def strip_comments(source: bytes, language: str, parser=None) -> bytes:
  """Remove comment extras, keeping the code valid; a line left blank by the removal goes too."""
  tree = (parser or languages.parser(language)).parse(source)
  spans = []
  stack = [tree.root_node]
  while stack:
    n = stack.pop()
    if n.is_extra and "comment" in n.type:
      spans.append((n.start_byte, n.end_byte))
      continue
    stack.extend(n.children)
  if not spans:
    return source
  spans.sort()
  out = bytearray()
  pos = 0
  for start, end in spans:
    if start < pos:
      continue
    line_start = source.rfind(b"\n", 0, start) + 1
    before = source[line_start:start]
    cut = start
    while cut > pos and source[cut - 1:cut] in (b" ", b"\t"):
      cut -= 1
    line_end = source.find(b"\n", end)
    after = source[end:line_end if line_end >= 0 else len(source)]
    out += source[pos:cut]
    if not before.strip() and not after.strip() and line_end >= 0 and line_start >= pos:
      # whole-line comment: drop the line with its newline
      del out[len(out) - (cut - line_start):]
      pos = line_end + 1
      continue
    nxt = source[end:end + 1]
    if out and not out[-1:].isspace() and nxt and not nxt.isspace():
      out += b" "  # the comment separated two tokens: keep them apart
    pos = end
  out += source[pos:]
  return bytes(out)
