"""numpy metrics against scipy.stats and hand-computed values."""

import numpy as np
import pytest
from scipy import stats

from tinyai.tasks import metrics as m


def test_spearman_and_pearson_match_scipy_with_ties():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, 300).astype(float)  # many ties
    y = x + rng.normal(0, 2, 300)
    y[:50] = np.round(y[:50])
    assert m.spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert m.pearson(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)
    np.testing.assert_allclose(m.average_ranks(x), stats.rankdata(x))


def test_matthews_and_f1_known_values():
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    preds = np.array([1, 1, 1, 0, 0, 0, 0, 0, 1, 1])  # tp=3 fn=1 tn=4 fp=2
    expected_mcc = (3 * 4 - 2 * 1) / np.sqrt((3 + 2) * (3 + 1) * (4 + 2) * (4 + 1))
    assert m.matthews_corrcoef(preds, labels) == pytest.approx(expected_mcc)
    assert m.f1_binary(preds, labels) == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    assert m.matthews_corrcoef(np.ones(4, int), np.array([0, 1, 1, 0])) == 0.0
    assert m.accuracy(preds, labels) == pytest.approx(0.7)


def test_multiclass_matthews_perfect_and_inverse():
    labels = np.array([0, 1, 2, 2, 1, 0])
    assert m.matthews_corrcoef(labels, labels) == pytest.approx(1.0)
    assert m.matthews_corrcoef(np.array([1, 0, 1, 1]), np.array([0, 1, 0, 0])) == pytest.approx(-1)


def test_class_ids_from_logits():
    logits = np.array([[0.1, 2.0], [3.0, -1.0]])
    assert m.class_ids(logits).tolist() == [1, 0]
    assert m.classification_metrics(logits, np.array([1, 1])) == {"accuracy": 0.5}


def test_char_lm_metrics_uniform_and_confident():
    labels = np.array([[0, 3, 2]])
    uniform = m.char_lm_metrics(np.zeros((1, 3, 8)), labels)
    assert uniform["bits_per_char"] == pytest.approx(3.0)
    assert uniform["perplexity"] == pytest.approx(8.0)
    logits = np.full((1, 3, 8), -30.0)
    logits[0, np.arange(3), labels[0]] = 30.0
    assert m.char_lm_metrics(logits, labels)["loss"] == pytest.approx(0.0, abs=1e-9)
    big = np.array([[[1000.0, 0.0]]])  # stable log-sum-exp
    assert np.isfinite(m.char_lm_metrics(big, np.array([[1]]))["loss"])


def test_char_lm_top1_and_top3_accuracy_count_ties_against():
    logits = np.array([[[5.0, 4.0, 3.0, 2.0], [1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 2.0, 3.0]]])
    labels = np.array([[0, 1, 0]])  # ranks 1, 2 (tied with a rival), 4
    metrics = m.char_lm_metrics(logits, labels)
    assert metrics["accuracy"] == pytest.approx(1 / 3)
    assert metrics["top3_accuracy"] == pytest.approx(2 / 3)


def _dictionary_strip(words: list[str], calls: list[str]):
    """A keyboard that suggests the first three dictionary words completing the current word."""
    from tinyai.runtime.suggest import current_word

    def suggest(typed: str) -> list[str]:
        calls.append(typed)
        word = current_word(typed)
        return sorted(w for w in words if w.startswith(word) and len(w) > len(word))[:3]

    return suggest


# (text, dictionary, keystrokes): worked out by hand from the definition in the docstring
KEYSTROKE_CASES = [
    ("the cat", ["the", "cat"], 3),  # tap "the", space, tap "cat"
    ("cane.", ["cab", "cane", "car", "cat"], 2),  # "cane" is 2nd of cab/cane/car: tap, "."
    ("cat", ["cab", "cane", "car", "cat"], 3),  # never among the three shown: all typed
    ("bee", ["ant", "ape", "art", "bat", "bee"], 2),  # shown once "b" is typed: "b", tap
    ("ox ox", ["ox"], 3),  # two-letter word: tap (saves 1), space, tap
    ("o'er it", ["o'er"], 4),  # the apostrophe is inside the word; "it" is typed (2)
    ("a b\n", ["a", "b"], 4),  # one-letter words: a tap cannot save, every key typed
    ("xyz", [], 3),  # nothing suggested: no saving
]


@pytest.mark.parametrize(("text", "words", "keystrokes"), KEYSTROKE_CASES)
def test_keystroke_savings_on_hand_worked_cases(text, words, keystrokes):
    calls: list[str] = []
    result = m.keystroke_savings(text, _dictionary_strip(words, calls))
    assert result["keystrokes"] == keystrokes
    assert result["characters"] == len(text)
    assert result["keystroke_savings"] == pytest.approx(1 - keystrokes / len(text))
    assert all(text.startswith(typed) for typed in calls)


def test_keystroke_savings_asks_only_where_a_tap_can_save():
    calls: list[str] = []
    m.keystroke_savings("abc de", _dictionary_strip([], calls))
    # before a, b (2+ letters of the word left) and d; never before c, e, or the space
    assert calls == ["", "a", "abc "]
    assert m.keystroke_savings("", _dictionary_strip([], []))["keystroke_savings"] == 0.0
