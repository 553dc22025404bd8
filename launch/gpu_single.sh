#!/usr/bin/env bash
# One GPU node (or a workstation): run a sweep on all local GPUs, then its analysis.
#
#   launch/gpu_single.sh --sweep experiments/gpu_small.py [--only GLOB] [--workdir runs/gpu_small] [--dry-run]
set -euo pipefail
source "$(dirname "$0")/common.sh"

SWEEP="" ONLY="" WORKDIR=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sweep) SWEEP=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --workdir) WORKDIR=$2; shift ;;
    --dry-run) DRY_RUN=1 ;;
    *) die "unknown argument $1 (see the header of $0)" ;;
  esac
  shift
done
[[ -n "$SWEEP" ]] || die "--sweep experiments/<sweep>.py is required"
NAME=$(sweep_name "$SWEEP")
WORKDIR=${WORKDIR:-runs/$NAME}
run make venv
args=(.venv/bin/python -m structlm sweep "$SWEEP" --workdir "$WORKDIR" --set "dtype=bfloat16,mesh=(-1,1,1)")
[[ -n "$ONLY" ]] && args+=(--only "$ONLY")
run env JAX_PLATFORMS= XLA_FLAGS= "${args[@]}"
