"""One decoder-only transformer (Flax NNX) for every variant (structlm/variants.py).

Pre-norm RMSNorm, RoPE, SwiGLU, causal attention through `jax.nn.dot_product_attention` that never crosses
packed documents (segment ids), optional remat, compute in `dtype` with fp32 parameters, z-loss.

The variants differ in three named places only:
- `Embedder`: token ids; or action ids plus the tree features of the action being predicted (its slot, depth and
  parent rule, all known from the prefix), switchable by `tree_features`; the scoped variant adds the name-table
  index of the action itself (`names`: the same row at a name's first spelling and at its REFs, so attention can
  match them), switchable by `name_features`;
- `grammar_mask`: a grammar variant's logits are restricted to the valid next actions by adding one gathered
  row of the grammar's [num_slots, vocab] bias table (0 valid, -1e30 invalid; `mask_bias`), so invalid actions
  get probability exactly zero (an added float row fuses into the softmax; a boolean select did not, and cost
  a quarter of a tiny model's step on CPU);
- `ref_mask`: the scoped variant's REF i is valid only when the file's name table holds more than i names
  (`next_name_count`), switchable by `ref_mask`.
Shapes: B batch, T length, D model width, H heads, K head width, F hidden, V vocabulary.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

NEG = -1e30  # masked logits: exp underflows to exactly 0, and a row never becomes all -inf


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  variant: str = "token"  # structlm.variants.NAMES
  vocab_size: int = 8192  # output classes; id vocab_size is BOS (input only)
  num_refs: int = 0  # scoped: REF actions, the last num_refs output classes
  d_model: int = 128
  n_layers: int = 2
  n_heads: int = 2
  d_ff: int = 384
  num_slots: int = 0  # structured: the grammar's slot count
  max_depth: int = 128  # tree depths are clipped to this
  parent_base: int = 0  # structured: the first action that can open a node (rules, segments, OPEN follow)...
  num_parents: int = 0  # ...and how many there are; the parent table has one more row (top level)
  tree_features: bool = True
  grammar_mask: bool = True
  name_features: bool = True  # scoped: the name-table index input
  ref_mask: bool = True  # scoped: REFs only to names that exist
  dtype: str = "float32"  # compute dtype (bf16 on accelerators); parameters stay fp32
  remat: bool = False
  z_loss: float = 1e-4
  rope_theta: float = 10000.0

  def __post_init__(self):
    from structlm import variants
    v = variants.get(self.variant)
    if v.refs != (self.num_refs > 0):
      need = "needs" if v.refs else "has no"
      raise ValueError(f"num_refs {self.num_refs}: the {self.variant} variant {need} REF actions")
    if self.d_model % self.n_heads:
      raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
    if v.grammar and (self.tree_features or self.grammar_mask) and self.num_slots <= 0:
      raise ValueError(f"the {self.variant} variant needs num_slots (from the dataset's grammar)")

  @property
  def structured(self) -> bool:
    """Grammar actions (structured, scoped): tree features and the grammar mask apply."""
    from structlm import variants
    return variants.get(self.variant).grammar

  @property
  def name_inputs(self) -> bool:
    return self.num_refs > 0 and self.name_features


def rope(x_BxTxHxK, positions_BxT, theta: float):
  k = x_BxTxHxK.shape[-1] // 2
  freq_K = theta ** (-jnp.arange(k, dtype=jnp.float32) / k)
  angle_BxTxK = positions_BxT[..., None].astype(jnp.float32) * freq_K
  cos, sin = jnp.cos(angle_BxTxK)[:, :, None, :], jnp.sin(angle_BxTxK)[:, :, None, :]
  x1, x2 = x_BxTxHxK[..., :k].astype(jnp.float32), x_BxTxHxK[..., k:].astype(jnp.float32)
  return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1).astype(x_BxTxHxK.dtype)


class Attention(nnx.Module):
  def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
    d, h = cfg.d_model, cfg.n_heads
    init = nnx.initializers.normal(d ** -0.5)
    self.q = nnx.Param(init(rngs.params(), (d, h, d // h)))
    self.k = nnx.Param(init(rngs.params(), (d, h, d // h)))
    self.v = nnx.Param(init(rngs.params(), (d, h, d // h)))
    self.o = nnx.Param(nnx.initializers.normal(d ** -0.5 / (2 * cfg.n_layers) ** 0.5)(rngs.params(), (h, d // h, d)))
    self.cfg = cfg

  def __call__(self, x_BxTxD, positions_BxT, mask_Bx1xTxT):
    dt = x_BxTxD.dtype
    q_BxTxHxK = rope(jnp.einsum("btd,dhk->bthk", x_BxTxD, self.q[...].astype(dt)), positions_BxT, self.cfg.rope_theta)
    k_BxTxHxK = rope(jnp.einsum("btd,dhk->bthk", x_BxTxD, self.k[...].astype(dt)), positions_BxT, self.cfg.rope_theta)
    v_BxTxHxK = jnp.einsum("btd,dhk->bthk", x_BxTxD, self.v[...].astype(dt))
    out_BxTxHxK = jax.nn.dot_product_attention(q_BxTxHxK, k_BxTxHxK, v_BxTxHxK, mask=mask_Bx1xTxT)
    return jnp.einsum("bthk,hkd->btd", out_BxTxHxK, self.o[...].astype(dt))


  def decode(self, x_Bx1xD, pos, cache: dict):
    """One position `pos` (a scalar) against the KV cache {k, v: [B, L, H, K]}; returns (out, updated cache)."""
    dt = x_Bx1xD.dtype
    pos_Bx1 = jnp.full(x_Bx1xD.shape[:2], pos, jnp.int32)
    q_Bx1xHxK = rope(jnp.einsum("btd,dhk->bthk", x_Bx1xD, self.q[...].astype(dt)), pos_Bx1, self.cfg.rope_theta)
    k_Bx1xHxK = rope(jnp.einsum("btd,dhk->bthk", x_Bx1xD, self.k[...].astype(dt)), pos_Bx1, self.cfg.rope_theta)
    v_Bx1xHxK = jnp.einsum("btd,dhk->bthk", x_Bx1xD, self.v[...].astype(dt))
    k_BxLxHxK = jax.lax.dynamic_update_slice(cache["k"], k_Bx1xHxK.astype(cache["k"].dtype), (0, pos, 0, 0))
    v_BxLxHxK = jax.lax.dynamic_update_slice(cache["v"], v_Bx1xHxK.astype(cache["v"].dtype), (0, pos, 0, 0))
    L = k_BxLxHxK.shape[1]
    mask_Bx1x1xL = jnp.broadcast_to(jnp.arange(L) <= pos, (x_Bx1xD.shape[0], 1, 1, L))
    out_Bx1xHxK = jax.nn.dot_product_attention(q_Bx1xHxK, k_BxLxHxK.astype(dt), v_BxLxHxK.astype(dt),
                                               mask=mask_Bx1x1xL)
    return jnp.einsum("bthk,hkd->btd", out_Bx1xHxK, self.o[...].astype(dt)), {"k": k_BxLxHxK, "v": v_BxLxHxK}


class MLP(nnx.Module):
  def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
    d, f = cfg.d_model, cfg.d_ff
    self.w1 = nnx.Param(nnx.initializers.normal(d ** -0.5)(rngs.params(), (d, f)))
    self.w3 = nnx.Param(nnx.initializers.normal(d ** -0.5)(rngs.params(), (d, f)))
    self.w2 = nnx.Param(nnx.initializers.normal(f ** -0.5 / (2 * cfg.n_layers) ** 0.5)(rngs.params(), (f, d)))

  def __call__(self, x_BxTxD):
    dt = x_BxTxD.dtype
    h_BxTxF = jax.nn.silu(x_BxTxD @ self.w1[...].astype(dt)) * (x_BxTxD @ self.w3[...].astype(dt))
    return h_BxTxF @ self.w2[...].astype(dt)


class Block(nnx.Module):
  def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
    self.norm1 = nnx.RMSNorm(cfg.d_model, rngs=rngs)
    self.attn = Attention(cfg, rngs)
    self.norm2 = nnx.RMSNorm(cfg.d_model, rngs=rngs)
    self.mlp = MLP(cfg, rngs)

  def __call__(self, x_BxTxD, positions_BxT, mask_Bx1xTxT):
    x_BxTxD = x_BxTxD + self.attn(self.norm1(x_BxTxD), positions_BxT, mask_Bx1xTxT)
    return x_BxTxD + self.mlp(self.norm2(x_BxTxD))


  def decode(self, x_Bx1xD, pos, cache):
    h_Bx1xD, cache = self.attn.decode(self.norm1(x_Bx1xD), pos, cache)
    x_Bx1xD = x_Bx1xD + h_Bx1xD
    return x_Bx1xD + self.mlp(self.norm2(x_Bx1xD)), cache


def parent_row(parent_BxT, cfg: ModelConfig):
  """Parent action id -> its row of the parent table: 0 at top level (PAD), 1 + (id - parent_base) for the
  actions that open nodes; anything else (never produced by the encoder) shares row 0."""
  rel_BxT = parent_BxT - cfg.parent_base
  return jnp.where((rel_BxT >= 0) & (rel_BxT < cfg.num_parents), rel_BxT + 1, 0)


class Embedder(nnx.Module):
  """Token ids, or action ids plus the predicted action's tree features (slot, depth, parent rule)."""

  def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
    self.cfg = cfg
    self.ids = nnx.Embed(cfg.vocab_size + 1, cfg.d_model, rngs=rngs)
    if cfg.structured and cfg.tree_features:
      self.slot = nnx.Embed(cfg.num_slots + 1, cfg.d_model, rngs=rngs)
      self.depth = nnx.Embed(cfg.max_depth, cfg.d_model, rngs=rngs)
      self.parent = nnx.Embed(cfg.num_parents + 1, cfg.d_model, rngs=rngs)
    if cfg.name_inputs:
      self.names = nnx.Embed(cfg.num_refs + 1, cfg.d_model, rngs=rngs)

  def __call__(self, batch: dict):
    x_BxTxD = self.ids(batch["inputs"])
    if self.cfg.structured and self.cfg.tree_features:
      x_BxTxD = (x_BxTxD + self.slot(batch["next_slots"])
                 + self.depth(jnp.minimum(batch["next_depth"], self.cfg.max_depth - 1))
                 + self.parent(parent_row(batch["next_parent"], self.cfg)))
    if self.cfg.name_inputs:
      x_BxTxD = x_BxTxD + self.names(jnp.minimum(batch["names"], self.cfg.num_refs))
    return x_BxTxD


class Transformer(nnx.Module):
  def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
    self.cfg = cfg
    self.embed = Embedder(cfg, rngs)
    self.blocks = nnx.List([Block(cfg, rngs) for _ in range(cfg.n_layers)])
    self.norm = nnx.RMSNorm(cfg.d_model, rngs=rngs)
    self.unembed = nnx.Param(nnx.initializers.normal(cfg.d_model ** -0.5)(rngs.params(), (cfg.d_model, cfg.vocab_size)))

  def __call__(self, batch: dict, mask_bias_SxV=None):
    """Logits [B, T, V] (fp32) for the next action/token at every position of `batch` (see `model_inputs`)."""
    dt = jnp.dtype(self.cfg.dtype)
    seg_BxT, pos_BxT = batch["segment_ids"], batch["positions"]
    causal_TxT = jnp.tril(jnp.ones((seg_BxT.shape[1],) * 2, bool))
    same_BxTxT = seg_BxT[:, :, None] == seg_BxT[:, None, :]
    mask_Bx1xTxT = (causal_TxT & same_BxTxT)[:, None]  # the diagonal is always on: no row is empty
    x_BxTxD = self.embed(batch).astype(dt)
    for block in self.blocks:
      if self.cfg.remat:
        x_BxTxD = nnx.remat(lambda b, x: b(x, pos_BxT, mask_Bx1xTxT))(block, x_BxTxD)
      else:
        x_BxTxD = block(x_BxTxD, pos_BxT, mask_Bx1xTxT)
    logits_BxTxV = (self.norm(x_BxTxD) @ self.unembed[...].astype(dt)).astype(jnp.float32)
    return output_mask(self.cfg, logits_BxTxV, batch, mask_bias_SxV)


def mask_bias(mask_table_SxV):
  """The grammar's boolean [num_slots, vocab] valid-action table as the additive bias the model takes."""
  return jnp.where(jnp.asarray(mask_table_SxV), 0.0, NEG).astype(jnp.float32)


def init_cache(cfg: ModelConfig, batch: int, max_len: int) -> list[dict]:
  """An empty KV cache for `decode`: per layer {k, v: [batch, max_len, heads, head width]} in the compute dtype."""
  shape = (batch, max_len, cfg.n_heads, cfg.d_model // cfg.n_heads)
  return [{"k": jnp.zeros(shape, cfg.dtype), "v": jnp.zeros(shape, cfg.dtype)} for _ in range(cfg.n_layers)]


def decode_step(model: Transformer, step: dict, pos, cache: list, mask_bias_SxV=None):
  """Logits [B, V] for the next action/token after feeding one position. `step` holds [B, 1] arrays: `inputs`
  (the id at `pos`) and, for the structured model, the next choice's `next_slots`, `next_depth`, `next_parent`.
  The same numbers as the full forward pass over the prefix (test), at O(L) cost per step."""
  cfg = model.cfg
  x_Bx1xD = model.embed(step).astype(jnp.dtype(cfg.dtype))
  new_cache = []
  for block, layer_cache in zip(model.blocks, cache):
    x_Bx1xD, layer_cache = block.decode(x_Bx1xD, pos, layer_cache)
    new_cache.append(layer_cache)
  logits_Bx1xV = (model.norm(x_Bx1xD) @ model.unembed[...].astype(x_Bx1xD.dtype)).astype(jnp.float32)
  return output_mask(cfg, logits_Bx1xV, step, mask_bias_SxV)[:, 0], new_cache


def grammar_mask(logits_BxTxV, slots_BxT, mask_bias_SxV):
  """The grammar-constrained softmax: add the gathered bias rows of the next slots."""
  return logits_BxTxV + mask_bias_SxV[slots_BxT]


def ref_mask(logits_BxTxV, count_BxT, live_BxT, num_refs: int):
  """REF i (the last num_refs classes) only where it is legal before the predicted action: the `live` newest of
  the `count` name serials, REF id = serial mod num_refs (structlm/syntax/names.py)."""
  from structlm.syntax.names import legal_refs
  legal_BxTxR = legal_refs(count_BxT, live_BxT, num_refs, xp=jnp)
  bias_BxTxR = jnp.where(legal_BxTxR, 0.0, NEG).astype(logits_BxTxV.dtype)
  pad = [(0, 0)] * (logits_BxTxV.ndim - 1) + [(logits_BxTxV.shape[-1] - num_refs, 0)]
  return logits_BxTxV + jnp.pad(bias_BxTxR, pad)


def output_mask(cfg: ModelConfig, logits_BxTxV, batch: dict, mask_bias_SxV):
  """The variant's constraints on the next action: the grammar mask, then (scoped) the REF mask."""
  if cfg.structured and cfg.grammar_mask:
    logits_BxTxV = grammar_mask(logits_BxTxV, batch["next_slots"], mask_bias_SxV)
  if cfg.num_refs and cfg.ref_mask:
    logits_BxTxV = ref_mask(logits_BxTxV, batch["next_name_count"], batch["next_name_live"], cfg.num_refs)
  return logits_BxTxV


def model_inputs(batch: dict) -> dict:
  """Packed rows (structlm.data.pipeline) -> inputs at t, targets at t+1. The structured model sees, at t, the
  tree features of the action it predicts (slot, depth, parent at t+1): the machine knows them from the prefix."""
  out = {"inputs": batch["ids"][:, :-1], "targets": batch["ids"][:, 1:],
         "segment_ids": batch["segment_ids"][:, :-1], "positions": batch["positions"][:, :-1],
         "weights": (batch["segment_ids"][:, 1:] == batch["segment_ids"][:, :-1]) & (batch["segment_ids"][:, 1:] > 0)}
  if "slots" in batch:
    out.update(next_slots=batch["slots"][:, 1:], next_depth=batch["depth"][:, 1:], next_parent=batch["parent"][:, 1:])
  if "names" in batch:  # the scoped model: the input action's REF id, the predicted action's legal REFs
    out.update(names=batch["names"][:, :-1], next_name_count=batch["name_count"][:, 1:],
               next_name_live=batch["name_live"][:, 1:])
  return out


def position_nll(model: Transformer, inputs: dict, mask_bias_SxV=None):
  """(NLL in nats of each target [B, T], zero where not predicted; log-partition [B, T]; weights [B, T])."""
  logits_BxTxV = model(inputs, mask_bias_SxV)
  lse_BxT = jax.nn.logsumexp(logits_BxTxV, -1)
  nll_BxT = lse_BxT - jnp.take_along_axis(logits_BxTxV, inputs["targets"][..., None], -1)[..., 0]
  w_BxT = inputs["weights"].astype(jnp.float32)
  return jnp.where(w_BxT > 0, nll_BxT, 0.0), lse_BxT, w_BxT


def loss_fn(model: Transformer, inputs: dict, mask_bias_SxV=None):
  """(mean loss with z-loss, summed NLL in nats, number of predicted positions)."""
  nll_BxT, lse_BxT, w_BxT = position_nll(model, inputs, mask_bias_SxV)
  n = jnp.maximum(w_BxT.sum(), 1.0)
  nll_sum = nll_BxT.sum()
  z = model.cfg.z_loss * jnp.where(w_BxT > 0, lse_BxT ** 2, 0.0).sum() / n  # padding rows may be all-masked
  return nll_sum / n + z, (nll_sum, w_BxT.sum())
