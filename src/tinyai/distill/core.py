"""`distill(student, teacher, data, DistillConfig)`: train any student to match any teacher.

Objectives: soft targets mixed with hard labels (Hinton) for classifiers and regressors;
sentence-vector matching for encoders (needs no labels); optionally TinyBERT's
intermediate losses through a layer map. Teacher outputs are precomputed and cached on
disk when no intermediate loss needs the teacher online.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from tinyai.config import Config
from tinyai.distill.cache import teacher_outputs
from tinyai.distill.layers import FeatureTap, LayerLoss, LayerPair, bert_layer_map
from tinyai.distill.losses import embedding_loss, hinton_loss, similarity_loss
from tinyai.distill.text import TokenizedText
from tinyai.errors import ConfigError
from tinyai.train import TrainConfig, train

OBJECTIVES = ("logits", "embedding")


@dataclasses.dataclass
class DistillConfig(Config):
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    batch_size: int = 32
    max_length: int = 128
    objective: str = "logits"  # logits (classifier/regressor) | embedding (sentence vectors)
    temperature: float = 2.0
    alpha: float = 0.5  # weight of the teacher's soft targets; 1 - alpha on the hard labels
    embedding_loss: str = "mse"  # mse | cosine (objective=embedding)
    similarity_weight: float = 0.0  # + in-batch cosine-similarity matching (embedding)
    layer_weight: float = 0.0  # > 0 adds TinyBERT's embedding + hidden-state losses
    attention: bool = False  # with layer_weight: also attention-map MSE
    layer_map: tuple[tuple[int, int], ...] | None = None  # (student layer, teacher layer)
    cache_dir: str | None = None  # where precomputed teacher outputs are kept

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, not {self.objective!r}")
        if self.temperature <= 0 or not 0.0 <= self.alpha <= 1.0:
            raise ValueError("temperature must be > 0 and alpha in [0, 1]")
        if self.embedding_loss not in ("mse", "cosine"):
            raise ValueError("embedding_loss must be 'mse' or 'cosine'")
        if self.layer_weight < 0 or self.similarity_weight < 0:
            raise ValueError("layer_weight and similarity_weight must be >= 0")


def distill(student: nn.Module, teacher: nn.Module, data: Any, config: DistillConfig | None = None,
            tokenizer: Any = None, teacher_tokenizer: Any = None,
            layer_pairs: Sequence[LayerPair] | None = None) -> nn.Module:
    """Train `student` (in place) to imitate `teacher` on `data`.

    `data`: a Task (its train split), a TextDataset, a list of sentences (unlabelled) or
    `TokenizedText`. Text needs the student's `tokenizer`; give `teacher_tokenizer` when the
    student's vocabulary differs (then only output-level losses apply). Without layer losses
    the teacher runs once over the data (cached in `config.cache_dir` when set).
    """
    config = config or DistillConfig()
    teacher.eval().requires_grad_(False)
    if config.layer_weight > 0 and layer_pairs is None:
        layer_pairs = bert_layer_map(student, teacher, config.layer_map, attention=config.attention)
    text = _as_text(data)
    if text is None:
        return _distill_task(student, teacher, data, config)
    if teacher_tokenizer is not None and isinstance(text, TokenizedText):
        raise ConfigError("with a teacher_tokenizer pass raw text (a TextDataset or a list of "
                          "sentences), not TokenizedText: the teacher must tokenize it itself")
    tokens = _tokens(text, tokenizer, config.max_length)
    if layer_pairs and teacher_tokenizer is not None:
        raise ConfigError("intermediate-layer losses need one tokenization; drop "
                          "teacher_tokenizer or set layer_weight=0")
    cached = None
    if not layer_pairs:  # output-level losses only: run the teacher once, up front
        teacher_tokens = tokens if teacher_tokenizer is None else _tokens(
            text, teacher_tokenizer, config.max_length)
        cached = teacher_outputs(teacher, teacher_tokens, config.cache_dir, _fingerprint(teacher))
    objective = _Objective(student, teacher, tokens, config, layer_pairs)
    params = list(student.parameters()) + list(objective.parameters())

    def loss_fn(model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        if cached is not None:
            target = cached[batch["index"]]
        else:
            with torch.no_grad():
                target = teacher(**inputs)
        return objective(model(**inputs), target, batch)

    seed = config.train.seed
    try:
        train(student, lambda epoch: tokens.batches(config.batch_size, epoch, seed), config.train,
              loss_fn, params=params)
    finally:
        objective.remove_taps()
    return student


class _Objective(nn.Module):
    """The loss, holding whatever it learns (projections) so the optimizer sees it."""

    def __init__(self, student: nn.Module, teacher: nn.Module, tokens: TokenizedText,
                 config: DistillConfig, layer_pairs: Sequence[LayerPair] | None) -> None:
        super().__init__()
        self.config = config
        self.taps: tuple[FeatureTap, FeatureTap] | None = None
        self.layers: LayerLoss | None = None
        probe = tokens.collate(list(range(min(2, len(tokens)))))
        inputs = {"input_ids": probe["input_ids"], "attention_mask": probe["attention_mask"]}
        if layer_pairs:
            kinds = [p.kind for p in layer_pairs]
            s_tap = FeatureTap(student, [p.student for p in layer_pairs], kinds)
            t_tap = FeatureTap(teacher, [p.teacher for p in layer_pairs], kinds)
            self.taps = (s_tap, t_tap)
        with torch.no_grad():
            s_out, t_out = student(**inputs), teacher(**inputs)
        self.project: nn.Module = nn.Identity()
        if config.objective == "embedding" and s_out.shape[-1] != t_out.shape[-1]:
            self.project = nn.Linear(s_out.shape[-1], t_out.shape[-1], bias=False)
        if self.taps is not None:
            widths = lambda feats: {k: int(v.shape[-1]) for k, v in feats.items()}  # noqa: E731
            self.layers = LayerLoss(layer_pairs or [], widths(self.taps[0].features),
                                    widths(self.taps[1].features))

    def forward(self, student_out: torch.Tensor, teacher_out: torch.Tensor,
                batch: dict[str, Any]) -> torch.Tensor:
        cfg = self.config
        if cfg.objective == "logits":
            loss = hinton_loss(student_out, teacher_out, batch.get("labels"), cfg.temperature,
                               cfg.alpha)
        else:
            loss = embedding_loss(self.project(student_out), teacher_out, cfg.embedding_loss)
            if cfg.similarity_weight:
                loss = loss + cfg.similarity_weight * similarity_loss(student_out, teacher_out)
        if self.layers is not None and self.taps is not None:
            s_feats, t_feats = self.taps[0].features, self.taps[1].features
            layer = self.layers(s_feats, t_feats, batch["attention_mask"])
            loss = loss + cfg.layer_weight * layer
        return loss

    def remove_taps(self) -> None:
        if self.taps is not None:
            for tap in self.taps:
                tap.remove()


def _distill_task(student: nn.Module, teacher: nn.Module, task: Any,
                  config: DistillConfig) -> nn.Module:
    """Non-text tasks (images, audio): teacher run online on the task's own batches."""
    if not hasattr(task, "batches"):
        raise ConfigError("data must be a Task, a TextDataset, a list of sentences or "
                          "TokenizedText")
    dataset = task.dataset(task.train_split)
    names = tuple(task.input_names)

    def loss_fn(model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        inputs = {k: batch[k] for k in names}
        with torch.no_grad():
            target = teacher(**inputs)
        return hinton_loss(model(**inputs), target, batch.get("labels"), config.temperature,
                           config.alpha)

    seed = config.train.seed
    train(student, lambda epoch: task.batches(dataset, config.batch_size, shuffle=True,
                                              seed=seed * 100_003 + epoch), config.train, loss_fn)
    return student


def _as_text(data: Any) -> Any:
    if isinstance(data, TokenizedText | list | tuple) or hasattr(data, "texts"):
        return data
    if hasattr(data, "dataset") and hasattr(data, "train_split"):
        dataset = data.dataset(data.train_split)
        return dataset if hasattr(dataset, "texts") else None
    return None


def _tokens(text: Any, tokenizer: Any, max_length: int) -> TokenizedText:
    if isinstance(text, TokenizedText):
        return text
    if tokenizer is None:
        raise ConfigError("text distillation needs the student's tokenizer (tokenizer=...)")
    if isinstance(text, list | tuple):
        return TokenizedText.encode(tokenizer, list(text), max_length=max_length)
    return TokenizedText.encode(tokenizer, text.texts, text.texts_b, text.labels, max_length)


def _fingerprint(model: nn.Module) -> str:
    """A cheap identity for a teacher's weights, naming its cache file."""
    digest = hashlib.sha256()
    for name, tensor in list(model.state_dict().items())[-8:]:
        digest.update(name.encode())
        digest.update(tensor.detach().float().sum().numpy().tobytes())
    return "teacher-" + digest.hexdigest()[:16]
