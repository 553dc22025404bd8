"""The learning-rate rule, checked: the ladder rule's rate (structlm/presets.py learning_rate: width and batch)
times lr_scale in {1/3, 1, 3}, for every variant at three sizes on each of the CPU study's two smallest budgets
(the smallest size and the largest each budget holds), with the study's data, context, batch rule and optimizer.
`python -m structlm lr-choice runs/lr` prints the table and the choice (analysis/lr.py: per variant, the scale
with the lowest bits per byte on the validation split averaged over the cells; a cell whose own best is at an edge
of the grid is flagged). The chosen scale goes into presets.LADDER_LR.

python -m structlm sweep experiments/lr_sweep.py --workdir runs/lr --no-analysis
"""
import os

from structlm import sweeps, variants
from structlm.run import load_module

SCALES = (1 / 3, 1.0, 3.0)
CELLS = {1e11: ("w4", "w8", "w16"), 3e11: ("w8", "w24", "w48")}
# extended where a cell's best is at an edge of the grid, every variant (none yet under this batch rule).
# The scales multiply the ladder rule (presets.LADDER_LR); the chosen one is cpu_study.LR_SCALE.
EXTRA: dict = {}


def get_config():
  study = load_module(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cpu_study.py"))
  common = dict(study.COMMON, eval_split="validation", eval_bytes=400_000)  # choices on validation, never test
  common.pop("lr_scale")  # (each member sets its own scale of the rule)
  runs = [dict(variant=v, preset=p, train_flops=c, lr_scale=s)
          for c, sizes in CELLS.items() for p in sizes for v in variants.HEADLINE for s in SCALES]
  runs += [dict(variant=v, preset=p, train_flops=c, lr_scale=s)
           for c, (sizes, scales) in EXTRA.items() for p in sizes for v in variants.HEADLINE for s in scales]
  return sweeps.sweep(runs, common=common, bootstrap=0)
