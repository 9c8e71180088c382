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
