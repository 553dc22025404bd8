"""Scope analysis (groundwork of the `scoped` variant), checked against CPython's own symbol table."""
import ast

import pytest

from structlm.syntax import scopes, scopes_python, sources


def test_agrees_with_symtable_on_stdlib_files():
  """Every scope binds the names symtable says it binds, and every read resolves as symtable resolves it (local,
  free or global); the one known difference is `__class__`, an implicit cell the compiler adds for super()."""
  files = sources.stdlib_files()[::25]
  total = dict(files=0, scopes=0, agree=0, reads=0, reads_agree=0)
  for f in files:
    src = sources.read(f)
    try:
      ast.parse(src)
    except (SyntaxError, ValueError):
      continue
    r = scopes_python.compare_with_symtable(src)
    for k in ("scopes", "agree", "reads", "reads_agree"):
      total[k] += r[k]
    total["files"] += 1
    assert r["unmatched"] == 0, f
    assert not r["disagreements"], (f, r["disagreements"][:3])
    assert all(d[1] == "__class__" for d in r["read_disagreements"]), (f, r["read_disagreements"][:3])
  assert total["files"] >= 60 and total["reads"] > 10_000, total
  print(total)


def scope_of(module, name):
  return next(s for s in module.walk() if s.name == name)


@pytest.mark.parametrize("src, scope, read, where", [
    (b"x = 1\nclass C:\n    x = 2\n    def f(self):\n        return x\n", "f", "x", "top"),  # class not visible
    (b"def f(xs):\n    return [y for y in xs]\n", "list_comprehension", "xs", "f"),  # first iterable outside
    (b"def f():\n    global g\n    g = 1\n", "f", "g", "top"),
    (b"def f():\n    a = 1\n    def g():\n        nonlocal a\n        a = 2\n    return g\n", "g", "a", "f"),
    (b"def f(v):\n    match v:\n        case [p, *q]:\n            return p\n", "f", "p", "f"),
    (b"def f(xs):\n    if any((n := x) > 1 for x in xs):\n        return n\n", "f", "n", "f"),  # walrus escapes
    (b"print(len)\n", "top", "len", "builtin"),
    (b"def f():\n    return missing\n", "f", "missing", None),
])
def test_resolution_rules(src, scope, read, where):
  module = scopes.analyze(src)
  s = scope_of(module, scope)
  got = s.resolve(read)
  assert (got if got in ("builtin", None) else got.name) == where


def test_private_names_are_mangled_like_the_compiler():
  r = scopes_python.compare_with_symtable(b"class C:\n    __x = 1\n    def m(self):\n        __y = self.__x\n")
  assert r["agree"] == r["scopes"] == 3
  assert scopes_python.mangle("__x", "_C") == "_C__x" and scopes_python.mangle("__init__", "C") == "__init__"


JS = b"""import def, {b as c, d} from "m"; import * as ns from "n";
const {x, y: [z, ...w] = q, ...r} = o;
function f(p, {k = 1}, ...rest) {
  if (p) { var v = 1; let t = 2; }
  for (const i of rest) { use(i, t); }
  try { g(); } catch (e) { use(e); }
  return class K { m() { return K; } };
}
const h = (u) => ({u, s: u + v});
const fe = function self(n) { return n ? self(n - 1) : c + d + def + ns + x + z + w + r + k; };
"""


@pytest.mark.parametrize("scope, read, where", [
    ("f", "v", "f"),  # var is hoisted to the function
    ("for_in_statement", "t", None),  # let stays in its block: unbound here
    ("for_in_statement", "i", "for_in_statement"),
    ("catch_clause", "e", "catch_clause"),
    ("m", "K", "K"),  # a class expression's name, seen from inside it
    ("self", "self", "self"),  # a named function expression sees its own name
    ("self", "c", "top"), ("self", "ns", "top"), ("self", "w", "top"),  # imports, destructuring, rest
    ("self", "k", None),  # a parameter of f is not visible elsewhere
    ("arrow_function", "u", "arrow_function"),  # shorthand {u} reads u
    ("f", "use", None), ("top", "o", None), ("f", "g", None),
    ("arrow_function", "v", None),
])
def test_javascript_resolution(scope, read, where):
  module = scopes.analyze(JS, "javascript")
  s = scope_of(module, scope)
  assert read in {n for n, _ in s.reads} or read in s.bound or s.resolve(read) is None
  got = s.resolve(read)
  assert (got if got in ("builtin", None) else got.name) == where, (scope, read, got)


def test_javascript_files_resolve_every_read():
  import os

  from tests.conftest import DATA
  for name in ("utils.js", "event_emitter.js"):
    module = scopes.analyze(open(os.path.join(DATA, name), "rb").read(), "javascript")
    reads = [(n, s.name) for s in module.walk() for n, _ in s.reads]
    assert len(reads) > 30 and all(s.resolve(n) is not None for s in module.walk() for n, _ in s.reads), name
