"""Tests that catch the silent bugs a mutation run found (issue: tests that catch the bugs they guard): layout
that only tabs, form feeds and odd line endings exercise; the fairness switches' defaults; tree features that reach
the model; splits that share no file."""
import hashlib
import os

import numpy as np
import pytest
from flax import nnx

from structlm.model import ModelConfig, Transformer, model_inputs
from structlm.run import load_config
from structlm.syntax.codec import Codec
from structlm.syntax.tree import Skip

LAYOUT_PY = {
    "tabs": b"def f(x):\n\tif x:\n\t\treturn 1\n\treturn 2\n\n\nclass C:\n\tdef m(self):\n\t\tpass\n",
    "mixed": b"if True:\n        x = 1\n        if x:\n\t    y = 2\n        z = 3\n",
    "formfeed": b"import os\n\x0c\ndef f():\n    return os.sep\n\x0c\nx = f()\n",
    "crlf": b"def f():\r\n    return 1\r\n\r\nx = f()\r\n",
    "bom": "\ufeffx = 1\nprint(x)\n".encode(),
    "no_final_newline": b"def f():\n    return 1\n\nx = f()",
    "tab_after_close": b"class C:\n\tdef m(self):\n\t\tif self:\n\t\t\tpass\n\t\treturn 1\n\tx = 2\ny = 3\n",
}
LAYOUT_JS = {
    "tabs": b"function f(x) {\n\tif (x) {\n\t\treturn 1;\n\t}\n\treturn 2;\n}\n",
    "crlf": b"const a = 1;\r\nfunction g() {\r\n  return a;\r\n}\r\n",
    "no_final_newline": b"const a = 1;\nlet b = a + 1;",
}


@pytest.mark.parametrize("native", [True, False])
def test_layout_corpus_round_trips_through_both_paths(py_grammar, js_grammar, native):
  """Tabs (also after a closing line), mixed tabs and spaces, form feeds, CRLF, a BOM, no final newline: each
  decodes byte-exactly through the C encoder and decoder and through the Python ones."""
  checked = 0
  for grammar, cases in ((py_grammar, LAYOUT_PY), (js_grammar, LAYOUT_JS)):
    codec = Codec(grammar, native=native)
    for name, src in cases.items():
      try:
        enc = codec.encode(src)
      except Skip:
        continue
      assert codec.decode(enc.actions) == src, name
      assert codec.decode(enc.actions, check=True) == src, name  # the Python machine, masks checked
      checked += 1
  assert checked >= 8


def test_fairness_switches_default_on():
  """The comparison rests on these defaults: a run that forgets to set them still gets the fair setting."""
  cfg = load_config("experiments/base.py")
  assert cfg.grammar_mask and cfg.tree_features and cfg.name_features and cfg.ref_mask
  assert cfg.leaf_capacity == "merges" and cfg.weight_decay > 0 and cfg.warmup > 0


@pytest.mark.parametrize("feature", ["depth", "parent", "slots"])
def test_tree_features_reach_the_model(feature):
  """Changing one tree feature of the predicted action changes the logits (fed as zeros, they would not)."""
  V, S, T = 40, 6, 8
  cfg = ModelConfig(variant="structured", vocab_size=V, d_model=16, n_layers=1, n_heads=1, d_ff=32, num_slots=S,
                    num_parents=V, grammar_mask=False)
  model = Transformer(cfg, nnx.Rngs(0))
  rng = np.random.default_rng(0)
  b = {"ids": rng.integers(0, V, (1, T + 1)).astype(np.int32), "segment_ids": np.ones((1, T + 1), np.int32),
       "positions": np.arange(T + 1)[None].astype(np.int32), "slots": rng.integers(1, S, (1, T + 1)).astype(np.int32),
       "depth": rng.integers(1, 9, (1, T + 1)).astype(np.int32),
       "parent": rng.integers(1, V, (1, T + 1)).astype(np.int32)}
  base = np.asarray(model(model_inputs(b)))
  other = dict(b)
  other[feature] = (b[feature] + 1) % {"depth": 9, "parent": V, "slots": S}[feature]
  changed = np.asarray(model(model_inputs(other)))
  assert np.abs(changed - base).max() > 1e-4


def test_splits_share_no_file(tmp_path):
  """Train, validation and test hold disjoint files, by path and by content (a leak would not change counts)."""
  import os

  from structlm.data.pipeline import open_split
  from structlm.data.prepare import prepare
  from tests.test_data import make_corpus
  res = prepare(corpus=make_corpus(str(tmp_path / "c")), data_dir=str(tmp_path / "d"), vocab_size=2048, workers=1)
  paths, contents = {}, {}
  from structlm.data.vocab import load
  from structlm.data.code_corpus.code_corpus import vocab_dir, vocab_name
  vocab = load(vocab_dir(str(tmp_path / "d"), vocab_name(str(tmp_path / "c"), "python", False, 2048)))
  for split in ("train", "validation", "test"):
    src, _ = open_split(res["dataset_dir"], split)
    paths[split] = {bytes(src[i]["path"]) if not isinstance(src[i]["path"], str) else src[i]["path"].encode()
                    for i in range(len(src))}
    contents[split] = {hashlib.sha256(vocab.source(src[i]["tokens"])).hexdigest() for i in range(len(src))}
  for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
    assert not paths[a] & paths[b] and not contents[a] & contents[b], (a, b)
  assert all(paths.values()) and os.path.isdir(res["dataset_dir"])


def test_no_module_of_structlm_imports_one_that_imports_it_back():
  """Languages are found through their LanguageSpec: shared modules never import a language's (no cycles,
  function-level imports included)."""
  import ast
  root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "structlm")
  paths = {}
  for d, _, files in os.walk(root):
    for f in files:
      if f.endswith(".py"):
        name = os.path.relpath(os.path.join(d, f), os.path.dirname(root))[:-3].replace(os.sep, ".")
        paths[name.removesuffix(".__init__")] = os.path.join(d, f)
  graph = {}
  for m, p in paths.items():
    deps = set()
    for node in ast.walk(ast.parse(open(p).read())):
      names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
      if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in paths:
        names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in paths else node.module for a in node.names]
      deps |= {n for n in names if n in paths and n != m}
    graph[m] = deps

  def reaches(a, b, seen):
    return any(d == b or (d not in seen and not seen.add(d) and reaches(d, b, seen)) for d in graph[a])
  cycles = sorted((a, b) for a in graph for b in graph[a] if a < b and reaches(b, a, set()))
  assert not cycles, cycles
