#!/usr/bin/env bash
# Cloud TPU: create a TPU VM slice (queued resource), install structlm on every worker, run a sweep on all workers
# at once (jax.distributed over the slice) detached from this shell, wait for it, copy the results to gs://, and
# tear down.
#
#   launch/tpu.sh STEP... --name NAME --zone ZONE --type v5e-16 --bucket gs://BUCKET \
#       [--project P] [--runtime VERSION (default: the TPU generation's)] [--spot] [--sweep experiments/grid.py]
#       [--only GLOB] [--set KEY=VALUE,...] [--dry-run]
#
# STEP: create | install | run | wait | fetch | delete | all (= create install run wait fetch delete). With `all`,
# fetch and delete also run when anything fails or the script is interrupted (a trap), so a slice never keeps
# billing unattended. --type takes gcloud's names or the short ones (v5e-64 = v5litepod-64).
# Install: Python 3.11 from uv (the base images have 3.10), the C compiler and headers, requirements.txt, then
# requirements-tpu.txt (jax[tpu]). Run: the sweep is started with nohup on every worker (a dropped ssh does not
# stop it), its log and runs are synced to gs://BUCKET/runs/<sweep>/ every 5 minutes by worker 0, and its exit
# code lands in runs/<sweep>/.exit; `wait` polls for it and leaves if the slice is FAILED or SUSPENDED.
# Checkpoints go to gs://BUCKET/ckpt/<sweep>/ (a preempted slice resumes from them; each finished run leaves its
# result.json there too, so a new slice skips it), the dataset to gs://BUCKET/data/ (worker 0 builds and uploads it,
# every worker reads it from there; structlm/storage.py). The members' settings: the
# profile of the accelerator first (bfloat16, mesh, peak FLOPs, expect_backend=tpu), --set last. Before creating
# anything, every member's mesh and global batch are checked against the slice's chips (structlm.launch_check).
# --dry-run prints the exact commands and runs nothing.
set -euo pipefail
source "$(dirname "$0")/common.sh"

STEPS=() NAME="" ZONE="" TYPE="" PROJECT="" BUCKET="" RUNTIME="" SPOT=0 SET=""
SWEEP="experiments/grid.py" ONLY=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    create|install|run|wait|fetch|delete) STEPS+=("$1") ;;
    all) STEPS+=(create install run wait fetch delete) ;;
    --name) NAME=$2; shift ;;
    --zone) ZONE=$2; shift ;;
    --type) TYPE=$2; shift ;;
    --project) PROJECT=$2; shift ;;
    --bucket) BUCKET=${2%/}; shift ;;
    --runtime) RUNTIME=$2; shift ;;
    --spot) SPOT=1 ;;
    --sweep) SWEEP=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --set) SET=$2; shift ;;
    --dry-run) DRY_RUN=1 ;;
    *) die "unknown argument $1 (see the header of $0)" ;;
  esac
  shift
done
[[ ${#STEPS[@]} -gt 0 ]] || die "give at least one step: create, install, run, wait, fetch, delete or all"
[[ -n "$NAME" && -n "$ZONE" ]] || die "--name and --zone are required"
[[ "$BUCKET" == gs://* ]] || die "--bucket must be a gs:// bucket (checkpoints and results go there)"

# accelerator aliases and profiles: chips, bf16 peak FLOP/s per chip, default runtime
case "$TYPE" in
  v5e-*) TYPE="v5litepod-${TYPE#v5e-}" ;;
esac
CHIPS="" PEAK="" DEFAULT_RUNTIME=""
case "$TYPE" in
  v4-*) CHIPS=$(( ${TYPE#v4-} / 2 )); PEAK=2.75e14; DEFAULT_RUNTIME=tpu-ubuntu2204-base ;;
  v5litepod-*) CHIPS=${TYPE#v5litepod-}; PEAK=1.97e14; DEFAULT_RUNTIME=v2-alpha-tpuv5-lite ;;
  v5p-*) CHIPS=$(( ${TYPE#v5p-} / 2 )); PEAK=4.59e14; DEFAULT_RUNTIME=v2-alpha-tpuv5 ;;
  v6e-*) CHIPS=${TYPE#v6e-}; PEAK=9.18e14; DEFAULT_RUNTIME=v2-alpha-tpuv6e ;;
  "") ;;
  *) die "unknown --type $TYPE (v4-N, v5e-N / v5litepod-N, v5p-N, v6e-N)" ;;
esac
RUNTIME=${RUNTIME:-$DEFAULT_RUNTIME}

GCLOUD=(gcloud)
[[ -n "$PROJECT" ]] && GCLOUD+=(--project "$PROJECT")
SWEEP_NAME=$(sweep_name "$SWEEP")
SSH=("${GCLOUD[@]}" compute tpus tpu-vm ssh "$NAME" --zone "$ZONE" --worker=all)
SSH0=("${GCLOUD[@]}" compute tpus tpu-vm ssh "$NAME" --zone "$ZONE" --worker=0)
RUNS="runs/$SWEEP_NAME"
PROFILE="checkpoint_root=$BUCKET/ckpt/$SWEEP_NAME,data_dir=$BUCKET/data,dtype=bfloat16,mesh=(-1,1,1),expect_backend=tpu"
[[ -n "$PEAK" ]] && PROFILE+=",peak_flops=$PEAK"
SETTINGS="$PROFILE${SET:+,$SET}"  # the user's last: a later key=value wins

# the members against the slice, before anything is created (needs the local checkout's venv or python3)
if [[ -n "$CHIPS" ]]; then
  PY=${PYTHON:-$( [[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3 )}
  "$PY" -m structlm.launch_check --sweep "$SWEEP" --devices "$CHIPS" --set "$SETTINGS" >&2 ||
    die "the sweep does not fit a $TYPE slice ($CHIPS chips): see above"
fi

cleanup() {  # with `all`: whatever happened, fetch what there is and delete the slice
  local code=$?
  trap - EXIT INT TERM
  if [[ " ${STEPS[*]} " == *" delete "* && "${CREATED:-0}" == 1 ]]; then
    echo "cleaning up (exit $code): fetch, then delete $NAME" >&2
    fetch || true
    run "${GCLOUD[@]}" compute tpus queued-resources delete "$NAME" --zone "$ZONE" --force --quiet || true
  fi
  exit "$code"
}

fetch() {
  run "${SSH0[@]}" --command "cd structlm && gcloud storage rsync -r $RUNS $BUCKET/$RUNS"
}

CREATED=0
for step in "${STEPS[@]}"; do
  case "$step" in
    create)
      [[ -n "$TYPE" ]] || die "create needs --type (e.g. v5e-16, v4-32)"
      [[ -n "$RUNTIME" ]] || die "no default runtime for $TYPE: give --runtime"
      args=("${GCLOUD[@]}" compute tpus queued-resources create "$NAME" --node-id "$NAME" --zone "$ZONE"
            --accelerator-type "$TYPE" --runtime-version "$RUNTIME")
      [[ "$SPOT" == 1 ]] && args+=(--spot)
      run "${args[@]}"
      CREATED=1
      [[ " ${STEPS[*]} " == *" delete "* ]] && trap cleanup EXIT INT TERM
      describe=("${GCLOUD[@]}" compute tpus queued-resources describe "$NAME" --zone "$ZONE" --format "value(state.state)")
      show "${describe[@]}"  # polled until the slice is ACTIVE
      if [[ "$DRY_RUN" != 1 ]]; then
        until [[ "$("${describe[@]}")" == ACTIVE ]]; do
          state=$("${describe[@]}")
          [[ "$state" == FAILED || "$state" == SUSPENDED ]] && die "the slice $NAME is $state"
          sleep 30
        done
      fi
      ;;
    install)
      run git archive --format=tar.gz -o /tmp/structlm.tar.gz HEAD
      run "${GCLOUD[@]}" compute tpus tpu-vm scp /tmp/structlm.tar.gz "$NAME:~/structlm.tar.gz" --zone "$ZONE" --worker=all
      run "${SSH[@]}" --command "sudo apt-get update -qq && sudo apt-get install -y -qq build-essential && curl -LsSf https://astral.sh/uv/0.5.11/install.sh | sh && mkdir -p structlm && tar -xzf structlm.tar.gz -C structlm && cd structlm && ~/.local/bin/uv python install 3.11 && make venv PYTHON=\$(~/.local/bin/uv python find 3.11) && .venv/bin/pip install -q -r requirements-tpu.txt"
      ;;
    run)
      cmd="cd structlm && mkdir -p $RUNS && nohup sh -c '.venv/bin/python -m structlm sweep $SWEEP --workdir $RUNS --multihost --no-analysis --quiet"
      [[ -n "$ONLY" ]] && cmd+=" --only $(quote "$ONLY")"
      cmd+=" --set $(quote "$SETTINGS"); echo \$? > $RUNS/.exit' > $RUNS/sweep-\$(hostname).log 2>&1 &"
      # worker 0 also syncs the runs and logs to the bucket every 5 minutes until the sweep has ended
      sync="cd structlm && nohup sh -c 'until [ -f $RUNS/.exit ]; do gcloud storage rsync -r $RUNS $BUCKET/$RUNS; sleep 300; done; gcloud storage rsync -r $RUNS $BUCKET/$RUNS' > /dev/null 2>&1 &"
      run "${SSH[@]}" --command "$cmd"
      run "${SSH0[@]}" --command "$sync"
      ;;
    wait)
      probe=("${SSH0[@]}" --command "cat structlm/$RUNS/.exit 2>/dev/null || true")
      describe=("${GCLOUD[@]}" compute tpus queued-resources describe "$NAME" --zone "$ZONE" --format "value(state.state)")
      show "${probe[@]}"  # polled every minute until the sweep's exit code is there
      if [[ "$DRY_RUN" != 1 ]]; then
        while :; do
          code=$("${probe[@]}" | tail -n 1)
          [[ -n "$code" ]] && { [[ "$code" == 0 ]] || die "the sweep ended with exit code $code (logs: $BUCKET/$RUNS)"; break; }
          state=$("${describe[@]}")
          [[ "$state" == FAILED || "$state" == SUSPENDED ]] && die "the slice $NAME is $state (runs so far: $BUCKET/$RUNS)"
          sleep 60
        done
      fi
      ;;
    fetch)
      fetch
      ;;
    delete)
      trap - EXIT INT TERM
      run "${GCLOUD[@]}" compute tpus queued-resources delete "$NAME" --zone "$ZONE" --force --quiet
      ;;
  esac
done
