"""Finding source files: the CPython standard library shipped with the interpreter, or given paths."""
from __future__ import annotations

import hashlib
import os
import sysconfig

from structlm.syntax import languages


def stdlib_root() -> str:
  return sysconfig.get_paths()["stdlib"]


def stdlib_files() -> list[str]:
  """The standard library's .py files (site-packages excluded), sorted."""
  root = stdlib_root()
  out = []
  for d, dirs, names in os.walk(root):
    dirs[:] = sorted(x for x in dirs if x not in ("site-packages", "__pycache__"))
    out += [os.path.join(d, n) for n in names if n.endswith(".py")]
  return sorted(out)


def find_files(paths: list[str], language: str) -> list[str]:
  exts = languages.spec(language).extensions
  out = []
  for p in paths:
    if os.path.isdir(p):
      for d, dirs, names in os.walk(p):
        dirs[:] = sorted(x for x in dirs if not x.startswith(".") and x != "__pycache__")
        out += [os.path.join(d, n) for n in names if n.endswith(exts)]
    elif os.path.exists(p):
      out.append(p)
    else:
      raise FileNotFoundError(f"{p}: no such file or directory")
  return sorted(set(out))


def read(path: str) -> bytes | None:
  try:
    with open(path, "rb") as f:
      return f.read()
  except OSError:
    return None


def split_of(key: str, fractions=(("train", 0.9), ("validation", 0.05), ("test", 0.05))) -> str:
  """Stable split assignment from a hash of `key` (a path, or a repository name)."""
  h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
  acc = 0.0
  for name, frac in fractions:
    acc += frac
    if h < acc:
      return name
  return fractions[-1][0]
