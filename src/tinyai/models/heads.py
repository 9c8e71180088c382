"""Task heads over a Hugging Face encoder, as plain modules returning ONE tensor.

``forward(input_ids: int64[B, T], attention_mask: int64[B, T])`` returns logits ``[B, C]``,
a score ``[B]`` (regression, ``num_labels=1``) or an embedding ``[B, D]``. Each head keeps
the HF model as ``.encoder`` and describes itself with ``.head_config``; `save_model` stores
that config plus the encoder's HF config, so loading rebuilds the exact architecture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from tinyai.config import Config

POOLINGS = ("cls", "mean")


@dataclass
class EncoderHeadConfig(Config):
    """Base of head configs; `auto_class` is the transformers class that rebuilds the encoder."""

    auto_class: ClassVar[str] = "AutoModel"


def _check_pooling(pooling: str) -> None:
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")


@dataclass
class TextClassifierConfig(EncoderHeadConfig):
    num_labels: int = 2
    pooling: str = "cls"
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.num_labels < 1:
            raise ValueError(f"num_labels must be >= 1 (1 = regression), got {self.num_labels}")
        _check_pooling(self.pooling)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass
class SentenceEncoderConfig(EncoderHeadConfig):
    pooling: str = "mean"
    normalize: bool = True

    def __post_init__(self) -> None:
        _check_pooling(self.pooling)


@dataclass
class HFSequenceClassifierConfig(EncoderHeadConfig):
    """A Hugging Face *ForSequenceClassification model used as is (its own head)."""

    auto_class: ClassVar[str] = "AutoModelForSequenceClassification"


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """[B, T, D] -> [B, D]: first token, or the mean over real (unmasked) tokens."""
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    # Same clamp as sentence-transformers' Pooling, so all-padding rows give 0, not NaN.
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def _hidden_size(encoder: nn.Module) -> int:
    return int(encoder.config.hidden_size)  # type: ignore[union-attr]


class _EncoderHead(nn.Module):
    kind: ClassVar[str]
    input_names = ("input_ids", "attention_mask")
    encoder: nn.Module

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
        return out.last_hidden_state

    def example_inputs(self, batch_size: int = 1, seq_len: int = 128) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(0)
        vocab = int(getattr(self.encoder.config, "vocab_size", 1000))
        ids = torch.randint(0, vocab, (batch_size, seq_len), generator=gen)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


class TextClassifier(_EncoderHead):
    """Pooled encoder output -> dropout -> linear; ``num_labels=1`` returns a score per row."""

    kind = "text-classification"

    def __init__(
        self, encoder: nn.Module, num_labels: int = 2, pooling: str = "cls", dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.head_config = TextClassifierConfig(num_labels, pooling, dropout)
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(_hidden_size(encoder), num_labels)
        if num_labels == 1:
            self.kind = "text-regression"

    @classmethod
    def from_config(cls, config: TextClassifierConfig, encoder: nn.Module) -> TextClassifier:
        return cls(encoder, config.num_labels, config.pooling, config.dropout)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.hidden_states(input_ids, attention_mask)
        pooled = pool(hidden, attention_mask, self.head_config.pooling)
        logits = self.classifier(self.dropout(pooled))
        return logits.squeeze(-1) if self.head_config.num_labels == 1 else logits


class SentenceEncoder(_EncoderHead):
    """Sentence embeddings as sentence-transformers computes them: pool, then L2-normalize."""

    kind = "sentence-embedding"

    def __init__(self, encoder: nn.Module, pooling: str = "mean", normalize: bool = True) -> None:
        super().__init__()
        self.head_config = SentenceEncoderConfig(pooling, normalize)
        self.encoder = encoder

    @classmethod
    def from_config(cls, config: SentenceEncoderConfig, encoder: nn.Module) -> SentenceEncoder:
        return cls(encoder, config.pooling, config.normalize)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.hidden_states(input_ids, attention_mask)
        embedding = pool(hidden, attention_mask, self.head_config.pooling)
        return F.normalize(embedding, p=2, dim=-1) if self.head_config.normalize else embedding


class HFSequenceClassifier(_EncoderHead):
    """Adapter: a HF sequence classifier returning its logits tensor (a score for 1 label)."""

    kind = "text-classification"

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.head_config = HFSequenceClassifierConfig()
        self.encoder = model
        if int(model.config.num_labels) == 1:
            self.kind = "text-regression"

    @classmethod
    def from_config(cls, config: HFSequenceClassifierConfig, encoder: nn.Module) -> Any:
        return cls(encoder)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
        logits = out.logits
        return logits.squeeze(-1) if logits.shape[-1] == 1 else logits


HEAD_TYPES: dict[type[EncoderHeadConfig], type[_EncoderHead]] = {
    TextClassifierConfig: TextClassifier,
    SentenceEncoderConfig: SentenceEncoder,
    HFSequenceClassifierConfig: HFSequenceClassifier,
}


def is_encoder_head(model: Any) -> bool:
    return isinstance(model, _EncoderHead)
