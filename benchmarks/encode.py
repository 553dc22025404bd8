"""Speed of the structured representation on the stdlib: parse vs encode vs decode, and compactness.

python benchmarks/encode.py --json [--limit N]   (one JSON line; grammar built from the same files, not timed)
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
from structlm.syntax.pieces import train_source_bpe  # noqa: E402
from structlm.syntax.tree import Skip, check_source  # noqa: E402


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--limit", type=int, default=0, help="use the first N stdlib files (0: all)")
  ap.add_argument("--vocab-size", type=int, default=8192)
  ap.add_argument("--json", action="store_true")
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
  g = build_grammar("python", ok, GrammarConfig(vocab_size=args.vocab_size))
  build_s = time.time() - t0
  codec = Codec(g)
  parser = languages.parser("python")

  t0 = time.perf_counter()
  for _, s in ok:
    parser.parse(s)
  parse_s = time.perf_counter() - t0

  encoded, n_bytes = [], 0
  t0 = time.perf_counter()
  for _, s in ok:
    try:
      encoded.append((s, codec.encode(s)))
    except Skip:
      continue
  encode_s = time.perf_counter() - t0
  n_bytes = sum(len(s) for s, _ in encoded)
  n_actions = sum(len(e) for _, e in encoded)

  t0 = time.perf_counter()
  for s, e in encoded:
    if codec.decode(e.actions) != s:
      raise SystemExit("decode mismatch")
  decode_s = time.perf_counter() - t0

  bpe = train_source_bpe([s.decode() for s, _ in encoded], g.vocab_size)
  bpe_tokens = sum(len(x.ids) for x in bpe.encode_batch([s.decode() for s, _ in encoded]))
  all_bytes = sum(len(s) for _, s in ok)
  res = dict(
      files=len(encoded), bytes=n_bytes, grammar_seconds=round(build_s, 1),
      parse_mb_s=round(all_bytes / 1e6 / parse_s, 3), encode_mb_s=round(n_bytes / 1e6 / encode_s, 3),
      decode_mb_s=round(n_bytes / 1e6 / decode_s, 3),
      encode_vs_parse=round((n_bytes / encode_s) / (all_bytes / parse_s), 3),
      decode_vs_encode=round(encode_s / decode_s, 3),
      actions_per_byte=round(n_actions / n_bytes, 4), bpe_tokens_per_byte=round(bpe_tokens / n_bytes, 4),
      vocab_size=g.vocab_size, cpu=os.cpu_count())
  print(json.dumps(res) if args.json else res)


if __name__ == "__main__":
  main()
