PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export XLA_FLAGS ?= --xla_force_host_platform_device_count=8
export JAX_PLATFORMS ?= cpu

.PHONY: test demo venv roundtrip-stdlib bench clean

NATIVE := setup.py $(wildcard structlm/native/*.c structlm/native/*.h)

# the install also compiles structlm._native (the C encoder/decoder; needs a C compiler)
$(STAMP): requirements.txt requirements-beam.txt pyproject.toml $(NATIVE)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r requirements-beam.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -n 2 tests

# The end-to-end study on the stdlib (README): dataset, 16 runs, analysis -> runs/demo/report.md.
# QUICK=1: a smaller corpus and 12 shorter runs -> runs/demo-quick/report.md.
DEMO_DIR := runs/demo$(if $(QUICK),-quick)
demo: $(STAMP)
	XLA_FLAGS= $(PY) -m structlm sweep experiments/demo.py$(if $(QUICK),:quick) --workdir $(DEMO_DIR)
	$(if $(QUICK),,$(PY) -m analysis.publish $(DEMO_DIR))

roundtrip-stdlib: $(STAMP)
	$(PY) -m structlm roundtrip --stdlib --json

bench: $(STAMP)
	$(PY) benchmarks/encode.py --json

clean:
	rm -rf $(VENV) .pytest_cache
