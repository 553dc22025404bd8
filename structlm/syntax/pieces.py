"""Leaf text as pieces of a byte-level BPE (the `tokenizers` library) whose pieces carry an end-of-leaf flag.

Leaf bytes are mapped to GPT-2's byte-level alphabet and a sentinel END char is appended, so BPE learns pieces
such as `self▁`: for common leaves the flag costs no extra action, and a rare leaf ends with the lone `▁`
piece. (tokenizers' own `end_of_word_suffix` creates the suffixed symbols in hash-map order, which makes
training non-deterministic; a sentinel in the alphabet does not.)
"""
from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

END = "\u2581"  # not in the byte-level alphabet


def _byte_chars() -> list[str]:
  """GPT-2's reversible byte -> printable unicode char table (as tokenizers' ByteLevel uses)."""
  bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
  cs = bs[:]
  n = 0
  for b in range(256):
    if b not in bs:
      bs.append(b)
      cs.append(256 + n)
      n += 1
  table = [""] * 256
  for b, c in zip(bs, cs):
    table[b] = chr(c)
  return table


BYTE_CHARS = _byte_chars()
_TO_CHARS = {i: c for i, c in enumerate(BYTE_CHARS)}
_FROM_CHARS = {c: i for i, c in enumerate(BYTE_CHARS)}


def to_word(text: bytes) -> str:
  """Leaf bytes -> the BPE's word: byte-level chars plus the END sentinel."""
  return text.decode("latin-1").translate(_TO_CHARS) + END


class LeafPieces:
  """Leaf text <-> piece ids. Piece id i has bytes `piece_bytes[i]` and flag `piece_final[i]`."""

  def __init__(self, tokenizer: Tokenizer):
    self.tokenizer = tokenizer
    vocab = tokenizer.get_vocab()
    self.size = len(vocab)
    self.piece_bytes: list[bytes] = [b""] * self.size
    self.piece_final: list[bool] = [False] * self.size
    for piece, i in vocab.items():
      final = piece.endswith(END)
      body = piece[:-len(END)] if final else piece
      self.piece_bytes[i] = bytes(_FROM_CHARS[ch] for ch in body)
      self.piece_final[i] = final
    self._cache: dict[bytes, tuple[int, ...]] = {}

  @classmethod
  def train(cls, texts: Iterable[bytes], vocab_size: int) -> "LeafPieces":
    """`texts`: leaf texts (bytes), repeated as often as they should count."""
    tok = Tokenizer(models.BPE())
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=BYTE_CHARS + [END], limit_alphabet=257)

    def batches():
      batch = []
      for t in texts:
        batch.append(to_word(t))
        if len(batch) >= 4096:
          yield batch
          batch = []
      yield batch

    tok.train_from_iterator(batches(), trainer)
    return cls(tok)

  def encode(self, text: bytes) -> tuple[int, ...]:
    ids = self._cache.get(text)
    if ids is None:
      ids = tuple(self.tokenizer.encode(to_word(text)).ids)
      if not ids or not self.piece_final[ids[-1]] or self.decode(ids) != text:
        raise ValueError(f"leaf text {text[:40]!r} does not encode to pieces ending with the end flag")
      if len(self._cache) < 1_000_000:
        self._cache[text] = ids
    return ids

  def decode(self, ids: Iterable[int]) -> bytes:
    return b"".join(self.piece_bytes[i] for i in ids)

  def to_json(self) -> str:
    return self.tokenizer.to_str()

  @classmethod
  def from_json(cls, s: str) -> "LeafPieces":
    return cls(Tokenizer.from_str(s))


def train_source_bpe(texts: Iterable[str], vocab_size: int) -> Tokenizer:
  """The token variant's byte-level BPE over whole source files (GPT-2 style pre-tokenisation)."""
  tok = Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  from tokenizers import decoders
  tok.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
  tok.train_from_iterator(texts, trainer)
  return tok
