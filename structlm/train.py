"""Training: optimizer and the jitted, partitioned train step (the loop, metrics, checkpoints and CLI come next).

`nnx.split` once; the step is a pure `jax.jit` over (graphdef, state) with NamedSharding on parameters,
optimizer state and batch, so a step has no per-call Python graph overhead.
"""
from __future__ import annotations

import jax
import optax
from flax import nnx

from structlm import sharding
from structlm.model import Transformer, loss_fn


def lr_schedule(peak_lr: float, total_steps: int, warmup: int):
  """Linear warmup, then cosine decay to 10% of the peak."""
  return optax.warmup_cosine_decay_schedule(0.0, peak_lr, max(1, min(warmup, total_steps - 1)),
                                            max(total_steps, 2), end_value=0.1 * peak_lr)


def decayed(params):
  """Weight decay on matrices only: not on norm scales or biases (1-D), nor on lookup tables (embeddings)."""
  return jax.tree_util.tree_map_with_path(
      lambda path, x: x.ndim >= 2 and "embedding" not in jax.tree_util.keystr(path), params)


def optimizer(peak_lr: float, total_steps: int, warmup: int = 100, weight_decay: float = 0.1, clip: float = 1.0,
              accumulate: int = 1, beta2: float = 0.95) -> optax.GradientTransformation:
  """AdamW (decay on matrices only), linear warmup then cosine decay to 10% of the peak, global-norm clipping,
  optional accumulation."""
  schedule = lr_schedule(peak_lr, total_steps, warmup)
  tx = optax.chain(optax.clip_by_global_norm(clip), optax.adamw(schedule, b1=0.9, b2=beta2,
                                                                 weight_decay=weight_decay, mask=decayed))
  return optax.MultiSteps(tx, accumulate) if accumulate > 1 else tx


def init_state(model: Transformer, tx, mesh):
  """(graphdef, params, opt_state) placed on the mesh."""
  graphdef, params = nnx.split(model, nnx.Param)
  opt_state = tx.init(params)
  params = jax.device_put(params, sharding.shardings(params, mesh))
  opt_state = jax.device_put(opt_state, sharding.shardings(opt_state, mesh))
  return graphdef, params, opt_state


def make_step(graphdef, tx, mesh, params, opt_state):
  p_sh, o_sh = sharding.shardings(params, mesh), sharding.shardings(opt_state, mesh)

  def step(params, opt_state, inputs, mask_bias):
    def loss(params):
      return loss_fn(nnx.merge(graphdef, params), inputs, mask_bias)
    (value, (nll_sum, n)), grads = jax.value_and_grad(loss, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    return params, opt_state, {"loss": value, "nll_sum": nll_sum, "predicted": n,
                               "grad_norm": optax.tree.norm(grads)}

  return jax.jit(step, in_shardings=(p_sh, o_sh, sharding.batch_sharding(mesh), None),
                 out_shardings=(p_sh, o_sh, None), donate_argnums=(0, 1))
