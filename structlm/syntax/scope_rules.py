"""Scope rules of the scoped variant's strict (generation) mode, for Python: a name is read only where it is bound.

The tracker follows the constraint machine's open nodes and keeps Python's scopes (module, class, function,
lambda, comprehension) with the names bound in each so far. At a name hole it gives the hole a role from the
hole's (node kind, field):
- bind (assignment and loop targets, parameters, def/class names, import aliases, `as` targets, walrus): any
  name, spelled from the slot's lexicon or by REF; it is bound when the statement is complete (the value of
  `x = x` is read before x is bound; loop targets and parameters when the body starts);
- free (attribute names, keyword-argument names, global/nonlocal, module paths): anything, binds nothing;
- read (everything else): a REF to a name bound in a visible scope, or a spelled builtin or non-name leaf
  (a number), nothing else; `del` also unbinds.
Visible: the current scope and its enclosing scopes, a class scope only from its own body (Python's rule), and
the builtins. Deliberately conservative: a read of a name bound later (a function calling one defined below
it), or the element of a comprehension reading its own loop variable, is not generated; every read generated is
bound when it runs. Other languages get no scope rules (REFs to any name in the table).
"""
from __future__ import annotations

import builtins

import numpy as np

BIND, FREE, READ, DEL = "bind", "free", "read", "del"
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
BUILTINS = sorted(n.encode() for n in dir(builtins) if n.isidentifier())
READ_KEY = "#read"  # strict-mode lexicon key prefix: a read's spellings (builtins and the slot's non-names)


class Scope:
  def __init__(self, kind: str, parent: "Scope | None"):
    self.kind, self.parent, self.names = kind, parent, set()


class _Entry:
  __slots__ = ("frame", "kind", "active", "new", "body", "pending", "unbind")

  def __init__(self, frame, kind, active, new):
    self.frame, self.kind, self.active, self.new = frame, kind, active, new
    self.body = False
    self.pending: list = []  # (scope, name) bound when this node closes / its body starts
    self.unbind: list = []  # (scope, name) unbound when it closes (an except clause's `as` target)


class ScopeTracker:
  def __init__(self, mc):
    self.mc = mc
    self.enabled = mc.g.language == "python"
    self.module = Scope("module", None)
    self.stack: list[_Entry] = []
    self.builtins = set(BUILTINS)
    self.role = None  # of the name being spelled
    self._target = None

  # ---- following the machine -------------------------------------------------------------------------------------
  def _sync(self) -> None:
    frames = [f for f in self.mc.frames if f.t in ("rule", "seg", "gen")]
    k = 0
    while k < len(self.stack) and k < len(frames) and self.stack[k].frame is frames[k]:
      k += 1
    while len(self.stack) > k:
      self._close(self.stack.pop())
    for f in frames[k:]:
      parent = self.stack[-1] if self.stack else None
      if parent is not None and isinstance(parent.frame.prev, tuple) and parent.frame.prev[0] == "body":
        self._body(parent)
      active = parent.active if parent else self.module
      kind = _OPENS.get(f.kind)
      new = Scope(kind, active) if kind else None
      self.stack.append(_Entry(f, f.kind, new if kind == "comprehension" else active, new))

  def _body(self, e: _Entry) -> None:
    if not e.body:
      e.body = True
      if e.new is not None:
        e.active = e.new
      for scope, name in e.pending:
        scope.names.add(name)
      e.pending.clear()

  def _close(self, e: _Entry) -> None:
    for scope, name in e.pending:
      scope.names.add(name)
    for scope, name in e.unbind:
      scope.names.discard(name)

  def _hole(self):
    """(role, owner entry) of the current name hole."""
    kind, field = self.mc.choice[1][0], self.mc.choice[1][1]
    owner = self.stack[-1] if self.stack else None
    if owner is not None and field == "body":
      self._body(owner)
    if (kind, field) in _BIND:
      return BIND, owner
    if (kind, field) in _FREE:
      return FREE, owner
    if kind == "delete_statement":
      return DEL, owner
    if kind == "dotted_name" and len(self.stack) > 1:
      up = self.stack[-2]
      field_up = up.frame.prev[0] if isinstance(up.frame.prev, tuple) else None
      first = self.mc.choice[1][3] == b"\x00^"
      if up.kind in ("import_statement", "import_from_statement") and field_up == "name":
        return (BIND if first else FREE), owner
      if up.kind in ("import_statement", "import_from_statement", "aliased_import", "relative_import"):
        return FREE, owner
      return (READ if first else FREE), owner
    return READ, owner

  def _visible(self) -> set:
    scope = self.stack[-1].active if self.stack else self.module
    out, first = set(), True
    while scope is not None:
      if first or scope.kind != "class":
        out |= scope.names
      first = False
      scope = scope.parent
    return out

  def _bind_target(self, owner: _Entry | None):
    """(scope, the entry whose close or body start binds the name)."""
    scope = owner.active if owner else self.module
    if owner is not None and owner.kind in _PARAMS | {"lambda"}:
      for e in reversed(self.stack):
        if e.kind in ("function_definition", "lambda") and not e.body:
          scope = e.new
          break
    for e in reversed(self.stack):
      if e.kind in _COMMIT_ON_CLOSE or (e.kind in _COMMIT_ON_BODY and not e.body):
        return scope, e
    return scope, None

  # ---- the machine's calls ---------------------------------------------------------------------------------------
  def narrow(self, m: np.ndarray) -> None:
    """At a name hole: REF columns (and, for a read, the spellings) this hole allows in strict mode."""
    mc, s = self.mc, self.mc.scheme
    refs = m[s.ref_base:s.ref_base + len(mc.names)]
    if not self.enabled:
      refs[:] = True
      return
    self._sync()
    role, _ = self._hole()
    if role in (BIND, FREE):
      refs[:] = True
      return
    ok = self._visible() | self.builtins
    refs[:] = [t in ok for t in mc.names]
    g = mc.g
    m[g.piece_base:s.piece_end] = False
    if not (mc.forced() and refs.any()):  # past the length cap a REF finishes the leaf soonest
      m[mc.table.strict._lexicon_actions(self.read_key(mc.choice[1]), b"")] = True

  def read_key(self, key):
    """The strict lexicon of a read at hole `key`: the builtins and the slot's texts that are not names."""
    lex_key = (READ_KEY,) + tuple(key)
    strict = self.mc.table.strict
    if lex_key not in strict.extra_lexicons:
      s = self.mc.scheme
      strict.extra_lexicons[lex_key] = BUILTINS + [t for t in self.mc.g.slot_lexicon.get(key, ()) if not s.is_name(t)]
    return lex_key

  def begin(self) -> None:
    """A name starts at the current hole (spelled or REF): remember its role and where it binds."""
    if not self.enabled:
      return
    self._sync()
    self.role, owner = self._hole()
    self._target = self._bind_target(owner) if self.role == BIND else None
    self.hole_key = self.mc.choice[1]

  def spelling_key(self):
    """The lexicon key a name being spelled continues under (None: the slot's own)."""
    return self.read_key(self.hole_key) if self.enabled and self.role in (READ, DEL) else None

  def end(self, text: bytes) -> None:
    if not self.enabled or self.role is None:
      return
    role, self.role = self.role, None
    if role == BIND:
      scope, entry = self._target
      if entry is None:
        scope.names.add(text)
      else:
        entry.pending.append((scope, text))
        for e in reversed(self.stack):  # `except E as e`: e is unbound after the clause
          if e.kind == "except_clause":
            e.unbind.append((scope, text))
            break
          if e.kind in ("block", "function_definition", "class_definition"):
            break
    elif role == DEL:
      scope = self.stack[-1].active if self.stack else self.module
      scope.names.discard(text)
