"""Corpora: where documents come from (stdlib, directories/globs, JSONL/Parquet), exact dedup, stable splits."""
from __future__ import annotations

import dataclasses
import glob as globlib
import hashlib
import json
import os
from collections.abc import Iterator

from structlm.syntax import sources

SPLITS = (("train", 0.9), ("validation", 0.05), ("test", 0.05))


@dataclasses.dataclass(frozen=True)
class Document:
  key: str  # path (or an id) within the corpus
  content: bytes
  repo: str | None = None  # splits are by repository when the corpus has them

  @property
  def split(self) -> str:
    return sources.split_of(self.repo or self.key, SPLITS)


def _epath(p: str):
  from etils import epath  # local and gs:// paths alike
  return epath.Path(p)


def iter_corpus(spec: str, language: str, content_column: str = "content", repo_column: str | None = None
                ) -> Iterator[Document]:
  """`spec`: "stdlib"; a directory or glob of source files; or .jsonl/.parquet files with a content column
  (The Stack layout), local or gs://. Comma-separate several."""
  for part in spec.split(","):
    part = part.strip()
    if part == "stdlib":
      if language != "python":
        raise ValueError("the stdlib corpus is Python; give --corpus DIR for other languages")
      root = sources.stdlib_root()
      for path in sources.stdlib_files():
        data = sources.read(path)
        if data is not None:
          yield Document(os.path.relpath(path, root), data)
    elif part.endswith((".jsonl", ".parquet")):
      yield from _iter_table(part, content_column, repo_column)
    else:
      yield from _iter_files(part, language)


def fingerprint(spec: str, language: str) -> str:
  """A short hash of what a corpus holds now: each part's resolved path, and its files' paths, sizes and mtimes
  (a table's file sizes and mtimes). Two corpora whose paths slug alike, or one corpus after files were added,
  get different datasets and vocabularies. "stdlib" (this interpreter's) is "" (the slug says it all)."""
  import hashlib
  h = hashlib.sha256(language.encode())
  for part in (p.strip() for p in spec.split(",")):
    if part == "stdlib":
      continue
    h.update(b"\0" + os.path.realpath(part).encode())
    if part.endswith((".jsonl", ".parquet")):
      paths = sorted(str(p) for p in _epath(os.path.dirname(part) or ".").glob(os.path.basename(part)))
    elif any(ch in part for ch in "*?["):
      paths = sorted(p for p in globlib.glob(part, recursive=True) if os.path.isfile(p))
    elif os.path.isdir(part):
      paths = sources.find_files([part], language)
    else:
      paths = [part] if os.path.exists(part) else []
    for p in paths:
      try:
        st = os.stat(p)
        h.update(f"\0{os.path.realpath(p)}\0{st.st_size}\0{st.st_mtime_ns}".encode())
      except OSError:  # (gs:// tables: their names only)
        h.update(b"\0" + str(p).encode())
  return "" if all(p.strip() == "stdlib" for p in spec.split(",")) else h.hexdigest()[:10]


def _iter_files(spec: str, language: str) -> Iterator[Document]:
  if any(ch in spec for ch in "*?["):
    paths = sorted(p for p in globlib.glob(spec, recursive=True) if os.path.isfile(p))
    root = os.path.commonpath(paths) if paths else ""
  elif os.path.isdir(spec):
    paths = sources.find_files([spec], language)
    root = spec
  elif os.path.isfile(spec):
    paths, root = [spec], os.path.dirname(spec)
  else:
    raise FileNotFoundError(f"corpus {spec!r}: no such file, directory or glob match")
  for path in paths:
    data = sources.read(path)
    if data is not None:
      yield Document(os.path.relpath(path, root) if root else path, data)


def _iter_table(spec: str, content_column: str, repo_column: str | None) -> Iterator[Document]:
  paths = sorted(str(p) for p in _epath(os.path.dirname(spec) or ".").glob(os.path.basename(spec)))
  if not paths:
    raise FileNotFoundError(f"corpus {spec!r}: no file matches")
  for path in paths:
    if path.endswith(".jsonl"):
      with _epath(path).open("r") as f:
        rows = (json.loads(line) for line in f if line.strip())
        for i, row in enumerate(rows):
          yield _row_doc(row, path, i, content_column, repo_column)
    else:
      import pyarrow.parquet as pq
      with _epath(path).open("rb") as f:
        table = pq.read_table(f)
      for i, row in enumerate(table.to_pylist()):
        yield _row_doc(row, path, i, content_column, repo_column)


def _row_doc(row: dict, path: str, i: int, content_column: str, repo_column: str | None) -> Document:
  if content_column not in row:
    raise ValueError(f"{path}: row {i} has no {content_column!r} column (columns: {sorted(row)}); "
                     "pass --content-column")
  content = row[content_column]
  if isinstance(content, str):
    content = content.encode("utf-8", "surrogatepass")
  key = str(row.get("max_stars_repo_path") or row.get("path") or f"{os.path.basename(path)}:{i}")
  repo = row.get(repo_column) if repo_column else row.get("max_stars_repo_name")
  return Document(key, content, repo)


def dedup(docs) -> tuple[list[Document], int]:
  """Exact dedup by content hash (first occurrence kept). Returns (documents, duplicates dropped)."""
  seen, out, dropped = set(), [], 0
  for d in docs:
    h = hashlib.sha256(d.content).digest()
    if h in seen:
      dropped += 1
      continue
    seen.add(h)
    out.append(d)
  return out, dropped
