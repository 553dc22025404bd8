"""JavaScript's scope rules for strict (generation) mode (the tracker is scope_rules.py's).

- scopes: functions (declarations, expressions, arrows, methods, generators) from their body, blocks (statement
  blocks, `for` and `for`-in/of heads, `catch` clauses, `switch` and class bodies) from their first child;
- binds: `var`/`let`/`const` declarators (a `var` binds in the nearest function), function and class
  declaration names, parameters (at the body), `catch` parameters, declared `for`-in/of targets, import
  aliases, default and namespace imports; inside destructuring patterns only where the pattern declares (a
  declarator, parameters, `catch`) -- `[a, b] = [b, a]` reads a and b; a pattern in a `for`-in/of head, which
  may declare or assign, takes names in scope, each once, none readable in the head;
- free: property and method names, keys, a function or class expression's own name, labels;
- `import {a as b}`: a is declared but never read (conservatively also `import {a}`'s a); `export {a}` only a
  name the module binds, each name exported once;
- the temporal dead zone: a name being declared is not readable until its declaration is complete (`let x = x`,
  `function f(a = b, b)`), a scope that has read a name from outside may not declare it afterwards, no scope
  declares a name twice (nor a function body one of its parameters), a `switch` case's declarations are read
  only in that case; `eval` and `arguments` are never bound nor read (strict-mode code; `arguments` only exists
  in functions).
Conservative like Python's: a read of a function declared below, or of a class inside its own body, is not
generated. Not covered (not scope): labels (`break foo` needs an enclosing `foo:`), an assignment to a `const`
(a TypeError when it runs). Builtins: the host globals of scopes_js.py (ECMAScript's, browsers' and Node's).
"""
from __future__ import annotations

from structlm.syntax.scope_rules import BIND, EXPORT, EXPORT_AS, LOOP, READ, RESERVE, Rules
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
         ("function", "name"), ("generator_function", "name"), ("class", "name"), ("namespace_export", None),
         ("labeled_statement", "label"), ("break_statement", "label"), ("continue_statement", "label")}
_ROLES = {("import_specifier", "name"): RESERVE, ("export_specifier", "name"): EXPORT,
          ("export_specifier", "alias"): EXPORT_AS}


def _hole(tracker, kind, field, owner):
  """Loop targets, destructuring patterns (a bind where they declare, else a read: an assignment), imports and
  exports."""
  role = _ROLES.get((kind, field))
  if role is not None:
    return role
  if (kind, field) == ("for_in_statement", "left"):
    return BIND if tracker.mc.choice[1][3] in DECLARATION_KEYWORDS else READ
  if kind in PATTERNS and field != "right":  # (a default value is read)
    for e in reversed(tracker.stack):
      if e.kind not in PATTERNS:
        # in a for-in/of head the pattern may declare or assign (`for (const [a] of ..)`, `for ([a] of ..)`;
        # which one is not known here): a name in scope, not readable in the head, each once
        return BIND if e.kind in DECLARING else LOOP if e.kind == "for_in_statement" else READ
  return None


def _bind_scope(tracker, owner, scope):
  """A `var` binds in the nearest function (or the module); everything else where it stands."""
  if owner is not None and owner.kind == "for_in_statement" and tracker.mc.choice[1][3] == b"var":
    return _function_scope(scope)
  for e in reversed(tracker.stack):
    if e.kind == "variable_declaration":
      return _function_scope(scope)
    if e.kind in ("lexical_declaration", "statement_block") or e.kind in FUNCTIONS:
      break
  return scope


def _function_scope(scope):
  while scope.kind not in ("function", "module"):
    scope = scope.parent
  return scope


JAVASCRIPT = Rules(
    bind=frozenset(_BIND), free=frozenset(_FREE),
    params=frozenset({"formal_parameters", "arrow_function"} | PATTERNS),
    opens={**{k: "function" for k in FUNCTIONS}, **{k: "block" for k in BLOCKS}},
    commit_on_close=frozenset({"lexical_declaration", "variable_declaration", "class_declaration",
                               "import_statement"}),
    commit_on_body=frozenset(FUNCTIONS) | {"catch_clause", "for_in_statement"},
    builtins=tuple(sorted(n.encode() for n in GLOBALS - {"eval", "arguments"})), hole=_hole, class_hidden=False,
    tdz=True, bind_scope=_bind_scope, never_bound=frozenset({b"eval", b"arguments"}),
    unbind_after=frozenset({"switch_case", "switch_default"}), loops=frozenset({"for_in_statement"}),
    exports=frozenset({"export_statement"}))
