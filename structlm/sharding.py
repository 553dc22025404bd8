"""Meshes with axes (data, fsdp, tensor), logical axis names for parameters and activations, and the rules that
map one to the other.

Parameters are named by their role (`PARAM_AXES`): embedding tables (vocab, embed); attention q/k/v
(embed, heads, kv) and o (heads, kv, embed); SwiGLU (embed, mlp) / (mlp, embed); the output projection
(embed, vocab); norms (embed). `RULES` sends embed to fsdp, heads/mlp/vocab to tensor, and the batch to
(data, fsdp). A dimension that an axis does not divide stays replicated. Optimizer state mirrors its parameter;
scalars such as optax's `count` are replicated.
"""
from __future__ import annotations

import itertools
import math

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

AXES = ("data", "fsdp", "tensor")
RULES = {"batch": ("data", "fsdp"), "embed": "fsdp", "heads": "tensor", "mlp": "tensor", "vocab": "tensor",
         "kv": None, "length": None}
PARAM_AXES = {"embedding": ("vocab", "embed"), "q": ("embed", "heads", "kv"), "k": ("embed", "heads", "kv"),
              "v": ("embed", "heads", "kv"), "o": ("heads", "kv", "embed"), "w1": ("embed", "mlp"),
              "w3": ("embed", "mlp"), "w2": ("mlp", "embed"), "unembed": ("embed", "vocab"), "scale": ("embed",)}


_BARRIERS = itertools.count(1)


def barrier(name: str, timeout_s: int = 3600) -> None:
  """Every process waits here until all have arrived (the coordination service's barrier, no collective).

  Before a collective that may follow uneven work (one host builds the dataset, another compiles slowly): gloo's
  CPU collectives give up after 30 s of one host waiting, the coordination service waits `timeout_s`. One
  process: nothing. The name gets a counter (a barrier's name is used once per process; a sweep trains many runs
  in one)."""
  if jax.process_count() == 1:
    return
  from orbax.checkpoint import multihost
  multihost.get_barrier_sync_fn()(key=f"structlm {name} {next(_BARRIERS)}", timeout_ms=timeout_s * 1000)


def make_mesh(shape=(-1, 1, 1), devices=None) -> Mesh:
  """(data, fsdp, tensor); one -1 takes what the others leave."""
  devices = list(devices if devices is not None else jax.devices())
  shape = list(shape)
  if len(shape) != 3 or shape.count(-1) > 1:
    raise ValueError(f"mesh shape {tuple(shape)} must be three sizes (data, fsdp, tensor), at most one -1")
  known = math.prod(s for s in shape if s != -1)
  if -1 in shape:
    if len(devices) % known:
      raise ValueError(f"mesh {tuple(shape)}: {len(devices)} devices are not divisible by {known}")
    shape[shape.index(-1)] = len(devices) // known
  if math.prod(shape) != len(devices):
    raise ValueError(f"mesh {tuple(shape)} needs {math.prod(shape)} devices but {len(devices)} are present "
                     "(set the mesh in the config, or use -1 for one axis)")
  return Mesh(np.array(devices).reshape(shape), AXES)


def check(cfg, mesh: Mesh, global_batch: int) -> None:
  """Fail before compiling on what the mesh cannot split."""
  tensor, dp = mesh.shape["tensor"], mesh.shape["data"] * mesh.shape["fsdp"]
  if cfg.n_heads % tensor:
    raise ValueError(f"{cfg.n_heads} heads are not divisible by the tensor axis ({tensor})")
  if global_batch % dp:
    raise ValueError(f"global batch {global_batch} is not divisible by data x fsdp = {dp}")


def spec(names, shape, mesh: Mesh) -> P:
  axes = []
  for name, dim in zip(names, shape):
    mesh_axes = RULES.get(name)
    if mesh_axes is None:
      axes.append(None)
      continue
    size = math.prod(mesh.shape[a] for a in (mesh_axes if isinstance(mesh_axes, tuple) else (mesh_axes,)))
    axes.append(mesh_axes if dim % size == 0 else None)
  return P(*axes)


def param_spec(path, leaf, mesh: Mesh) -> P:
  """The PartitionSpec of a parameter (or an optimizer leaf mirroring one) from the last name on its path."""
  if getattr(leaf, "ndim", 0) == 0:
    return P()
  for key in reversed(path):
    name = getattr(key, "key", getattr(key, "name", None))
    if name in PARAM_AXES and len(PARAM_AXES[name]) == leaf.ndim:
      return spec(PARAM_AXES[name], leaf.shape, mesh)
  return P()


def shardings(tree, mesh: Mesh):
  return jax.tree_util.tree_map_with_path(lambda p, x: NamedSharding(mesh, param_spec(p, x, mesh)), tree)


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(RULES["batch"]))


def initialize_distributed(coordinator: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None, multihost: bool = False) -> bool:
  """Start multi-host JAX before anything touches a device. Explicit flags win; `multihost` (the launch scripts'
  --multihost) or a SLURM job with several tasks or a Cloud TPU pod slice's environment start it with what
  jax.distributed finds there; a single host does nothing. CPU processes use gloo collectives. Returns whether
  jax.distributed was started."""
  import os
  explicit = coordinator is not None
  if explicit and (num_processes is None or process_id is None):
    raise ValueError("--coordinator needs --num-processes and --process-id too")
  slurm = int(os.environ.get("SLURM_NTASKS", "1")) > 1
  tpu_pod = len(os.environ.get("TPU_WORKER_HOSTNAMES", "").split(",")) > 1
  if not (explicit or multihost or slurm or tpu_pod):
    return False
  if os.environ.get("JAX_PLATFORMS", "") == "cpu":
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if explicit:
    jax.distributed.initialize(coordinator, num_processes, process_id)
  else:
    jax.distributed.initialize()
  return True
