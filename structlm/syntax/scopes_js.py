"""Scope analysis for JavaScript over the tree-sitter tree (see scopes.py for the data model).

- scopes: the program (module), functions (declarations, expressions, arrows, methods; a named function
  expression binds its own name inside), classes (a class expression's name is visible inside), and blocks
  (statement blocks, `for` heads, `catch` clauses, `switch` bodies);
- `var` and parameters bind in the nearest function (hoisted: a read anywhere in the function sees them); `let`,
  `const`, `class` and function declarations bind in the nearest block; imports in the module; destructuring
  patterns bind each name they hold;
- reads: identifiers in expression position and shorthand properties (`{x}` reads x); property names, labels and
  private names are not variables. Unresolved reads fall back to the host's globals (GLOBALS).
"""
from __future__ import annotations

from structlm.syntax.scopes import BaseAnalyzer, Scope

GLOBALS = frozenset("""
undefined NaN Infinity globalThis Object Function Array Number Boolean String Symbol BigInt Math JSON Date RegExp
Error TypeError RangeError SyntaxError ReferenceError EvalError URIError AggregateError Promise Proxy Reflect Map
Set WeakMap WeakSet WeakRef FinalizationRegistry ArrayBuffer SharedArrayBuffer DataView Atomics Int8Array
Uint8Array Uint8ClampedArray Int16Array Uint16Array Int32Array Uint32Array Float32Array Float64Array
BigInt64Array BigUint64Array Intl parseInt parseFloat isNaN isFinite encodeURI decodeURI encodeURIComponent
decodeURIComponent eval escape unescape arguments console window document navigator location history self
setTimeout clearTimeout setInterval clearInterval queueMicrotask structuredClone fetch URL URLSearchParams
TextEncoder TextDecoder Blob File FormData Headers Request Response AbortController Event EventTarget
CustomEvent performance crypto require module exports process Buffer __dirname __filename global
""".split())
FUNCTIONS = ("function_declaration", "generator_function_declaration", "function_expression", "function",
             "generator_function", "arrow_function", "method_definition")
BLOCKS = ("statement_block", "for_statement", "for_in_statement", "catch_clause", "switch_body")
NOT_VARIABLES = ("property_identifier", "statement_identifier", "private_property_identifier")


class Analyzer(BaseAnalyzer):
  builtins = GLOBALS

  def _child(self, kind: str, name: str, node, parent: Scope) -> Scope:
    s = Scope(kind, name, node.start_byte, node.start_point[0] + 1, parent)
    parent.children.append(s)
    return s

  @staticmethod
  def _function_scope(scope: Scope) -> Scope:
    while scope.kind not in ("function", "module"):
      scope = scope.parent
    return scope

  def visit(self, node, scope: Scope) -> None:
    t = node.type
    if t in ("identifier", "shorthand_property_identifier"):
      scope.reads.append((self.text(node), node.start_byte))
    elif t in NOT_VARIABLES:
      pass
    elif t in FUNCTIONS:
      self._function(node, scope)
    elif t in ("class_declaration", "class"):
      name = node.child_by_field_name("name")
      if t == "class_declaration" and name is not None:
        scope.bind(self.text(name))
      if node.child_by_field_name("body") is not None:
        for c in node.named_children:
          if c.type == "class_heritage":
            self.visit(c, scope)
        inner = self._child("block", self.text(name) if name is not None else "class", node, scope)
        if t == "class" and name is not None:
          inner.bind(self.text(name))
        self.visit(node.child_by_field_name("body"), inner)
    elif t in ("variable_declaration", "lexical_declaration"):
      target = self._function_scope(scope) if t == "variable_declaration" else scope
      for d in node.named_children:
        if d.type == "variable_declarator":
          self._pattern(d.child_by_field_name("name"), target, scope)
          if d.child_by_field_name("value") is not None:
            self.visit(d.child_by_field_name("value"), scope)
    elif t in BLOCKS:
      inner = self._child("block", t, node, scope)
      if t == "catch_clause" and node.child_by_field_name("parameter") is not None:
        self._pattern(node.child_by_field_name("parameter"), inner, inner)
      for c in node.named_children:
        if c != node.child_by_field_name("parameter"):
          self._in_block(c, inner)
    elif t == "import_statement":
      for c in node.named_children:
        if c.type == "import_clause":
          self._import_clause(c, scope)
    elif t == "assignment_expression" or t == "augmented_assignment_expression":
      self.visit(node.child_by_field_name("left"), scope)
      self.visit(node.child_by_field_name("right"), scope)
    elif t == "pair":  # {key: value}: a plain key is no variable
      key = node.child_by_field_name("key")
      if key is not None and key.type == "computed_property_name":
        self.visit(key, scope)
      self.visit(node.child_by_field_name("value"), scope)
    else:
      for c in node.named_children:
        self.visit(c, scope)

  def _in_block(self, node, block: Scope) -> None:
    """A for-in/of head's `const x` / bare `x` binds in the loop's own block; everything else as usual."""
    if node.type == "identifier" and node.parent is not None and node.parent.type == "for_in_statement" \
        and node == node.parent.child_by_field_name("left") and node.parent.child_by_field_name("kind") is not None:
      kind = self.text(node.parent.child_by_field_name("kind"))
      (self._function_scope(block) if kind == "var" else block).bind(self.text(node))
    elif node.type in ("object_pattern", "array_pattern") and node.parent is not None \
        and node.parent.type == "for_in_statement" and node.parent.child_by_field_name("kind") is not None:
      kind = self.text(node.parent.child_by_field_name("kind"))
      self._pattern(node, self._function_scope(block) if kind == "var" else block, block)
    else:
      self.visit(node, block)

  def _pattern(self, node, target: Scope, scope: Scope) -> None:
    """Bind the names of a binding pattern in `target`; defaults and computed keys are read in `scope`."""
    if node is None:
      return
    t = node.type
    if t in ("identifier", "shorthand_property_identifier_pattern"):
      target.bind(self.text(node))
    elif t in ("object_pattern", "array_pattern", "rest_pattern"):
      for c in node.named_children:
        self._pattern(c, target, scope)
    elif t == "pair_pattern":
      key = node.child_by_field_name("key")
      if key is not None and key.type == "computed_property_name":
        self.visit(key, scope)
      self._pattern(node.child_by_field_name("value"), target, scope)
    elif t in ("assignment_pattern", "object_assignment_pattern"):
      self._pattern(node.child_by_field_name("left"), target, scope)
      self.visit(node.child_by_field_name("right"), scope)
    else:
      self.visit(node, scope)

  def _function(self, node, scope: Scope) -> None:
    t = node.type
    name = node.child_by_field_name("name")
    if t in ("function_declaration", "generator_function_declaration") and name is not None:
      scope.bind(self.text(name))
    if t == "method_definition" and name is not None and name.type == "computed_property_name":
      self.visit(name, scope)
    label = self.text(name) if name is not None else t
    f = self._child("function", label, node, scope)
    if t in ("function_expression", "function", "generator_function") and name is not None:
      f.bind(self.text(name))  # a named function expression sees its own name
    params = node.child_by_field_name("parameters") or node.child_by_field_name("parameter")
    if params is not None:
      if params.type == "identifier":
        f.bind(self.text(params))
      else:
        for p in params.named_children:
          self._pattern(p, f, f)
    body = node.child_by_field_name("body")
    if body is not None:
      if body.type == "statement_block":  # the body's declarations live with the parameters
        for c in body.named_children:
          self.visit(c, f)
      else:
        self.visit(body, f)

  def _import_clause(self, node, scope: Scope) -> None:
    for c in node.named_children:
      if c.type == "identifier":
        scope.bind(self.text(c))
      elif c.type == "namespace_import":
        scope.bind(self.text(c.named_children[-1]))
      elif c.type == "named_imports":
        for spec in c.named_children:
          alias = spec.child_by_field_name("alias") or spec.child_by_field_name("name")
          scope.bind(self.text(alias))
