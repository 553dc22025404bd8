"""The pinned JavaScript corpus: integrity checked, only hand-written .js files kept, a manifest that is the same
on every run (a local tarball stands in for the registry: the test needs no network)."""
import base64
import hashlib
import io
import json
import tarfile

import pytest

from structlm.data import npm_corpus


def _tarball(path, files):
  with tarfile.open(path, "w:gz") as t:
    for name, data in files.items():
      info = tarfile.TarInfo(f"package/{name}")
      info.size = len(data)
      t.addfile(info, io.BytesIO(data))
  with open(path, "rb") as f:
    return "sha512-" + base64.b64encode(hashlib.sha512(f.read()).digest()).decode()


def test_unpack_keeps_source_files_and_the_integrity_is_checked(tmp_path):
  build = tmp_path / "build"
  build.mkdir()
  integrity = _tarball(build / "pkg-1.0.0.tgz", {
      "index.js": b"export const a = 1;\n", "lib/b.js": b"function b() {}\n", "pkg.min.js": b"var a=1",
      "dist/bundle.js": b"var all = 1;\n", "big.js": b"x;" * 150_000, "empty.js": b"\n", "README.md": b"# pkg\n"})
  (tmp_path / "list.txt").write_text(f"# a comment\npkg@1.0.0 {integrity}\n")
  paths = npm_corpus.fetch(npm_corpus.read_list(str(tmp_path / "list.txt")), str(build))  # already there
  m = npm_corpus.unpack(paths, str(tmp_path / "out"))
  assert sorted(m["files"]) == ["pkg-1.0.0/index.js", "pkg-1.0.0/lib/b.js"]
  again = npm_corpus.unpack(paths, str(tmp_path / "out2"))
  assert again["digest"] == m["digest"]
  assert json.loads((tmp_path / "out" / "MANIFEST.json").read_text())["total_files"] == 2
  with pytest.raises(SystemExit, match="not the pinned"):
    npm_corpus.fetch([("pkg@1.0.0", "sha512-AAAA")], str(build))
  assert not (build / "pkg-1.0.0.tgz").exists()  # a tarball that fails its check is not kept
