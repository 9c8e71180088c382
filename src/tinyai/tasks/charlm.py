"""Character-level language modelling on Tiny Shakespeare.

The text of a split is cut into non-overlapping windows of ``seq_len + 1`` characters
(stride ``seq_len``); an example's input is the first ``seq_len`` characters and its
labels the same window shifted by one. Splits: train (first 90%) / val (last 10%). The
vocabulary is the 65 characters of the whole text. Metrics on val: loss (nats/char),
perplexity, bits per character (the primary metric), top-1 ("accuracy") and top-3
next-character accuracy; `keystroke_savings` measures an artifact's suggestion strip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyai.data.shakespeare import char_vocab, encode_chars, load_shakespeare
from tinyai.tasks import metrics as m
from tinyai.tasks.base import Task

if TYPE_CHECKING:
    import torch


@dataclass
class CharDataset:
    """Encoded text viewed as windows of seq_len + 1 ids; `windows` selects which ones."""

    name: str
    ids: np.ndarray
    seq_len: int
    windows: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.windows is None:
            count = max(0, (len(self.ids) - 1) // self.seq_len)
            self.windows = np.arange(count, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.windows)

    def subset(self, indices: Sequence[int] | np.ndarray) -> CharDataset:
        return CharDataset(self.name, self.ids, self.seq_len, self.windows[np.asarray(indices)])

    def window_array(self, indices: np.ndarray) -> np.ndarray:
        """int64 [len(indices), seq_len + 1]."""
        starts = self.windows[indices] * self.seq_len
        return self.ids[starts[:, None] + np.arange(self.seq_len + 1)]


class CharLMTask(Task):
    name = "shakespeare"
    kind = "char-lm"
    primary_metric = "bits_per_char"
    higher_is_better = False
    input_names = ("input_ids",)
    splits = ("train", "val")
    eval_split = "val"

    def __init__(self, seq_len: int = 128, vocab: list[str] | None = None) -> None:
        super().__init__()
        if seq_len < 2:
            raise ValueError(f"seq_len must be at least 2, got {seq_len}")
        self.seq_len = int(seq_len)
        self._vocab = vocab

    @property
    def vocab(self) -> list[str]:
        if self._vocab is None:
            self._vocab = char_vocab()
        return self._vocab

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def _load(self, split: str) -> CharDataset:
        text = load_shakespeare(split)
        return CharDataset(f"shakespeare-{split}", encode_chars(text, self.vocab), self.seq_len)

    def _collate(self, data: Any, indices: np.ndarray) -> dict[str, np.ndarray]:
        window = data.window_array(indices)
        return {"input_ids": window[:, :-1], "labels": window[:, 1:]}

    def _example_arrays(self, batch_size: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(0)
        return {"input_ids": rng.integers(0, self.vocab_size, (batch_size, self.seq_len))}

    def loss(self, outputs: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        import torch.nn.functional as F

        return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), batch["labels"].reshape(-1))

    def metrics(self, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        """`predictions` are logits [N, T, V] for labels [N, T]."""
        return m.char_lm_metrics(predictions, labels)

    def keystroke_savings(
        self, predictor: Any, characters: int = 2000, split: str = "val", k: int = 3
    ) -> dict[str, float]:
        """`tinyai.tasks.metrics.keystroke_savings` of a loaded artifact's `suggest` strip of
        `k` words over the first `characters` characters of `split`."""
        text = load_shakespeare(split)[:characters]
        return m.keystroke_savings(text, lambda typed: predictor.suggest(typed, k=k))

    def preprocessing(self) -> dict[str, Any]:
        return {"type": "chars", "vocab": self.vocab, "seq_len": self.seq_len}
