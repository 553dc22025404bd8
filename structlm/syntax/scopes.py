"""Scope analysis over a tree-sitter tree: which names each scope binds and where every read of a name resolves.
The groundwork of the `scoped` variant (names by reference, scope-valid by construction). `Scope` is shared; each
language's analyzer is named by its LanguageSpec (Python's in scopes_python.py, checked against CPython's symbol
table there; JavaScript's in scopes_js.py).
"""
from __future__ import annotations

import dataclasses

from structlm.syntax import languages


@dataclasses.dataclass(eq=False)
class Scope:
  kind: str  # module | class | function | lambda | comprehension
  name: str
  start: int
  line: int = 1
  parent: "Scope | None" = None
  klass: str = ""  # the class this scope is in (itself, or one enclosing it): private names are mangled with it
  bound: set = dataclasses.field(default_factory=set)
  global_only: set = dataclasses.field(default_factory=set)  # module names bound only through `global` elsewhere
  builtins: frozenset = frozenset()  # the language's predefined names (read at the module scope)
  declared_global: set = dataclasses.field(default_factory=set)
  declared_nonlocal: set = dataclasses.field(default_factory=set)
  reads: list = dataclasses.field(default_factory=list)  # (name, byte offset)
  children: list = dataclasses.field(default_factory=list)

  def bind(self, name: str) -> None:
    if name in self.declared_global:
      module = self.module()
      if name not in module.bound:
        module.global_only.add(name)
        module.bound.add(name)
    elif name not in self.declared_nonlocal:
      self.bound.add(name)
      self.global_only.discard(name)

  def module(self) -> "Scope":
    s = self
    while s.parent is not None:
      s = s.parent
    return s

  def resolve(self, name: str):
    """The scope a read of `name` here refers to, "builtin", or None (unbound)."""
    builtin_names = self.module().builtins
    if name in self.declared_global:
      return self.module() if name in self.module().bound else ("builtin" if name in builtin_names else None)
    s, first = self, True
    while s is not None:
      if (first or s.kind != "class") and name in s.bound:
        return s
      first = False
      s = s.parent
    return "builtin" if name in builtin_names else None

  def walk(self):
    yield self
    for c in self.children:
      yield from c.walk()


class BaseAnalyzer:
  """What every language's analyzer shares: the source, a node's text, and `run` (the language's declarations
  first, where it has any that apply to a whole scope, then the walk)."""
  builtins: frozenset = frozenset()  # the language's predefined names

  def __init__(self, source: bytes):
    self.src = source

  def text(self, node) -> str:
    return self.src[node.start_byte:node.end_byte].decode("utf-8", "replace")

  def run(self, root) -> Scope:
    module = Scope("module", "top", 0, builtins=self.builtins)
    self._declarations(root, module)
    self.visit(root, module)
    return module

  def _declarations(self, root, module: Scope) -> None:
    pass

  def visit(self, node, scope: Scope) -> None:
    raise NotImplementedError


def analyze(source: bytes, language: str = "python") -> Scope:
  """The module scope of `source`, with its nested scopes, bindings and reads."""
  analyzer = languages.provided(language, "scope_analyzer")
  if analyzer is None:
    raise ValueError(f"no scope analysis for {language!r} yet (languages with one: "
                     f"{', '.join(n for n in languages.LANGUAGES if languages.LANGUAGES[n].scope_analyzer)})")
  return analyzer(source).run(languages.parser(language).parse(source).root_node)
