#!/usr/bin/env bash
# Cloud TPU: create a TPU VM slice (queued resource), install structlm on every worker, run sweep members on all
# workers at once (jax.distributed over the slice), copy the results to gs://, and tear down.
#
#   launch/tpu.sh STEP... --name NAME --zone ZONE --type v5litepod-16 --bucket gs://BUCKET \
#       [--project P] [--runtime VERSION (default: the TPU generation's)] [--spot] [--sweep experiments/grid.py] [--only GLOB] [--dry-run]
#
# STEP: create | install | run | fetch | delete | all (= create install run fetch delete).
# Checkpoints go to gs://BUCKET/ckpt/<sweep>/ (every worker writes its shards there, so a preempted slice resumes
# from them); metrics and result.json are written on worker 0 and `fetch` copies them to gs://BUCKET/runs/<sweep>.
# --dry-run prints the exact gcloud commands and runs nothing.
set -euo pipefail
source "$(dirname "$0")/common.sh"

STEPS=() NAME="" ZONE="" TYPE="" PROJECT="" BUCKET="" RUNTIME="" SPOT=0
SWEEP="experiments/grid.py" ONLY=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    create|install|run|fetch|delete) STEPS+=("$1") ;;
    all) STEPS+=(create install run fetch delete) ;;
    --name) NAME=$2; shift ;;
    --zone) ZONE=$2; shift ;;
    --type) TYPE=$2; shift ;;
    --project) PROJECT=$2; shift ;;
    --bucket) BUCKET=${2%/}; shift ;;
    --runtime) RUNTIME=$2; shift ;;
    --spot) SPOT=1 ;;
    --sweep) SWEEP=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --dry-run) DRY_RUN=1 ;;
    *) die "unknown argument $1 (see the header of $0)" ;;
  esac
  shift
done
[[ ${#STEPS[@]} -gt 0 ]] || die "give at least one step: create, install, run, fetch, delete or all"
[[ -n "$NAME" && -n "$ZONE" ]] || die "--name and --zone are required"
[[ "$BUCKET" == gs://* ]] || die "--bucket must be a gs:// bucket (checkpoints and results go there)"

GCLOUD=(gcloud)
[[ -n "$PROJECT" ]] && GCLOUD+=(--project "$PROJECT")
SWEEP_NAME=$(sweep_name "$SWEEP")
SSH=("${GCLOUD[@]}" compute tpus tpu-vm ssh "$NAME" --zone "$ZONE" --worker=all)

for step in "${STEPS[@]}"; do
  case "$step" in
    create)
      [[ -n "$TYPE" ]] || die "create needs --type (e.g. v5litepod-16, v4-32)"
      if [[ -z "$RUNTIME" ]]; then
        case "$TYPE" in
          v4-*) RUNTIME=tpu-ubuntu2204-base ;;
          v5litepod-*) RUNTIME=v2-alpha-tpuv5-lite ;;
          v5p-*) RUNTIME=v2-alpha-tpuv5 ;;
          v6e-*) RUNTIME=v2-alpha-tpuv6e ;;
          *) die "no default runtime for $TYPE: give --runtime" ;;
        esac
      fi
      args=("${GCLOUD[@]}" compute tpus queued-resources create "$NAME" --node-id "$NAME" --zone "$ZONE"
            --accelerator-type "$TYPE" --runtime-version "$RUNTIME")
      [[ "$SPOT" == 1 ]] && args+=(--spot)
      run "${args[@]}"
      describe=("${GCLOUD[@]}" compute tpus queued-resources describe "$NAME" --zone "$ZONE" --format "value(state.state)")
      show "${describe[@]}"  # polled until the slice is ACTIVE
      if [[ "$DRY_RUN" != 1 ]]; then
        until [[ "$("${describe[@]}")" == ACTIVE ]]; do sleep 30; done
      fi
      ;;
    install)
      run git archive --format=tar.gz -o /tmp/structlm.tar.gz HEAD
      run "${GCLOUD[@]}" compute tpus tpu-vm scp /tmp/structlm.tar.gz "$NAME:~/structlm.tar.gz" --zone "$ZONE" --worker=all
      run "${SSH[@]}" --command "mkdir -p structlm && tar -xzf structlm.tar.gz -C structlm && cd structlm && python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt jax[tpu]==0.10.2 -f https://storage.googleapis.com/jax-releases/libtpu_releases.html && .venv/bin/pip install -q --no-deps -e ."
      ;;
    run)
      cmd="cd structlm && .venv/bin/python -m structlm sweep $SWEEP --workdir runs/$SWEEP_NAME --multihost --no-analysis"
      [[ -n "$ONLY" ]] && cmd+=" --only $(quote "$ONLY")"
      cmd+=" --set $(quote "checkpoint_root=$BUCKET/ckpt/$SWEEP_NAME,dtype=bfloat16,mesh=(-1,1,1)")"
      run "${SSH[@]}" --command "$cmd"
      ;;
    fetch)
      run "${GCLOUD[@]}" compute tpus tpu-vm ssh "$NAME" --zone "$ZONE" --worker=0 --command "cd structlm && gcloud storage rsync -r runs/$SWEEP_NAME $BUCKET/runs/$SWEEP_NAME"
      ;;
    delete)
      run "${GCLOUD[@]}" compute tpus queued-resources delete "$NAME" --zone "$ZONE" --force --quiet
      ;;
  esac
done
