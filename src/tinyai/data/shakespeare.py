"""Tiny Shakespeare (karpathy/char-rnn), from <data root>/tinyshakespeare/input.txt.gz.

Splits by position, as nanoGPT does: ``train`` is the first 90% of the characters
(1,003,854), ``val`` the last 10% (111,540). The vocabulary is the 65 distinct
characters of the whole text, so both splits encode without unknown symbols.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from tinyai.data._files import read_text
from tinyai.errors import DataError
from tinyai.paths import data_file

TRAIN_FRACTION = 0.9
SPLITS = ("train", "val")


@lru_cache(maxsize=2)
def _full_text(path: str) -> str:
    from pathlib import Path

    return read_text(Path(path))


def _text() -> str:
    return _full_text(str(data_file("tinyshakespeare", "input.txt.gz")))


def load_shakespeare(split: str) -> str:
    """The ``train`` (first 90%) or ``val`` (last 10%) part of the text."""
    if split not in SPLITS:
        raise DataError(
            f"unknown split {split!r} for shakespeare; choose one of {', '.join(SPLITS)}"
        )
    text = _text()
    cut = int(len(text) * TRAIN_FRACTION)
    return text[:cut] if split == "train" else text[cut:]


def char_vocab(text: str | None = None) -> list[str]:
    """Sorted distinct characters of `text` (default: the whole Tiny Shakespeare, 65 chars)."""
    return sorted(set(_text() if text is None else text))


def encode_chars(text: str, vocab: list[str]) -> np.ndarray:
    """Characters -> int64 ids in `vocab`; an unknown character is an error naming it."""
    index = {c: i for i, c in enumerate(vocab)}
    try:
        return np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))
    except KeyError as exc:
        raise DataError(
            f"character {exc.args[0]!r} is not in the vocabulary; rebuild it from this text"
        ) from None


def decode_chars(ids: np.ndarray, vocab: list[str]) -> str:
    return "".join(vocab[int(i)] for i in np.asarray(ids).reshape(-1))
