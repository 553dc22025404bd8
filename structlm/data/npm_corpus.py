"""A JavaScript corpus from pinned npm packages (`make js-corpus`): each `name@version` of a package list is
fetched with `npm pack`, its tarball checked against the registry integrity (sha512) written beside it, and its
.js files (no minified or bundled ones) unpacked into OUT/<name>/, with a manifest of every file's path, size and
sha256 (the same on every run).

python -m structlm.data.npm_corpus experiments/js-packages.txt build/js data/js
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tarfile

MANIFEST = "MANIFEST.json"
MAX_FILE_BYTES = 200_000  # larger .js files in these packages are bundles of the others


def read_list(path: str) -> list[tuple[str, str]]:
  """(name@version, sha512 integrity) per non-comment line."""
  out = []
  with open(path) as f:
    for line in f:
      line = line.split("#", 1)[0].strip()
      if line:
        spec, integrity = line.split()
        out.append((spec, integrity))
  return out


def fetch(packages: list[tuple[str, str]], dest: str) -> list[str]:
  """Each package's tarball in `dest` (fetched once), its sha512 checked; the tarballs' paths."""
  os.makedirs(dest, exist_ok=True)
  paths = []
  for spec, integrity in packages:
    name, version = spec.rsplit("@", 1)
    path = os.path.join(dest, f"{name.replace('/', '-').lstrip('@')}-{version}.tgz")
    if not os.path.exists(path):
      subprocess.run(["npm", "pack", "--silent", "--pack-destination", dest, spec], check=True,
                     stdout=subprocess.DEVNULL)
    with open(path, "rb") as f:
      got = "sha512-" + base64.b64encode(hashlib.sha512(f.read()).digest()).decode()
    if got != integrity:
      os.remove(path)
      raise SystemExit(f"{spec}: the tarball's integrity {got} is not the pinned {integrity}")
    paths.append(path)
  return paths


def _kept(member: str, size: int) -> bool:
  base = os.path.basename(member)
  return (member.endswith(".js") and not base.endswith(".min.js") and size <= MAX_FILE_BYTES
          and "/dist/" not in member and "/browser/" not in member)


def unpack(tarballs: list[str], out: str) -> dict:
  files = {}
  for path in sorted(tarballs):
    project = os.path.basename(path)[:-len(".tgz")]
    with tarfile.open(path) as t:
      for m in sorted(t.getmembers(), key=lambda m: m.name):
        if not m.isfile() or not _kept(m.name, m.size):
          continue
        data = t.extractfile(m).read()
        if not data.strip():
          continue
        rel = os.path.join(project, m.name.split("/", 1)[1])
        dest = os.path.join(out, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as f:
          f.write(data)
        files[rel] = dict(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
  manifest = dict(files=files, total_files=len(files), total_bytes=sum(v["bytes"] for v in files.values()),
                  digest=hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest())
  with open(os.path.join(out, MANIFEST), "w") as f:
    json.dump(manifest, f, indent=1, sort_keys=True)
  return manifest


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("packages", help="a file of `name@version sha512-...` lines")
  ap.add_argument("tarballs", help="where the tarballs go")
  ap.add_argument("out", help="where the .js files go (emptied first)")
  args = ap.parse_args(argv)
  tarballs = fetch(read_list(args.packages), args.tarballs)
  if os.path.isdir(args.out):
    import shutil
    shutil.rmtree(args.out)
  m = unpack(tarballs, args.out)
  print(json.dumps({k: m[k] for k in ("total_files", "total_bytes", "digest")}))
  return 0


if __name__ == "__main__":
  sys.exit(main())
