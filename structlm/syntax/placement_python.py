"""Python's placement rules for strict (generation) mode (the mechanism: structlm/syntax/placement.py).

Each predicate reads the chain of open nodes around a hole (`Open`: kind, production tag, field being built,
children so far), innermost last. Found by measurement (random walks of the strict machine compiled by CPython,
`python -m structlm.syntax.language_check`); docs/generation.md lists them with what each removed.
"""
from __future__ import annotations

import keyword
import re

from structlm.syntax.placement import LEAF, Placement, fresh_lexicon

def _nearest(chain, kinds):
  """The innermost open node of `kinds` whose body (not header) holds the hole: a def's defaults, annotations
  and decorators run in the enclosing scope."""
  for o in reversed(chain):
    if o.kind in kinds and (o.kind not in _SCOPES or o.field == "body"):
      return o
  return None


_FUNCS = {"function_definition", "lambda"}
_SCOPES = _FUNCS | {"class_definition"}
_COMPS = {"list_comprehension", "set_comprehension", "dictionary_comprehension", "generator_expression"}
_LOOPS = {"for_statement", "while_statement"}
_NESTING = {"tuple", "list", "parenthesized_expression", "expression_list"}
_PATTERNS = {"pattern_list", "tuple_pattern", "list_pattern", "list_splat_pattern", "as_pattern_target"}
_TARGETS = {("assignment", "left"), ("augmented_assignment", "left"), ("for_statement", "left"),
            ("for_in_clause", "left")}
_PARAM_LISTS = {"parameters", "lambda_parameters"}
_DEFAULT_PARAMS = {"default_parameter", "typed_default_parameter"}
_STAR_PARAMS = {"list_splat_pattern", "keyword_separator"}
_KEYWORD_ARGS = {"keyword_argument", "dictionary_splat"}
_BRACKETED = {"argument_list", "parenthesized_expression", "list", "tuple", "set", "dictionary", "subscript",
              "generator_expression", "list_comprehension", "set_comprehension", "dictionary_comprehension",
              "parameters"}
_MULTI_TARGETS = {"pattern_list", "tuple_pattern", "list_pattern", "tuple", "list", "expression_list",
                  "parenthesized_expression"}
_COMPOUND = {"while_statement", "with_statement", "for_statement", "if_statement", "try_statement",
             "function_definition", "class_definition", "decorated_definition", "match_statement"}
_PY2_NUMBER = re.compile(rb"-?(0[0-9]+|[0-9]+[lL])")  # an old octal (0777) or long (10L) literal
_PUNCT = {b",", b"(", b")", b"[", b"]", b"{", b"}", b":", b";", b"=", b".", b"*", b"**", b"->"}


def _in_function(chain) -> bool:
  """`return`: inside a def (not a class body, not an except* block)."""
  for o in reversed(chain):
    if o.kind == "except_clause" and o.tag == "star":
      return False
    if o.kind in ("function_definition", "class_definition") and o.field == "body":
      return o.kind == "function_definition"
  return False


def _in_loop_body(chain) -> bool:
  """`break` / `continue`: in the body of a loop of the same function (a loop's `else` belongs to the outside)."""
  for o in reversed(chain):
    if o.kind in _SCOPES or (o.kind == "except_clause" and o.tag == "star"):
      return False
    if o.kind in _LOOPS and o.field == "body":
      return True
  return False


def _in_async_function(chain) -> bool:
  o = _nearest(chain, _SCOPES)
  return o is not None and o.kind == "function_definition" and o.tag == "async"


def _yield_allowed(chain) -> bool:
  """In a function or lambda, not in a comprehension, not in an async def (an async generator may not
  `return` a value nor `yield from`)."""
  o = _nearest(chain, _SCOPES | _COMPS)
  return o is not None and o.kind in _FUNCS and o.tag != "async"


def _module_level(chain) -> bool:
  return _nearest(chain, _SCOPES) is None


def _not_a_parameter(chain) -> bool:
  return not chain or chain[-1].kind not in _PARAM_LISTS


def _outside_interpolation(chain) -> bool:
  """No string inside an f-string's braces (Python 3.11 cannot nest the same quotes, nor a backslash)."""
  return _nearest(chain, {"interpolation"}) is None


def _outside_annotation(chain) -> bool:
  """No string in an annotation: a string there is a forward reference, code that reads the names it spells
  (pyflakes reads `-> 'fish'` as the name `fish`), which the scope rules do not check."""
  return not any(o.kind == "type" for o in chain)


def _in_brackets(chain) -> bool:
  """Inside brackets of the same statement (where strict mode's layout may break a line)."""
  for o in reversed(chain):
    if o.kind in _BRACKETED and (o.kind != "subscript" or o.field == "subscript"):  # (`x[...]`: not its `x`)
      return True
    if o.kind.endswith("_statement") or o.kind in ("block", "module", "decorator", "lambda"):
      return False
  return False


def _not_from_import_name(chain) -> bool:
  """A dotted name is one identifier where `from m import` names what it imports."""
  if chain and chain[-1].kind == "aliased_import" and chain[-1].field == "name":
    chain = chain[:-1]
  return not (chain and chain[-1].kind == "import_from_statement" and chain[-1].field == "name")


def _in_del_target(chain) -> bool:
  """The hole is (a nesting of tuples, lists or parentheses inside) a `del` statement's target."""
  for o in reversed(chain):
    if o.kind == "delete_statement":
      return True
    if o.kind not in _NESTING:
      return False
  return False


def _not_del_target(chain) -> bool:
  return not _in_del_target(chain)


def _in_target(chain) -> bool:
  """The hole is (a nesting inside) what an assignment, a loop, `del` or `with ... as` binds or unbinds."""
  for o in reversed(chain):
    if o.kind == "delete_statement" or (o.kind, o.field) in _TARGETS or (o.kind == "as_pattern" and o.kids):
      return True
    if o.kind not in _NESTING and o.kind not in _PATTERNS:
      return False
  return False


def _kids(chain, kinds=None) -> list:
  kids = chain[-1].kids if chain else ()
  return [k for k in kids if kinds is None or k[0] in kinds]


def _plain_parameter_ok(chain) -> bool:
  """Not after a default (unless after `*`), never after `**`."""
  if not chain or chain[-1].kind not in _PARAM_LISTS:
    return True
  kinds = {k for k, _ in _kids(chain)}
  return not (kinds & _DEFAULT_PARAMS and not kinds & _STAR_PARAMS) and "dictionary_splat_pattern" not in kinds


def _parameter_ok(chain) -> bool:
  return not chain or chain[-1].kind not in _PARAM_LISTS or "dictionary_splat_pattern" not in dict(_kids(chain))


def _untyped(chain) -> bool:
  """No `*args: T` / `**kw: T` (a typed splat would hide from the list's order rules)."""
  return not chain or chain[-1].kind != "typed_parameter"


def _slash_ok(chain) -> bool:
  """`/` once, after a parameter, before any `*` or `**`."""
  if not chain or chain[-1].kind not in _PARAM_LISTS:
    return True
  kinds = [k for k, _ in _kids(chain)]
  return bool(kinds) and not set(kinds) & (_STAR_PARAMS | {"dictionary_splat_pattern", "positional_separator"})


def _not_low_precedence(chain) -> bool:
  """`*x` and `**x` take a bitwise-or expression: no `or`, `not`, comparison, `if`-`else` or lambda unparenthesized."""
  return not chain or chain[-1].kind not in ("list_splat", "dictionary_splat")


def _single_annotated(chain) -> bool:
  """`x: T = v` annotates one target: no tuple or list on its left."""
  return not (chain and chain[-1].kind == "assignment" and chain[-1].tag == "annotated" and chain[-1].field == "left")


def _not_chained_annotated(chain) -> bool:
  """`x: T = y = v` is not Python: an annotated assignment's value is no assignment."""
  o = chain[-1] if chain else None
  return not (o is not None and o.kind == "assignment" and o.field == "right"
              and (o.tag == "annotated" or "type" in dict(o.kids)))


def _annotated_not_a_value(chain) -> bool:
  """`y = x: T = v` is not Python: an annotated assignment is no assignment's value."""
  o = chain[-1] if chain else None
  return not (o is not None and o.kind == "assignment" and o.field == "right")


def _annotation_ok(chain) -> bool:
  """(an assignment's `: T` segment) only after a single target."""
  kids = chain[-1].kids if chain else ()
  return not (kids and kids[0][0] in _MULTI_TARGETS)


def _disjunction_ok(chain) -> bool:
  """A comprehension's `in` and `if` take no lambda or `a if c else b` unparenthesized."""
  return not chain or not ((chain[-1].kind == "for_in_clause" and chain[-1].field == "right")
                           or chain[-1].kind == "if_clause")


def _splat_name(chain) -> set | None:
  """`*args` / `**kw` in a parameter list: a plain name."""
  return {LEAF} if len(chain) > 1 and chain[-2].kind in _PARAM_LISTS else None


def _except_alias(chain) -> set | None:
  """`except E as name`: a plain name after `as`."""
  if len(chain) > 1 and chain[-2].kind == "except_clause" and chain[-1].kids:
    return {LEAF, "as_pattern_target"}
  if len(chain) > 2 and chain[-1].kind == "as_pattern_target" and chain[-3].kind == "except_clause":
    return {LEAF}
  return None


def _walrus_ok(chain) -> bool:
  """`x := v` unparenthesized only where Python takes it: a call argument, a display, a condition."""
  return bool(chain) and (chain[-1].kind in ("parenthesized_expression", "argument_list", "list", "set") or (
      chain[-1].kind in ("if_statement", "while_statement", "elif_clause") and chain[-1].field == "condition"))


def _as_ok(chain) -> bool:
  """`x as y` only where a with, except or case clause takes it (not inside an expression)."""
  return bool(chain) and chain[-1].kind in ("with_item", "except_clause", "case_clause", "case_pattern")


def _not_raised_tuple(chain) -> bool:
  return _positional_ok(chain) and not (chain and chain[-1].kind == "raise_statement")


def _star_parameter_ok(chain) -> bool:
  """One `*` (or `*args`) per list, before `**`."""
  return not chain or chain[-1].kind not in _PARAM_LISTS or not {k for k, _ in _kids(chain)} & (
      _STAR_PARAMS | {"dictionary_splat_pattern"})


def _dict_splat_parameter_ok(chain) -> bool:
  """`**kw`: once, and not right after a bare `*`."""
  if not chain or chain[-1].kind not in _PARAM_LISTS:
    return True
  kids = _kids(chain)
  return "dictionary_splat_pattern" not in dict(kids) and not (kids and kids[-1][0] == "keyword_separator")


def _positional_ok(chain) -> bool:
  """In a target (assignment, loop, `del`): a name, attribute or subscript (or a nesting of them), so no other
  expression."""
  return not _in_target(chain)


def _call_arguments(chain) -> set | None:
  """After a keyword argument only keyword arguments, `*args` and `**kw`; after `**kw` no `*args`."""
  kinds = {k for k, _ in chain[-1].kids}
  if "dictionary_splat" in kinds:
    return {"keyword_argument", "dictionary_splat"}
  if "keyword_argument" in kinds:
    return {"keyword_argument", "dictionary_splat", "list_splat"}
  return None


def _one_starred_target(chain) -> bool:
  """`*a, *b = ...`: one starred name per target pattern."""
  return not (chain and chain[-1].kind in ("pattern_list", "tuple_pattern", "list_pattern")
              and any(k == "list_splat_pattern" for k, _ in chain[-1].kids))


def _list_splat_ok(chain) -> bool:
  """`*x` in a call, a display or a bare tuple; never a `del` target."""
  if len(chain) > 1 and chain[-1].kind == "expression_list" and chain[-2].kind == "expression_statement":
    return False
  return not _in_del_target(chain) and bool(chain) and chain[-1].kind in (
      "argument_list", "list", "tuple", "set", "expression_list")


def _bare_splat(chain):
  """`x = *[a], b` (a bare tuple's starred bracket, string or operator expression) does not parse with tree-sitter
  (though CPython takes it): there a starred item is a name, an attribute, a subscript or a call."""
  if len(chain) > 1 and chain[-1].kind == "list_splat" and chain[-2].kind == "expression_list":
    return frozenset({LEAF, "attribute", "subscript", "call"})
  return None


def _except_ok(tag):
  """A try's handlers: all `except` or all `except*`, and a bare `except:` last among them."""
  def ok(chain) -> bool:
    if not chain or chain[-1].kind != "try_statement":
      return True
    tags = [t for _, t in _kids(chain, {"except_clause"})]
    if "bare" in tags:
      return False
    return not tags or (("star" in tags) == (tag == "star"))
  return ok


def _is_bytes(start: bytes) -> bool:
  """A string's opening quote and prefix (b', Rb and three quotes, f"): a bytes literal?"""
  return b"b" in start.lower().split(b"'")[0].split(b'"')[0]


def _same_string_type(tag):
  """`"a" "b"`: bytes only with bytes."""
  def ok(chain) -> bool:
    if not chain or chain[-1].kind != "concatenated_string":
      return True
    tags = [t for _, t in _kids(chain, {"string"})]
    return not tags or tags[0] == tag
  return ok


def _python_tag(kind: str, items, end: bool = True) -> str | None:
  lits = [it[1] for it in items if it[0] == "L"]
  if kind in _NESTING:
    return "literal" if any(t not in _PUNCT for t in lits) else None
  if kind == "except_clause":
    return "star" if b"*" in lits else ("bare" if ("H", "value") not in items and end else None)
  if kind == "import_from_statement":
    return "wildcard" if ("H", None) in items else None
  if kind == "dotted_name":
    return "dotted" if b"." in lits or not end else None
  if kind == "string":
    return "bytes" if lits and _is_bytes(lits[0]) else None
  if kind == "assignment":
    return "annotated" if ("H", "type") in items else None
  if kind in ("lambda", "conditional_expression"):
    return None
  return "async" if items and items[0] == ("L", b"async") else None


# expression kinds a `del` target may not be (its positional check covers the rest of the expressions)
_EXPRESSIONS = ("call", "binary_operator", "boolean_operator", "comparison_operator", "not_operator",
                "unary_operator", "conditional_expression", "lambda", "await", "yield", "string",
                "concatenated_string", "integer", "float", "dictionary", "set", "list_comprehension",
                "set_comprehension", "dictionary_comprehension", "generator_expression", "named_expression",
                "keyword_argument", "dictionary_splat", "list_splat", "ellipsis", "true", "false", "none")

def _all_of(pairs) -> dict:
  """(kind or (kind, tag), predicate) pairs -> one predicate per key: all of the key's must hold."""
  out: dict = {}
  for key, pred in pairs:
    out.setdefault(key, []).append(pred)
  return {k: (ps[0] if len(ps) == 1 else (lambda chain, ps=tuple(ps): all(p(chain) for p in ps)))
          for k, ps in out.items()}


def _in_target_hole(pm, mc) -> bool:
  f = mc.owner
  if f.kind not in _NESTING and f.kind not in _PATTERNS:
    return False
  return _in_target(pm.chain(mc))

def _name_list(frames, f, field):
  """The parameter list (or call's argument list) whose name a leaf of frame `f`'s `field` would be, or None:
  a list's names are distinct."""
  if f is None:
    return None
  if f.kind in _PARAM_LISTS:
    return f
  parent = frames[-2] if len(frames) > 1 and frames[-1] is f else None
  if parent is not None and parent.kind == "argument_list" and f.kind == "keyword_argument" and field == "name":
    return parent
  if parent is None or parent.kind not in _PARAM_LISTS:
    return None
  if (f.kind in _DEFAULT_PARAMS and field == "name") or (
      f.kind in ("typed_parameter", "list_splat_pattern", "dictionary_splat_pattern") and field is None):
    # (the name is the unnamed child: asked at the hole, and again once the leaf is filed as a child)
    return parent
  return None


def _leaf_key(pm, mc, key):
  """The lexicon a leaf at this hole is spelled from: a module name never `__future__`, a target's name an
  identifier, a parameter's name none its list has taken; else the slot's own."""
  strict = mc.table.strict
  f = mc.owner
  if (f is not None and f.kind == "dotted_name" and not f.kids and len(mc.frames) > 1
      and mc.frames[-2].kind == "import_from_statement" and mc.frames[-2].prev[0] == "module_name"):
    new = ("#not-future", key)  # `from __future__` only first in a file: never
    if new not in strict.extra_lexicons:
      strict.extra_lexicons[new] = [t for t in strict._lexicon(key) if t != b"__future__"]
    return new
  if mc.owner is not None and _in_target_hole(pm, mc):  # a target's name: an identifier
    new = ("#identifier", key)
    if new not in strict.extra_lexicons:
      strict.extra_lexicons[new] = [t for t in strict._lexicon(key)
                                    if t.isascii() and t.decode().isidentifier() and not keyword.iskeyword(t.decode())
                                    and t not in (b"None", b"True", b"False")]
    return new
  taken = _taken(pm, mc)
  if taken:
    return fresh_lexicon(mc, key, taken)
  hit = pm.cache.get(("py3-numbers", key))
  if hit is None:  # Python 2's 0777 and 10L are never written
    base = strict._lexicon(key)
    kept = [t for t in base if not _PY2_NUMBER.fullmatch(t)]
    hit = key
    if len(kept) < len(base):
      hit = ("#py3-numbers", key)
      strict.extra_lexicons[hit] = kept
    pm.cache[("py3-numbers", key)] = hit
  return hit


def _taken(pm, mc) -> frozenset:
  """Names the leaf at this hole may not be: its parameter list's or its call's keyword names so far."""
  names = _name_list(mc.frames, mc.owner, mc.owner_field)
  return frozenset(names.names) if names is not None else frozenset()


def _leaf_done(pm, mc, text: bytes) -> None:
  """A leaf is spelled: a parameter's name is filed with its list."""
  names = _name_list(mc.frames, *mc._leaf_owner)
  if names is not None:
    names.names.add(text)


PYTHON = Placement(
    tag=_python_tag, seg_tags=frozenset({"dotted", "wildcard", "literal"}),
    line_break_ok=_in_brackets, free_lines=lambda k: k in ("module", "block", "decorated_definition") or k.endswith(
        ("_statement", "_clause", "_definition")),
    seg_need={("assignment", "annotated"): lambda c: _annotation_ok(c) and _annotated_not_a_value(c[:-1])},
    # Python 2 only; `from __future__` only first in a file; global / nonlocal need the names' whole-scope history;
    # `match` needs its patterns' reachability and bindings
    never=frozenset({"print_statement", "exec_statement", "chevron", "future_import_statement", "global_statement",
                     "nonlocal_statement", "match_statement", "case_clause", "case_pattern", "class_pattern",
                     "dict_pattern", "union_pattern", "keyword_pattern", "splat_pattern", "complex_pattern"}),
    need=_all_of(
        [("return_statement", _in_function), ("break_statement", _in_loop_body),
         ("continue_statement", _in_loop_body), ("yield", _yield_allowed), ("await", _in_async_function),
         ("wildcard_import", _module_level), ("tuple_pattern", _not_a_parameter), ("list_pattern", _not_a_parameter),
         ("string", _outside_interpolation), ("concatenated_string", _outside_interpolation),
         ("string", _outside_annotation), ("concatenated_string", _outside_annotation),
         ("concatenated_string", _in_brackets),
         (("string", "bytes"), _same_string_type("bytes")), (("string", None), _same_string_type(None)),
         (LEAF, _plain_parameter_ok), ("typed_parameter", _plain_parameter_ok), ("default_parameter", _parameter_ok),
         ("typed_default_parameter", _parameter_ok), ("list_splat_pattern", _star_parameter_ok),
         ("list_splat_pattern", _untyped), ("list_splat_pattern", _one_starred_target),
         ("keyword_separator", _star_parameter_ok),
         ("positional_separator", _slash_ok), ("dictionary_splat_pattern", _dict_splat_parameter_ok),
         ("dictionary_splat_pattern", _untyped), ("expression_list", _not_raised_tuple), ("as_pattern", _as_ok),
         ("named_expression", _walrus_ok), ("list_splat", _list_splat_ok), ("keyword_argument", _not_del_target),
         ("dictionary_splat", _not_del_target),
         (("for_statement", "async"), _in_async_function), (("with_statement", "async"), _in_async_function),
         (("for_in_clause", "async"), _in_async_function), (("import_from_statement", "wildcard"), _module_level),
         (("dotted_name", "dotted"), _not_from_import_name),
         (("except_clause", "star"), _except_ok("star")), (("except_clause", None), _except_ok(None)),
         (("except_clause", "bare"), _except_ok("bare")), (("assignment", "annotated"), _annotated_not_a_value),
         ("assignment", _not_chained_annotated)]
        + [(k, _not_low_precedence) for k in ("boolean_operator", "not_operator", "comparison_operator",
                                              "conditional_expression", "lambda")]
        + [(k, _single_annotated) for k in _MULTI_TARGETS]
        + [(k, _disjunction_ok) for k in ("lambda", "conditional_expression")]
        + [((k, "literal"), _positional_ok) for k in _NESTING]
        + [(k, _positional_ok) for k in _EXPRESSIONS if k not in ("keyword_argument", "dictionary_splat",
                                                                  "list_splat")]),
    closed={"parameters": lambda o: "dictionary_splat_pattern" in dict(o.kids),
            "lambda_parameters": lambda o: "dictionary_splat_pattern" in dict(o.kids)},
    no_literal_kids={"argument_list": lambda chain: bool(_kids(chain, _KEYWORD_ARGS))},
    before_literal={"argument_list": (lambda t: t not in _PUNCT, _KEYWORD_ARGS),
                    # a compound statement before `;` on its line would take what follows into its body
                    **{k: (lambda t: t == b";", _COMPOUND) for k in ("module", "block")}},
    last_only={"parameters": {"dictionary_splat_pattern"}, "lambda_parameters": {"dictionary_splat_pattern"}},
    not_last={"parameters": {"keyword_separator"}, "lambda_parameters": {"keyword_separator"}},
    # an f-string's braces hold a name or an attribute (and a format): Python 3.11 takes no same quotes, no
    # backslash and no line break there, and a lambda or `:` only in parentheses
    inside={"interpolation": {LEAF, "attribute", "format_specifier", "interpolation"}},
    restrict={"list_splat": _bare_splat, "argument_list": _call_arguments, "as_pattern": _except_alias,
              "as_pattern_target": _except_alias,
              "list_splat_pattern": _splat_name, "dictionary_splat_pattern": _splat_name},
    punct=frozenset(_PUNCT), leaf_key=_leaf_key, leaf_done=_leaf_done, taken=_taken)
