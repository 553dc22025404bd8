"""Scope rules of the scoped variant's strict (generation) mode; Python's as the example: a name is read only where it is bound.

The tracker follows the constraint machine's open nodes and keeps Python's scopes (module, class, function,
lambda, comprehension) with the names bound in each so far. At a name hole it gives the hole a role from the
hole's (node kind, field):
- bind (assignment and loop targets, parameters, def/class names, import aliases, `as` targets, walrus): any
  name, spelled from the slot's lexicon or by REF; it is bound when the statement is complete (the value of
  `x = x` is read before x is bound; loop targets and parameters when the body starts);
- free (attribute names, keyword-argument names, global/nonlocal, module paths): anything, binds nothing;
- read (everything else): a REF to a name bound in a visible scope, or a spelled builtin or non-name leaf
  (a number), nothing else; `del x` and `x += 1` only a name bound in the same scope, and `del` unbinds it
  (falling back to a read where no such name exists, the one case a read may still be unbound);
- a bind in a function of a name the function already read from outside is not generated (Python would make
  that earlier read local, and unbound).
Visible: the current scope and its enclosing scopes, a class scope only from its own body (Python's rule), and
the builtins. Deliberately conservative: a read of a name bound later (a function calling one defined below
it), or the element of a comprehension reading its own loop variable, is not generated; every read generated is
bound when it runs.

The tracker is the same for every language; what differs is a `Rules` value (Python's in scope_rules_python.py,
JavaScript's in scope_rules_js.py), named by the language's LanguageSpec. Languages without one get no scope
rules (REFs to any name in the table).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from structlm.syntax import languages


BIND, FREE, READ, DEL = "bind", "free", "read", "del"
# roles of JavaScript's rules (scope_rules_js.py): a declared name that is not readable (`import {a as b}`'s a),
# a loop head's destructuring target (a read of a name in scope, not readable in the loop head), an exported name
RESERVE, LOOP, EXPORT, EXPORT_AS = "reserve", "loop", "export", "export_as"
READ_KEY = "#read"  # strict-mode lexicon key prefix: a read's spellings (builtins and the slot's non-names)


@dataclasses.dataclass(frozen=True)
class Rules:
  """A language's scopes as the tracker needs them."""
  bind: frozenset  # (kind, field) of name holes that bind the name
  free: frozenset  # (kind, field) of name holes that neither bind nor read (attribute names, labels, ...)
  params: frozenset  # kinds whose binds go to the function whose header holds them
  opens: dict  # node kind -> the scope it opens: function, class, comprehension, block
  commit_on_close: frozenset  # binds under these nodes take effect when the node closes
  commit_on_body: frozenset  # ... when the node's body starts (parameters, loop targets)
  builtins: tuple  # names readable everywhere (bytes)
  hole: Callable | None = None  # language cases beyond the tables: (tracker, kind, field, owner) -> role or None
  del_kinds: tuple = ()  # statements whose target must be a name of this very scope (Python: del, x += 1)
  unbind_after: frozenset = frozenset()  # kinds whose binds end when they close (Python's except ... as e)
  class_hidden: bool = True  # a class scope is invisible from the scopes nested in it (Python)
  tdz: bool = False  # JavaScript: a declaration makes the name unreadable before it in its scope (and
  #                    no rebinding in the same scope); Python: only a function's locals shadow outer reads
  bind_scope: Callable | None = None  # (tracker, owner, scope) -> the scope a bind goes to, if not `scope`
  never_bound: frozenset = frozenset()  # names no bind may take (JavaScript's strict mode: eval, arguments)
  loops: frozenset = frozenset()  # (LOOP role) the loop statements whose head targets are hidden until the body
  exports: frozenset = frozenset()  # statements whose declarations the module exports (EXPORT: each name once)


IMMEDIATE = ("comprehension", "block")  # scopes active from their first child (others: from their body)
def rules_for(language: str) -> Rules | None:
  """The language's scope rules, found through its LanguageSpec (structlm/syntax/languages.py), or None."""
  return languages.provided(language, "scope_rules")


class Scope:
  def __init__(self, kind: str, parent: "Scope | None"):
    self.kind, self.parent, self.names = kind, parent, set()
    self.read_through: set = set()  # names read here but bound outside (or builtins)
    self.captured: set = set()  # names bound here that a nested scope reads (never deleted: it may run later)
    self.deleted: set = set()  # names `del` unbound here
    self.header: "Scope | None" = None  # a body block's function (or catch) scope: its names count as this one's
    self.reserved: set = set()  # (tdz) declared here but not readable: never declared again in this scope


class _Entry:
  __slots__ = ("frame", "kind", "active", "new", "body", "pending", "unbind", "hidden")

  def __init__(self, frame, kind, active, new):
    self.frame, self.kind, self.active, self.new = frame, kind, active, new
    self.body = False
    self.pending: list = []  # (scope, name) bound when this node closes / its body starts
    self.unbind: list = []  # (scope, name) unbound when it closes (an except clause's `as` target)
    self.hidden: set = set()  # names not readable until its body starts (a loop head's targets)


class ScopeTracker:
  def __init__(self, mc):
    self.mc = mc
    self.rules = rules_for(mc.g.language)
    self.enabled = self.rules is not None
    self.module = Scope("module", None)
    self.stack: list[_Entry] = []
    self.builtins = set(self.rules.builtins) if self.enabled else set()
    self.role = None  # of the name being spelled
    self.exported: set = set()  # (JavaScript) names the module exports
    self._target = self._lex = self._starts = None

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
      in_body = parent is not None and isinstance(parent.frame.prev, tuple) and parent.frame.prev[0] == "body"
      if in_body:
        self._body(parent)
      active = parent.active if parent else self.module
      kind = self.rules.opens.get(f.kind)
      new = Scope(kind, active) if kind else None
      if new is not None and in_body and parent.new is not None:
        new.header = parent.new
      self.stack.append(_Entry(f, f.kind, new if kind in IMMEDIATE else active, new))

  def _body(self, e: _Entry) -> None:
    if not e.body:
      e.body = True
      if e.new is not None:
        e.active = e.new
      if e.kind in self.rules.commit_on_body:
        for scope, name in e.pending:
          scope.names.add(name)
        e.pending.clear()

  def _close(self, e: _Entry) -> None:
    for scope, name in e.pending:
      scope.names.add(name)
    for scope, name in e.unbind:
      scope.names.discard(name)
      if self.rules.tdz:
        scope.reserved.add(name)

  def _hole(self):
    """(role, owner entry) of the current name hole."""
    kind, field = self.mc.choice[1][0], self.mc.choice[1][1]
    owner = self.stack[-1] if self.stack else None
    if owner is not None and field == "body":
      self._body(owner)
    r = self.rules
    if (kind, field) in r.bind:
      return BIND, owner
    if (kind, field) in r.free:
      return FREE, owner
    role = r.hole(self, kind, field, owner) if r.hole else None
    return role or READ, owner

  def _visible(self) -> set:
    scope = self._active()
    out, first = set(), True
    while scope is not None:
      if first or scope.kind != "class" or not self.rules.class_hidden:
        out |= scope.names
      first = False
      scope = scope.parent
    return out

  def _bind_target(self, owner: _Entry | None):
    """(scope, the entry whose close or body start binds the name)."""
    r = self.rules
    scope = owner.active if owner else self.module
    if owner is not None and owner.kind in r.params:
      for e in reversed(self.stack):
        if r.opens.get(e.kind) == "function":
          if not e.body:
            scope = e.new
          break
    if r.bind_scope is not None:
      scope = r.bind_scope(self, owner, scope)
    for e in reversed(self.stack):
      if e.kind in r.commit_on_close or (e.kind in r.commit_on_body and not e.body):
        return scope, e
    return scope, None

  # ---- the machine's calls ---------------------------------------------------------------------------------------
  def _rules(self):
    """(role, bind target, the names a REF may take or None for any, lexicon key of spellings or None for the
    slot's own) at the current name hole."""
    role, owner = self._hole()
    key = self.mc.choice[1]
    if role == FREE:
      return role, None, None, None
    if role == EXPORT:  # `export {a}`: a module name, once
      ok = self.module.names - self.exported
      if ok:
        return role, None, ok, self._lexicon(("#export",) + tuple(key), list)  # REFs only
      role = READ  # (no name left to export: the one case a builtin may be exported)
    if role in (BIND, RESERVE, EXPORT_AS):
      target = self._bind_target(owner)
      bad = self._unbindable(target[0]) if role != EXPORT_AS else set(self.exported)
      if bad:
        # a lexicon is keyed by the names it loses, not by all of `bad` (which grows with every declaration):
        # the same few filtered lexicons come back instead of a new one per hole
        strict, own = self.mc.table.strict, self.mc.g.slot_lexicon.get(key, ())
        taken = frozenset(bad.intersection(own))
        lex = self._lexicon(("#bind",) + tuple(key) + (taken,), lambda: [t for t in own if t not in taken])
        ok = self.mc.index.keys() - bad
        if not ok and not strict._lexicon(lex):  # nothing left of this slot's own: any name the grammar knows
          every = self._all_names()
          taken = frozenset(bad.intersection(every))
          lex = self._lexicon(("#bind-any", taken), lambda: [t for t in every if t not in taken])
        if ok or strict._lexicon(lex):
          return role, target, ok, lex
      return role, target, None, None  # (unreachable in practice: every name the grammar knows is taken)
    if role == DEL:  # `del x`, `x += 1`: only a name bound in this very scope (not a builtin or a global)
      here = self._deletable()
      if here:  # REFs, and spellings of those no REF reaches (spelled before the name window)
        far = frozenset(here - self.mc.index.keys())
        return role, None, here, self._lexicon(("#del", far) + tuple(key), lambda: sorted(far))
      lex = self._lexicon(("#literals",) + tuple(key), lambda: self._literals(key))
      if self.mc.table.strict._lexicon(lex):  # (a literal: not valid Python, but no read of a name either)
        return role, None, here, lex
    visible = self._visible()
    ok = visible | (self.builtins - (self._deleted() - visible))  # a builtin whose shadow was deleted: not read
    active = self._active()
    if self.rules.tdz:  # `let x = x`: a name being declared is not readable yet, anywhere
      ok -= {n for e in self.stack for _, n in e.pending}
      ok -= {n for e in self.stack if not e.body for n in e.hidden}
    elif active.kind == "function":  # `for x in x`: a name this function is binding is local, not bound yet
      ok -= {n for e in self.stack for sc, n in e.pending if sc is active and n not in active.names}
    hidden = frozenset(self.builtins - ok)  # builtins shadowed that way
    far = frozenset(ok - self.builtins - self.mc.index.keys())  # bound, but spelled before the name window
    lex = self._lexicon((READ_KEY, hidden, far) + tuple(key),
                        lambda: [t for t in self.rules.builtins if t not in hidden] + sorted(far) + self._literals(key))
    return (LOOP if role == LOOP else READ), None, ok, lex

  def _unbindable(self, scope: Scope) -> set:
    """Names a bind into `scope` may not take: those read there from outside (the read would become a read of
    this binding, unbound at that point), and with `tdz` those declared or being declared in a scope the
    binding covers (or that scope's header)."""
    bad = set(scope.read_through) | self.rules.never_bound
    if self.rules.tdz:  # the scopes the binding covers: up from here to its scope (a `var`), or just its own
      covered, s = [], self._active()
      while s is not None and s is not scope:
        covered.append(s)
        s = s.parent
      covered = covered + [scope] if s is scope else [scope]
      covered += [c.header for c in covered if c.header is not None]
      for c in covered:
        bad |= c.names | c.reserved
      bad |= {n for e in self.stack for sc, n in e.pending if any(sc is c for c in covered)}
    return bad

  def _all_names(self) -> list:
    """Every name in the lexicons of the grammar's name slots."""
    key = self._lexicon(("#names",), lambda: sorted(
        {t for k in self.mc.scheme.name_keys for t in self.mc.g.slot_lexicon.get(k, ()) if self.mc.scheme.is_name(t)}))
    return self.mc.table.strict.extra_lexicons[key]

  def _literals(self, key) -> list:
    """The texts of the slot's lexicon that are not names (numbers, ...)."""
    return [t for t in self.mc.g.slot_lexicon.get(key, ()) if not self.mc.scheme.is_name(t)]

  def _deleted(self) -> set:
    """Names deleted (and not bound again) in the active scope and those enclosing it: pyflakes, our independent
    check, reads a builtin of that name as undefined there."""
    out, scope = set(), self._active()
    while scope is not None:
      out |= scope.deleted
      scope = scope.parent
    return out

  def _deletable(self) -> set:
    """Names a `del` or an augmented assignment may take here: those bound in this very scope, less those a
    nested function reads (it may run after the `del`)."""
    scope = self._active()
    return set(scope.names) - scope.captured

  def narrow_statements(self, m: np.ndarray) -> None:
    """At a hole: no `del` or augmented assignment where no name could be its target (when another choice is
    left), so their targets never fall back to a read."""
    if not self.enabled or not self.rules.del_kinds:
      return
    starts = self._target_starts()
    if not m[starts].any():
      return
    self._sync()
    if self._deletable():
      return
    rest = m.copy()
    rest[starts] = False
    if rest.any():
      m[starts] = False

  def _target_starts(self) -> np.ndarray:
    if self._starts is None:
      g = self.mc.g
      self._starts = np.asarray([a for k in self.rules.del_kinds for a in g.starts_by_kind.get(k, ())], np.int64)
    return self._starts

  def _active(self) -> Scope:
    return self.stack[-1].active if self.stack else self.module

  def _lexicon(self, lex_key, texts):
    """Register the lexicon `texts()` (made only the first time) under `lex_key` in strict mode's tables."""
    strict = self.mc.table.strict
    if lex_key not in strict.extra_lexicons:
      strict.extra_lexicons[lex_key] = texts()
    return lex_key

  def narrow(self, m: np.ndarray) -> None:
    """At a name hole: the REF columns and spellings this hole allows in strict mode."""
    mc, s = self.mc, self.mc.scheme
    if not m[mc.g.piece_base:s.piece_end].any():  # strict mode allows no leaf here (nothing could follow it)
      return
    legal = mc.legal()
    if not self.enabled:
      m[[s.ref_base + i for i, _ in legal]] = True
      return
    self._sync()
    _, _, ok, lex = self._rules()
    lex = self._placed(lex)
    m[[s.ref_base + i for i, t in legal if ok is None or t in ok]] = True
    refs = m[s.ref_base:]
    if lex is not None:
      m[mc.g.piece_base:s.piece_end] = False
      if not (mc.forced() and refs.any()):  # past the length cap a REF finishes the leaf soonest
        m[mc.table.strict._lexicon_actions(lex, b"")] = True

  def begin(self) -> None:
    """A name starts at the current hole (spelled or REF): remember its role, where it binds, its lexicon."""
    if not self.enabled:
      return
    self._sync()
    self.role, self._target, _, lex = self._rules()
    self._lex = self._placed(lex)

  def spelling_key(self):
    """The lexicon key a name being spelled continues under (None: the slot's own)."""
    return self._lex if self.enabled else None

  def spelling_key_here(self):
    """The lexicon key a name spelled at the current hole would take (None: the slot's own)."""
    if not self.enabled:
      return None
    self._sync()
    return self._placed(self._rules()[3])

  def _placed(self, lex):
    """The scope rules' lexicon narrowed by the language's placement rules (a target is an identifier, a parameter
    not one its list has taken, ...: structlm/syntax/placement.py), or None for the slot's own."""
    return None if lex is None else self.mc.table.strict.placement.leaf_key(self.mc, lex)

  def end(self, text: bytes) -> None:
    if not self.enabled or self.role is None:
      return
    role, self.role = self.role, None
    active = self._active()
    if role == BIND:
      scope, entry = self._target
      if entry is None:
        scope.names.add(text)
      else:
        entry.pending.append((scope, text))
        for e in reversed(self.stack):  # `except E as e`: e is unbound after the clause
          if e.kind in self.rules.unbind_after:
            e.unbind.append((scope, text))
            break
          if e.kind == "block" or e.kind in self.rules.opens:
            break
      if any(e.kind in self.rules.exports for e in self.stack):
        self.exported.add(text)
    elif role == RESERVE:
      self._target[0].reserved.add(text)
    elif role in (EXPORT, EXPORT_AS):
      self.exported.add(text)
    elif role == DEL:
      active.names.discard(text)
      active.deleted.add(text)
    if role in (READ, LOOP):  # read from a nested scope: the binding scope keeps it
      scope = active
      while scope is not None and text not in scope.names:
        scope = scope.parent
      if scope is not None and scope is not active:
        scope.captured.add(text)
    if role in (READ, LOOP) and self.rules.tdz:
      # every scope between here and the one that binds it reads it through, and a function whose
      # parameters are being read (a default value): `function f(a = b, b)` reads the parameter b
      scopes, scope = [], active
      for e in reversed(self.stack):
        if self.rules.opens.get(e.kind) == "function":
          if not e.body:
            scopes.append(e.new)
          break
      while scope is not None and text not in scope.names:
        scopes.append(scope)
        scope = scope.parent
      for sc in scopes:
        sc.read_through.add(text)
      if role == LOOP:
        for e in reversed(self.stack):
          if e.kind in self.rules.loops and not e.body:
            e.hidden.add(text)
            break
    elif role == READ and active.kind == "function" and text not in active.names:
      active.read_through.add(text)
