"""Builds structlm._native, the C structured encoder and decoder (metadata lives in pyproject.toml).

The tree-sitter C core is not kept in this repository: it comes from the sdist of the `tree-sitter` version
pinned in requirements.txt (the one place that states it), which carries it as tree_sitter/core/lib. The sdist is
fetched with pip into build/tree-sitter/ (`make venv` does this first; a plain `pip install -e .` fetches it here)
and lib.c is compiled into the extension.
"""
import os
import re
import subprocess
import sys
import tarfile

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, "build", "tree-sitter")


def pinned_version() -> str:
  with open(os.path.join(HERE, "requirements.txt")) as f:
    for line in f:
      m = re.match(r"\s*tree-sitter\s*==\s*([\w.]+)", line)
      if m:
        return m.group(1)
  sys.exit("setup.py: requirements.txt pins no tree-sitter version (a line `tree-sitter==X.Y.Z`); add it")


def core_dir(version: str) -> str:
  """build/tree-sitter/tree_sitter-VERSION/tree_sitter/core/lib, fetched and unpacked if missing."""
  root = os.path.join(CACHE, f"tree_sitter-{version}")
  lib = os.path.join(root, "tree_sitter", "core", "lib")
  if os.path.exists(os.path.join(lib, "src", "lib.c")):
    return lib
  sdist = os.path.join(CACHE, f"tree_sitter-{version}.tar.gz")
  if not os.path.exists(sdist):
    os.makedirs(CACHE, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
           f"tree-sitter=={version}", "-d", CACHE]
    if subprocess.run(cmd).returncode != 0 or not os.path.exists(sdist):
      sys.exit(f"setup.py: could not fetch the tree-sitter {version} sdist (pinned in requirements.txt), whose C "
               f"core the extension compiles. Run `{' '.join(cmd)}` where PyPI is reachable, or put the file "
               f"tree_sitter-{version}.tar.gz in {CACHE}.")
  with tarfile.open(sdist) as t:
    members = [m for m in t.getmembers() if m.name.startswith(f"tree_sitter-{version}/tree_sitter/core/lib/")]
    if not members:
      sys.exit(f"setup.py: {sdist} holds no tree_sitter/core/lib; is it the tree-sitter {version} sdist?")
    t.extractall(CACHE, members=members, filter="data")
  return lib


VERSION = pinned_version()
TS = os.path.relpath(core_dir(VERSION), HERE)

setup(ext_modules=[Extension(
    "structlm._native",
    sources=["structlm/native/encoder.c", "structlm/native/decoder.c", "structlm/native/names.c",
             f"{TS}/src/lib.c"],
    include_dirs=["structlm/native", f"{TS}/include", f"{TS}/src"],
    depends=["structlm/native/bpe.h", "structlm/native/encoder.h", "structlm/native/hashmap.h",
             "structlm/native/native.h", "structlm/native/walk.h"],
    define_macros=[("STRUCTLM_TS_VERSION", f'"{VERSION}"')],
    extra_compile_args=["-std=c11", "-fvisibility=hidden", "-D_DEFAULT_SOURCE", "-Wno-unused-parameter",
                        "-Wno-cast-function-type"],
)])
