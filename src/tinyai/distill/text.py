"""Tokenize once, then batch with dynamic padding and length bucketing.

Batches carry each row's `index` into the dataset, which is how cached teacher outputs are
looked up. Bucketing (sort by length inside shuffled chunks of many batches, then shuffle
the batch order) keeps padding small without giving up randomness; on 2 CPU cores that is
often a 2x speed-up for SST-2's short, very uneven sentences.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tinyai.errors import ModelError

_BUCKET_BATCHES = 50  # batches per sorted chunk


def load_fast_tokenizer(tokenizer: Any, max_length: int) -> Any:
    """A `tokenizers.Tokenizer` (no padding, truncation at max_length) from a dir, a
    tokenizer.json path, or a transformers fast tokenizer."""
    from tokenizers import Tokenizer

    if hasattr(tokenizer, "backend_tokenizer"):
        fast = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    else:
        path = Path(tokenizer)
        path = path / "tokenizer.json" if path.is_dir() else path
        if not path.is_file():
            raise ModelError(f"no tokenizer.json at {path}; pass a fast tokenizer or its folder")
        fast = Tokenizer.from_str(path.read_text(encoding="utf-8"))
    fast.no_padding()
    fast.enable_truncation(max_length)
    return fast


def pad_id(fast_tokenizer: Any) -> int:
    spec = json.loads(fast_tokenizer.to_str())
    pad = spec.get("padding") or {}
    if "pad_id" in pad:
        return int(pad["pad_id"])
    vocab = spec.get("model", {}).get("vocab", {})
    return int(vocab.get("[PAD]", 0)) if isinstance(vocab, dict) else 0


@dataclasses.dataclass
class TokenizedText:
    """Token ids per example (+ labels), ready to batch."""

    ids: list[np.ndarray]
    labels: np.ndarray | None
    pad_id: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def encode(cls, tokenizer: Any, texts: Sequence[str], texts_b: Sequence[str] | None = None,
               labels: np.ndarray | None = None, max_length: int = 128) -> TokenizedText:
        fast = load_fast_tokenizer(tokenizer, max_length)
        inputs = list(texts) if texts_b is None else list(zip(texts, texts_b, strict=True))
        encodings = fast.encode_batch(inputs)
        ids = [np.asarray(e.ids, dtype=np.int64) for e in encodings]
        return cls(ids, None if labels is None else np.asarray(labels), pad_id(fast))

    def collate(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        width = max(len(self.ids[i]) for i in indices)
        input_ids = np.full((len(indices), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(indices), width), dtype=np.int64)
        for row, i in enumerate(indices):
            n = len(self.ids[i])
            input_ids[row, :n] = self.ids[i]
            mask[row, :n] = 1
        batch = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask),
                 "index": torch.as_tensor(np.asarray(indices, dtype=np.int64))}
        if self.labels is not None:
            batch["labels"] = torch.from_numpy(np.ascontiguousarray(self.labels[list(indices)]))
        return batch

    def batches(self, batch_size: int, epoch: int = 0, seed: int = 0, shuffle: bool = True,
                bucket: bool = True) -> Iterator[dict[str, torch.Tensor]]:
        """Deterministic for a given (seed, epoch): what exact resume relies on."""
        for indices in self.batch_indices(batch_size, epoch, seed, shuffle, bucket):
            yield self.collate(indices)

    def batch_indices(self, batch_size: int, epoch: int = 0, seed: int = 0, shuffle: bool = True,
                      bucket: bool = True) -> list[list[int]]:
        n = len(self.ids)
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(n) if shuffle else np.arange(n)
        if not bucket:
            return [order[s: s + batch_size].tolist() for s in range(0, n, batch_size)]
        lengths = np.array([len(x) for x in self.ids])
        chunk = batch_size * _BUCKET_BATCHES
        groups: list[list[int]] = []
        for start in range(0, n, chunk):
            part = order[start: start + chunk]
            part = part[np.argsort(lengths[part], kind="stable")]
            groups += [part[s: s + batch_size].tolist() for s in range(0, len(part), batch_size)]
        if shuffle:
            groups = [groups[i] for i in rng.permutation(len(groups))]
        return groups

    def subset(self, indices: Sequence[int]) -> TokenizedText:
        labels = None if self.labels is None else self.labels[list(indices)]
        return TokenizedText([self.ids[i] for i in indices], labels, self.pad_id)
