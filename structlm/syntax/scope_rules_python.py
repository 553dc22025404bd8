"""Python's scope rules for the scoped variant's strict mode (the tracker and the roles: scope_rules.py)."""
from __future__ import annotations

import keyword

from structlm.syntax.grammar import START
from structlm.syntax.languages import python_builtins
from structlm.syntax.scope_rules import BIND, DEL, FREE, READ, Rules

_BIND = {("assignment", "left"), ("for_statement", "left"), ("for_in_clause", "left"), ("named_expression", "name"),
         ("as_pattern_target", None), ("function_definition", "name"), ("class_definition", "name"),
         ("default_parameter", "name"), ("typed_default_parameter", "name"), ("typed_parameter", None),
         ("parameters", None), ("lambda_parameters", None), ("list_splat_pattern", None),
         ("dictionary_splat_pattern", None), ("pattern_list", None), ("tuple_pattern", None), ("list_pattern", None),
         ("aliased_import", "alias")}
_FREE = {("attribute", "attribute"), ("keyword_argument", "name"), ("global_statement", None),
         ("nonlocal_statement", None), ("keyword_pattern", None), ("relative_import", None)}
_PARAMS = {"parameters", "lambda_parameters", "default_parameter", "typed_default_parameter", "typed_parameter",
           "list_splat_pattern", "dictionary_splat_pattern"}
_OPENS = {"function_definition": "function", "lambda": "function", "class_definition": "class",
          "list_comprehension": "comprehension", "set_comprehension": "comprehension",
          "dictionary_comprehension": "comprehension", "generator_expression": "comprehension"}
_COMMIT_ON_CLOSE = {"assignment", "augmented_assignment", "for_in_clause", "named_expression", "as_pattern",
                    "import_statement", "import_from_statement", "class_definition"}
_COMMIT_ON_BODY = {"for_statement", "function_definition", "lambda"}
_DEL_NESTING = {"tuple", "list", "expression_list", "parenthesized_expression", "pattern_list", "tuple_pattern",
                "list_pattern"}
BUILTINS = sorted(n.encode() for n in python_builtins() if n.isidentifier() and not keyword.iskeyword(n))


def _python_hole(tracker, kind, field, owner):
  """Python's name holes beyond the tables: `del` targets and the parts of dotted names."""
  if kind == "delete_statement" or (kind, field) == ("augmented_assignment", "left"):
    return DEL
  if kind in _DEL_NESTING:  # del (a, [b]): the names inside are deleted too
    for e in reversed(tracker.stack):
      if e.kind == "delete_statement":
        return DEL
      if e.kind not in _DEL_NESTING:
        break
    for f in reversed(tracker.mc.frames):  # with a as (b, c): the names inside are bound
      if f.kind == "as_pattern_target":
        return BIND
      if f.kind is not None and f.kind not in _DEL_NESTING:
        break
  if kind == "dotted_name" and len(tracker.stack) > 1:
    up = tracker.stack[-2]
    field_up = up.frame.prev[0] if isinstance(up.frame.prev, tuple) else None
    first = tracker.mc.choice[1][3] == START  # the dotted name's first part
    if up.kind in ("import_statement", "import_from_statement") and field_up == "name":
      return BIND if first else FREE
    if up.kind in ("import_statement", "import_from_statement", "aliased_import", "relative_import"):
      return FREE
    return READ if first else FREE
  return None


PYTHON = Rules(frozenset(_BIND), frozenset(_FREE), frozenset(_PARAMS | {"lambda"}), _OPENS,
               frozenset(_COMMIT_ON_CLOSE), frozenset(_COMMIT_ON_BODY), tuple(BUILTINS), hole=_python_hole,
               del_kinds=("delete_statement", "augmented_assignment"), unbind_after=frozenset({"except_clause"}),
               never_bound=frozenset({b"__debug__"}))  # CPython: "cannot assign to __debug__"
