"""Registry of supported languages: name -> tree-sitter Language from its grammar wheel, plus file extensions.

Nothing is compiled at run time: each entry imports the official `tree-sitter-<lang>` wheel. Everything else the
action grammar needs (node kinds, fields, supertypes) is read from the Language object itself.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib

import keyword
import re

import tree_sitter

# the dunder names CPython's builtins module has of its own; extension modules add theirs at import (pybind11's
# `__pybind11_internals_v4_...__` once jaxlib is loaded), which no program may count on
_PYTHON_DUNDERS = frozenset({"__build_class__", "__debug__", "__doc__", "__import__", "__loader__", "__name__",
                             "__package__", "__spec__"})


def python_builtins() -> frozenset:
  """The names a Python program may read without binding them: the builtins module's, less what extension
  modules loaded in this process added."""
  import builtins
  return frozenset(n for n in dir(builtins) if not n.startswith("__") or n in _PYTHON_DUNDERS)


@dataclasses.dataclass(frozen=True)
class LanguageSpec:
  name: str
  module: str  # the grammar wheel's import name
  extensions: tuple[str, ...]
  attribute: str = "language"  # function of the module that returns the language pointer
  # the scoped variant (structlm/syntax/names.py): leaf kinds that spell names, and what a name's text looks like
  name_kinds: tuple[str, ...] = ("identifier",)
  name_pattern: str = r"[^\W\d]\w*"
  keywords: frozenset = frozenset(keyword.kwlist)  # never names
  # what the language brings beyond its grammar, each "module:attribute" (empty: the language has none):
  scope_rules: str = ""  # the scoped variant's strict-mode scopes (a scope_rules.Rules)
  scope_analyzer: str = ""  # the scope analysis of a source file (a class: Analyzer(source).run(root) -> Scope)
  placement: str = ""  # strict mode's placement rules (a placement.Placement)

  def is_name(self, text: bytes) -> bool:
    t = text.decode("utf-8", "replace")
    return t not in self.keywords and _name_regex(self.name_pattern).fullmatch(t) is not None


@functools.cache
def _name_regex(pattern: str):
  return re.compile(pattern)


_JS_RESERVED = frozenset(
    "break case catch class const continue debugger default delete do else export extends false finally for function "
    "if import in instanceof new null return super switch this throw true try typeof var void while with".split())
LANGUAGES: dict[str, LanguageSpec] = {
    "python": LanguageSpec("python", "tree_sitter_python", (".py", ".pyi"),
                           scope_rules="structlm.syntax.scope_rules_python:PYTHON",
                           scope_analyzer="structlm.syntax.scopes_python:Analyzer",
                           placement="structlm.syntax.placement_python:PYTHON"),
    "javascript": LanguageSpec("javascript", "tree_sitter_javascript", (".js", ".mjs", ".cjs", ".jsx"),
                               name_kinds=("identifier", "property_identifier", "shorthand_property_identifier",
                                           "shorthand_property_identifier_pattern", "statement_identifier"),
                               name_pattern=r"[^\W\d][\w$]*|\$[\w$]*", keywords=_JS_RESERVED,
                               scope_rules="structlm.syntax.scope_rules_js:JAVASCRIPT",
                               scope_analyzer="structlm.syntax.scopes_js:Analyzer",
                               placement="structlm.syntax.placement_javascript:JAVASCRIPT"),
}


def spec(name: str) -> LanguageSpec:
  try:
    return LANGUAGES[name]
  except KeyError:
    raise ValueError(f"unknown language {name!r}; supported: {', '.join(sorted(LANGUAGES))} "
                     "(add one in structlm/syntax/languages.py)") from None


def provided(name: str, what: str):
  """What the language `name` provides as `what` (a LanguageSpec field: scope_rules, scope_analyzer, placement),
  imported from the module its spec names; None for an unknown language or one without it."""
  s = LANGUAGES.get(name)
  ref = getattr(s, what) if s is not None else ""
  if not ref:
    return None
  module, attribute = ref.split(":")
  return getattr(importlib.import_module(module), attribute)


@functools.cache
def language(name: str) -> tree_sitter.Language:
  s = spec(name)
  module = importlib.import_module(s.module)
  return tree_sitter.Language(getattr(module, s.attribute)())


def parser(name: str) -> tree_sitter.Parser:
  return tree_sitter.Parser(language(name))


def language_for_path(path: str) -> str | None:
  for s in LANGUAGES.values():
    if path.endswith(s.extensions):
      return s.name
  return None


def node_kinds(name: str) -> list[tuple[str, bool]]:
  """All (kind, is_named) pairs the grammar can produce, read from the Language."""
  lang = language(name)
  kinds = set()
  for i in range(lang.node_kind_count):
    kind = lang.node_kind_for_id(i)
    if kind is None or not lang.node_kind_is_visible(i):
      continue
    kinds.add((kind, bool(lang.node_kind_is_named(i))))
  return sorted(kinds)


def field_names(name: str) -> list[str]:
  lang = language(name)
  return sorted(n for n in (lang.field_name_for_id(i) for i in range(1, lang.field_count + 1)) if n)


def supertypes(name: str) -> list[str]:
  lang = language(name)
  return [lang.node_kind_for_id(i) for i in lang.supertypes]
