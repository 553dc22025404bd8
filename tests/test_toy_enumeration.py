"""A true distribution over programs: on a toy grammar, enumerate every action sequence the masked structured model
gives non-negligible probability. All probability goes to valid actions, the mass of complete programs is at most 1
(what is not complete is accounted for: pruned below a threshold, or unfinished at the length cap), and a
program's enumerated probability is exactly the one training and evaluation score (so bits per byte are true)."""
import math

import jax
import numpy as np
import optax
from flax import nnx

from structlm.model import ModelConfig, Transformer, loss_fn, mask_bias, model_inputs
from structlm.syntax.build import build_grammar
from structlm.syntax.codec import Codec
from structlm.syntax.grammar import GrammarConfig
from structlm.syntax.machine import Machine, SlotTable

PROGRAMS = [b"x = 1\n", b"y = x\n", b"x = y\n", b"y = 1\n", b"x = x\n", b"y = y\n"]
EPS = 1e-4  # prefixes less likely than this are not expanded (their mass is counted as pruned)
MAX_LEN = 14
COMPLETE_MASS = 0.9870  # measured on this machine (README); float summation order may move the 4th decimal


def toy():
  g = build_grammar("python", [(f"t{i}.py", p) for i, p in enumerate(PROGRAMS)],
                    GrammarConfig(vocab_size=400, min_count=1, min_leaf_pieces=8, layout_classes=8,
                                  closed_leaf_max_texts=0, leaf_capacity="total"))
  return g, SlotTable(g)


def features(g, table, actions):
  """(slot, depth, parent) before each action, and of the choice after the last one, from the machine."""
  m = Machine(g, table=table)
  feats = []
  for a in actions:
    feats.append((m.slot(), m.depth(), m.parent()))
    m.step(int(a))
  feats.append((m.slot(), m.depth(), m.parent()))
  return np.array(feats, np.int32).T, m


def rows(g, table, seqs, open_end=False):
  """Each sequence as its own row: BOS + actions (as the data pipeline packs a document), right-padded. With
  `open_end` the row also carries the features of the choice after the last action, to predict it."""
  extra = int(open_end)
  T = max(map(len, seqs)) + 1 + extra
  out = {k: np.zeros((len(seqs), T), np.int32) for k in ("ids", "segment_ids", "positions", "slots", "depth", "parent")}
  for i, s in enumerate(seqs):
    f, _ = features(g, table, s)
    n = len(s) + 1
    out["ids"][i, :n] = [g.vocab_size] + list(s)
    out["segment_ids"][i, :n + extra] = 1
    out["positions"][i, :n + extra] = np.arange(n + extra)
    out["slots"][i, 1:n + extra], out["depth"][i, 1:n + extra], out["parent"][i, 1:n + extra] = f[:, :n - 1 + extra]
  return out


def train_tiny(g, table, docs):
  cfg = ModelConfig(variant="structured", vocab_size=g.vocab_size, d_model=32, n_layers=1, n_heads=2, d_ff=64,
                    num_slots=table.num_slots, parent_base=g.parent_ids[0],
                    num_parents=g.parent_ids[1] - g.parent_ids[0])
  model = Transformer(cfg, nnx.Rngs(0))
  mask = mask_bias(table.mask_table())
  batch = model_inputs(rows(g, table, docs))
  graphdef, params = nnx.split(model, nnx.Param)
  tx = optax.adam(1e-2)
  opt = tx.init(params)

  @jax.jit
  def step(params, opt):
    (loss, _), grads = jax.value_and_grad(lambda p: loss_fn(nnx.merge(graphdef, p), batch, mask), has_aux=True)(params)
    updates, opt = tx.update(grads, opt)
    return optax.apply_updates(params, updates), opt, loss

  for _ in range(150):
    params, opt, loss = step(params, opt)
  return nnx.merge(graphdef, params), mask


def next_logprobs(model, mask, g, table, prefixes):
  """log p(next action | prefix) for each prefix, [N, V], through the same forward pass training uses."""
  logits = model(model_inputs(rows(g, table, prefixes, open_end=True)), mask)
  lp = jax.nn.log_softmax(logits, -1)
  return np.asarray(lp[np.arange(len(prefixes)), [len(p) for p in prefixes]], np.float64)


def test_complete_programs_have_at_most_all_the_mass():
  g, table = toy()
  codec = Codec(g)
  docs = [list(codec.encode(p).actions) for p in PROGRAMS[:5]]  # "y = y" is held out
  for p, d in zip(PROGRAMS, docs):  # the encoder's features are the machine's
    e = codec.encode(p)
    f, m = features(g, table, d)
    assert (f[:, :-1] == np.stack([e.slots, e.depth, e.parent])).all() and m.done
  model, mask = train_tiny(g, table, docs)

  complete, pruned, unfinished = {}, 0.0, 0.0
  live = [((), 0.0)]
  while live:
    lps = next_logprobs(model, mask, g, table, [p for p, _ in live])
    nxt = []
    for (prefix, logp), lp in zip(live, lps):
      _, m = features(g, table, prefix)
      support = np.flatnonzero(lp > -1e20)
      assert m.mask()[support].all(), "the model gave probability to an action the machine rejects"
      assert abs(math.fsum(np.exp(lp[support])) - 1) < 1e-5
      for a in support:
        child, lc = prefix + (int(a),), logp + lp[a]
        if lc < math.log(EPS):
          pruned += math.exp(lc)
          continue
        mc = Machine(g, table=table)
        mc.feed(child)
        if mc.done:
          complete[child] = (lc, mc.output())
        elif len(child) >= MAX_LEN:
          unfinished += math.exp(lc)
        else:
          nxt.append((child, lc))
    live = nxt

  mass = math.fsum(math.exp(lc) for lc, _ in complete.values())
  print(f"complete {mass:.6f} ({len(complete)} sequences), pruned {pruned:.6f}, unfinished {unfinished:.6f}")
  assert mass <= 1 + 1e-6
  assert abs(mass + pruned + unfinished - 1) < 1e-4, (mass, pruned, unfinished)
  # what the README states: complete programs hold 0.9870 of the mass, the rest is pruned, nothing unfinished
  assert abs(mass - COMPLETE_MASS) < 0.003 and unfinished == 0.0, (mass, pruned, unfinished)
  by_source = {}
  for lc, src in complete.values():
    by_source[src] = by_source.get(src, 0.0) + math.exp(lc)
  assert set(PROGRAMS[:5]) <= set(by_source)

  # the probability a program gets in the enumeration is the one the training loss scores
  batch = model_inputs(rows(g, table, docs))
  for i, d in enumerate(docs):
    one = {k: v[i:i + 1] for k, v in batch.items()}
    _, (nll, n) = loss_fn(model, one, mask)
    assert int(n) == len(d)  # every action, EOF included, is predicted once
    np.testing.assert_allclose(-float(nll), complete[tuple(d)][0], atol=1e-4)
