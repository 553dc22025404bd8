"""The language's own compiler as the judge of generated source: CPython's `compile` for Python, V8 (node) for
JavaScript, beside tree-sitter. Rejections are grouped by kind (the message with its quoted parts blanked), each
with an example line, so the placement rules (structlm/syntax/placement.py) are found by measurement.

python -m structlm.syntax.language_check --grammar DATASET/vocab/grammar.json --walks 1000 [--seed 0]
"""
from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import warnings

import numpy as np

_NODE_CHECK = r"""
const vm = require('vm');
const sources = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = sources.map((src) => {
  try { new vm.Script(src); return null; } catch (e) {
    try { new vm.SourceTextModule(src); return null; } catch (e2) {
      const err = /import|export/.test(e.message) ? e2 : e;  // a module's refusal when it is one
      const m = /:(\d+)\s*$/m.exec(String(err.stack).split('\n')[0]);
      return [err.message, m ? Number(m[1]) : 0];
    }
  }
});
process.stdout.write(JSON.stringify(out));
"""


def _kind(message: str) -> str:
  return re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message.split("(detected at")[0]).strip()


def python_rejection(source: bytes) -> tuple[str, int] | None:
  """(kind, line) of CPython's refusal to compile `source` (parser and symbol table: `return` outside a
  function is refused here though `ast.parse` takes it), or None when it compiles."""
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      compile(source, "<sample>", "exec", dont_inherit=True)
    return None
  except SyntaxError as e:
    return _kind(e.msg), e.lineno or 0
  except (ValueError, RecursionError, MemoryError) as e:
    return type(e).__name__, 0


def javascript_rejections(sources: list[bytes]) -> list[tuple[str, int] | None]:
  """V8's verdict on each source, as a script or else as a module (node on PATH)."""
  node = shutil.which("node")
  if node is None:
    raise RuntimeError("judging JavaScript needs node on PATH (https://nodejs.org); Python needs nothing")
  texts = [s.decode("utf-8", "replace") for s in sources]
  done = subprocess.run([node, "--experimental-vm-modules", "--no-warnings", "-e", _NODE_CHECK],
                        input=json.dumps(texts), capture_output=True, text=True, check=True)
  return [None if r is None else (_kind(r[0]), r[1]) for r in json.loads(done.stdout)]


def verdicts_of(sources: list[bytes], language: str) -> list[tuple[str, int] | None]:
  """The language's compiler's (kind, line) refusal of each source, or None where it accepts."""
  if language == "python":
    return [python_rejection(s) for s in sources]
  if language == "javascript":
    return javascript_rejections(sources)
  raise ValueError(f"no compiler check for {language!r} (python, javascript)")


def rejections(sources: list[bytes], language: str, examples: int = 1, verdicts=None) -> dict:
  """The accepted fraction and {kind: [count, example lines]} of what the language's compiler refuses
  (`verdicts`: `verdicts_of`'s, when already made)."""
  verdicts = verdicts_of(sources, language) if verdicts is None else verdicts
  kinds: dict = collections.defaultdict(lambda: [0, []])
  for s, v in zip(sources, verdicts):
    if v is None:
      continue
    kind, line = v
    kinds[kind][0] += 1
    if len(kinds[kind][1]) < examples:
      lines = s.decode("utf-8", "replace").splitlines()
      kinds[kind][1].append(lines[line - 1].strip()[:120] if 0 < line <= len(lines) else "")
  return dict(accepted_fraction=sum(v is None for v in verdicts) / max(len(sources), 1), samples=len(sources),
              kinds=dict(sorted(kinds.items(), key=lambda kv: -kv[1][0])))


def random_walks(g, n: int, seed: int = 0, max_len: int = 200, table=None) -> list[bytes]:
  """`n` programs drawn uniformly among the strict machine's valid actions at every step."""
  from structlm.syntax.machine import Machine, SlotTable
  table = table or SlotTable(g)
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(n):
    m = Machine(g, strict=True, max_len=max_len, table=table)
    while not m.done:
      ids = np.flatnonzero(m.mask())
      if not len(ids):
        raise RuntimeError(f"strict mode reached a dead end at {m.choice} after {len(m.output())} bytes:\n"
                           + m.output().decode("utf-8", "replace")[-300:])
      m.step(int(rng.choice(ids)))
    out.append(m.output())
  return out


def main(argv=None) -> None:
  from structlm.syntax.grammar import ActionGrammar
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--grammar", required=True, help="a dataset's vocab/grammar.json")
  p.add_argument("--walks", type=int, default=1000)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--max-len", type=int, default=200, help="actions before strict mode closes the program")
  p.add_argument("--json", action="store_true")
  p.add_argument("--dump", help="write every refused program here (JSON lines: kind, line, source)")
  a = p.parse_args(argv)
  g = ActionGrammar.load(a.grammar)
  walks = random_walks(g, a.walks, a.seed, a.max_len)
  verdicts = verdicts_of(walks, g.language)
  got = rejections(walks, g.language, verdicts=verdicts)
  if a.dump:
    with open(a.dump, "w") as f:
      for s, v in zip(walks, verdicts):
        if v is not None:
          f.write(json.dumps(dict(kind=v[0], line=v[1], source=s.decode("utf-8", "replace"))) + "\n")
  if a.json:
    print(json.dumps(got, indent=1))
    return
  print(f"{g.language}: {got['samples']} walks, {got['accepted_fraction']:.2%} accepted by the compiler")
  for kind, (count, ex) in got["kinds"].items():
    print(f"{count:6d}  {kind}  | {ex[0] if ex else ''}")


if __name__ == "__main__":
  main()
