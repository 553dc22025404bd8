"""Python's scope analysis (structlm/syntax/scopes.py: the shared Scope and `analyze`).

Python's rules, as the compiler's symbol table (`symtable`) applies them:
- scopes: module, class, function, lambda, and each comprehension (its first iterable belongs to the enclosing
  scope); a class scope is not visible from the functions nested in it;
- bindings: parameters, assignment / augmented / annotated targets, `for` and comprehension targets, `with ... as`,
  `except ... as`, imports (`import a.b` binds `a`), `def` / `class` names (in the enclosing scope), `del`
  targets, the walrus (in the nearest enclosing non-comprehension scope); `global` / `nonlocal` declarations move
  a name's binding to the module / the nearest enclosing function that binds it;
- a read resolves to the innermost visible scope binding the name, else the module, else the builtins.

`compare_with_symtable` checks the analysis against CPython's own symbol table, scope by scope.
"""
from __future__ import annotations

import symtable

from structlm.syntax import languages
from structlm.syntax.scopes import BaseAnalyzer, Scope

BUILTINS = languages.python_builtins()
FUNCTION_KINDS = {"function_definition": "function", "lambda": "lambda"}
COMPREHENSION_KINDS = ("list_comprehension", "set_comprehension", "dictionary_comprehension", "generator_expression")
PATTERN_KINDS = ("pattern_list", "tuple_pattern", "list_pattern", "tuple", "list", "parenthesized_expression",
                 "list_splat_pattern", "list_splat", "expression_list", "as_pattern_target")
MATCH_PATTERN_KINDS = ("case_pattern", "list_pattern", "tuple_pattern", "union_pattern", "dict_pattern")
PARAMETER_NAME_KINDS = ("default_parameter", "typed_default_parameter")


class Analyzer(BaseAnalyzer):
  builtins = BUILTINS

  # ---- declarations first: `global x` anywhere in a scope applies to the whole scope ----------------------------
  def _declarations(self, node, scope: Scope) -> None:
    for child in node.named_children:
      if child.type in ("global_statement", "nonlocal_statement"):
        names = {self.text(c) for c in child.named_children if c.type == "identifier"}
        (scope.declared_global if child.type == "global_statement" else scope.declared_nonlocal).update(names)
      elif child.type in FUNCTION_KINDS or child.type == "class_definition" or child.type in COMPREHENSION_KINDS:
        continue  # their own scopes
      else:
        self._declarations(child, scope)

  def _new_scope(self, kind: str, name: str, node, parent: Scope) -> Scope:
    s = Scope(kind, name, node.start_byte, node.start_point[0] + 1, parent,
              klass=name if kind == "class" else parent.klass)
    parent.children.append(s)
    body = node.child_by_field_name("body")
    if body is not None:
      self._declarations(body, s)
    return s

  # ---- the walk ---------------------------------------------------------------------------------------------------
  def visit(self, node, scope: Scope) -> None:
    t = node.type
    if t == "identifier":
      scope.reads.append((self.text(node), node.start_byte))
    elif t in ("function_definition", "lambda"):
      self._function(node, scope)
    elif t == "class_definition":
      self._class(node, scope)
    elif t in COMPREHENSION_KINDS:
      self._comprehension(node, scope)
    elif t in ("assignment", "augmented_assignment"):
      self._target(node.child_by_field_name("left"), scope, read_too=t == "augmented_assignment")
      for f in ("type", "right"):
        if node.child_by_field_name(f) is not None:
          self.visit(node.child_by_field_name(f), scope)
    elif t == "for_statement":
      self._target(node.child_by_field_name("left"), scope)
      for c in node.named_children:
        if c != node.child_by_field_name("left"):
          self.visit(c, scope)
    elif t == "as_pattern":  # with ... as x, except E as x
      alias = node.child_by_field_name("alias")
      for c in node.named_children:
        if c != alias:
          self.visit(c, scope)
      if alias is not None:
        self._target(alias, scope)
    elif t == "named_expression":
      s = scope
      while s.kind == "comprehension":
        s = s.parent
      s.bind(self.text(node.child_by_field_name("name")))
      self.visit(node.child_by_field_name("value"), scope)
    elif t in ("import_statement", "import_from_statement", "future_import_statement"):
      self._import(node, scope)
    elif t in ("global_statement", "nonlocal_statement"):
      pass
    elif t == "delete_statement":
      for c in node.named_children:
        self._target(c, scope, read_too=True)
    elif t == "attribute":
      self.visit(node.child_by_field_name("object"), scope)  # the attribute's own name is no variable
    elif t == "keyword_argument":
      self.visit(node.child_by_field_name("value"), scope)
    elif t == "case_clause":
      for c in node.named_children:
        if c.type == "case_pattern":
          self._pattern(c, scope)
        else:
          self.visit(c, scope)
    else:
      for c in node.named_children:
        self.visit(c, scope)

  def _target(self, node, scope: Scope, read_too: bool = False) -> None:
    """Bind the names of an assignment target; attributes and subscripts read their object instead."""
    if node is None:
      return
    t = node.type
    if t == "identifier":
      if read_too:
        scope.reads.append((self.text(node), node.start_byte))
      scope.bind(self.text(node))
    elif t in PATTERN_KINDS or t == "pattern":
      for c in node.named_children:
        self._target(c, scope, read_too)
    elif t in ("attribute", "subscript"):
      self.visit(node, scope)
    else:
      self.visit(node, scope)

  def _pattern(self, node, scope: Scope) -> None:
    """A `case` pattern: a bare name captures (binds), a dotted name is a value (read), a class name is read."""
    t = node.type
    if t == "dotted_name":
      ids = node.named_children
      if len(ids) == 1:
        scope.bind(self.text(ids[0]))
      else:
        self.visit(ids[0], scope)
    elif t == "splat_pattern":
      for c in node.named_children:
        if c.type == "identifier" and self.text(c) != "_":
          scope.bind(self.text(c))
    elif t == "class_pattern":
      kids = node.named_children
      self.visit(kids[0].named_children[0], scope)
      for c in kids[1:]:
        self._pattern(c, scope)
    elif t == "keyword_pattern":
      for c in node.named_children[1:]:
        self._pattern(c, scope)
    elif t == "as_pattern":
      kids = node.named_children
      for c in kids[:-1]:
        self._pattern(c, scope)
      scope.bind(self.text(kids[-1]))
    elif t in MATCH_PATTERN_KINDS:
      for c in node.named_children:
        self._pattern(c, scope)
    else:
      self.visit(node, scope)

  def _parameters(self, params, fscope: Scope | None, outer: Scope) -> None:
    """fscope None: visit defaults and annotations (evaluated in `outer`, before the function exists); else bind
    the parameter names in the function's scope."""
    if params is None:
      return
    for p in params.named_children:
      if p.type in PARAMETER_NAME_KINDS or p.type == "typed_parameter":
        name = p.child_by_field_name("name")
        if name is None:  # typed_parameter: its first named child is the name (or a splat)
          name = p.named_children[0]
          if name.type in ("list_splat_pattern", "dictionary_splat_pattern"):
            name = name.named_children[0]
        if fscope is None:
          for f in ("value", "type"):
            if p.child_by_field_name(f) is not None:
              self.visit(p.child_by_field_name(f), outer)
        else:
          fscope.bind(self.text(name))
      elif fscope is None:
        continue
      elif p.type == "identifier":
        fscope.bind(self.text(p))
      elif p.type in ("list_splat_pattern", "dictionary_splat_pattern"):
        for c in p.named_children:
          if c.type == "identifier":
            fscope.bind(self.text(c))
      elif p.type == "tuple_pattern":
        self._target(p, fscope)

  def _function(self, node, scope: Scope) -> None:
    name = node.child_by_field_name("name")
    for c in node.children:
      if c.type == "decorator":
        self.visit(c, scope)
    params = node.child_by_field_name("parameters")
    self._parameters(params, None, scope)  # defaults and annotations, in the enclosing scope, first
    if node.child_by_field_name("return_type") is not None:
      self.visit(node.child_by_field_name("return_type"), scope)
    if name is not None:
      scope.bind(self.text(name))
    f = self._new_scope(FUNCTION_KINDS[node.type], self.text(name) if name is not None else "lambda", node, scope)
    self._parameters(params, f, scope)
    body = node.child_by_field_name("body")
    if body is not None:
      self.visit(body, f)

  def _class(self, node, scope: Scope) -> None:
    name = node.child_by_field_name("name")
    scope.bind(self.text(name))
    if node.child_by_field_name("superclasses") is not None:
      self.visit(node.child_by_field_name("superclasses"), scope)
    c = self._new_scope("class", self.text(name), node, scope)
    self.visit(node.child_by_field_name("body"), c)

  def _comprehension(self, node, scope: Scope) -> None:
    c = self._new_scope("comprehension", node.type, node, scope)
    clauses = [ch for ch in node.named_children if ch.type in ("for_in_clause", "if_clause")]
    body = [ch for ch in node.named_children if ch.type not in ("for_in_clause", "if_clause")]
    for i, clause in enumerate(clauses):
      if clause.type == "for_in_clause":
        self._target(clause.child_by_field_name("left"), c)
        for right in clause.children_by_field_name("right"):
          self.visit(right, scope if i == 0 else c)  # the first iterable is evaluated outside
      else:
        for ch in clause.named_children:
          self.visit(ch, c)
    for ch in body:
      self.visit(ch, c)

  def _import(self, node, scope: Scope) -> None:
    for c in node.children_by_field_name("name"):
      if c.type == "aliased_import":
        scope.bind(self.text(c.child_by_field_name("alias")))
      elif c.type == "dotted_name":
        if node.type == "import_statement":
          scope.bind(self.text(c.named_children[0]))  # `import a.b` binds a
        else:
          scope.bind(self.text(c.named_children[-1]))


# ---- the check against CPython's symbol table ------------------------------------------------------------------
def _symtable_bound(table) -> set:
  out = set()
  module = table.get_type() == "module"  # a module symbol can carry its functions' `global` flag
  for sym in table.get_symbols():
    if (not module and (sym.is_declared_global() or sym.is_nonlocal())) or sym.get_name().startswith("."):
      continue  # (.0: a comprehension's hidden argument)
    if sym.is_assigned() or sym.is_parameter() or sym.is_imported():
      out.add(sym.get_name())
  return out


def mangle(name: str, klass: str) -> str:
  """Python's private-name mangling inside a class: __x -> _Class__x."""
  if klass and name.startswith("__") and not name.endswith("__") and klass.strip("_"):
    return f"_{klass.lstrip('_')}{name}"
  return name


def _pairs(ours: Scope, table):
  """Our scopes matched with symtable's by line and order within the line (symtable visits a `try`'s `else`
  before its handlers, so its order is not the source order)."""
  yield ours, table
  theirs = sorted(table.get_children(), key=lambda t: t.get_lineno())  # stable: same-line order kept
  mine = sorted(ours.children, key=lambda s: s.line)
  if len(mine) != len(theirs) or any(m.line != t.get_lineno() for m, t in zip(mine, theirs)):
    return
  for m, t in zip(mine, theirs):
    yield from _pairs(m, t)


def _our_class(scope: Scope, name: str) -> str:
  target = scope.resolve(name)
  if scope.kind == "module" or target == "builtin" or target is None or target.kind == "module":
    return "global"
  return "local" if target is scope else "free"


def _their_class(table, name: str) -> str:
  sym = table.lookup(name)
  if table.get_type() == "module" or sym.is_global():
    return "global"
  return "free" if sym.is_free() else "local"


def compare_with_symtable(source: bytes) -> dict:
  """How the analysis agrees with CPython's symbol table: {scopes, agree, disagreements: [(scope name, ours -
  theirs, theirs - ours)]} for the names each scope binds, and {reads, reads_agree, read_disagreements} for where
  each read resolves (local, free: an enclosing function's, or global: the module's or a builtin)."""
  module = Analyzer(source).run(languages.parser("python").parse(source).root_node)
  table = symtable.symtable(source.decode("utf-8"), "<file>", "exec")
  out = dict(scopes=0, agree=0, disagreements=[], unmatched=0, reads=0, reads_agree=0, read_disagreements=[])
  n_ours = sum(1 for _ in module.walk())
  out["global_only"] = len(module.global_only)
  for mine, theirs in _pairs(module, table):
    out["scopes"] += 1
    # symtable lists a module name that only functions bind (through `global`) as not assigned in the module
    got, want = {mangle(n, mine.klass) for n in mine.bound - mine.global_only}, _symtable_bound(theirs)
    if got == want:
      out["agree"] += 1
    else:
      out["disagreements"].append((theirs.get_name(), sorted(got - want), sorted(want - got)))
    for name, _ in mine.reads:
      ours, theirs_class = _our_class(mine, name), _their_class(theirs, mangle(name, mine.klass))
      out["reads"] += 1
      if ours == theirs_class:
        out["reads_agree"] += 1
      else:
        out["read_disagreements"].append((theirs.get_name(), name, ours, theirs_class))
  out["unmatched"] = n_ours - out["scopes"]
  return out
