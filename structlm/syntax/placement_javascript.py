"""JavaScript's placement rules for strict (generation) mode (the mechanism: structlm/syntax/placement.py).

Found by measurement like Python's (`python -m structlm.syntax.language_check`, V8 through node as the judge:
a sample is accepted as a script or as a module). Each predicate reads the chain of open nodes around a hole,
innermost last.
"""
from __future__ import annotations

from structlm.syntax.placement import Placement, fresh_lexicon

_FUNCS = {"function_declaration", "function_expression", "function", "arrow_function", "method_definition",
          "generator_function_declaration", "generator_function"}
_LOOPS = {"for_statement", "for_in_statement", "while_statement", "do_statement"}
_BLOCKS = {"program", "statement_block", "for_statement", "for_in_statement", "switch_body"}
_DECLARED = {"function_declaration", "class_declaration", "generator_function_declaration"}
_PATTERN_FIELDS = {"object_pattern": None, "array_pattern": None, "rest_pattern": None, "assignment_pattern": "left",
                   "object_assignment_pattern": "left", "pair_pattern": "value"}
_BRACKETED = {"parenthesized_expression", "arguments", "array", "object", "subscript_expression",
              "template_substitution"} | _FUNCS
_PUNCT = {b",", b"(", b")", b"[", b"]", b"{", b"}", b":", b";", b"=", b".", b"...", b"=>"}


def _await_ok(chain) -> bool:
  """`await` in an async function's body, or at a module's top level (outside every function)."""
  for o in reversed(chain):
    if o.kind in _FUNCS:
      return o.field == "body" and o.tag == "async"
  return True


def _in_loop(kinds):
  def ok(chain) -> bool:
    for o in reversed(chain):
      if o.kind in _FUNCS:
        return False
      if o.kind in kinds:
        return True
    return False
  return ok


def _declarator_ok(chain) -> bool:
  """`const x;` is refused: a const declaration gives every name a value."""
  return not (chain and chain[-1].kind == "lexical_declaration" and chain[-1].tag == "const")


def _pattern_ok(chain) -> bool:
  """`let [a, b];` is refused: a destructuring declaration needs a value."""
  return not (chain and chain[-1].kind == "variable_declarator" and chain[-1].field == "name"
              and chain[-1].tag == "bare")


def _not_in_for_head(chain) -> bool:
  """`for (let x = a in b; ...)` reads as a for-in: no bare `in` in a for loop's head."""
  for o in reversed(chain):
    if o.kind in _BRACKETED:
      return True
    if o.kind in ("for_statement", "for_in_statement"):
      return o.field == "body"
  return True


def _one_default_export(chain) -> bool:
  """One `export default` per module."""
  return not (chain and ("export_statement", "default") in chain[-1].kids)


def _tag(kind: str, items, end: bool = True) -> str | None:
  lits = [it[1] for it in items if it[0] == "L"]
  if kind == "lexical_declaration":
    return "const" if lits[:1] == [b"const"] else None
  if kind == "variable_declarator":
    return "bare" if b"=" not in lits and end else None
  if kind == "string" and b"use strict" in lits:
    return "directive"
  if kind == "binary_expression" and b"in" in lits:
    return "in"
  if kind == "export_statement":
    return "default" if b"default" in lits else None
  return "async" if items and items[0] == ("L", b"async") else None


def _scope(frames):
  for f in reversed(frames):
    if f.kind in _BLOCKS:
      return f
  return None


def _name_list(frames, owner, field):
  """The frame whose names the leaf at this hole must not repeat: a block's declared names (destructured ones
  too), a parameter list's names, a class's constructor (only `constructor` is filed there)."""
  if owner is None or not frames or frames[-1] is not owner:
    return None
  i, f, fld = len(frames) - 1, owner, field
  while f.kind in _PATTERN_FIELDS:  # a name inside a destructuring pattern: up to what the pattern declares
    want = _PATTERN_FIELDS[f.kind]
    if want is not None and fld != want:
      return None
    i -= 1
    if i < 1:
      return None
    f = frames[i]
    fld = f.prev[0] if isinstance(f.prev, tuple) else None
  parent = frames[i - 1] if i > 0 else None
  if f.kind == "formal_parameters":
    return f
  if parent is None:
    return None
  if f.kind == "variable_declarator" and fld == "name" and parent.kind in ("lexical_declaration",
                                                                       "variable_declaration"):
    return _scope(frames[:i - 1])
  if f.kind in _DECLARED and fld == "name":
    return _scope(frames[:i])
  if f.kind == "method_definition" and fld == "name" and parent.kind == "class_body":
    return parent
  return None


def _function_of(frames, block):
  """The function whose body `block` is, or None."""
  for i, f in enumerate(frames):
    if f is block:
      parent = frames[i - 1] if i > 0 else None
      return parent if parent is not None and parent.kind in _FUNCS and block.kind == "statement_block" else None
  return None


def _leaf_key(pm, mc, key):
  if mc.owner is not None and mc.owner.kind == "string":  # no 'use strict' directive: a function with
    strict = mc.table.strict                             # defaults or patterns may not have one
    new = ("#no-directive", key)
    if new not in strict.extra_lexicons:
      strict.extra_lexicons[new] = [t for t in strict.g.slot_lexicon.get(key, ()) if t != b"use strict"]
    return new
  taken = _taken(pm, mc)
  return fresh_lexicon(mc, key, taken) if taken else key


def _taken(pm, mc) -> frozenset:
  """Names the leaf at this hole may not be: those its block, parameter list or class has taken."""
  names = _name_list(mc.frames, mc.owner, mc.owner_field)
  if names is None:
    return frozenset()
  taken = set(names.names)
  up = _function_of(mc.frames, names)
  if up is not None:  # a function body's own names may not repeat its parameters
    taken |= up.names
  return frozenset(taken)


def _leaf_done(pm, mc, text: bytes) -> None:
  owner, field = mc._leaf_owner
  names = _name_list(mc.frames, owner, field)
  if names is not None and (names.kind != "class_body" or text == b"constructor"):
    names.names.add(text)
    if names.kind == "formal_parameters":  # the function keeps its parameters' names for its body
      i = next(k for k, f in enumerate(mc.frames) if f is names)
      if i > 0 and mc.frames[i - 1].kind in _FUNCS:
        mc.frames[i - 1].names.add(text)


JAVASCRIPT = Placement(
    tag=_tag, seg_tags=frozenset(), never=frozenset({"with_statement", "debugger_statement"}),
    need={"await_expression": _await_ok, "continue_statement": _in_loop(_LOOPS),
          "break_statement": _in_loop(_LOOPS | {"switch_statement"}),
          ("variable_declarator", "bare"): _declarator_ok, "object_pattern": _pattern_ok,
          "array_pattern": _pattern_ok, ("export_statement", "default"): _one_default_export,
          ("binary_expression", "in"): _not_in_for_head, ("string", "directive"): lambda chain: False},
    closed={"formal_parameters": lambda o: "rest_pattern" in dict(o.kids)},
    last_only={"formal_parameters": {"rest_pattern"}},
    punct=frozenset(_PUNCT), leaf_key=_leaf_key, leaf_done=_leaf_done, taken=_taken)
