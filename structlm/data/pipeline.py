"""Input pipeline: packed, batched rows from a prepared dataset, sharded per host, resumable (grain).

The global row stream is a pure function of (seed, epoch): each epoch shuffles the split's documents with a
seeded permutation, concatenates them (each prefixed with BOS) and cuts the stream into rows of `seq_len` that overlap by one
token: row r holds stream positions [r(L-1), r(L-1)+L). A document longer than a row continues in the next rows
(windows), each window starting with the token the previous row ended on, as context; so every token but BOS is
predicted exactly once per epoch (the row's first position is never a target), and bits per byte are true code
lengths. An epoch's last row is padded. Global batch b is rows [b*B, (b+1)*B); host h of H reads its
contiguous B/H rows. So the global batch at a step does not depend on the number of hosts, and the iterator
state is just the next batch index (grain checkpoints it).

Each row carries `ids`, `segment_ids` (1, 2, ... per document piece; 0 is padding), `positions` (within the
piece), the variant's other features under its batch keys (structlm/variants.py: the structured variant's
`slots`, `depth`, `parent`; the scoped variant's also `names`, `name_count`), and `bytes`: the source bytes of
the documents that end in the row, so a pass over a split adds up to its exact byte count (bits per byte share
one definition).
"""
from __future__ import annotations

import collections
import dataclasses
import io
import json

import grain
import numpy as np
from etils import epath

from structlm import variants
from structlm.data.prepare import INDEX_FILE, SUMMARY_FILE


class DatasetError(ValueError):
  pass


def open_split(ddir: str, split: str, features=None):
  """The split's ArrayRecord data source and its index, or a clear error naming the command to rebuild. With
  `features`, the other features are not decoded (their raw bytes are left as they are)."""
  import tensorflow_datasets as tfds
  hint = "rebuild it with `python -m structlm prepare ...`"
  summary = epath.Path(ddir) / SUMMARY_FILE
  if not summary.exists():
    raise DatasetError(f"no prepared dataset at {ddir}; {hint}")
  rebuild = json.loads(summary.read_text()).get("rebuild", "python -m structlm prepare ...")
  hint = f"delete {ddir} and rebuild it with `{rebuild}`"
  try:
    builder = tfds.builder_from_directory(ddir)
    decoders = None
    if features is not None:
      decoders = {k: tfds.decode.SkipDecoding() for k in builder.info.features if k not in features}
    source = builder.as_data_source(decoders=decoders)[split]
    if len(source):
      source[0], source[len(source) - 1]  # the record files are there and readable
    with (epath.Path(ddir) / INDEX_FILE).open("rb") as f:
      index = np.load(io.BytesIO(f.read()))
    idx = {k.split("/", 1)[1]: index[k] for k in index.files if k.startswith(split + "/")}
  except KeyError:
    raise DatasetError(f"{ddir} has no split {split!r}") from None
  except Exception as e:  # noqa: BLE001 - any failure to read is a corrupt dataset
    raise DatasetError(f"dataset at {ddir} is corrupt or incomplete ({type(e).__name__}: {e}); {hint}") from None
  if len(idx.get("bytes", ())) != len(source):
    raise DatasetError(f"dataset at {ddir}: index and records disagree; {hint}")
  return source, idx


@dataclasses.dataclass
class PackedBatches:
  ddir: str
  split: str = "train"
  variant: str = "token"  # structlm.variants.NAMES
  seq_len: int = 1024
  global_batch: int = 8
  seed: int = 0
  bos_id: int = 0  # prepended to every document; a model reserves an id for it (e.g. its vocabulary size)
  eos_id: int | None = None  # appended to every document when set (the token variant: so it learns to stop;
  # the structured variant's documents end with the grammar's EOF action already)
  process_index: int | None = None  # default: jax.process_index()
  process_count: int | None = None  # default: jax.process_count()
  unique_bytes: int | None = None  # data-constrained: train on a fixed subset of at most this many bytes...
  unique_fraction: float | None = None  # ...or this fraction of the split's bytes, repeated over epochs
  cache_docs: int = 256
  records: list | None = None  # in-memory documents ({path, bytes, features}) instead of a dataset split
  def __post_init__(self):
    if self.process_index is None or self.process_count is None:
      import jax
      self.process_index = jax.process_index() if self.process_index is None else self.process_index
      self.process_count = jax.process_count() if self.process_count is None else self.process_count
    if self.seq_len < 2:
      raise ValueError(f"seq_len {self.seq_len} must be at least 2 (rows overlap by one token)")
    self._variant = variants.get(self.variant)
    if self.global_batch % self.process_count:
      raise ValueError(f"global batch {self.global_batch} is not divisible by {self.process_count} hosts")
    self.features = self._variant.features
    if self.records is not None:  # (evaluate --corpus: files encoded with a run's vocabularies)
      self.source = self._rows_source = self.records
      idx = {"bytes": np.array([int(r["bytes"]) for r in self.records], np.int64),
             self.features[0]: np.array([len(r[self.features[0]]) for r in self.records], np.int64)}
    else:
      self.source, idx = open_split(self.ddir, self.split)  # every feature (paths, tokens for compressors)
      self._rows_source, _ = open_split(self.ddir, self.split, self.features)  # what rows need
    if self.features[0] not in idx:
      raise DatasetError(f"dataset at {self.ddir} has no {self.features[0]} (made by a version without the "
                         f"{self.variant} variant); delete it and rebuild it with `python -m structlm prepare ...`")
    self.doc_bytes = idx["bytes"]
    self.doc_len = idx[self.features[0]] + 1 + (self.eos_id is not None)  # + BOS (+ EOS)
    self.docs = self._subset()
    if not len(self.docs):
      raise DatasetError(f"split {self.split!r} of {self.ddir} holds no document")
    self.epoch_tokens = int(self.doc_len[self.docs].sum())
    self.rows_per_epoch = max(1, -(-(self.epoch_tokens - 1) // (self.seq_len - 1)))
    self.local_batch = self.global_batch // self.process_count
    self._plans: dict = {}
    self._cache: collections.OrderedDict = collections.OrderedDict()

  # ---- plan ---------------------------------------------------------------------------------------------------
  def _subset(self) -> np.ndarray:
    n = len(self.doc_bytes)
    budget = self.unique_bytes
    if self.unique_fraction is not None:
      budget = int(self.unique_fraction * self.doc_bytes.sum())
    if budget is None:
      return np.arange(n)
    order = np.random.default_rng([self.seed, 7919]).permutation(n)  # a fixed subset, whatever the epoch
    keep = order[np.cumsum(self.doc_bytes[order]) <= budget]
    if not len(keep) and n:  # a budget below the first drawn file: that one whole file, never none
      keep = order[:1]
    return np.sort(keep)

  @property
  def unique_bytes_used(self) -> int:
    return int(self.doc_bytes[self.docs].sum())

  @property
  def predicted_per_byte(self) -> float:
    """Predicted tokens (actions) per source byte of the documents used: every id of a document but its BOS
    is predicted once (EOS / EOF included), so D = tokens seen / this."""
    return float((self.doc_len[self.docs] - 1).sum()) / max(self.unique_bytes_used, 1)

  def _plan(self, epoch: int):
    plan = self._plans.get(epoch)
    if plan is None:
      order = self.docs[np.random.default_rng([self.seed, epoch]).permutation(len(self.docs))]
      ends = np.cumsum(self.doc_len[order])
      plan = self._plans[epoch] = (order, ends)
      if len(self._plans) > 2:
        self._plans.pop(min(self._plans))
    return plan

  # ---- rows ---------------------------------------------------------------------------------------------------
  def _doc(self, i: int) -> np.ndarray:
    """A document's features stacked [F, n] with BOS (features 0) in front."""
    d = self._cache.get(i)
    if d is None:
      ex = self._rows_source[int(i)]
      body = np.stack([np.asarray(ex[f], np.int32) for f in self.features])
      d = np.zeros((len(self.features), int(self.doc_len[i])), np.int32)
      d[0, 0] = self.bos_id
      d[:, 1:1 + body.shape[1]] = body
      if self.eos_id is not None:
        d[0, -1] = self.eos_id
      self._cache[i] = d
      if len(self._cache) > self.cache_docs:
        self._cache.popitem(last=False)
    return d

  def _fill_row(self, feats: np.ndarray, seg: np.ndarray, pos: np.ndarray, global_row: int,
                doc: np.ndarray | None = None) -> int:
    """Write one row into feats [F, L], seg [L], pos [L] (and the document index of each position into doc [L]);
    return the bytes of the documents ending in it."""
    epoch, r = divmod(global_row, self.rows_per_epoch)
    order, ends = self._plan(epoch)
    L = self.seq_len
    start = r * (L - 1)
    stop = start + L
    n_bytes = 0
    k = int(np.searchsorted(ends, start, side="right"))
    s = 0
    while k < len(order):
      doc_end = int(ends[k])
      doc_start = doc_end - int(self.doc_len[order[k]])
      if doc_start >= stop:
        break
      lo, hi = max(start, doc_start), min(stop, doc_end)
      s += 1
      feats[:, lo - start:hi - start] = self._doc(order[k])[:, lo - doc_start:hi - doc_start]
      seg[lo - start:hi - start] = s
      if doc is not None:
        doc[lo - start:hi - start] = order[k]
      pos[lo - start:hi - start] = np.arange(hi - lo)  # each window of a long document starts at 0
      if start + 1 < doc_end <= stop:  # its last token is predicted in this row (not just context)
        n_bytes += int(self.doc_bytes[order[k]])
      k += 1
    return n_bytes

  def row(self, global_row: int) -> dict:
    return {k: v[0] for k, v in self._rows([global_row]).items()}

  def _rows(self, rows, with_docs: bool = False) -> dict:
    B, L, F = len(rows), self.seq_len, len(self.features)
    feats = np.zeros((F, B, L), np.int32)
    seg = np.zeros((B, L), np.int32)
    pos = np.zeros((B, L), np.int32)
    doc = np.full((B, L), -1, np.int64) if with_docs else None
    n_bytes = np.zeros(B, np.int64)
    for i, r in enumerate(rows):
      n_bytes[i] = self._fill_row(feats[:, i], seg[i], pos[i], r, None if doc is None else doc[i])
    out = dict(zip(self._variant.batch_keys, feats), segment_ids=seg, positions=pos, bytes=n_bytes)
    if with_docs:
      out["doc"] = doc  # the document (index in the split) of each position; -1 is padding
    return out

  def host_batch(self, step: int) -> dict:
    """This host's rows of global batch `step`."""
    first = step * self.global_batch + self.process_index * self.local_batch
    return self._rows(range(first, first + self.local_batch))

  def dataset(self, num_batches: int) -> grain.MapDataset:
    return grain.MapDataset.range(num_batches).map(self.host_batch)

  def iterator(self, num_batches: int, state: dict | None = None):
    """A grain iterator over batches 0..num_batches-1; `state` (from `get_state()`) resumes exactly."""
    # batches are cheap to make: grain's default thread pool only adds GIL contention (measured: 3M -> 10M
    # tokens/s without it on this machine)
    synchronous = grain.ReadOptions(num_threads=0, prefetch_buffer_size=0)
    it = iter(self.dataset(num_batches).to_iter_dataset(synchronous))
    if state is not None:
      it.set_state(state)
    return it


def to_global(batch: dict, sharding) -> dict:
  """Assemble each host's rows into global jax.Arrays sharded along the batch axis."""
  import jax
  return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in batch.items()}
