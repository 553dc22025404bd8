"""Leaf text as pieces of a byte-level BPE (the `tokenizers` library) whose pieces carry an end-of-leaf flag.

The BPE is trained with an end-of-word suffix, so `self` at the end of a leaf is one piece `self▁`: the flag
costs no extra action. Every byte exists as a piece both with and without the flag, so any text encodes.
"""
from __future__ import annotations

import json
from collections.abc import Iterable

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

END = "\u2581"  # not in the byte-level alphabet, so it cannot be confused with leaf text


def _byte_decoder() -> dict[str, int]:
  # GPT-2's reversible byte <-> unicode table, as used by tokenizers' ByteLevel.
  bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
  cs = bs[:]
  n = 0
  for b in range(256):
    if b not in bs:
      bs.append(b)
      cs.append(256 + n)
      n += 1
  return {chr(c): b for b, c in zip(bs, cs)}


def _coverage_words() -> list[str]:
  """Words whose last byte runs over all values a UTF-8 text can end with, so every `b▁` piece exists."""
  words = [chr(c) for c in range(128)]
  words += [chr(0x80 + i) for i in range(64)]  # U+0080..U+00BF end in bytes 0x80..0xBF
  return words


class LeafPieces:
  """Leaf text <-> piece ids. Piece id i has bytes `piece_bytes[i]` and flag `piece_final[i]`."""

  def __init__(self, tokenizer: Tokenizer):
    self.tokenizer = tokenizer
    vocab = tokenizer.get_vocab()
    dec = _byte_decoder()
    self.size = len(vocab)
    self.piece_bytes: list[bytes] = [b""] * self.size
    self.piece_final: list[bool] = [False] * self.size
    for piece, i in vocab.items():
      final = piece.endswith(END)
      body = piece[:-len(END)] if final else piece
      self.piece_bytes[i] = bytes(dec[ch] for ch in body)
      self.piece_final[i] = final
    self._cache: dict[bytes, tuple[int, ...]] = {}

  @classmethod
  def train(cls, texts: Iterable[str], vocab_size: int) -> "LeafPieces":
    tok = Tokenizer(models.BPE(end_of_word_suffix=END))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  end_of_word_suffix=END)

    def batches():
      yield _coverage_words()
      batch = []
      for t in texts:
        batch.append(t)
        if len(batch) >= 4096:
          yield batch
          batch = []
      yield batch

    tok.train_from_iterator(batches(), trainer)
    return cls(tok)

  def encode(self, text: bytes) -> tuple[int, ...]:
    ids = self._cache.get(text)
    if ids is None:
      ids = tuple(self.tokenizer.encode(text.decode("utf-8", "surrogateescape")).ids)
      if not ids or not self.piece_final[ids[-1]]:
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
