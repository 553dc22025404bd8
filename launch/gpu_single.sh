#!/usr/bin/env bash
# One GPU node (or a workstation): run a sweep on all local GPUs, then its analysis.
#
#   launch/gpu_single.sh --sweep experiments/gpu_small.py [--only GLOB] [--workdir runs/gpu_small] [--set K=V,...]
#       [--dry-run]
# Installs requirements-gpu.txt (jax[cuda12]) into .venv; a run that finds no GPU stops at once (expect_backend).
set -euo pipefail
source "$(dirname "$0")/common.sh"

SWEEP="" ONLY="" WORKDIR="" SET=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sweep) SWEEP=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --workdir) WORKDIR=$2; shift ;;
    --set) SET=$2; shift ;;
    --dry-run) DRY_RUN=1 ;;
    *) die "unknown argument $1 (see the header of $0)" ;;
  esac
  shift
done
[[ -n "$SWEEP" ]] || die "--sweep experiments/<sweep>.py is required"
NAME=$(sweep_name "$SWEEP")
WORKDIR=${WORKDIR:-runs/$NAME}
run make venv
run .venv/bin/pip install -q -r requirements-gpu.txt
args=(.venv/bin/python -m structlm sweep "$SWEEP" --workdir "$WORKDIR" --set
      "dtype=bfloat16,mesh=(-1,1,1),expect_backend=gpu${SET:+,$SET}")
[[ -n "$ONLY" ]] && args+=(--only "$ONLY")
run env JAX_PLATFORMS= XLA_FLAGS= "${args[@]}"
