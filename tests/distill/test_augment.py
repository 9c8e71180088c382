"""Augmentation: new sentences from the training text, deterministic, never the originals."""

from __future__ import annotations

import pytest

from tinyai.data import load_glue
from tinyai.distill import AugmentConfig, augment_texts


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [t for t in load_glue("sst2", "train").texts[:300] if len(t.split()) >= 4]


def test_augmentation_is_new_deterministic_text(texts: list[str]) -> None:
    out = augment_texts(texts, AugmentConfig(copies=3, seed=1))
    assert len(out) > 1.5 * len(texts)
    assert not set(out) & set(texts)
    assert len(set(out)) == len(out)
    assert out == augment_texts(texts, AugmentConfig(copies=3, seed=1))
    assert out != augment_texts(texts, AugmentConfig(copies=3, seed=2))


def test_each_perturbation_does_what_it_says(texts: list[str]) -> None:
    masked = augment_texts(texts, AugmentConfig(copies=1, p_mask=1.0, p_replace=0.0, p_ngram=0.0))
    assert all(set(s.split()) == {"[MASK]"} for s in masked)
    vocab = {w for t in texts for w in t.split()}
    replaced = augment_texts(texts, AugmentConfig(copies=1, p_mask=0.0, p_replace=1.0, p_ngram=0.0))
    assert all(set(s.split()) <= vocab for s in replaced)
    grams = augment_texts(texts, AugmentConfig(copies=1, p_mask=0.0, p_replace=0.0, p_ngram=1.0,
                                               max_ngram=3))
    assert grams and all(len(s.split()) <= 3 for s in grams)
    assert all(s in t for s, t in zip(grams[:1], texts[:1], strict=False))


def test_bad_probabilities_are_rejected() -> None:
    with pytest.raises(ValueError):
        AugmentConfig(p_mask=1.5)
