"""Strict mode's placement rules: samples that CPython compiles, not only tree-sitter. Walks are pushed toward
each rule's violation (its node kinds are chosen whenever strict mode offers them); with the rules every sample
compiles, and without them the same walks give that rule's rejection, so each test guards its rule."""
import numpy as np
import pytest

from structlm.syntax import language_check
from structlm.syntax.machine import Machine, SlotTable

# rejection kind (as language_check words it) -> the node kinds a walk is pushed toward
PUSHED = {
    "'…' outside function": {"return_statement", "yield"},
    "'…' outside loop": {"break_statement", "continue_statement"},
    "positional argument follows keyword argument": {"keyword_argument"},
    "non-default argument follows default argument": {"default_parameter", "typed_default_parameter"},
    "arguments cannot follow var-keyword argument": {"dictionary_splat_pattern"},
}


def pushed_walks(g, table, kinds, n, seed, max_len=120):
  """Random strict walks that start a node of `kinds` whenever one is offered (half of the time)."""
  starts = np.zeros(g.vocab_size, bool)
  for k in kinds:
    starts[g.starts_by_kind.get(k, [])] = True
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(n):
    m = Machine(g, strict=True, max_len=max_len, table=table)
    while not m.done:
      mask = m.mask()
      ids = np.flatnonzero(mask)
      assert len(ids), f"dead end at {m.choice}: {m.output()[-200:]!r}"
      pushed = np.flatnonzero(mask & starts)
      m.step(int(rng.choice(pushed if len(pushed) and rng.random() < 0.5 else ids)))
    out.append(m.output())
  return out


@pytest.fixture(scope="module")
def table(py_grammar):
  return SlotTable(py_grammar)


def test_uniform_walks_compile(py_grammar, table):
  texts = language_check.random_walks(py_grammar, 120, seed=5, max_len=150, table=table)
  got = language_check.rejections(texts, "python")
  assert got["accepted_fraction"] == 1.0, got["kinds"]
  assert sum(len(t) for t in texts) > 120 * 40  # real programs, not empty ones


@pytest.mark.parametrize("kind", sorted(PUSHED))
def test_each_rule_removes_its_rejection(py_grammar, table, kind):
  with_rules = language_check.rejections(pushed_walks(py_grammar, table, PUSHED[kind], 40, seed=1), "python")
  assert with_rules["accepted_fraction"] == 1.0, with_rules["kinds"]
  bare = SlotTable(py_grammar)  # the same strict mode without placement rules
  bare.strict.placement.rules, bare.strict.placement.checks = None, []
  without = language_check.rejections(pushed_walks(py_grammar, bare, PUSHED[kind], 40, seed=1), "python")
  assert kind in without["kinds"], without["kinds"]  # the rule is what removes it


def test_one_starred_target_per_pattern(py_files):
  """`*a, *b = ...`: walks pushed toward starred targets compile; with only that predicate dropped from the
  `list_splat_pattern` rules (every other rule kept) the refusal returns."""
  import dataclasses
  import os
  from structlm.syntax import placement_python as pp
  from structlm.syntax import sources
  from structlm.syntax.build import build_grammar
  from structlm.syntax.grammar import GrammarConfig
  from structlm.syntax.placement import PlacementMask
  path = os.path.join(os.path.dirname(__file__), "placement_data", "targets.py")
  py_grammar = build_grammar("python", py_files[:12] + [(path, sources.read(path))],
                             GrammarConfig(vocab_size=2048, min_count=1))
  table = SlotTable(py_grammar)
  kinds = {"list_splat_pattern", "pattern_list", "list_pattern", "assignment"}
  with_rules = language_check.rejections(pushed_walks(py_grammar, table, kinds, 60, seed=1), "python")
  assert with_rules["accepted_fraction"] == 1.0, with_rules["kinds"]
  preds = tuple(p for p in pp.PYTHON.need["list_splat_pattern"].__defaults__[0] if p is not pp._one_starred_target)
  dropped = SlotTable(py_grammar)
  dropped.strict.placement = PlacementMask(py_grammar, dataclasses.replace(
      pp.PYTHON, need=dict(pp.PYTHON.need, list_splat_pattern=lambda c: all(p(c) for p in preds))))
  without = language_check.rejections(pushed_walks(py_grammar, dropped, kinds, 60, seed=1), "python")
  assert "multiple starred expressions in assignment" in without["kinds"], without["kinds"]


def test_rules_keep_what_is_legal(py_grammar, table):
  """Pushed walks still write `return` in functions, `break` in loops and keyword arguments after positional
  ones: the rules narrow where, not whether."""
  texts = b"\n".join(pushed_walks(py_grammar, table, {"return_statement", "break_statement", "keyword_argument"},
                                  40, seed=2))
  assert texts.count(b"return") >= 5 and texts.count(b"break") >= 1 and b"=" in texts


def test_parameter_names_are_distinct_and_calls_ordered(py_grammar, table):
  import ast
  texts = pushed_walks(py_grammar, table, {"parameters", "lambda_parameters", "default_parameter",
                                           "argument_list", "keyword_argument"}, 40, seed=3)
  params = 0
  for t in texts:
    for node in ast.walk(ast.parse(t)):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        a = node.args
        names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg] if x is not None]
        assert len(names) == len(set(names)), names
        params += len(names)
  assert params >= 20


def test_language_check_groups_rejections():
  got = language_check.rejections([b"return 1\n", b"x = 1\n", b"f(a=1, 2)\n", b"return 2\n"], "python")
  assert got["accepted_fraction"] == 0.25
  assert got["kinds"]["'…' outside function"][0] == 2
  assert got["kinds"]["positional argument follows keyword argument"][1] == ["f(a=1, 2)"]
  with pytest.raises(ValueError, match="no compiler check"):
    language_check.rejections([b""], "cobol")


@pytest.mark.skipif(not __import__("shutil").which("node"), reason="judging JavaScript needs node")
def test_javascript_walks_pass_v8(js_grammar):
  """Uniform strict walks on the JavaScript grammar: V8 (node, as a script or a module) accepts every one; the
  same walks without the placement rules are mostly refused (a `const` with no value, a name declared twice)."""
  table = SlotTable(js_grammar)
  got = language_check.rejections(language_check.random_walks(js_grammar, 150, seed=3, table=table), "javascript")
  assert got["accepted_fraction"] == 1.0, got["kinds"]
  bare = SlotTable(js_grammar)
  bare.strict.placement.rules, bare.strict.placement.checks = None, []
  without = language_check.rejections(language_check.random_walks(js_grammar, 150, seed=3, table=bare),
                                      "javascript")
  assert without["accepted_fraction"] < 0.6 and "Missing initializer in const declaration" in without["kinds"]


# V8's refusals (as language_check words them) -> (the node kinds a JavaScript walk is pushed toward, the `need`
# keys of the rule that removes it: the same walks with only that rule dropped must show the refusal)
PUSHED_JS = {
    "Illegal return statement": ({"return_statement", "if_statement"}, ["return_statement"]),
    "Setter must have exactly one formal parameter.": ({"method_definition", "formal_parameters"},
                                                       [("formal_parameters", "none"), ("formal_parameters", "many")]),
    "Export '…' is not defined in module": ({"export_clause", "export_specifier"}, [("export_statement", "clause")]),
    "More than one default clause in switch statement": ({"switch_statement", "switch_default"}, ["switch_default"]),
    "Unexpected token '…'": ({"for_statement", "expression_statement"},  # no automatic `;` (a for head has none)
                             [(k, "asi") for k in ("expression_statement", "variable_declaration",
                                                   "lexical_declaration")]),
}


@pytest.fixture(scope="module")
def js_statements_grammar(js_files):
  import os
  from structlm.syntax import sources
  from structlm.syntax.build import build_grammar
  from structlm.syntax.grammar import GrammarConfig
  path = os.path.join(os.path.dirname(__file__), "placement_data", "statements.js")
  return build_grammar("javascript", js_files + [(path, sources.read(path))],
                       GrammarConfig(vocab_size=2048, min_count=1))


@pytest.mark.skipif(not __import__("shutil").which("node"), reason="judging JavaScript needs node")
@pytest.mark.parametrize("kind", sorted(PUSHED_JS))
def test_each_javascript_rule_removes_its_rejection(js_statements_grammar, kind):
  import dataclasses
  from structlm.syntax.placement import PlacementMask
  from structlm.syntax.placement_javascript import JAVASCRIPT
  g = js_statements_grammar
  kinds, keys = PUSHED_JS[kind]
  with_rules = language_check.rejections(pushed_walks(g, SlotTable(g), kinds, 60, seed=2), "javascript")
  assert with_rules["accepted_fraction"] == 1.0, with_rules["kinds"]
  dropped = SlotTable(g)  # every other rule kept
  dropped.strict.placement = PlacementMask(g, dataclasses.replace(
      JAVASCRIPT, need={k: v for k, v in JAVASCRIPT.need.items() if k not in keys}))
  without = language_check.rejections(pushed_walks(g, dropped, kinds, 60, seed=2), "javascript")
  assert kind in without["kinds"], without["kinds"]
