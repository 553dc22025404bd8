"""`python -m structlm.launch_check`: a sweep checked against the machines it is launched on, before any is
rented: every member's mesh fits the device count and its global batch divides the data x fsdp axes.

python -m structlm.launch_check --sweep experiments/isoflop.py --devices 32 [--set KEY=VALUE,...]
Exit 0 and one line per distinct (mesh, batch), or exit 2 naming the members that do not fit.
"""
from __future__ import annotations

import argparse
import math
import sys

from structlm.runner import load_sweep, members
from structlm.run import load_config


def axes(mesh, devices: int) -> tuple[int, int, int]:
  """The mesh's (data, fsdp, tensor) sizes on `devices` devices (-1: the rest), or ValueError."""
  fixed = math.prod(m for m in mesh if m != -1)
  if list(mesh).count(-1) > 1 or devices % fixed:
    raise ValueError(f"mesh {tuple(mesh)} does not fit {devices} devices")
  return tuple(devices // fixed if m == -1 else m for m in mesh)


def check(spec: str, devices: int, extra: str = "") -> list[str]:
  bad, seen = [], set()
  for m in members(load_sweep(spec), extra=extra):
    cfg = load_config(m["spec"])
    try:
      data, fsdp, tensor = axes(tuple(cfg.mesh), devices)
      if data * fsdp * tensor != devices:
        raise ValueError(f"mesh {tuple(cfg.mesh)} uses {data * fsdp * tensor} of {devices} devices")
      if cfg.global_batch and cfg.global_batch % (data * fsdp):
        raise ValueError(f"global batch {cfg.global_batch} does not divide data x fsdp = {data * fsdp}")
    except ValueError as e:
      bad.append(f"{m['name']}: {e}")
      continue
    seen.add(((data, fsdp, tensor), cfg.global_batch))
  if not bad:
    for mesh, batch in sorted(seen):
      print(f"mesh (data, fsdp, tensor) = {mesh}, global batch {batch or 'by rule (a multiple is not checked)'}")
  return bad


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__)
  ap.add_argument("--sweep", required=True)
  ap.add_argument("--devices", type=int, required=True)
  ap.add_argument("--set", default="")
  args = ap.parse_args(argv)
  bad = check(args.sweep, args.devices, args.set)
  for line in bad:
    print(f"error: {line}", file=sys.stderr)
  return 2 if bad else 0


if __name__ == "__main__":
  sys.exit(main())
