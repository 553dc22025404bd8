"""Learning rate per variant: 4 factors x 2 sizes x every variant on the CPU study's data, context and batch, at
one of its budgets. The rule (structlm/presets.py): per variant, the factor of the preset's rate with the lowest
validation bits per byte averaged over the sizes; `python -m structlm lr-choice runs/lr` prints it.

python -m structlm sweep experiments/lr_sweep.py --workdir runs/lr --no-analysis
"""
import itertools
import os

from structlm import presets, sweeps, variants
from structlm.run import load_module

FACTORS = (0.5, 1.0, 2.0, 4.0)
SIZES = ("50k", "400k")
BUDGET = 1e12


def get_config():
  study = load_module(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cpu_study.py"))
  runs = [dict(variant=v, preset=p, train_flops=BUDGET, learning_rate=f * presets.preset(p).learning_rate)
          for v, p, f in itertools.product(variants.NAMES, SIZES, FACTORS)]
  return sweeps.sweep(runs, common=study.COMMON, bootstrap=0)
