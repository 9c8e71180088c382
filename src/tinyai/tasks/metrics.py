"""Task metrics in plain numpy, so evaluation on an exported artifact needs no torch.

Spearman is written here (Pearson on ranks, ties averaged) rather than taken from scipy
because the torch-free runtime does not depend on scipy; the tests check it against
scipy.stats.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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
    """Mean next-character cross-entropy ("loss", nats/char), perplexity, bits per character,
    and how often the next character is the most likely one ("accuracy") or among the three
    most likely ("top3_accuracy"); a tie with the true character counts against it."""
    logits = np.asarray(logits, dtype=np.float64)
    flat = logits.reshape(-1, logits.shape[-1])
    targets = np.asarray(labels).reshape(-1)
    peak = flat.max(axis=1, keepdims=True)
    log_z = peak[:, 0] + np.log(np.exp(flat - peak).sum(axis=1))
    true_logit = flat[np.arange(len(targets)), targets]
    nll = float(np.mean(log_z - true_logit))
    rank = (flat >= true_logit[:, None]).sum(axis=1)  # 1 = the true character is the top one
    with np.errstate(over="ignore"):  # a terrible model has an infinite perplexity, not an error
        perplexity = float(np.exp(nll))
    return {
        "loss": nll,
        "perplexity": perplexity,
        "bits_per_char": nll / np.log(2),
        "accuracy": float(np.mean(rank <= 1)),
        "top3_accuracy": float(np.mean(rank <= 3)),
    }


def keystroke_savings(text: str, suggest: Callable[[str], Sequence[str]]) -> dict[str, float]:
    """The fraction of keystrokes a suggestion strip saves a user typing `text`.

    The user types `text` from its start, one keystroke per character: letters, digits,
    spaces, punctuation and newlines alike. Before each keystroke inside a word (a run of
    word characters: letters, digits, apostrophes; `tinyai.runtime.suggest`), including a
    word's first character, the strip shows ``suggest(text typed so far)``: whole words, the
    word being typed completed (a keyboard shows three). When one of them is exactly the word
    being typed (case included) and at least two of its characters are still untyped, the
    user taps it: ONE keystroke enters the rest of the word, and typing goes on after it.
    Nothing else is inserted (no automatic space), and a wrong suggestion costs nothing: the
    user ignores it and types the next character. Then

        keystroke_savings = 1 - keystrokes / characters

    (Trnka & McCoy's keystroke savings). 0 means no help; a perfect strip approaches
    1 - (words + separators) / characters. `suggest` is called only where a tap could save a
    keystroke, i.e. with two or more characters of the word left.
    """
    from tinyai.runtime.suggest import is_word_char

    keystrokes = accepted = i = 0
    while i < len(text):
        end = i
        while end < len(text) and is_word_char(text[end]):
            end += 1
        if end - i >= 2:
            start = i
            while start > 0 and is_word_char(text[start - 1]):
                start -= 1
            if text[start:end] in suggest(text[:i]):
                keystrokes, accepted, i = keystrokes + 1, accepted + 1, end
                continue
        keystrokes, i = keystrokes + 1, i + 1
    characters = len(text)
    return {
        "keystroke_savings": 1.0 - keystrokes / characters if characters else 0.0,
        "keystrokes": float(keystrokes),
        "characters": float(characters),
        "words_accepted": float(accepted),
    }
