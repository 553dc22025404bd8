"""Speed of the structured and scoped representations on the stdlib: parse vs encode vs decode, compactness.

python benchmarks/encode.py --json [--limit N] [--python] [--heldout]   (one JSON line; grammar built from the
same files, not timed; --heldout: from every other file, the rest encoded). Encoding and decoding use the C
encoder/decoder (structlm/native) unless --python; parse is py-tree-sitter's bare parse of the same files, timed
in ~1 MB blocks alternating with the encoder's. The scoped encoding is the structured one plus its name
references (structlm/native/names.c; --python: the numpy reference in structlm/syntax/names.py), timed
together; every file must decode back byte-exact in both.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from structlm.syntax import languages, sources  # noqa: E402
from structlm.syntax.build import build_grammar  # noqa: E402
from structlm.syntax.codec import Codec  # noqa: E402
from structlm.syntax.grammar import GrammarConfig  # noqa: E402
from structlm.syntax.names import NameScheme  # noqa: E402
from structlm.syntax.pieces import train_source_bpe  # noqa: E402
from structlm.syntax.tree import Skip, check_source  # noqa: E402


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--limit", type=int, default=0, help="use the first N stdlib files (0: all)")
  ap.add_argument("--vocab-size", type=int, default=8192)
  ap.add_argument("--json", action="store_true")
  ap.add_argument("--python", action="store_true", help="the Python reference encoder and decoder")
  ap.add_argument("--heldout", action="store_true", help="grammar from every other file, encode the others")
  args = ap.parse_args()
  paths = sources.stdlib_files()
  if args.limit:
    paths = paths[:args.limit]
  files = [(p, s) for p in paths if (s := sources.read(p)) is not None]
  ok = []
  for p, s in files:
    try:
      check_source(s)
      ok.append((p, s))
    except Skip:
      pass
  t0 = time.time()
  g = build_grammar("python", ok[::2] if args.heldout else ok, GrammarConfig(vocab_size=args.vocab_size))
  build_s = time.time() - t0
  if args.heldout:
    ok = ok[1::2]
  codec = Codec(g, native=not args.python)
  names = NameScheme(g, codec.table, native=not args.python)
  parser = languages.parser("python")

  # parse and encode alternate in blocks of ~1 MB (each warm within its block), so both see the same load
  parse_s = encode_s = scoped_s = 0.0
  encoded, scoped = [], []
  blocks, size = [[]], 0
  for _, s in ok:
    blocks[-1].append(s)
    size += len(s)
    if size >= 1 << 20:
      blocks.append([])
      size = 0
  for block in blocks:
    t0 = time.perf_counter()
    for s in block:
      parser.parse(s)
    t1 = time.perf_counter()
    for s in block:
      try:
        encoded.append((s, codec.encode(s)))
      except Skip:
        pass
    t2 = time.perf_counter()
    for s, e in encoded[len(scoped):]:
      scoped.append(names.encode(e))
    t3 = time.perf_counter()
    parse_s += t1 - t0
    encode_s += t2 - t1
    scoped_s += t3 - t1  # the structured encoding and the references
  n_bytes = sum(len(s) for s, _ in encoded)
  n_actions = sum(len(e) for _, e in encoded)
  n_scoped = sum(len(e) for e in scoped)
  for (s, _), e in zip(encoded, scoped):
    if codec.decode(names.expand(e.actions, e.slots)) != s:
      raise SystemExit("scoped decode mismatch")

  t0 = time.perf_counter()
  for s, e in encoded:
    if codec.decode(e.actions) != s:
      raise SystemExit("decode mismatch")
  decode_s = time.perf_counter() - t0

  bpe = train_source_bpe([s.decode() for s, _ in encoded], args.vocab_size)  # as many merges as the leaf pieces
  bpe_tokens = sum(len(x.ids) for x in bpe.encode_batch([s.decode() for s, _ in encoded]))
  all_bytes = sum(len(s) for _, s in ok)
  res = dict(
      files=len(encoded), bytes=n_bytes, grammar_seconds=round(build_s, 1),
      parse_mb_s=round(all_bytes / 1e6 / parse_s, 3), encode_mb_s=round(n_bytes / 1e6 / encode_s, 3),
      decode_mb_s=round(n_bytes / 1e6 / decode_s, 3),
      encode_vs_parse=round((n_bytes / encode_s) / (all_bytes / parse_s), 3),
      scoped_encode_mb_s=round(n_bytes / 1e6 / scoped_s, 3),
      scoped_encode_vs_parse=round((n_bytes / scoped_s) / (all_bytes / parse_s), 3),
      scoped_actions_per_byte=round(n_scoped / n_bytes, 4), heldout=args.heldout,
      decode_vs_encode=round(encode_s / decode_s, 3),
      actions_per_byte=round(n_actions / n_bytes, 4), bpe_tokens_per_byte=round(bpe_tokens / n_bytes, 4),
      vocab_size=g.vocab_size, native=codec.native, cpu=os.cpu_count())
  print(json.dumps(res) if args.json else res)


if __name__ == "__main__":
  main()
