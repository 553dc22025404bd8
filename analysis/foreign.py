"""The foreign corpus (`make foreign`): the pinned wheels of experiments/foreign-requirements.txt unpacked into
data/foreign/<project>/ (their .py files), with a manifest of every file's path, size and sha256 (the same on
every run of the target), and a check that none of them is in a training split of the stdlib dataset.

python -m analysis.foreign unpack build/foreign data/foreign
python -m analysis.foreign check data/foreign    (exit 1 if any file is a stdlib file)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import zipfile

MANIFEST = "MANIFEST.json"


def unpack(wheels_dir: str, out: str) -> dict:
  files = {}
  for name in sorted(os.listdir(wheels_dir)):
    if not name.endswith(".whl"):
      continue
    project = name.split("-")[0]
    with zipfile.ZipFile(os.path.join(wheels_dir, name)) as z:
      for member in sorted(z.namelist()):
        if not member.endswith(".py") or ".dist-info/" in member:
          continue
        data = z.read(member)
        if not data.strip():  # (an empty __init__.py: never scored, and equal to many stdlib files)
          continue
        rel = os.path.join(project, member)
        path = os.path.join(out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
          f.write(data)
        files[rel] = dict(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
  if not files:
    raise SystemExit(f"no wheel in {wheels_dir}: run `make foreign`")
  manifest = dict(files=files, total_files=len(files), total_bytes=sum(v["bytes"] for v in files.values()),
                  digest=hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest())
  with open(os.path.join(out, MANIFEST), "w") as f:
    json.dump(manifest, f, indent=1, sort_keys=True)
  return manifest


def overlap_with_stdlib(foreign_dir: str) -> list[str]:
  """Foreign files whose exact bytes are a file of this interpreter's standard library (the study's corpus, every
  split of it): none may be, or a transfer row would score training data."""
  from structlm.syntax import sources
  with open(os.path.join(foreign_dir, MANIFEST)) as f:
    manifest = json.load(f)
  stdlib = set()
  for path in sources.stdlib_files():
    with open(path, "rb") as f:
      stdlib.add(hashlib.sha256(f.read()).hexdigest())
  return sorted(k for k, v in manifest["files"].items() if v["sha256"] in stdlib)


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__)
  sub = ap.add_subparsers(dest="cmd", required=True)
  p = sub.add_parser("unpack")
  p.add_argument("wheels")
  p.add_argument("out")
  p = sub.add_parser("check")
  p.add_argument("foreign")
  args = ap.parse_args(argv)
  if args.cmd == "check":
    shared = overlap_with_stdlib(args.foreign)
    print(json.dumps(dict(in_stdlib=shared)))
    return 1 if shared else 0
  m = unpack(args.wheels, args.out)
  print(json.dumps({k: m[k] for k in ("total_files", "total_bytes", "digest")}))
  return 0


if __name__ == "__main__":
  sys.exit(main())
