# Shared by the launch scripts: `run CMD...` prints the command (quoted as Python's shlex.join quotes it) and,
# unless DRY_RUN=1, runs it.
DRY_RUN=${DRY_RUN:-0}

quote() {
  if [[ "$1" =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/\'\"\'\"\'}"
  fi
}

show() {
  local out="" a
  for a in "$@"; do
    out+="$(quote "$a") "
  done
  echo "${out% }"
}

run() {
  show "$@"
  if [[ "$DRY_RUN" != 1 ]]; then
    "$@"
  fi
}

die() {
  echo "error: $*" >&2
  exit 2
}

# The name of a sweep spec, for run directories and job names: experiments/demo.py:quick -> demo
sweep_name() {
  basename "${1%%:*}" .py
}
