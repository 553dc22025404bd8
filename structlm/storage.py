"""Remote paths (gs://BUCKET/..., any fsspec URL) beside local ones.

What can live remotely: datasets (`--data-dir gs://...`: built once, on one host, into a local mirror and uploaded;
every host downloads the finished dataset into its mirror and reads it locally, since ArrayRecord reads local
files), checkpoints (`checkpoint_root=gs://...`: orbax writes them directly) with a copy of each run's
result.json beside them, and the runs an analysis reads (`analyze gs://...`). A run's workdir stays local (a
file lock, an appended log); launch scripts sync it to the bucket.

Tests serve gs:// from a local emulator (`gcp-storage-emulator`, STORAGE_EMULATOR_HOST)."""
from __future__ import annotations

import os
import time


def is_remote(path) -> bool:
  return "://" in str(path)


def _fs(url: str):
  import fsspec
  return fsspec.core.url_to_fs(url)


def exists(url: str) -> bool:
  fs, path = _fs(url)
  return fs.exists(path)


def read_text(url: str) -> str:
  fs, path = _fs(url)
  with fs.open(path, "r") as f:
    return f.read()


def write_text(url: str, text: str) -> None:
  fs, path = _fs(url)
  with fs.open(path, "w") as f:
    f.write(text)


def files(url: str) -> dict[str, int]:
  """{path relative to `url`: size} of every file under `url` (empty when there is none)."""
  fs, root = _fs(url)
  if not fs.exists(root):
    return {}
  root = root.rstrip("/")
  return {p[len(root) + 1:]: int(info.get("size") or 0) for p, info in fs.find(root, detail=True).items()
          if info.get("type") != "directory" and p != root}


def mirror(url: str) -> str:
  """The local folder that mirrors `url` on this host: $STRUCTLM_CACHE (default ~/.cache/structlm)/<scheme>/<path>."""
  scheme, rest = str(url).split("://", 1)
  root = os.environ.get("STRUCTLM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "structlm")
  return os.path.join(root, scheme, rest.strip("/"))


def pull(url: str, local: str, names: tuple[str, ...] = ()) -> int:
  """Copy every file under `url` (only those whose file name is in `names`, when given) into `local` (a file
  already there with the same size is kept); the number copied. Files land under a temporary name first, so an
  interrupted pull never leaves a truncated file."""
  fs, root = _fs(url)
  n = 0
  for rel, size in files(url).items():
    if names and rel.rsplit("/", 1)[-1] not in names:
      continue
    dest = os.path.join(local, rel)
    if os.path.exists(dest) and os.path.getsize(dest) == size:
      continue
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    fs.get_file(root.rstrip("/") + "/" + rel, dest + ".part")
    os.replace(dest + ".part", dest)
    n += 1
  return n


def push(local: str, url: str, last: tuple[str, ...] = ()) -> int:
  """Copy every file under `local` to `url`, the relative paths in `last` after all others (a completion marker
  such as summary.json: a reader that finds it finds everything). The number copied."""
  fs, root = _fs(url)
  rels = sorted(os.path.relpath(os.path.join(d, f), local) for d, _, fs_ in os.walk(local) for f in fs_)
  rels = [r for r in rels if r not in last] + [r for r in last if r in rels]
  for rel in rels:
    fs.put_file(os.path.join(local, rel), root.rstrip("/") + "/" + rel.replace(os.sep, "/"))
  return len(rels)


def wait_for(url: str, timeout_s: float, what: str, poll_s: float = 5.0) -> None:
  """Block until `url` exists (another host is building it); an error after `timeout_s` saying what to check."""
  t0 = time.time()
  while not exists(url):
    if time.time() - t0 > timeout_s:
      raise TimeoutError(f"{url} did not appear within {timeout_s:.0f} s: {what}")
    time.sleep(poll_s)
