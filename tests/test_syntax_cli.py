"""The roundtrip / encode / grammar commands, as a person runs them."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import DATA

ENV = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(__file__)))


def run(*args):
  return subprocess.run([sys.executable, "-m", "structlm", *args], capture_output=True, text=True, env=ENV,
                        timeout=300)


def test_roundtrip_json_on_javascript():
  r = run("roundtrip", DATA, "--language", "javascript", "--json", "--quiet", "--vocab-size", "2048")
  assert r.returncode == 0, r.stderr
  res = json.loads(r.stdout.strip().splitlines()[-1])
  for key in ("files", "parsed", "exact", "skipped", "bytes", "actions", "actions_per_byte",
              "bpe_tokens_per_byte", "constraint_violations", "encode_mb_s"):
    assert key in res
  assert res["files"] == res["parsed"] == res["exact"] == 2
  assert res["constraint_violations"] == 0 and res["actions"] > 100
  assert 0 < res["bpe_tokens_per_byte"] < 1  # the BPE of the grammar's own files and size, beside it


def test_roundtrip_counts_skips(tmp_path):
  (tmp_path / "ok.py").write_bytes(b"def f(x):\n    return x + 1\n")
  (tmp_path / "ok2.py").write_bytes(b"import os\nprint(os.sep)\n")
  (tmp_path / "bad.py").write_bytes(b"def f(:\n")
  (tmp_path / "empty.py").write_bytes(b"")
  (tmp_path / "bin.py").write_bytes(b"\xff\xfe\x00x")
  r = run("roundtrip", str(tmp_path), "--json", "--quiet", "--vocab-size", "1024", "--strip-comments")
  assert r.returncode == 0, r.stderr
  res = json.loads(r.stdout.strip().splitlines()[-1])
  assert res["files"] == 5 and res["exact"] == 2
  assert res["skipped"] == {"parse_error": 1, "empty": 1, "nul_bytes": 1}


def test_grammar_then_encode_listing(tmp_path):
  g = tmp_path / "g.json"
  r = run("grammar", DATA, "--language", "javascript", "--out", str(g), "--vocab-size", "2048")
  assert r.returncode == 0, r.stderr
  r = run("encode", os.path.join(DATA, "utils.js"), "--language", "javascript", "--grammar", str(g))
  assert r.returncode == 0, r.stderr
  assert "RULE" in r.stdout or "SEG" in r.stdout
  # the identifier is one action in the listing (a literal of the generic form, or one final piece)
  assert "CHILD_LIT b'formatBytes'" in r.stdout or "PIECE b'formatBytes'" in r.stdout
  assert r.stdout.strip().splitlines()[-1].startswith("#")
  # a grammar built elsewhere has no BPE trained on its files here: no tokens-per-byte column to compare
  r = run("roundtrip", DATA, "--language", "javascript", "--grammar", str(g), "--json", "--quiet")
  res = json.loads(r.stdout.strip().splitlines()[-1])
  assert res["bpe_tokens_per_byte"] is None and res["actions_per_byte"] > 0


def test_missing_path_is_a_clear_error():
  r = run("roundtrip", "/no/such/dir")
  assert r.returncode != 0 and "no such file" in (r.stderr + r.stdout).lower()


@pytest.mark.parametrize("bad, message", [(["--n", "0"], "--n 0"), (["--max-len", "-3"], "--max-len -3"),
                                           (["--temperature", "-1"], "--temperature -1"),
                                           (["--top-p", "0"], "--top-p 0")])
def test_sample_refuses_what_would_sample_nothing(tmp_path, bad, message):
  """Checked before the run is loaded (the workdir need not exist): one line that says what to give."""
  import subprocess
  import sys
  out = subprocess.run([sys.executable, "-m", "structlm", "sample", "--workdir", str(tmp_path / "none"), *bad],
                       capture_output=True, text=True)
  assert out.returncode != 0 and message in out.stderr and "Traceback" not in out.stderr
