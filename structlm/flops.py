"""Parameter counts and training FLOPs per token, from a ModelConfig (tests check them against the real tree).

N, as the analysis fits it, is `compute`: the parameters that cost FLOPs (non-embedding + the output projection),
one formula for every variant. The input tables (ids; the grammar variants' slot, depth and parent tables; the
scoped variant's name-index table) are
`lookup` parameters: free capacity, reported beside N, never in it. Training FLOPs per
token: 6 x (matmul parameters, output projection included) plus attention as MaxText counts it: forward
QK^T and AV are 2 x 2 x T x d per layer, x3 for training, halved for causal masking (`causal=False` gives the
full figure).
"""
from __future__ import annotations


def param_counts(cfg) -> dict:
  d, L, ff, V = cfg.d_model, cfg.n_layers, cfg.d_ff, cfg.vocab_size
  per_layer = 4 * d * d + 3 * d * ff + 2 * d  # attention q, k, v, o; SwiGLU w1, w3, w2; two RMSNorm scales
  embed = (V + 1) * d  # + BOS
  if cfg.structured and cfg.tree_features:
    embed += (cfg.num_slots + 1) * d + cfg.max_depth * d + (cfg.num_parents + 1) * d  # slot, depth, parent
  if cfg.name_inputs:
    embed += (cfg.num_refs + 1) * d  # the scoped variant's name-table index
  nonembedding = L * per_layer + d  # + final norm
  unembed = d * V
  return {"total": embed + nonembedding + unembed, "nonembedding": nonembedding, "compute": nonembedding + unembed,
          "lookup": embed}


def train_flops_per_token(cfg, seq_len: int, causal: bool = True) -> float:
  d, L = cfg.d_model, cfg.n_layers
  matmul = L * (4 * d * d + 3 * d * cfg.d_ff) + d * cfg.vocab_size
  attention = 3 * 2 * 2 * seq_len * d * L
  return 6.0 * matmul + (attention / 2 if causal else attention)
