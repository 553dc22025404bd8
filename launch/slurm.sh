#!/usr/bin/env bash
# GPU cluster (SLURM), several nodes: submit launch/slurm_job.sbatch, one task per GPU (every task sees its node's
# GPUs and jax.distributed gives it GPU SLURM_LOCALID); jax.distributed starts from the SLURM environment.
# Preemption and the time limit: SLURM sends TERM 5 minutes before, the run saves a checkpoint and stops, and the
# job requeues itself (--requeue); the same sweep then resumes every member from its checkpoint.
#
#   launch/slurm.sh --sweep experiments/grid.py [--only GLOB] [--nodes 2] [--gpus-per-node 8] [--partition P]
#       [--account A] [--time 24:00:00] [--workdir runs/grid] [--set KEY=VALUE,...] [--dry-run]
#
# The checkout must sit on a file system every node sees (it holds .venv, data/ and runs/); the job installs
# requirements-gpu.txt (jax[cuda12]) into .venv. --dry-run prints the sbatch command and submits nothing.
set -euo pipefail
source "$(dirname "$0")/common.sh"

SWEEP="" ONLY="" NODES=2 GPUS=8 PARTITION="" ACCOUNT="" TIME="24:00:00" WORKDIR="" SET=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sweep) SWEEP=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --nodes) NODES=$2; shift ;;
    --gpus-per-node) GPUS=$2; shift ;;
    --partition) PARTITION=$2; shift ;;
    --account) ACCOUNT=$2; shift ;;
    --time) TIME=$2; shift ;;
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
args=(sbatch --job-name "structlm-$NAME" --nodes "$NODES" --ntasks-per-node "$GPUS" --gpus-per-node "$GPUS"
      --time "$TIME" --output "$WORKDIR/slurm-%j.out" --requeue --signal=TERM@300)
[[ -n "$PARTITION" ]] && args+=(--partition "$PARTITION")
[[ -n "$ACCOUNT" ]] && args+=(--account "$ACCOUNT")
[[ "$DRY_RUN" == 1 ]] || mkdir -p "$WORKDIR"
run "${args[@]}" launch/slurm_job.sbatch "$SWEEP" "$WORKDIR" "$ONLY" "$SET"
