"""The transfer corpus: unlabelled sentences of built-in text tasks, the held-out split's
sentences never among them."""

from __future__ import annotations

import pytest

from tinyai.distill import DistillConfig
from tinyai.distill.corpus import corpus_sentences, held_out_sentences
from tinyai.tasks import get_task


def test_the_corpus_holds_every_split_but_never_the_scored_sentences() -> None:
    task = get_task("stsb-embed")
    held_out = held_out_sentences(task)
    texts = corpus_sentences(("stsb", "mrpc"), exclude=held_out)
    assert len(texts) == len(set(texts)) > 20_000  # distinct sentences, train + test splits
    assert not set(held_out) & set(texts)
    assert corpus_sentences(("stsb", "mrpc"), exclude=held_out, limit=100) == texts[:100]


@pytest.mark.parametrize(("changes", "message"), [
    ({"corpus": ("imdb",)}, "corpus takes built-in text tasks"),
    ({"corpus": ("sst2",), "corpus_size": 0}, "corpus_size must be >= 1"),
])
def test_a_bad_corpus_names_the_problem(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DistillConfig(**changes)
