"""Character models in the runtime: state carried between calls, generation, suggestions.

The models of trained_cases.py (a GRU and a transformer, trained for seconds on Tiny
Shakespeare) are exported with their state; the windowed path re-runs the whole window for
every character and is the reference the stateful path must reproduce.
"""

import heapq

import numpy as np
import pytest
import torch
from torch import nn
from trained_cases import CHAR_SEQ_LEN, char

import tinyai
from tinyai.runtime import load_artifact
from tinyai.runtime.charlm import log_softmax
from tinyai.runtime.suggest import current_word, is_word_char

MODELS = ["gru", "transformer"]


@pytest.fixture(scope="module", params=MODELS)
def predictor(request):
    return load_artifact(char(request.param)[2])


def test_artifact_carries_its_state(predictor):
    names = [spec["name"] for spec in predictor.manifest["inputs"]]
    assert names[:2] == ["input_ids", "state"]
    assert [spec["name"] for spec in predictor.manifest["outputs"]] == ["logits", "state_out"]
    assert predictor.char_model().stateful and not predictor.char_model(stateful=False).stateful


def test_stateful_generation_equals_windowed_generation(predictor):
    prompt = "ROMEO:\nWhat say"
    count = CHAR_SEQ_LEN - len(prompt)  # the whole text stays inside the window
    stateful = predictor.complete(prompt, count)
    assert len(stateful) == count
    assert stateful == predictor.complete(prompt, count, stateful=False)
    options = {"temperature": 0.8, "top_k": 5}
    sampled = predictor.complete(prompt, count, seed=3, **options)
    assert sampled == predictor.complete(prompt, count, seed=3, stateful=False, **options)
    assert sampled != predictor.complete(prompt, count, seed=4, **options)


def test_top_k_sampling_only_draws_from_the_k_most_likely(predictor):
    model = predictor.char_model()
    text = predictor.inputs.encode("KING HENRY:\nI")
    cursor = model.start(text[None, :])
    top2 = set(np.argsort(-cursor.logits[0])[:2].tolist())
    from tinyai.runtime.charlm import generate

    draws = {generate(model, text, 1, temperature=5.0, top_k=2, seed=s)[0] for s in range(40)}
    assert draws == top2


def test_state_depends_on_the_text_not_on_how_it_was_typed(predictor):
    """Past the window (restarts of the transformer's cache), typing the text one character
    at a time ends where reading it at once does."""
    from tinyai.data.shakespeare import load_shakespeare

    model = predictor.char_model()
    text = predictor.inputs.encode(load_shakespeare("val")[: 3 * CHAR_SEQ_LEN + 5])
    whole = model.start(text[None, :])
    typed = model.start(text[None, :1])
    for i in range(1, len(text)):
        typed = model.advance(typed, text[i : i + 1])
    assert whole.length == typed.length == len(text)
    np.testing.assert_allclose(typed.logits, whole.logits, atol=2e-4)


def _word_logprob(predictor, text: str, chars: str) -> float:
    """log P(chars, then a non-word character | text), from one windowed pass."""
    ids = predictor.inputs.encode(text + chars)[None, :]
    logp = log_softmax(predictor.run({"input_ids": ids})[0])[len(text) - 1 :]
    vocab = predictor.inputs.vocab
    picked = [logp[i, vocab.index(c)] for i, c in enumerate(chars)]
    ends = [i for i, c in enumerate(vocab) if not is_word_char(c)]
    return float(sum(picked) + np.logaddexp.reduce(logp[len(chars), ends]))


def _next_logp(predictor, text: str) -> np.ndarray:
    ids = predictor.inputs.encode(text)[None, :]
    return log_softmax(predictor.run({"input_ids": ids})[0, -1])


def _exact_top(predictor, text: str, k: int, max_chars: int = 12) -> list[str]:
    """Best-first (uniform-cost) search: exact, independent of the beam search."""
    vocab = predictor.inputs.vocab
    word_ids = [i for i, c in enumerate(vocab) if is_word_char(c)]
    heap, found = [(0.0, "")], []
    while heap and len(found) < k:
        cost, chars = heapq.heappop(heap)
        if chars.endswith("\0"):
            found.append(chars[:-1])
            continue
        logp = _next_logp(predictor, text + chars)
        if chars:
            end = np.logaddexp.reduce([logp[i] for i in range(len(vocab)) if i not in word_ids])
            heapq.heappush(heap, (cost - end, chars + "\0"))
        if len(chars) < max_chars:
            for i in word_ids:
                heapq.heappush(heap, (cost - logp[i], chars + vocab[i]))
    return found


@pytest.mark.parametrize("text", ["to be or not to b", "What is th", "KING RICHARD:\nMy lo"])
def test_suggestions_are_the_most_likely_completions(predictor, text):
    suggestions = predictor.suggest(text, k=3)
    word = current_word(text)
    assert len(suggestions) == 3 and all(s.startswith(word) and s != word for s in suggestions)
    assert suggestions == predictor.suggest(text, k=3, stateful=False)
    assert [word + c for c in _exact_top(predictor, text, 3)] == suggestions
    scores = [_word_logprob(predictor, text, s[len(word) :]) for s in suggestions]
    assert scores == sorted(scores, reverse=True)


def test_trained_gru_completes_common_words():
    predictor = load_artifact(char("gru")[2])
    assert predictor.suggest("to be or not to b")[0] == "be"
    assert "Citizen" in predictor.suggest("First Citiz")
    assert predictor.suggest("") == []


def test_keystroke_savings_of_the_artifact():
    from artifact_cases import artifact

    task = char("gru")[1]
    trained = task.keystroke_savings(load_artifact(char("gru")[2]), characters=300)
    untrained = task.keystroke_savings(load_artifact(artifact("char-gru")[2]), characters=300)
    assert trained["characters"] == untrained["characters"] == 300
    assert trained["keystroke_savings"] > 0.05 > untrained["keystroke_savings"]


class _Stateless(nn.Module):
    """A user's char model without the state interface: the runtime must run it windowed."""

    kind = "char-lm"
    input_names = ("input_ids",)

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.inner(input_ids)


def test_artifact_without_state_falls_back_to_the_window(tmp_path):
    model, task, path = char("gru")
    plain = load_artifact(tinyai.export(_Stateless(model), tmp_path / "plain", task=task))
    assert [s["name"] for s in plain.manifest["inputs"]] == ["input_ids"]
    assert not plain.char_model().stateful
    stateful = load_artifact(path)
    prompt = "ROMEO:\n"
    assert plain.complete(prompt, 40) == stateful.complete(prompt, 40, stateful=False)
    assert plain.suggest("What is th") == stateful.suggest("What is th")
