#!/usr/bin/env bash
# Everything that waits for a GPU, in one go on one H100/H200 (about 10 minutes), one JSON file per part in OUT:
#   step.json    benchmarks/step.py at 125M, 350M and 1.3B (ref_mfu.py's shapes) beside the reference, bf16,
#                remat on for all, vocabulary 32,768, 8 x 2,048 tokens per step (token, structured, scoped)
#   decode.json, decode_scoped.json  benchmarks/decode.py (constrained vs unconstrained decoding), each grammar variant
#   sweep.json   the experiments/gpu_small.py sweep (--half: its 3m and 10m runs of every variant)
# usage: benchmarks/gpu.sh [--out DIR] [--half] [--dry-run]     (--dry-run prints the commands; runs nothing)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=runs/gpu DRY=0 HALF=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --half) HALF=1; shift ;;
    --dry-run) DRY=1; shift ;;
    *) echo "benchmarks/gpu.sh: unknown argument $1 (use --out DIR, --half, --dry-run)" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-.venv/bin/python}
export XLA_FLAGS="${XLA_FLAGS:-}" JAX_PLATFORMS="${JAX_PLATFORMS:-}"

part() {  # part NAME CMD...: run CMD with its stdout (JSON lines) in OUT/NAME.json
  local name="$1"; shift
  printf '%q ' "$@"; echo "> $OUT/$name.json"
  if [ "$DRY" = 0 ]; then mkdir -p "$OUT"; "$@" > "$OUT/$name.json"; fi
}

part step $PY benchmarks/step.py --json --shapes "768,12,12;1024,24,16;2048,24,16" --dtype bfloat16 \
  --vocab 32768 --seq 2048 --batch 8 --steps 10 --remat on
part decode $PY benchmarks/decode.py --json --preset 25m --n 64
part decode_scoped $PY benchmarks/decode.py --json --preset 25m --n 64 --variant scoped
ONLY=()
if [ "$HALF" = 1 ]; then ONLY=(--only '*-3m-*,*-10m-*'); fi
part sweep $PY -m structlm sweep experiments/gpu_small.py --workdir "$OUT/gpu_small" --set dtype=bfloat16 --json \
  --quiet "${ONLY[@]}"
