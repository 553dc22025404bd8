"""Meshes (data, fsdp, tensor) on 8 simulated CPU devices: same losses whatever the mesh; specs follow the rules."""
import jax
import numpy as np
import pytest
from flax import nnx
from jax.sharding import PartitionSpec as P

from structlm import sharding
from structlm.model import ModelConfig, Transformer, mask_bias, model_inputs
from structlm.train import init_state, make_step, optimizer

CFG = ModelConfig(variant="structured", vocab_size=64, d_model=32, n_layers=2, n_heads=4, d_ff=64, num_slots=6)


def losses(mesh_shape, steps=5):
  mesh = sharding.make_mesh(mesh_shape, jax.devices()[:int(np.prod(mesh_shape))])
  tx = optimizer(3e-3, 10, warmup=2)
  graphdef, params, opt = init_state(Transformer(CFG, nnx.Rngs(0)), tx, mesh)
  step = make_step(graphdef, tx, mesh, params, opt)
  rng = np.random.default_rng(0)
  table = mask_bias(np.ones((6, 64), bool))
  out = []
  for _ in range(steps):
    b = {"ids": rng.integers(0, 64, (8, 17)).astype(np.int32), "segment_ids": np.ones((8, 17), np.int32),
         "positions": np.tile(np.arange(17), (8, 1)).astype(np.int32),
         "slots": rng.integers(0, 6, (8, 17)).astype(np.int32), "depth": rng.integers(0, 5, (8, 17)).astype(np.int32),
         "parent": rng.integers(0, 64, (8, 17)).astype(np.int32)}
    params, opt, metrics = step(params, opt, model_inputs(b), table)
    out.append(float(jax.block_until_ready(metrics["loss"])))  # block each step (CPU collectives)
  return out, params


@pytest.mark.skipif(len(jax.devices()) < 8, reason="needs XLA_FLAGS=--xla_force_host_platform_device_count=8")
def test_meshes_give_the_same_losses():
  ref, _ = losses((1, 1, 1))
  for shape in ((2, 2, 2), (8, 1, 1), (1, 4, 2)):
    got, params = losses(shape)
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=1e-5)
  q = params["blocks"][0]["attn"]["q"]
  assert q.sharding.spec == P("fsdp", "tensor", None)
  assert params["unembed"].sharding.spec == P("fsdp", "tensor")
  # 64 actions + BOS = 65 rows: the tensor axis does not divide them, so that dimension stays replicated
  assert params["embed"]["ids"]["embedding"].sharding.spec == P(None, "fsdp")


def test_bad_meshes_and_configs_fail_before_compiling():
  with pytest.raises(ValueError, match="needs 16 devices"):
    sharding.make_mesh((4, 2, 2), jax.devices()[:8])
  with pytest.raises(ValueError, match="not divisible by 3"):
    sharding.make_mesh((-1, 3, 1), jax.devices()[:8])
  mesh = sharding.make_mesh((2, 1, 4), jax.devices()[:8]) if len(jax.devices()) >= 8 else None
  if mesh is not None:
    with pytest.raises(ValueError, match="heads are not divisible"):
      sharding.check(ModelConfig(n_heads=2, d_model=64), mesh, 8)
    with pytest.raises(ValueError, match="global batch 3"):
      sharding.check(ModelConfig(n_heads=4, d_model=64), mesh, 3)


def test_distributed_start_needs_all_flags_and_skips_a_single_host(monkeypatch):
  monkeypatch.delenv("SLURM_NTASKS", raising=False)
  monkeypatch.delenv("TPU_WORKER_HOSTNAMES", raising=False)
  assert sharding.initialize_distributed() is False  # one host: nothing to start
  with pytest.raises(ValueError, match="--num-processes"):
    sharding.initialize_distributed("localhost:1234")
