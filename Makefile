PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export XLA_FLAGS ?= --xla_force_host_platform_device_count=8
export JAX_PLATFORMS ?= cpu

.PHONY: test demo study data-study lr-sweep venv roundtrip-stdlib bench clean foreign js-corpus mutation

NATIVE := setup.py $(wildcard structlm/native/*.c structlm/native/*.h)

# the install also compiles structlm._native (the C encoder/decoder; needs a C compiler) with the tree-sitter C
# core from the sdist of the tree-sitter version pinned in requirements.txt, fetched into build/tree-sitter/
TS_VERSION = $(shell sed -n 's/^tree-sitter==\([0-9.]*\).*/\1/p' requirements.txt)
TS_SDIST := build/tree-sitter/tree_sitter-$(TS_VERSION).tar.gz

$(TS_SDIST): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@test -n "$(TS_VERSION)" || (echo "requirements.txt pins no tree-sitter==X.Y.Z" >&2; exit 1)
	$(PY) -m pip download -q --no-binary :all: --no-deps tree-sitter==$(TS_VERSION) -d build/tree-sitter

$(STAMP): requirements.txt requirements-beam.txt pyproject.toml setup.py $(NATIVE) $(TS_SDIST)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@command -v $${CC:-cc} >/dev/null || (echo "no C compiler (cc) found: install one (e.g. apt-get install gcc) to build structlm._native" >&2; exit 1)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r requirements-beam.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -rs -n 2 --durations=10 tests

# The end-to-end demo on the stdlib (README): dataset, the CPU study's isoFLOP design at smaller budgets (45 runs),
# analysis -> runs/demo/report.md with its fits and plots. Nothing committed is touched.
# QUICK=1: the stdlib's top-level modules, 3 budgets x 3 sizes -> runs/demo-quick/report.md.
DEMO_DIR := runs/demo$(if $(QUICK),-quick)
demo: $(STAMP)
	XLA_FLAGS= $(PY) -m structlm sweep experiments/demo.py$(if $(QUICK),:quick) --workdir $(DEMO_DIR) --quiet
	@echo "the demo's report: $(DEMO_DIR)/report.md"

# The CPU study: runs/study, then its report, plots and every run's result.json in docs/study/ and its section of
# docs/study.md (the README's answer is written from it). Its learning-rate rule: experiments/cpu_study.py RULES
# (v2 since session 13, fitted on the lr-check's best rates; docs/study is v2's design and seed repeats, published
# in session 14; the first study, its arms, ablations and lr-check, under v1 in docs/study-v1, modes prefixed v1-). Measured here, for v1 (each run's own seconds, summed; runs often shared the 2 cores
# with other work): the design's 84 runs 3.1 h, the 36 seed repeats 1.25 h, the serial arm's 36 runs 1.35 h, the
# names arm 0.1 h: about 5.8 h from nothing, over the 2.5 h the study should take. Session 11 added 35 of them
# (the recency headline's, three sizes on the left, their seed repeats) in 1.5 h of wall clock. Session 12 (two or
# three runs at a time on the 2 cores): the ablations' 18 runs 0.7 h, the lr-check's edge runs 0.4 h, top-lr's
# first three 0.9 h, the 1e13 budget's first run 0.7 h; the 1e13 budget (21 runs) is not finished.
study: $(STAMP)
	XLA_FLAGS= $(PY) -m structlm sweep experiments/cpu_study.py --workdir runs/study
	XLA_FLAGS= STRUCTLM_STUDY_RUNS=runs/study $(PY) -m structlm sweep experiments/cpu_study.py:seeds --workdir runs/study
	XLA_FLAGS= $(PY) -m structlm sweep experiments/cpu_study.py:serial --workdir runs/study
	XLA_FLAGS= STRUCTLM_STUDY_RUNS=runs/study $(PY) -m structlm sweep experiments/cpu_study.py:serial-seeds --workdir runs/study
	XLA_FLAGS= $(PY) -m structlm sweep experiments/cpu_study.py:names --workdir runs/study
	XLA_FLAGS= $(PY) -m structlm sweep experiments/cpu_study.py:context --workdir runs/context --no-analysis
	XLA_FLAGS= STRUCTLM_STUDY_RUNS=runs/study $(PY) -m structlm sweep experiments/cpu_study.py:lr-check --workdir runs/lr-check --no-analysis
	XLA_FLAGS= STRUCTLM_STUDY_RUNS=runs/study STRUCTLM_LR_RUNS=runs/lr-check $(PY) -m structlm sweep experiments/cpu_study.py:lr-check-edges --workdir runs/lr-check --no-analysis
	XLA_FLAGS= STRUCTLM_STUDY_RUNS=runs/study $(PY) -m structlm sweep experiments/cpu_study.py:ablations --workdir runs/ablations --no-analysis
	XLA_FLAGS= $(PY) -m structlm sweep experiments/cpu_study.py:knobs --workdir runs/knobs --no-analysis
	XLA_FLAGS= $(PY) -m structlm sweep experiments/cpu_study.py:top --workdir runs/top --no-analysis
	$(PY) -m analysis.publish runs/study --name study --copy-runs --readme docs/study.md --answer README.md
	$(PY) -m analysis.arms runs/study --context runs/context --publish docs/study.md
	$(PY) -m analysis.lr runs/lr-check --study runs/study --publish docs/study.md
	$(PY) -m analysis.publish runs/context --copy-to docs/study/context
	$(PY) -m analysis.publish runs/lr-check --copy-to docs/study/lr-check
	$(PY) -m analysis.ablations runs/ablations --study runs/study --publish docs/study.md
	$(PY) -m analysis.publish runs/ablations --copy-to docs/study/ablations
	$(PY) -m analysis.knobs runs/knobs --study runs/study --publish docs/study.md
	$(PY) -m analysis.publish runs/knobs --copy-to docs/study/knobs
	$(PY) -m analysis.publish runs/top --copy-to docs/study/top

# The data-constrained study (experiments/cpu_data.py, 60 runs): R* per variant and the data multiplier
# (analysis/data_study.py) -> runs/data-study/data_study.md; its run time here: docs/data-study.md.
data-study: $(STAMP)
	XLA_FLAGS= $(PY) -m structlm sweep experiments/cpu_data.py --workdir runs/data-study --no-analysis --quiet
	$(PY) -m analysis.data_study runs/data-study

lr-sweep: $(STAMP)
	XLA_FLAGS= $(PY) -m structlm sweep experiments/lr_sweep.py --workdir runs/lr --no-analysis
	$(PY) -m structlm lr-choice runs/lr

# The foreign corpus: pinned wheels (version and hash) of Python projects outside the stdlib, their .py files in
# data/foreign/ with a manifest (the same files and hashes on every run), checked to share no file with the stdlib.
foreign: $(STAMP)
	$(PY) -m pip download -q --only-binary :all: --no-deps --require-hashes -r experiments/foreign-requirements.txt -d build/foreign
	rm -rf data/foreign
	$(PY) -m analysis.foreign unpack build/foreign data/foreign
	$(PY) -m analysis.foreign check data/foreign

# The JavaScript corpus: pinned npm packages (version and sha512 integrity, experiments/js-packages.txt), their
# hand-written .js files in data/js/ with a manifest (the same files and hashes on every run). Needs npm.
js-corpus: $(STAMP)
	$(PY) -m structlm.data.npm_corpus experiments/js-packages.txt build/js data/js

roundtrip-stdlib: $(STAMP)
	$(PY) -m structlm roundtrip --stdlib --json

bench: $(STAMP)
	$(PY) benchmarks/encode.py --json

clean:
	rm -rf $(VENV) .pytest_cache

# Mutation testing (not part of CI): mutmut over the modules [tool.mutmut] in pyproject.toml names, on a seeded
# sample of the mutants sized to HOURS at a measured rate (tools/mutation.py; HOURS=0: every mutant); score and
# survivors in mutants/score.json, equivalents in docs/mutation-equivalents.txt (docs/reliability.md)
HOURS ?= 0.75
mutation: $(STAMP)
	$(PY) -m pip install -q -r requirements-dev.txt
	rm -rf mutants
	$(PY) tools/mutation.py $(if $(filter 0,$(HOURS)),--all,--hours $(HOURS))
