"""Input pipeline throughput: ArrayRecord -> packing -> batching, one host (and the dataset build rate).

python benchmarks/loader.py --json [--data-dir DIR] [--corpus stdlib] [--seq-len 1024] [--batch 8]
Prints one JSON line: tokens_per_s per variant, cold (from opening the split) and warm (the next interval), and mb_s,
the build's source megabytes per second (from the dataset's prepare summary; builds it when missing).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from structlm import variants  # noqa: E402
from structlm.data.pipeline import PackedBatches  # noqa: E402
from structlm.data.prepare import prepare  # noqa: E402


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--data-dir", default="data")
  ap.add_argument("--corpus", default="stdlib")
  ap.add_argument("--vocab-size", type=int, default=8192)
  ap.add_argument("--seq-len", type=int, default=1024)
  ap.add_argument("--batch", type=int, default=8)
  ap.add_argument("--seconds", type=float, default=10.0)
  ap.add_argument("--json", action="store_true")
  args = ap.parse_args()
  built = prepare(corpus=args.corpus, data_dir=args.data_dir, vocab_size=args.vocab_size)
  summary_path = os.path.join(built["dataset_dir"], "summary.json")
  with open(summary_path) as f:
    summary = json.load(f)
  res = {"dataset_dir": built["dataset_dir"], "seq_len": args.seq_len, "global_batch": args.batch}
  for variant in variants.NAMES:
    # cold: from opening the split (no document decoded yet) for `seconds`; warm: the `seconds` after that
    t0 = time.perf_counter()
    pb = PackedBatches(built["dataset_dir"], variant=variant, seq_len=args.seq_len, global_batch=args.batch)
    it = pb.iterator(10**9)
    for phase in ("cold", "warm"):
      n = 0
      while time.perf_counter() - t0 < args.seconds:
        next(it)
        n += 1
      res[f"{variant}_{phase}_tokens_per_s"] = round(n * args.batch * args.seq_len / (time.perf_counter() - t0))
      t0 = time.perf_counter()
    res[f"{variant}_tokens_per_s"] = min(res[f"{variant}_cold_tokens_per_s"], res[f"{variant}_warm_tokens_per_s"])
  res["tokens_per_s"] = min(res[f"{v}_tokens_per_s"] for v in variants.NAMES)
  if "build_seconds" in summary:
    res["mb_s"] = round(summary["bytes"] / 1e6 / summary["build_seconds"], 3)
    res["build_seconds"] = summary["build_seconds"]
  print(json.dumps(res) if args.json else res)


if __name__ == "__main__":
  main()
