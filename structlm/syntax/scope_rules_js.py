"""JavaScript's scope rules for strict (generation) mode (the tracker is scope_rules.py's).

- scopes: functions (declarations, expressions, arrows, methods, generators) from their body, blocks (statement
  blocks, `for` and `for`-in/of heads, `catch` clauses, `switch` and class bodies) from their first child;
- binds: `var`/`let`/`const` declarators (a `var` binds in the nearest function), function and class
  declaration names, parameters (at the body), `catch` parameters, declared `for`-in/of targets, import
  aliases, default and namespace imports; inside destructuring patterns only where the pattern declares (a
  declarator, parameters, `catch`, a declared loop head) -- `[a, b] = [b, a]` reads a and b;
- free: property and method names, keys, labels, a function or class expression's own name, `import {a}`'s
  `a` (it binds a, but conservatively nothing is read from it);
- the temporal dead zone: a name being declared is not readable until its declaration is complete (`let x = x`),
  a scope that has read a name from outside may not declare it afterwards, and no scope declares a name twice
  (nor a function body one of its parameters); `eval` and `arguments` are never bound (strict-mode code).
Conservative like Python's: a read of a function declared below, or of a class inside its own body, is not
generated. Builtins: the host globals of scopes_js.py (ECMAScript's, browsers' and Node's common ones).
"""
from __future__ import annotations

from structlm.syntax.scope_rules import BIND, READ, Rules
from structlm.syntax.scopes_js import GLOBALS

FUNCTIONS = ("function_declaration", "generator_function_declaration", "function_expression", "function",
             "generator_function", "arrow_function", "method_definition")
BLOCKS = ("statement_block", "for_statement", "for_in_statement", "catch_clause", "switch_body", "class_body")
PATTERNS = frozenset({"array_pattern", "object_pattern", "pair_pattern", "assignment_pattern",
                      "object_assignment_pattern", "rest_pattern"})
DECLARING = frozenset({"variable_declarator", "formal_parameters", "catch_clause", "arrow_function"})
DECLARATION_KEYWORDS = (b"var", b"let", b"const")

_BIND = {("variable_declarator", "name"), ("function_declaration", "name"),
         ("generator_function_declaration", "name"), ("class_declaration", "name"), ("formal_parameters", None),
         ("arrow_function", "parameter"), ("catch_clause", "parameter"), ("import_clause", None),
         ("namespace_import", None), ("import_specifier", "alias")}
_FREE = {("member_expression", "property"), ("pair", "key"), ("pair_pattern", "key"), ("method_definition", "name"),
         ("field_definition", "property"), ("public_field_definition", "property"), ("function_expression", "name"),
         ("function", "name"), ("generator_function", "name"), ("class", "name"), ("import_specifier", "name"),
         ("export_specifier", "alias"), ("namespace_export", None), ("labeled_statement", "label"),
         ("break_statement", "label"), ("continue_statement", "label")}


def _declared_loop(entry) -> bool:
  """A for-in/of statement whose head declares its target (`for (const x of xs)`)."""
  return entry.kind == "for_in_statement" and entry.frame.prev in DECLARATION_KEYWORDS


def _hole(tracker, kind, field, owner):
  """Loop targets and destructuring patterns: a bind where they declare, else a read (an assignment)."""
  if (kind, field) == ("for_in_statement", "left"):
    return BIND if tracker.mc.choice[1][3] in DECLARATION_KEYWORDS else READ
  if kind in PATTERNS and field != "right":  # (a default value is read)
    for e in reversed(tracker.stack):
      if e.kind not in PATTERNS:
        return BIND if e.kind in DECLARING or _declared_loop(e) else READ
  return None


def _bind_scope(tracker, owner, scope):
  """A `var` binds in the nearest function (or the module); everything else where it stands."""
  for e in reversed(tracker.stack):
    if e.kind == "variable_declaration":
      while scope.kind not in ("function", "module"):
        scope = scope.parent
      return scope
    if e.kind in ("lexical_declaration", "statement_block") or e.kind in FUNCTIONS:
      break
  return scope


JAVASCRIPT = Rules(
    bind=frozenset(_BIND), free=frozenset(_FREE),
    params=frozenset({"formal_parameters", "arrow_function"} | PATTERNS),
    opens={**{k: "function" for k in FUNCTIONS}, **{k: "block" for k in BLOCKS}},
    commit_on_close=frozenset({"lexical_declaration", "variable_declaration", "class_declaration",
                               "import_statement"}),
    commit_on_body=frozenset(FUNCTIONS) | {"catch_clause", "for_in_statement"},
    builtins=tuple(sorted(n.encode() for n in GLOBALS)), hole=_hole, class_hidden=False, tdz=True,
    bind_scope=_bind_scope, never_bound=frozenset({b"eval", b"arguments"}))
