"""The data-constrained study (`make data-study`): when unique code is the limit, how much is each variant's data
worth? Every headline variant at two sizes near the CPU study's compute-optimal ones (w8, w16), on nested subsets
of the stdlib's training split (whole files, the same files for every variant: a fixed shuffle's prefix, so the
smaller U is part of the larger) of 1/256, 1/64 and 1/16 of its bytes (about 110 kB to 1.8 MB, 16x), each
trained for 1, 4 and 16 epochs, and 40 at the smallest; the CPU study's rules otherwise (batch by rule, learning
rate by width and batch, warm-up 10%, beta2 0.99), scored on the whole test split. Analysis: analysis/data_study.py.

python -m structlm sweep experiments/cpu_data.py --workdir runs/data-study
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from cpu_study import COMMON  # noqa: E402  (the study's data, context and rules)

from structlm import sweeps, variants  # noqa: E402

SIZES = ("w8", "w16")
FRACTIONS = (1 / 256, 1 / 64, 1 / 16)
EPOCHS = (1, 4, 16)
LONGEST = 40  # at the smallest U


def get_config(arg: str = ""):
  runs = []
  for v in variants.SERIAL_HEADLINE:
    for p in SIZES:
      for f in FRACTIONS:
        for e in EPOCHS + ((LONGEST,) if f == FRACTIONS[0] else ()):
          runs.append(dict(variant=v, preset=p, unique_fraction=float(f), epochs=int(e)))
  return sweeps.sweep(runs, common=dict(COMMON), bootstrap=0)
