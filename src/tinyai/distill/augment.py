"""Unlabelled text for the teacher to label: more transfer set, same distribution.

Tang et al. 2019 ("Distilling Task-Specific Knowledge from BERT into Simple Neural
Networks") perturb each training sentence with masking, same-kind word replacement and
n-gram sampling; TinyBERT does the same with BERT's MLM proposing the replacements. We use
the corpus' own word frequencies for replacement (no extra model, runs in milliseconds);
the teacher's soft labels on these sentences are what makes them useful.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import random
from collections.abc import Sequence

from tinyai.config import Config


@dataclasses.dataclass
class AugmentConfig(Config):
    """Per word: mask with p_mask, else replace with p_replace; per sentence: keep a random
    n-gram (n in 1..max_ngram) with p_ngram."""

    copies: int = 4  # new sentences per input sentence
    p_mask: float = 0.1
    p_replace: float = 0.1
    p_ngram: float = 0.25
    max_ngram: int = 5
    mask_token: str = "[MASK]"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("p_mask", "p_replace", "p_ngram"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        if self.copies < 0 or self.max_ngram < 1:
            raise ValueError("copies must be >= 0 and max_ngram >= 1")


def augment_texts(texts: Sequence[str], config: AugmentConfig | None = None) -> list[str]:
    """New sentences built from `texts` (originals and duplicates left out), in a fixed order."""
    config = config or AugmentConfig()
    rng = random.Random(config.seed)
    words = [t.split() for t in texts]
    counts = collections.Counter(w for ws in words for w in ws)
    vocab = list(counts)
    cumulative = list(itertools.accumulate(counts[w] for w in vocab))
    seen = set(texts)
    out: list[str] = []
    for ws in words:
        if not ws:
            continue
        for _ in range(config.copies):
            new = _perturb(ws, rng, vocab, cumulative, config)
            if new and new not in seen:
                seen.add(new)
                out.append(new)
    return out


def _perturb(words: list[str], rng: random.Random, vocab: list[str], cumulative: list[int],
             config: AugmentConfig) -> str:
    result = []
    for word in words:
        roll = rng.random()
        if roll < config.p_mask:
            result.append(config.mask_token)
        elif roll < config.p_mask + config.p_replace:
            result.append(rng.choices(vocab, cum_weights=cumulative)[0])
        else:
            result.append(word)
    if len(result) > 1 and rng.random() < config.p_ngram:
        n = rng.randint(1, min(config.max_ngram, len(result)))
        start = rng.randint(0, len(result) - n)
        result = result[start: start + n]
    return " ".join(result)
