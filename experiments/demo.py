"""`make demo`: the CPU study's isoFLOP design (experiments/cpu_study.py) at smaller budgets: 3 budgets of
3e10-3e11 FLOPs x 5 sizes x 3 variants (45 runs), each scored on the same 400 kB of whole test files. `experiments/demo.py:quick`
(make demo QUICK=1): 3 budgets x 3 sizes on the stdlib's top-level modules.

python -m structlm sweep experiments/demo.py --workdir runs/demo
"""
import os

from structlm.run import load_module


def get_config(mode: str = ""):
  if mode not in ("", "quick"):
    raise ValueError(f"experiments/demo.py takes no argument or 'quick', not {mode!r}")
  study = load_module(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cpu_study.py"))
  return study.get_config(mode or "demo")
