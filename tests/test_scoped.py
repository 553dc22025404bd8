"""The scoped variant: names by reference are lossless and canonical; REFs only to names spelled within the name
window (machine and model, checked again from the decoded source); strict mode's scope rules give programs that
parse and that pyflakes finds no unbound read in."""
import ast

import numpy as np
import pytest
from flax import nnx

from structlm.model import NEG, ModelConfig, Transformer, model_inputs
from structlm.syntax import languages
from structlm.syntax.machine import InvalidAction
from structlm.syntax.names import NameScheme, ScopedMachine, legal_refs, window_report
from structlm.syntax.tree import Skip, strip_comments

WINDOW = 768  # the study's context in bytes


@pytest.fixture(scope="module")
def py_scheme(py_codec):
  return NameScheme(py_codec.g, py_codec.table, window=WINDOW)


def _round_trip(codec, scheme, files, strip=False):
  n_struct = n_scoped = n_refs = checked = 0
  for path, src in files:
    try:
      enc = codec.encode(src, strip=strip)
    except Skip:
      continue
    want = strip_comments(src, codec.g.language) if strip else src
    se = scheme.encode(enc)
    assert (scheme.expand(se.actions, se.slots) == enc.actions).all(), path
    m = ScopedMachine(scheme)
    for t, a in enumerate(se.actions.tolist()):  # the features the encoder stored, from the prefix alone
      assert (m.slot(), m.name_count(), m.name_live()) == (se.slots[t], se.name_count[t], se.name_live[t]), (path, t)
      m.step(a)  # every action checked against the training mask on the way
    assert m.output() == want, path
    refs = se.actions >= scheme.ref_base
    legal = legal_refs(se.name_count[refs], se.name_live[refs], scheme.refs)
    assert legal[np.arange(int(refs.sum())), se.actions[refs] - scheme.ref_base].all(), path  # only legal REFs
    if not scheme.recency:  # (recency: the id is a rank, the names feature still the serial's)
      assert (se.names[refs] == se.actions[refs] - scheme.ref_base + 1).all(), path
    assert int((se.names > 0).sum() - refs.sum()) == m.count, path  # one serial per spelling
    report = window_report(scheme, se.actions, se.slots, want)  # from the decoded source, not the encoder
    assert report["refs"] == int(refs.sum()) and report["refs_beyond_window"] == 0, (path, report)
    assert report["unplaced"] == 0, (path, report)
    n_struct, n_scoped, n_refs, checked = n_struct + len(enc), n_scoped + len(se), n_refs + int(refs.sum()), checked + 1
  return n_struct, n_scoped, n_refs, checked


def test_round_trip_is_byte_exact_python_and_comment_free(py_codec, py_scheme, py_files):
  n_struct, n_scoped, n_refs, checked = _round_trip(py_codec, py_scheme, py_files)
  assert checked >= 40 and n_refs > 0.03 * n_scoped
  # references shorten the sequence, less inside the window than over the whole file (docs/representation.md)
  assert n_scoped < 0.99 * n_struct
  whole = NameScheme(py_codec.g, py_codec.table, window=0)
  _, n_file, n_file_refs, _ = _round_trip(py_codec, whole, py_files[:20])
  _, n_window, n_window_refs, _ = _round_trip(py_codec, py_scheme, py_files[:20])
  assert n_file < n_window and n_file_refs > n_window_refs
  narrow = NameScheme(py_codec.g, py_codec.table, window=120)  # a narrow window: many re-spellings, still exact
  _round_trip(py_codec, narrow, py_files[:10])
  _, _, _, checked = _round_trip(py_codec, py_scheme, py_files[:12], strip=True)
  assert checked >= 10


def _recency_ranks(scheme, structured):
  """Independently of the encoder: replay the structured actions, and at each use of a name that was spelled
  within the window, count the distinct such names used since its last use (the rank a REF must carry)."""
  from structlm.syntax.machine import Machine
  m, g = Machine(scheme.g, table=scheme.table), scheme.g
  last_use, spelled_at, ranks, clock = {}, {}, [], 0
  leaf, start = None, 0
  for x in structured:
    if leaf is None and g.piece_base <= x < scheme.piece_end and scheme.name_slot[m.slot()]:
      leaf, start = [], m.leaf_offset()
    m.step(int(x), check=False)
    if leaf is None:
      continue
    leaf.append(x - g.piece_base)
    if not scheme._final[x - g.piece_base]:
      continue
    text, leaf = g.pieces.decode(leaf), None
    if not scheme.is_name(text):
      continue
    live = {t for t, at in spelled_at.items() if start - at <= scheme.window}
    if text in live:
      ranks.append(sum(1 for t in live if last_use[t] > last_use[text]))
    else:
      spelled_at[text] = start
    clock += 1
    last_use[text] = clock
  return ranks


def test_recency_numbering_ranks_names_by_last_use(py_codec, py_files, js_grammar, js_files):
  """scoped_recency's encoding: lossless, prefix-computable (the round trip above), REF r is the live name used
  r-th most recently (checked by an independent replay of the decoded actions), the same REFs as serial
  numbering, and lower ids on average."""
  from structlm.syntax.codec import Codec
  for codec, files, least in ((py_codec, py_files[:25], 20), (Codec(js_grammar), js_files, len(js_files))):
    serial = NameScheme(codec.g, codec.table, window=WINDOW)
    recency = NameScheme(codec.g, codec.table, window=WINDOW, numbering="recency")
    _, _, n_refs, checked = _round_trip(codec, recency, files)
    assert checked >= least and n_refs > 100
    small = NameScheme(codec.g, codec.table, refs=4, window=WINDOW, numbering="recency")  # the order list pruned
    _round_trip(codec, small, files[:5])
    ids = {"serial": [], "recency": []}
    for _, src in files:
      try:
        enc = codec.encode(src)
      except Skip:
        continue
      a, b = serial.encode(enc), recency.encode(enc)
      assert _same(b, recency.encode_reference(enc))
      refs = b.actions >= recency.ref_base
      assert np.array_equal(refs, a.actions >= serial.ref_base) and np.array_equal(a.names, b.names)
      assert np.array_equal(b.name_count, b.name_live) and (b.actions[refs] - recency.ref_base < b.name_live[refs]).all()
      assert (b.actions[refs] - recency.ref_base).tolist() == _recency_ranks(recency, enc.actions.tolist())
      ids["recency"] += (b.actions[refs] - recency.ref_base).tolist()
      ids["serial"] += ((a.name_count[refs] - 1 - (a.actions[refs] - serial.ref_base)) % serial.refs).tolist()
    assert np.mean(ids["recency"]) < np.mean(ids["serial"])  # frequent names keep small ids
  with pytest.raises(ValueError, match="numbering 'mtf'"):
    NameScheme(py_codec.g, py_codec.table, numbering="mtf")


def test_round_trip_javascript(js_grammar, js_files):
  from structlm.syntax.codec import Codec
  codec = Codec(js_grammar)
  scheme = NameScheme(js_grammar, codec.table, window=WINDOW)
  assert any(k[0] == "member_expression" for k in scheme.name_keys)  # property names count as names too
  _, _, n_refs, checked = _round_trip(codec, scheme, js_files)
  assert checked == len(js_files) and n_refs > 0


def test_encoding_is_canonical(py_codec, py_scheme, py_files):
  """A REF replaced by its spelling is a valid sequence with the same bytes (every spelling takes the next serial,
  so the later REFs are renumbered by the encoder), but the encoder gives the REF back: one sequence per file."""
  src = py_files[3][1]
  enc = py_codec.encode(src)
  se = py_scheme.encode(enc)
  i = int(np.flatnonzero(se.actions >= py_scheme.ref_base)[0])
  m = ScopedMachine(py_scheme)
  m.feed(se.actions[:i])
  spelled = py_scheme.spell(m.ring[int(se.actions[i]) - py_scheme.ref_base])
  other = np.concatenate([se.actions[:i], spelled])
  m_other, m_ref = ScopedMachine(py_scheme), ScopedMachine(py_scheme)
  m_other.feed(other)
  m_ref.feed(se.actions[:i + 1])
  assert m_other.output() == m_ref.output() and m_other.count == m_ref.count + 1
  assert (py_scheme.encode(py_codec.encode(src)).actions == se.actions).all()


def test_references_only_to_names_that_exist(py_codec, py_scheme, py_files):
  enc = py_codec.encode(py_files[0][1])
  se = py_scheme.encode(enc)
  with pytest.raises(InvalidAction):
    ScopedMachine(py_scheme).step(py_scheme.ref_base)  # nothing is named yet
  m = ScopedMachine(py_scheme)
  seen_name_slot = False
  for a in se.actions:
    mask = m.mask()
    refs = mask[py_scheme.ref_base:]
    if m.at_name():
      seen_name_slot = True
      assert (refs == legal_refs(m.name_count(), m.name_live(), py_scheme.refs)).all()
    else:
      assert not refs.any()
    m.step(int(a))
  assert seen_name_slot
  m2 = ScopedMachine(py_scheme)  # REF past the table, in a fresh machine at the prefix before the first REF
  first_ref = int(np.flatnonzero(se.actions >= py_scheme.ref_base)[0])
  m2.feed(se.actions[:first_ref])
  m2.step(int(se.actions[first_ref]))  # the file's own REF is valid there...
  m3 = ScopedMachine(py_scheme)
  m3.feed(se.actions[:first_ref])
  with pytest.raises(InvalidAction, match="legal here"):  # ...one past the table is not
    m3.step(py_scheme.ref_base + m3.name_count())


def test_a_name_spelled_before_the_window_is_spelled_again(py_codec):
  """The window in source bytes: a name used at the top and again more than `window` bytes later is spelled
  there (and re-anchored: its next use is a REF again), whatever whole-file memory would do."""
  pad = "".join(f"v{i} = {i}  # some padding to push the next use of helper out of reach\n" for i in range(12))
  src = f"def helper():\n    pass\n\n\n{pad}helper()\nhelper()\n".encode()
  assert len(pad) > 768
  enc = py_codec.encode(src)
  window = NameScheme(py_codec.g, py_codec.table, window=768)
  whole = NameScheme(py_codec.g, py_codec.table, window=0)

  def uses(scheme):  # for each use of `helper`: "ref" or "spelled"
    se = scheme.encode(enc)
    m, out = ScopedMachine(scheme), []
    for a in se.actions.tolist():
      if a >= scheme.ref_base and m.ring[a - scheme.ref_base] == b"helper":
        out.append("ref")
      m.step(a)
      if a < scheme.ref_base and m.last_name and m.ring[m.last_name - 1] == b"helper":
        out.append("spelled")
    assert m.output() == src
    return out

  assert uses(whole) == ["spelled", "ref", "ref"]
  assert uses(window) == ["spelled", "spelled", "ref"]


def test_leaf_offsets_c_equal_the_machine(py_codec, py_scheme, py_files, js_grammar, js_files):
  """The C decoder's leaf offsets are the Python machine's at every choice point (the window's clock)."""
  from structlm.syntax.codec import Codec
  from structlm.syntax.machine import Machine
  js = Codec(js_grammar)
  cases = [(py_codec, py_scheme, s) for _, s in py_files[:8]]
  cases += [(js, NameScheme(js_grammar, js.table, window=WINDOW), s) for _, s in js_files[:4]]
  checked = 0
  for codec, scheme, src in cases:
    actions = codec.encode(src).actions
    got = scheme.leaf_offsets(actions)
    m = Machine(codec.g, table=codec.table)
    for i, a in enumerate(actions.tolist()):
      if m.sub is None:
        assert got[i] == m.leaf_offset(), i
        checked += 1
      m.step(a, check=False)
  assert checked > 5_000


def test_model_gives_no_mass_to_refs_past_the_table():
  V, R, S, T = 40, 8, 5, 10
  cfg = ModelConfig(variant="scoped", vocab_size=V, d_model=16, n_layers=1, n_heads=2, d_ff=32, num_slots=S,
                    num_refs=R, grammar_mask=False)
  model = Transformer(cfg, nnx.Rngs(0))
  rng = np.random.default_rng(0)
  count = (np.arange(T + 1) * 2)[None].astype(np.int32)  # past R: the ring wraps
  live = np.minimum(np.arange(T + 1) % 7, R)[None].astype(np.int32)
  b = {"ids": rng.integers(0, V, (1, T + 1)).astype(np.int32), "segment_ids": np.ones((1, T + 1), np.int32),
       "positions": np.arange(T + 1)[None].astype(np.int32), "slots": np.zeros((1, T + 1), np.int32),
       "depth": np.zeros((1, T + 1), np.int32), "parent": np.zeros((1, T + 1), np.int32),
       "names": rng.integers(0, R + 1, (1, T + 1)).astype(np.int32), "name_count": count, "name_live": live}
  logits = np.asarray(model(model_inputs(b)))
  for t in range(T):
    c, n = int(count[0, t + 1]), int(live[0, t + 1])
    legal = {(c - 1 - k) % R for k in range(n)}  # the n newest serials' ring slots
    assert {i for i in range(R) if logits[0, t, V - R + i] > NEG / 2} == legal, t
  with pytest.raises(ValueError, match="needs REF actions"):
    ModelConfig(variant="scoped", vocab_size=V, num_slots=S)
  with pytest.raises(ValueError, match="unknown variant"):
    ModelConfig(variant="scopd", vocab_size=V)


def _undefined(src: bytes):
  from pyflakes import checker, messages
  return [m for m in checker.Checker(ast.parse(src), filename="walk").messages
          if isinstance(m, (messages.UndefinedName, messages.UndefinedLocal))]


def _strict_walk(scheme, rng, max_len: int = 200):
  """A random walk through strict mode (a REF drawn half the time one is allowed): (the program, REFs taken)."""
  m = ScopedMachine(scheme, strict=True, max_len=max_len)
  refs = 0
  while not m.done:
    ids = np.flatnonzero(m.mask())
    assert len(ids), "dead end"
    r = ids[ids >= scheme.ref_base]
    a = int(rng.choice(r)) if len(r) and rng.random() < 0.5 else int(rng.choice(ids))
    refs += a >= scheme.ref_base
    m.step(a, check=False)
  return m.output(), refs


def test_strict_walks_parse_and_read_only_bound_names(py_scheme):
  """Random walks through strict mode (REFs drawn half the time they are allowed): tree-sitter parses every
  program, and pyflakes finds no read of an unbound name in those that are valid Python 3."""
  parser = languages.parser("python")
  rng = np.random.default_rng(7)
  checked = refs = 0
  for _ in range(40):
    out, n_refs = _strict_walk(py_scheme, rng)
    refs += n_refs
    assert not parser.parse(out).root_node.has_error, out.decode()
    try:
      found = _undefined(out)
    except SyntaxError:
      continue  # tree-sitter accepts more than Python 3 (a `return` outside a function): not checkable
    checked += 1
    assert not found, (out.decode(), [str(x) for x in found])
  assert checked >= 8 and refs > 50


def test_features_are_known_from_the_prefix(py_codec, py_scheme, py_files):
  """No look-ahead: the machine, fed only the actions before t, gives the dataset's features of action t (slot,
  depth, parent, names in the table), and after it the action's own name index, at every position."""
  for _, src in py_files[:6]:
    se = py_scheme.encode(py_codec.encode(src))
    m = ScopedMachine(py_scheme)
    for t, a in enumerate(se.actions):
      assert (m.slot(), m.depth(), m.parent(), m.name_count(), m.name_live()) == (
          se.slots[t], se.depth[t], se.parent[t], se.name_count[t], se.name_live[t]), t
      m.step(int(a))
      assert m.last_name == se.names[t], t


def _same(a, b):
  return all(np.array_equal(getattr(a, f), getattr(b, f))
             for f in ("actions", "slots", "depth", "parent", "names", "name_count", "name_live"))


def test_native_references_equal_the_reference(py_codec, py_files, js_grammar, monkeypatch):
  """The C transform (structlm/native/names.c) gives the numpy reference's rows: on real files, with a full
  table (4 entries), with non-ASCII names (Python's pattern through the callback), long names (more pieces than
  a packed text id holds), keywords at name slots, `$` names (JavaScript), and it refuses a cut leaf alike."""
  import dataclasses
  import gc
  import weakref

  from structlm.syntax import names as names_lib
  from structlm.syntax.codec import Codec
  native = NameScheme(py_codec.g, py_codec.table, native=True)
  small = NameScheme(py_codec.g, py_codec.table, refs=4, native=True)
  windowed = NameScheme(py_codec.g, py_codec.table, window=300, native=True)
  spec = languages.spec("python")  # Python 3 has no keyword at a name slot: make `self` and `print` keywords
  monkeypatch.setattr(names_lib.languages, "spec", lambda lang: dataclasses.replace(
      spec, keywords=spec.keywords | {"self", "print"}))
  keywords = NameScheme(py_codec.g, py_codec.table, native=True)
  monkeypatch.undo()
  long_name = "a_rather_long_identifier_with_many_unusual_pieces_qzxv_" * 3
  edge = ("café = 1\nnaïve = café + 1\nprint(café, naïve, Ωmega)\n"
          f"{long_name} = 2\n{long_name} += {long_name}\n").encode()
  encs = [py_codec.encode(s) for _, s in py_files[:25]] + [py_codec.encode(edge)]
  checked = {"refs": 0, "full": 0, "keywords": 0}
  for enc in encs:
    for scheme in (native, small, keywords, windowed):
      got, want = scheme.encode(enc), scheme.encode_reference(enc)
      assert _same(got, want)
      checked["refs"] += int((got.actions >= scheme.ref_base).sum())
      checked["full"] += scheme is small and int(got.name_live.max(initial=0)) == 4
    checked["keywords"] += int(native.encode(enc).name_count[-1] - keywords.encode(enc).name_count[-1])
  assert checked["refs"] > 1000 and checked["full"] >= 20 and checked["keywords"] >= 20
  calls, slow = [], names_lib._slow_is_name
  monkeypatch.setattr(names_lib, "_slow_is_name", lambda *a: calls.append(a[-1]) or slow(*a))
  callback = NameScheme(py_codec.g, py_codec.table, native=True)
  got = callback.encode(encs[-1])
  monkeypatch.undo()
  texts = {py_codec.g.pieces.decode(np.frombuffer(r, np.int32).tolist()).decode() for r in calls}
  assert _same(got, native.encode(encs[-1])) and {"café", "naïve", "Ωmega"} <= texts
  gone = weakref.ref(callback)
  del callback
  gc.collect()
  assert gone() is None  # the C object holds no reference back to its scheme
  assert got.name_count[-1] == 5  # café, naïve, print, Ωmega, the long name
  assert (got.actions >= native.ref_base).sum() == 5  # café ×2, naïve, the long name ×2
  js = Codec(js_grammar)
  js_native = NameScheme(js_grammar, js.table, native=True)
  src = b"const a = {}; a.default = a.new; a.default(a.new, $x, $x, a);\n"
  enc = js.encode(src)
  got = js_native.encode(enc)
  assert _same(got, js_native.encode_reference(enc))
  assert js_native.expand(got.actions, got.slots).tolist() == enc.actions.tolist()
  # names: a and $x (REFs: a ×5, $x); `default` and `new` are not names
  assert got.name_count[-1] == 2 and (got.actions >= js_native.ref_base).sum() == 6
  cut = py_codec.encode(b"some_name = some_name\n")
  last_piece = int(np.flatnonzero(cut.actions >= py_codec.g.piece_base)[-1])
  cut_enc = type(cut)(*(x[:last_piece] for x in (cut.actions, cut.slots, cut.depth, cut.parent)))
  for scheme in (native, NameScheme(py_codec.g, py_codec.table, native=False)):
    with pytest.raises(InvalidAction):
      scheme.encode(cut_enc)
  scoped = native.encode(cut)
  with pytest.raises(InvalidAction, match="outside the structured vocabulary"):
    native.encode(type(cut)(scoped.actions, scoped.slots, scoped.depth, scoped.parent))  # REFs already


def _hole_rules(scheme, codec, src: bytes, k: int):
  """Strict mode at the k-th name hole of `src`: (names a REF may take, the hole's role: bind / read / free)."""
  se = scheme.encode(codec.encode(src))
  m = ScopedMachine(scheme, strict=True)
  seen = 0
  for a in se.actions:
    if m.at_name() and a >= scheme.g.piece_base:  # a name starts here (spelled or REF)
      if seen == k:
        mask = m.mask()
        refs = {m.ring[i].decode() for i in np.flatnonzero(mask[scheme.ref_base:])}
        return refs, m.scopes._rules()[0]
      seen += 1
    m.step(int(a), check=False)
  raise AssertionError(f"{src!r} has no name hole {k}")


def test_javascript_scope_rules(js_grammar, js_files):
  """JavaScript's strict mode: random walks parse and read no unbound name (by scopes_js's analysis of the
  finished program); and the rules' decisions at chosen holes: the temporal dead zone (declarations, parameter
  defaults, loop heads), destructuring that declares or assigns, parameters against the body's declarations,
  `var` in its function, `switch` cases, exports."""
  from structlm.syntax.build import build_grammar
  from structlm.syntax.codec import Codec
  from structlm.syntax.grammar import GrammarConfig
  from structlm.syntax.scopes import analyze
  codec = Codec(js_grammar)
  scheme = NameScheme(js_grammar, codec.table)
  parser = languages.parser("javascript")
  rng = np.random.default_rng(3)
  refs = 0
  for _ in range(40):
    out, n_refs = _strict_walk(scheme, rng)
    refs += n_refs
    assert not parser.parse(out).root_node.has_error, out.decode()
    unbound = [n for s in analyze(out, "javascript").walk() for n, _ in s.reads if s.resolve(n) is None]
    assert not unbound, (out.decode(), unbound)
  assert refs > 150
  # decisions at chosen holes (counted from 0 over each source's names), under a grammar that has seen them
  cases = [b"const x = 1;\n{\n  const x = x;\n}\n", b"const x = 1;\nfunction f(p) {\n  x;\n  let q = p;\n}\n",
           b"let a = 1, b = 2;\n[a, b] = [b, a];\n", b"let a = 1;\nconst [c, d] = [a, a];\n",
           b"function f() {\n  {\n    var v = 1;\n  }\n  return v;\n}\n",
           b"function f() {\n  {\n    let v = 1;\n  }\n  return v;\n}\n",
           b"let b = 1;\nfunction f(a = b, b) {}\n",
           b"switch (2) {\n  case 1:\n    let a = 1;\n    break;\n  case 2:\n    a;\n}\n",
           b"let a = [[1]];\nfor (const [a] of a) {\n}\n", b"let x = 1;\nfor (var x of [1]) {\n}\n",
           b"import { a as b } from 'm';\nexport { b };\n",
           b"switch (2) {\n  case 1:\n    let a = 1;\n    break;\n  default:\n    let c = 2;\n}\n"]
  g = build_grammar("javascript", js_files + [(f"case{i}.js", c) for i, c in enumerate(cases)],
                    GrammarConfig(vocab_size=2048, min_count=1))
  codec = Codec(g)
  scheme = NameScheme(g, codec.table)
  refs, _ = _hole_rules(scheme, codec, cases[0], 2)  # { const x = |x }
  assert refs == set()  # the inner x is being declared: the outer one is shadowed, the inner not readable yet
  refs, _ = _hole_rules(scheme, codec, cases[1], 4)  # let |q
  assert "x" not in refs and "p" not in refs  # x was read here from outside; p is a parameter of this body
  refs, role = _hole_rules(scheme, codec, cases[2], 2)  # [|a, b] = ...
  assert refs == {"a", "b"} and role == "read"  # an assignment: only names in scope (or builtins)
  _, role = _hole_rules(scheme, codec, cases[3], 2)  # const [|c, d]
  assert role == "bind"  # a declaration: fresh names
  refs, _ = _hole_rules(scheme, codec, cases[4], 2)  # return |v
  assert refs == {"f", "v"}  # a var outlives its block
  refs, _ = _hole_rules(scheme, codec, cases[5], 2)
  assert refs == {"f"}  # ...a let does not
  refs, _ = _hole_rules(scheme, codec, cases[6], 4)  # f(a = b, |b)
  assert "b" not in refs  # the default read the outer b: a parameter b would make that read unbound
  refs, _ = _hole_rules(scheme, codec, cases[7], 1)  # case 2: |a
  assert "a" not in refs  # case 1's let: not bound when case 2 runs
  refs, _ = _hole_rules(scheme, codec, cases[11], 1)  # default: let |c
  assert "a" not in refs  # ...nor declared again in the same switch
  refs, role = _hole_rules(scheme, codec, cases[8], 1)  # for (const [|a] of a)
  assert role == "loop" and refs == {"a"}  # declares or assigns: a name in scope...
  refs, _ = _hole_rules(scheme, codec, cases[8], 2)  # for (const [a] of |a)
  assert "a" not in refs  # ...not readable in the head (were it declared, the head's a would be unbound)
  refs, _ = _hole_rules(scheme, codec, cases[9], 1)  # for (var |x of [1])
  assert "x" not in refs  # a var is the function's (here the module's): it would redeclare the let
  refs, role = _hole_rules(scheme, codec, cases[10], 2)  # export { |b }
  assert role == "export" and refs == {"b"}  # only what the module binds (a: imported under another name)


def test_strict_walks_compile(py_scheme):
  """The scoped variant's strict walks (REFs half the time) compile with CPython: the placement rules narrow the
  scope rules' lexicons too (a target is an identifier; a parameter's name, spelled or by REF, is new to its
  list, a `*args` one included)."""
  from structlm.syntax import language_check
  rng = np.random.default_rng(7)
  outs = [_strict_walk(py_scheme, rng)[0] for _ in range(200)]
  got = language_check.rejections(outs, "python")
  assert got["accepted_fraction"] == 1.0, got["kinds"]


def test_strict_walks_never_dead_end_when_closed_early(py_scheme):
  """Closed early (a short max_len: strict mode then takes the shortest way out), a name hole whose scope rules
  allow no name (a `del` target with nothing bound) still offers the legal names: no walk dead-ends."""
  rng = np.random.default_rng(3)
  for _ in range(300):
    _strict_walk(py_scheme, rng, max_len=int(rng.integers(10, 80)))


def test_a_with_targets_tuple_binds(py_codec, py_scheme):
  """`with a as (b,):` binds b (CPython: a read of b earlier in the function would be a read of this local before
  its assignment, which the scope rules then refuse); the name hole inside the tuple is a binding one."""
  from structlm.syntax.scope_rules import BIND
  src = b"def f():\n    with a.b as (c,):\n        pass\n"
  m = ScopedMachine(py_scheme, strict=True)
  for a in py_scheme.encode(py_codec.encode(src)).actions.tolist():
    if m.at_name() and [f.kind for f in m.frames][-2:] == ["as_pattern_target", "tuple"]:
      m.scopes._sync()
      assert m.scopes._hole()[0] == BIND
      return
    m.step(a, check=False)
  raise AssertionError("no name hole inside the with target's tuple")
