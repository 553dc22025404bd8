"""The CPU study (`make study`): an isoFLOP design on the stdlib that brackets each budget's optimum.

Four compute budgets spanning a decade (3e11 to 3e12 FLOPs, and 1e11), at each five to eight sizes of the ladder
(structlm/presets.py LADDER: two layers, widths 4 to 96), sliding with the budget around Chinchilla's first guess N
~ sqrt(C / 120) and leaning small (the previous study's optimum lay below it); every variant of the headline (token,
structured, and scoped_recency: names by reference inside the context, REFs numbered by recency) on the same sizes.
Fair capacity (leaf pieces get as many BPE merges as the token BPE); each variant's context holds the same 768
source bytes, and the scoped variant's REFs reach exactly that far back; hyperparameters by rule: batch by the run's
tokens (structlm/run.py batch_by_rule: 800-1,600 steps, at least 2 sequences; the ladder at each budget stops where
a run would get under ~400 steps), peak rate by width and batch (presets.learning_rate, checked by
experiments/lr_sweep.py), warm-up 10% of each run, AdamW beta2 0.99, weight decay on matrices only. Every run is
scored on the whole test split at its end.

Seed repeats (`:seeds`, after the study, into its workdir): each variant's best size and its neighbours at every
budget again with seed 1, measuring the seed noise and averaging the points that place each optimum.

The serial arm (`:serial`, into the study's workdir): the design (before three sizes were added on the left, see
SERIAL_DESIGN) and its seed repeats again with the serial-numbered `scoped` (the headline's scoped variant until the
recency numbering won by the rule of issue 20; analysis.arms pairs the two numberings run by run). Arms at the two
ARMS budgets: scoped_file (whole-file name memory, `:names`), every variant at 4x the context (3,072 bytes,
`:context`), and (`:ablations`, its own workdir, analysis/ablations.py) the structured variant without its grammar
mask and without tree features on its best size and both neighbours, and every variant's best run at vocabulary
8,192. `:top` is a fifth budget, 1e13 (TOP, in two passes: TOP_FIRST, then the rest).

python -m structlm sweep experiments/cpu_study.py --workdir runs/study      (`:demo`: smaller budgets, make demo)
"""
import os

from structlm import sweeps, variants
from structlm.syntax import sources

# The learning-rate rule (structlm/presets.py learning_rate: LADDER_LR x 32 / width x (batch / 8) ** exponent, x
# lr_scale). "v1", the published study's (docs/study): the lr sweep's choice (experiments/lr_sweep.py, `lr-choice
# runs/lr`), scale 3 with Adam's square-root batch scaling. "v2", this design's: the lr-check's best rates at every
# budget of v1, fitted by width and batch (`python -m analysis.lr runs/lr-check --study runs/study` prints the
# fit: width exponent -1.00, batch exponent 0.06, 0.0149 x 32 / width): no batch term, scale 1.5. At batch 2 the
# two rules give the same rate, to the bit. A mode prefixed "v1-" ('v1', 'v1-seeds', ...) runs under v1.
RULES = {"v1": dict(lr_scale=3.0, lr_batch_exponent=0.5), "v2": dict(lr_scale=1.5, lr_batch_exponent=0.0)}
COMMON = dict(corpus="stdlib", data_dir="data", vocab_size=2048, leaf_capacity="merges", context_bytes=768,
              global_batch=0, warmup_fraction=0.1, beta2=0.99, eval_split="test", eval_bytes=0, mesh=(1, 1, 1),
              checkpoint_every=400, log_every=50, keep_checkpoints=1, **RULES["v2"])
# budget -> sizes (the same for every variant)
DESIGNS = {
    # (w4 at 3e11, w6 at 1e12 and w12 at 3e12 added in session 11: the structured and scoped optima sat at or near
    # the smallest size there, "edge-small" or "flat" on their left at the seed noise; w8 at 3e12 in session 14: under
    # the v2 rule structured's and scoped_recency's 3e12 optima sat one size from the left end, "flat" there)
    "": {1e11: ("w4", "w6", "w8", "w12", "w16"), 3e11: ("w4", "w6", "w8", "w12", "w16", "w24", "w32", "w48"),
         1e12: ("w6", "w8", "w12", "w16", "w24", "w32", "w48", "w64"),
         3e12: ("w8", "w12", "w16", "w24", "w32", "w48", "w64", "w96")},
    # (the study's small ladder; at 3e10 its two larger sizes get under 200 steps: a demo, not a measurement)
    "demo": {3e10: ("w4", "w6", "w8", "w12", "w16"), 1e11: ("w4", "w6", "w8", "w12", "w16"),
             3e11: ("w6", "w8", "w12", "w16", "w24")},
    "quick": {3e10: ("w4", "w8", "w12"), 1e11: ("w4", "w8", "w12"), 3e11: ("w6", "w12", "w16")},
}
# the serial arm's design: the study's before session 11 added one size on the left at 3e11, 1e12 and 3e12 (the
# serial runs were made then; the recency headline runs on the whole design)
ADDED_LATER = ((3e11, "w4"), (1e12, "w6"), (3e12, "w12"), (3e12, "w8"))
SERIAL_DESIGN = {c: tuple(p for p in sizes if (c, p) not in ADDED_LATER) for c, sizes in DESIGNS[""].items()}
# the arms' two budgets and the sizes around each variant's frontier there (all three sizes, every arm)
ARMS = {3e11: ("w12", "w16", "w24"), 1e12: ("w16", "w24", "w32")}
# the one-budget check of the other hyperparameter rules (`:knobs`, its own workdir, analysis/knobs.py): each knob
# at one other value on each variant's best size at 3e11 (v1's best there: the v2 study pairs with them as its
# runs land) — AdamW beta2 0.95 (the rule: 0.99 for small batches), warm-up 2.5% of the run (the rule: 10%), and
# twice the rule's batch (its run 400-800 steps instead of 800-1,600; under v2 the rate does not change with it)
KNOBS = {3e11: {"token": "w8", "structured": "w12", "scoped_recency": "w16"}}
KNOB_VALUES = (dict(beta2=0.95), dict(warmup_fraction=0.025), dict(batch_target_steps=400))
# a fifth budget, a decade past the arms'; its runs go in two passes: first three sizes around each variant's
# optimum as the 3e12 budget places it (scoped_recency's at w16, token's and structured's at w48), then the rest
TOP = {1e13: ("w12", "w16", "w24", "w32", "w48", "w64", "w96")}
TOP_FIRST = {"scoped_recency": ("w12", "w16", "w24"), "token": ("w32", "w48", "w64"),
             "structured": ("w32", "w48", "w64")}


def best_sizes(runs_dir: str, budget: float, names, which=variants.HEADLINE) -> dict:
  """{variant: its best size at `budget`} for the variants `which`, from the study's finished seed-0 runs in
  `runs_dir`."""
  import json
  out = {}
  for v in which:
    losses = {}
    for p in names:
      path = os.path.join(runs_dir, sweeps.run_name(dict(variant=v, preset=p, train_flops=float(budget))),
                          "result.json")
      if os.path.exists(path):
        with open(path) as f:
          losses[p] = json.load(f)["eval_bpb"]
    if len(losses) < len(names):
      raise FileNotFoundError(f"{runs_dir} lacks {len(names) - len(losses)} of the study's {v} runs at "
                              f"{budget:.0e} FLOPs: run the study first (python -m structlm sweep "
                              f"experiments/cpu_study.py --workdir {runs_dir})")
    out[v] = min(losses, key=losses.get)
  return out


def seed_repeats(runs_dir: str, design: dict, around: int = 1, which=variants.HEADLINE) -> list[dict]:
  """Seed-1 repeats of each variant's best size and `around` sizes on each side of it at every budget of
  `design`, the best read from the study's finished runs in `runs_dir` (so the seed noise is measured where the
  optimum is, and the points that place it are averaged over two seeds)."""
  runs = []
  for c, names in design.items():
    for v, best in best_sizes(runs_dir, c, names, which).items():
      k = names.index(best)
      runs += [dict(variant=v, preset=p, train_flops=float(c), seed=1)
               for p in names[max(0, k - around):k + around + 1]]
  return runs


def ablations(runs_dir: str) -> list[dict]:
  """At each ARMS budget: the structured variant without its grammar mask and without tree features on its best
  size and both neighbours (pairs with the study's seed-0 runs), and every headline variant's best run at
  vocabulary 8,192 (4x the study's: what a grammar saves depends on it)."""
  runs = []
  for c in ARMS:
    names = DESIGNS[""][c]
    best = best_sizes(runs_dir, c, names)
    k = names.index(best["structured"])
    for off in (dict(grammar_mask=False), dict(tree_features=False)):
      runs += [dict(variant="structured", preset=p, train_flops=c, **off) for p in names[max(0, k - 1):k + 2]]
    runs += [dict(variant=v, preset=p, train_flops=c, vocab_size=4 * COMMON["vocab_size"]) for v, p in best.items()]
  return runs


def edge_runs(check: dict) -> list[dict]:
  """One run past the edge of each learning-rate check cell whose best scale is its grid's smallest (half it) or
  largest (double it); `check` is analysis.lr.check's result."""
  runs = []
  for c, cells in check["cells"].items():
    for v, cell in cells.items():
      scales = sorted(float(s) for s in cell["bpb"])
      if cell["at_edge"]:
        k = 0.5 if cell["best_scale"] == scales[0] else 2.0
        runs.append(dict(variant=v, preset=cell["size"], train_flops=float(c), lr_scale=cell["best_scale"] * k))
  return runs


def get_config(mode: str = ""):
  """'' (the study), 'demo' (smaller budgets), 'quick' (a 3 x 3 toy on the stdlib's top-level modules),
  'ablations' (no grammar mask, no tree features, vocabulary 8,192: read from $STRUCTLM_STUDY_RUNS, its own
  workdir), 'knobs' (beta2, warm-up and batch each at one other value: its own workdir), 'top' (the 1e13 budget,
  its own workdir), 'top-lr' (1e13 at a quarter of the rule's rate, its own workdir), 'lr-check-edges' (one scale
  past each lr-check cell whose best is at the grid's edge: read from $STRUCTLM_LR_RUNS and $STRUCTLM_STUDY_RUNS,
  into the lr-check's workdir), 'names' (the whole-file names arm alone), 'context' (every variant at 4x the
  context alone: its own workdir), 'serial' (the design with serial-numbered REFs: the study's workdir),
  'serial-seeds' (their seed-1 repeats, read from $STRUCTLM_STUDY_RUNS like 'seeds'), 'lr-check' (the
  learning-rate rule at every budget), or 'seeds' (seed-1 repeats around each budget's best run, read from
  $STRUCTLM_STUDY_RUNS, default runs/study: sweep them into the same workdir; 'seeds-upto-1e12': those budgets
  only, while larger ones still run; 'seeds-3e12': that budget alone). Prefixed "v1-" (or 'v1' for the study):
  the same under the published study's learning-rate rule (RULES)."""
  rule = "v2"
  if mode == "v1" or mode.startswith("v1-"):
    rule, mode = "v1", mode[3:]
  study_common, lr_scale = {**COMMON, **RULES[rule]}, RULES[rule]["lr_scale"]
  if mode == "seeds" or mode.startswith("seeds-"):  # seeds-upto-1e12: the budgets up to 1e12; seeds-3e12: that one
    arg = mode[len("seeds-"):]
    if arg.startswith("upto-"):
      design = {c: sizes for c, sizes in DESIGNS[""].items() if c <= float(arg[len("upto-"):])}
    else:
      design = {c: sizes for c, sizes in DESIGNS[""].items() if not arg or c == float(arg)}
    if not design:
      raise ValueError(f"{mode}: no budget of the design ({', '.join(f'{c:.0e}' for c in DESIGNS[''])}) matches")
    return sweeps.sweep(seed_repeats(os.environ.get("STRUCTLM_STUDY_RUNS", "runs/study"), design),
                        common=study_common, bootstrap=1000)
  if mode == "lr-check-edges":  # extend the grid where a cell's best rate is at its edge (rerun until none is)
    from analysis import lr
    study = os.environ.get("STRUCTLM_STUDY_RUNS", "runs/study")
    common = dict(study_common)
    common.pop("lr_scale")
    return sweeps.sweep(edge_runs(lr.check(os.environ.get("STRUCTLM_LR_RUNS", "runs/lr-check"), study)),
                        common=common, bootstrap=0)
  if mode == "lr-check" or mode.startswith("lr-check-"):  # the learning-rate rule at every budget (largest
    study = os.environ.get("STRUCTLM_STUDY_RUNS", "runs/study")  # first; lr-check-3e12: that budget alone): each
    budgets = sorted(DESIGNS[""], reverse=True)                   # variant's best size at a quarter, half and
    if mode != "lr-check":                                         # double the rule's rate
      budgets = [float(mode[len("lr-check-"):])]
    common = dict(study_common)
    common.pop("lr_scale")
    runs = []
    for c in budgets:
      best = best_sizes(study, c, DESIGNS[""][c])
      runs += [dict(variant=v, preset=p, train_flops=c, lr_scale=lr_scale * k) for v, p in best.items()
               for k in (0.25, 0.5, 2.0)]
    return sweeps.sweep(runs, common=common, bootstrap=0)
  if mode == "names":  # the whole-file name table against the window-limited one, on the arms' sizes
    return sweeps.sweep([dict(variant="scoped_file", preset=p, train_flops=c) for c, sizes in ARMS.items()
                         for p in sizes], common=study_common, bootstrap=1000)
  if mode == "serial":  # serial-numbered REFs on the design they were run on
    return sweeps.sweep([dict(variant="scoped", preset=p, train_flops=float(c)) for c, names in SERIAL_DESIGN.items()
                         for p in names], common=study_common, bootstrap=1000)
  if mode == "serial-seeds":  # and seed 1 around their own best sizes
    return sweeps.sweep(seed_repeats(os.environ.get("STRUCTLM_STUDY_RUNS", "runs/study"), SERIAL_DESIGN,
                                     which=("scoped",)), common=study_common, bootstrap=1000)
  if mode == "context":  # every headline variant at 4x the context (names reach as far), on the arms' sizes: its
    return sweeps.sweep([dict(variant=v, preset=p, train_flops=c, context_bytes=4 * COMMON["context_bytes"])
                         for c, sizes in ARMS.items() for p in sizes for v in variants.SERIAL_HEADLINE],
                        common=study_common, bootstrap=0)  # own workdir, paired with the study by analysis.arms
  # (run with the serial scoped variant, before the recency numbering was chosen)
  if mode == "ablations":
    return sweeps.sweep(ablations(os.environ.get("STRUCTLM_STUDY_RUNS", "runs/study")), common=study_common,
                        bootstrap=0)
  if mode == "knobs":
    return sweeps.sweep([dict(variant=v, preset=p, train_flops=c, **knob) for c, best in KNOBS.items()
                         for v, p in best.items() for knob in KNOB_VALUES], common=study_common, bootstrap=0)
  if mode == "top-lr":  # at 1e13 a quarter of the rule's rate (the lr-check's best at 3e12 for token and the
    common = dict(study_common)  # scoped variants) on each variant's first-pass centre: the rule's rate is high there
    common.pop("lr_scale")
    (c, _), = TOP.items()
    runs = [dict(variant=v, preset=TOP_FIRST[v][1], train_flops=c, lr_scale=lr_scale * 0.25)
            for v in ("token", "scoped_recency", "structured")]  # and the next size up for the best run (xz)
    runs.append(dict(variant="scoped_recency", preset=TOP_FIRST["scoped_recency"][2], train_flops=c,
                     lr_scale=lr_scale * 0.25))
    return sweeps.sweep(runs, common=common, bootstrap=0)
  if mode == "top":  # the first pass, then every other size of the budget
    (c, names), = TOP.items()
    first = [(v, p) for v, sizes in TOP_FIRST.items() for p in sizes]
    rest = [(v, p) for v in TOP_FIRST for p in names if (v, p) not in first]
    return sweeps.sweep([dict(variant=v, preset=p, train_flops=c) for v, p in first + rest], common=study_common,
                        bootstrap=1000)
  if mode not in DESIGNS:
    raise ValueError("experiments/cpu_study.py takes no argument, 'demo', 'quick', 'ablations', 'knobs', 'top', "
                     "'top-lr', 'names', 'serial', 'serial-seeds', 'context', 'seeds', 'seeds-upto-BUDGET', "
                     f"'seeds-BUDGET', 'lr-check', 'lr-check-BUDGET' or 'lr-check-edges', not {mode!r}")
  common = dict(study_common)
  if mode in ("demo", "quick"):  # a fixed 400 kB of whole test files: the demo's runs are short, the test split long
    common.update(eval_bytes=400_000)
  if mode == "quick":
    common.update(corpus=os.path.join(sources.stdlib_root(), "*.py"))
  runs = [dict(variant=v, preset=p, train_flops=float(c))
          for c, names in DESIGNS[mode].items() for v in variants.HEADLINE for p in names]
  return sweeps.sweep(runs, common=common, bootstrap=1000)
