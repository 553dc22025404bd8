"""The transformer: parameter counts against the real tree, packing, the grammar-masked softmax, learning."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from structlm import flops
from structlm.model import ModelConfig, Transformer, loss_fn, mask_bias, model_inputs
from structlm.presets import LADDER, PRESETS, preset


def n_params(model) -> int:
  return sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))


@pytest.mark.parametrize("variant", ["token", "structured", "scoped"])
@pytest.mark.parametrize("name", ["50k", "400k", "3m", "85m", "3b"])
def test_param_counts_match_the_tree(variant, name):
  s = preset(name)
  cfg = ModelConfig(variant=variant, vocab_size=8192, d_model=s.d_model, n_layers=s.n_layers, n_heads=s.n_heads,
                    d_ff=s.d_ff, num_slots=900, parent_base=40, num_parents=1500,
                    num_refs=512 if variant == "scoped" else 0)
  abstract = nnx.eval_shape(lambda: Transformer(cfg, nnx.Rngs(0)))  # no memory for the big ones
  counts = flops.param_counts(cfg)
  assert counts["total"] == n_params(abstract)
  state = nnx.state(abstract, nnx.Param)
  lookup = sum(x.size for path, x in jax.tree_util.tree_leaves_with_path(state) if "embed" in jax.tree_util.keystr(path)
               and "unembed" not in jax.tree_util.keystr(path))
  assert counts["lookup"] == lookup and counts["compute"] == counts["total"] - lookup  # N: what costs FLOPs
  if variant != "token":  # the parent table: one row per node-opening action, plus top level
    assert state["embed"]["parent"]["embedding"].shape == (1501, s.d_model)
  if variant == "scoped":  # the name-index table: one row per REF, plus "not a name"
    assert state["embed"]["names"]["embedding"].shape == (513, s.d_model)
  assert counts["nonembedding"] == sum(x.size for path, x in jax.tree_util.tree_leaves_with_path(
      nnx.state(abstract, nnx.Param)) if "blocks" in jax.tree_util.keystr(path) or "'norm'" in jax.tree_util.keystr(path))


def test_presets_span_15k_to_3b_nonembedding():
  def size(s):
    return flops.param_counts(ModelConfig(d_model=s.d_model, n_layers=s.n_layers, n_heads=s.n_heads,
                                          d_ff=s.d_ff))["nonembedding"]
  named = [size(s) for name, s in PRESETS.items() if not name.startswith("w")]
  assert named == sorted(named) and 10e3 < named[0] < 20e3 and 2.5e9 < named[-1] < 3.5e9
  ladder = [size(PRESETS[f"w{d}"]) for d in LADDER]  # the CPU study's ladder: two layers, width 8 to 96
  assert ladder == sorted(ladder) and ladder[0] < 2e3 and 2e5 < ladder[-1] < 3e5
  assert all(1.5 < b / a < 3 for a, b in zip(ladder, ladder[1:]))  # width by about sqrt(2): N by about 2
  with pytest.raises(ValueError, match="unknown preset"):
    preset("7b")


def test_flops_per_token():
  cfg = ModelConfig(vocab_size=1000, d_model=128, n_layers=2, n_heads=2, d_ff=384)
  f_causal = flops.train_flops_per_token(cfg, 512)
  f_full = flops.train_flops_per_token(cfg, 512, causal=False)
  matmul = 2 * (4 * 128 * 128 + 3 * 128 * 384) + 128 * 1000
  assert f_causal == 6 * matmul + 6 * 512 * 128 * 2 and f_full - f_causal == 6 * 512 * 128 * 2


def batch_of(rng, vocab, B=2, T=24, slots=None):
  b = {"ids": rng.integers(0, vocab, (B, T)).astype(np.int32), "segment_ids": np.ones((B, T), np.int32),
       "positions": np.tile(np.arange(T), (B, 1)).astype(np.int32)}
  if slots is not None:
    b.update(slots=rng.integers(0, slots, (B, T)).astype(np.int32), depth=rng.integers(0, 9, (B, T)).astype(np.int32),
             parent=rng.integers(0, vocab, (B, T)).astype(np.int32))
  return b


def test_attention_does_not_cross_packed_documents():
  cfg = ModelConfig(vocab_size=40, d_model=32, n_layers=2, n_heads=2, d_ff=64)
  model = Transformer(cfg, nnx.Rngs(1))
  rng = np.random.default_rng(0)
  a, b = rng.integers(0, 40, 10), rng.integers(0, 40, 14)
  packed = {"inputs": np.concatenate([a, b])[None], "segment_ids": np.array([[1] * 10 + [2] * 14]),
            "positions": np.concatenate([np.arange(10), np.arange(14)])[None]}
  alone = {"inputs": b[None], "segment_ids": np.ones((1, 14), np.int32), "positions": np.arange(14)[None]}
  np.testing.assert_allclose(model(packed)[0, 10:], model(alone)[0], atol=1e-5)


def test_grammar_mask_gives_invalid_actions_zero_probability():
  vocab, slots = 30, 5
  rng = np.random.default_rng(0)
  table = rng.random((slots, vocab)) < 0.3
  table[:, 0] = True  # every slot has a valid action
  cfg = ModelConfig(variant="structured", vocab_size=vocab, d_model=32, n_layers=1, n_heads=2, d_ff=64, num_slots=slots)
  model = Transformer(cfg, nnx.Rngs(0))
  inputs = model_inputs(batch_of(rng, vocab, slots=slots))
  probs = jax.nn.softmax(model(inputs, mask_bias(table)), -1)
  valid = table[inputs["next_slots"]]
  assert float(jnp.abs(jnp.where(valid, 0.0, probs)).max()) == 0.0
  np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("variant", ["token", "structured"])
def test_a_tiny_model_learns_a_batch(variant):
  vocab, slots = 20, 4
  rng = np.random.default_rng(0)
  table = np.ones((slots, vocab), bool)
  cfg = ModelConfig(variant=variant, vocab_size=vocab, d_model=32, n_layers=1, n_heads=2, d_ff=64, num_slots=slots)
  model = Transformer(cfg, nnx.Rngs(0))
  inputs = model_inputs(batch_of(rng, vocab, T=32, slots=slots if variant == "structured" else None))
  opt = nnx.Optimizer(model, optax.adamw(1e-2), wrt=nnx.Param)

  @nnx.jit
  def step(model, opt, inputs, table):
    (loss, _), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, inputs, table)
    opt.update(model, grads)
    return loss

  first = float(step(model, opt, inputs, mask_bias(table)))
  for _ in range(60):
    last = float(step(model, opt, inputs, mask_bias(table)))
  assert last < 0.3 * first


def test_each_scoped_variant_reads_its_own_name_numbering():
  from types import SimpleNamespace

  from structlm import variants
  vocab = SimpleNamespace(names="window serials", recency_names="window recency", file_names="whole file")
  assert {v: variants.get(v).scheme(vocab) for v in ("scoped", "scoped_recency", "scoped_file")} == {
      "scoped": "window serials", "scoped_recency": "window recency", "scoped_file": "whole file"}
