"""The foreign corpus: unpacked reproducibly from wheels, empty files left out, a stdlib file refused."""
import json
import os
import zipfile

from analysis import foreign
from structlm.syntax import sources


def _wheel(path, files):
  with zipfile.ZipFile(path, "w") as z:
    for name, data in files.items():
      z.writestr(name, data)


def test_unpack_is_reproducible_and_overlap_is_found(tmp_path):
  wheels = tmp_path / "wheels"
  wheels.mkdir()
  stdlib_file = sources.stdlib_files()[0]
  with open(stdlib_file, "rb") as f:
    copied = f.read()
  _wheel(wheels / "proj-1.0-py3-none-any.whl", {"proj/__init__.py": b"", "proj/a.py": b"x = 1\n",
                                                "proj/copied.py": copied, "proj-1.0.dist-info/METADATA": b"m"})
  first = foreign.unpack(str(wheels), str(tmp_path / "out1"))
  second = foreign.unpack(str(wheels), str(tmp_path / "out2"))
  assert first["digest"] == second["digest"] and sorted(first["files"]) == ["proj/proj/a.py", "proj/proj/copied.py"]
  assert foreign.overlap_with_stdlib(str(tmp_path / "out1")) == ["proj/proj/copied.py"]
  with open(tmp_path / "out1" / foreign.MANIFEST) as f:
    assert json.load(f)["total_files"] == 2
