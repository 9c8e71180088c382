"""Unlabelled sentences from built-in text tasks: a transfer set larger than one task's
training split (a label-free student learns the teacher's sentence vectors on all of it)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

CORPUS_TASKS = ("sst2", "cola", "mrpc", "stsb")


def corpus_sentences(tasks: Sequence[str], exclude: Iterable[str] = (), seed: int = 0,
                     limit: int | None = None) -> list[str]:
    """Every distinct sentence of `tasks`' train and test splits (labels unused), without
    the sentences in `exclude` (the held-out split being scored), in a seeded order; the
    first `limit` of them when given."""
    from tinyai.data import load_glue

    seen: dict[str, None] = {}
    for task in tasks:
        for split in ("train", "test"):
            data = load_glue(task, split)
            for text in [*data.texts, *(data.texts_b or [])]:
                seen.setdefault(text, None)
    for text in exclude:
        seen.pop(text, None)
    texts = list(seen)
    order = np.random.default_rng(seed).permutation(len(texts))[:limit]
    return [texts[i] for i in order]


def held_out_sentences(task: object) -> list[str]:
    """The sentences of a task's held-out split: never part of a transfer set."""
    dataset = task.dataset(task.eval_split)  # type: ignore[attr-defined]
    return [*dataset.texts, *(dataset.texts_b or [])]
