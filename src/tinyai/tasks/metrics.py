"""Task metrics in plain numpy, so evaluation on an exported artifact needs no torch.

Spearman is written here (Pearson on ranks, ties averaged) rather than taken from scipy
because the torch-free runtime does not depend on scipy; the tests check it against
scipy.stats.
"""

from __future__ import annotations

import numpy as np


def class_ids(predictions: np.ndarray) -> np.ndarray:
    """Logits/probabilities [N, C] -> argmax ids [N]; ids [N] pass through."""
    p = np.asarray(predictions)
    return p.argmax(axis=-1) if p.ndim == 2 else p.astype(np.int64)


def accuracy(pred_ids: np.ndarray, labels: np.ndarray) -> float:
    pred_ids, labels = np.asarray(pred_ids), np.asarray(labels)
    return float((pred_ids == labels).mean()) if labels.size else float("nan")


def matthews_corrcoef(pred_ids: np.ndarray, labels: np.ndarray) -> float:
    """Multiclass Matthews correlation (Gorodkin 2004); 0 when undefined, as scikit-learn."""
    classes = np.union1d(pred_ids, labels)
    p = np.searchsorted(classes, pred_ids)
    t = np.searchsorted(classes, labels)
    cm = np.zeros((len(classes), len(classes)), dtype=np.float64)
    np.add.at(cm, (t, p), 1)
    n, correct = cm.sum(), np.trace(cm)
    true_counts, pred_counts = cm.sum(axis=1), cm.sum(axis=0)
    cov = correct * n - pred_counts @ true_counts
    denom = np.sqrt((n * n - pred_counts @ pred_counts) * (n * n - true_counts @ true_counts))
    return float(cov / denom) if denom > 0 else 0.0


def f1_binary(pred_ids: np.ndarray, labels: np.ndarray, positive: int = 1) -> float:
    pred_pos, true_pos = np.asarray(pred_ids) == positive, np.asarray(labels) == positive
    tp = float(np.sum(pred_pos & true_pos))
    denom = float(pred_pos.sum() + true_pos.sum())
    return 2 * tp / denom if denom else 0.0


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    xc, yc = x - x.mean(), y - y.mean()
    denom = np.sqrt((xc @ xc) * (yc @ yc))
    return float(xc @ yc / denom) if denom > 0 else float("nan")


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with tied values sharing their average rank (scipy's 'average')."""
    x = np.asarray(x).reshape(-1)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    starts = np.r_[True, sorted_x[1:] != sorted_x[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.r_[first[1:], len(x)] - 1
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = (first[group] + last[group]) / 2 + 1
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    return pearson(average_ranks(x), average_ranks(y))


def classification_metrics(predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return {"accuracy": accuracy(class_ids(predictions), labels)}


def regression_metrics(predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    pred = np.asarray(predictions, dtype=np.float64).reshape(-1)
    true = np.asarray(labels, dtype=np.float64).reshape(-1)
    return {
        "pearson": pearson(pred, true),
        "spearman": spearman(pred, true),
        "mse": float(np.mean((pred - true) ** 2)),
    }


def char_lm_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Mean next-character cross-entropy (nats), perplexity and bits per character."""
    logits = np.asarray(logits, dtype=np.float64)
    flat = logits.reshape(-1, logits.shape[-1])
    targets = np.asarray(labels).reshape(-1)
    peak = flat.max(axis=1, keepdims=True)
    log_z = peak[:, 0] + np.log(np.exp(flat - peak).sum(axis=1))
    nll = float(np.mean(log_z - flat[np.arange(len(targets)), targets]))
    with np.errstate(over="ignore"):  # a terrible model has an infinite perplexity, not an error
        perplexity = float(np.exp(nll))
    return {"loss": nll, "perplexity": perplexity, "bits_per_char": nll / np.log(2)}
