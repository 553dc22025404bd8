"""Classical compressors as reference lines: gzip -9 and xz -9e, each file compressed on its own (with its
container, as the command-line tools write it), in bits per source byte over a set of files."""
from __future__ import annotations

import gzip
import lzma

COMPRESSORS = {
    "gzip -9": lambda b: gzip.compress(b, compresslevel=9, mtime=0),
    "xz -9e": lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME),
}


def bits_per_byte(files: list[bytes]) -> dict[str, float]:
  """Total compressed bits / total source bytes, per compressor."""
  total = sum(map(len, files))
  if not total:
    raise ValueError("no source bytes to compress")
  return {name: 8.0 * sum(len(fn(b)) for b in files) / total for name, fn in COMPRESSORS.items()}
