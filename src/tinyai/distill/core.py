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
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tinyai import paths
from tinyai.config import Config
from tinyai.distill.augment import AugmentConfig, augment_texts
from tinyai.distill.cache import teacher_outputs
from tinyai.distill.corpus import CORPUS_TASKS, corpus_sentences, held_out_sentences
from tinyai.distill.layers import FeatureTap, LayerLoss, LayerPair, feature_pairs
from tinyai.distill.losses import IGNORE, embedding_loss, hinton_loss, similarity_loss
from tinyai.distill.text import TokenizedText
from tinyai.errors import ConfigError
from tinyai.models.calling import call_model, check_vocabulary
from tinyai.train import TrainConfig, TrainHooks, train

OBJECTIVES = ("logits", "embedding")
DEFAULT_MAX_LENGTH = 128


@dataclasses.dataclass
class SoftTargets(Config):
    """Hinton's soft targets: KL(student || teacher) at `temperature`, weighted `alpha`
    against the hard labels' cross-entropy (1 - alpha). Also usable while another technique
    trains (a recipe stage's `teacher:`)."""

    temperature: float = 2.0
    alpha: float = 0.5  # weight of the teacher's soft targets; 1 - alpha on the hard labels

    def __post_init__(self) -> None:
        if self.temperature <= 0 or not 0.0 <= self.alpha <= 1.0:
            raise ValueError("temperature must be > 0 and alpha in [0, 1]")


@dataclasses.dataclass
class DistillConfig(SoftTargets):
    """Train a student to imitate a teacher; batch size, steps and lr are the `train` settings.

    augment: perturbed copies of every training sentence (text, single sentences) for the
        teacher to label (TinyBERT / Tang et al.); they carry soft targets only.
    corpus: built-in text tasks (sst2, cola, mrpc, stsb) whose train and test sentences,
        labels unused, are the transfer set instead of the task's training split; the task's
        held-out sentences are left out. For a label-free student (objective embedding).
        corpus_size: at most this many of them (a seeded sample; None: all).
    cache: keep the teacher's outputs on disk (keyed by the teacher's weights, the data and
        its tokenization) in `cache_dir`, or the user cache (~/.cache/tinyai/teacher-outputs)
        when that is None, so a re-run or a resume never pays for the teacher again.
    """

    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    objective: str = "logits"  # logits (classifier/regressor) | embedding (sentence vectors)
    embedding_loss: str = "mse"  # mse | cosine (objective=embedding)
    similarity_weight: float = 0.0  # + in-batch cosine-similarity matching (embedding)
    layer_weight: float = 0.0  # > 0 adds intermediate-feature losses (see feature_map)
    attention: bool = False  # with layer_weight: also attention-map MSE (BERT)
    layer_map: tuple[tuple[int, int], ...] | None = None  # BERT: (student, teacher) layer
    # (student module, teacher module) names whose outputs are matched, for any pair of
    # models (a learned projection where widths differ); empty: TinyBERT's map for BERT
    feature_map: tuple[tuple[str, str], ...] = ()
    augment: AugmentConfig | None = None
    corpus: tuple[str, ...] = ()
    corpus_size: int | None = None
    cache: bool = True
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, not {self.objective!r}")
        if self.embedding_loss not in ("mse", "cosine"):
            raise ValueError("embedding_loss must be 'mse' or 'cosine'")
        if self.layer_weight < 0 or self.similarity_weight < 0:
            raise ValueError("layer_weight and similarity_weight must be >= 0")
        self.corpus = tuple(self.corpus)
        unknown = [t for t in self.corpus if t not in CORPUS_TASKS]
        if unknown:
            raise ValueError(f"corpus takes built-in text tasks ({', '.join(CORPUS_TASKS)}), "
                             f"not {', '.join(unknown)}")
        if self.corpus_size is not None and self.corpus_size < 1:
            raise ValueError(f"corpus_size must be >= 1, got {self.corpus_size}")


def distill(student: nn.Module, teacher: nn.Module, data: Any, config: DistillConfig | None = None,
            tokenizer: Any = None, teacher_tokenizer: Any = None,
            layer_pairs: Sequence[LayerPair] | None = None, max_length: int | None = None,
            hooks: TrainHooks | None = None, label: str = "distill") -> nn.Module:
    """Train `student` (in place) to imitate `teacher` on `data`.

    `data`: a Task (its train split; text is tokenized with the task's tokenizer at its
    max_length), a TextDataset, a list of sentences (unlabelled) or `TokenizedText`. Give the
    student's `tokenizer` when it differs from the task's, and then the `teacher_tokenizer`
    too (then only output-level losses apply). Without layer losses the teacher runs once
    over the data, cached on disk (see `DistillConfig.cache`).
    """
    config = config or DistillConfig()
    teacher.eval().requires_grad_(False)
    if config.layer_weight > 0 and layer_pairs is None:
        layer_pairs = feature_pairs(student, teacher, config.feature_map, config.layer_map,
                                    config.attention)
    text = _as_text(data) if not config.corpus else corpus_sentences(
        config.corpus, exclude=held_out_sentences(data) if hasattr(data, "eval_split") else (),
        limit=config.corpus_size)
    if text is None:
        return _distill_task(student, teacher, data, config, layer_pairs, hooks, label)
    max_length = max_length or int(getattr(data, "max_length", DEFAULT_MAX_LENGTH))
    if tokenizer is None:
        tokenizer = getattr(data, "tokenizer", None)
    if teacher_tokenizer is not None and isinstance(text, TokenizedText):
        raise ConfigError("with a teacher_tokenizer pass raw text (a TextDataset or a list of "
                          "sentences), not TokenizedText: the teacher must tokenize it itself")
    text = _augmented(text, config.augment, regression=getattr(data, "kind", "") ==
                      "text-regression")
    tokens = _tokens(text, tokenizer, max_length)
    check_vocabulary(student, tokenizer=_loaded(tokenizer, max_length))
    if layer_pairs and teacher_tokenizer is not None:
        raise ConfigError("intermediate-layer losses need one tokenization; drop "
                          "teacher_tokenizer or set layer_weight=0")
    cached = None
    if not layer_pairs:  # output-level losses only: run the teacher once, up front
        teacher_tokens = tokens if teacher_tokenizer is None else _tokens(
            text, teacher_tokenizer, max_length)
        cache_dir = (config.cache_dir or str(paths.cache_dir("teacher-outputs"))
                     if config.cache else None)
        cached = teacher_outputs(teacher, teacher_tokens, cache_dir, _fingerprint(teacher),
                                 log=config.train.log, bf16=config.train.bf16)
    probe = tokens.collate(list(range(min(2, len(tokens)))))
    objective = _Objective(student, teacher, _text_inputs(probe), config, layer_pairs)
    params = list(student.parameters()) + list(objective.parameters())

    def loss_fn(model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        inputs = _text_inputs(batch)
        if cached is not None:
            target = cached[batch["index"]]
        else:
            with torch.no_grad():
                target = call_model(teacher, inputs)
        return objective(call_model(model, inputs), target, batch)

    seed, batch_size = config.train.seed, config.train.batch_size
    try:
        train(student, lambda epoch: tokens.batches(batch_size, epoch, seed), config.train,
              loss_fn, params=params, hooks=hooks, label=label)
    finally:
        objective.remove_taps()
    return student


def _augmented(text: Any, augment: AugmentConfig | None, regression: bool) -> Any:
    """`text` plus `augment.copies` perturbed copies of each sentence, without labels (soft
    targets only). Sentence pairs and ready-made TokenizedText are left as they are."""
    if augment is None or not augment.copies or isinstance(text, TokenizedText):
        return text
    if isinstance(text, list | tuple):
        return list(text) + augment_texts(list(text), augment)
    if text.texts_b is not None:
        raise ConfigError("augment perturbs single sentences; drop augment for sentence pairs")
    from tinyai.data import TextDataset

    extra = augment_texts(list(text.texts), augment)
    labels = None
    if text.labels is not None:
        unknown = np.full(len(extra), np.nan if regression else IGNORE)
        labels = np.concatenate([text.labels, unknown.astype(text.labels.dtype)])
    return TextDataset(text.name + "+aug", list(text.texts) + extra, None, labels,
                       text.label_names)


class _Objective(nn.Module):
    """The loss, holding whatever it learns (projections) so the optimizer sees it."""

    def __init__(self, student: nn.Module, teacher: nn.Module, inputs: dict[str, torch.Tensor],
                 config: DistillConfig, layer_pairs: Sequence[LayerPair] | None) -> None:
        """`inputs`: a small batch, run once to size the projections."""
        super().__init__()
        self.config = config
        self.taps: tuple[FeatureTap, FeatureTap] | None = None
        self.layers: LayerLoss | None = None
        if layer_pairs:
            kinds = [p.kind for p in layer_pairs]
            s_tap = FeatureTap(student, [p.student for p in layer_pairs], kinds)
            t_tap = FeatureTap(teacher, [p.teacher for p in layer_pairs], kinds)
            self.taps = (s_tap, t_tap)
        with torch.no_grad():
            s_out, t_out = call_model(student, inputs), call_model(teacher, inputs)
        self.project: nn.Module = nn.Identity()
        if config.objective == "embedding" and s_out.shape[-1] != t_out.shape[-1]:
            self.project = nn.Linear(s_out.shape[-1], t_out.shape[-1], bias=False)
        if self.taps is not None:
            shapes = lambda feats: {k: tuple(v.shape) for k, v in feats.items()}  # noqa: E731
            self.layers = LayerLoss(layer_pairs or [], shapes(self.taps[0].features),
                                    shapes(self.taps[1].features))

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
            layer = self.layers(s_feats, t_feats, batch.get("attention_mask"))
            loss = loss + cfg.layer_weight * layer
        return loss

    def remove_taps(self) -> None:
        if self.taps is not None:
            for tap in self.taps:
                tap.remove()


def _distill_task(student: nn.Module, teacher: nn.Module, task: Any, config: DistillConfig,
                  layer_pairs: Sequence[LayerPair] | None, hooks: TrainHooks | None,
                  label: str) -> nn.Module:
    """Non-text tasks (images, audio, arrays): the teacher runs online on the task's own
    batches; intermediate features are matched through `layer_pairs` when given."""
    if not hasattr(task, "batches"):
        raise ConfigError("data must be a Task, a TextDataset, a list of sentences or "
                          "TokenizedText")
    dataset = task.dataset(task.train_split)
    names = tuple(task.input_names)
    probe = next(iter(task.batches(dataset.subset(np.arange(min(2, len(dataset)))), 2)))
    objective = _Objective(student, teacher, {k: probe[k] for k in names}, config, layer_pairs)

    def loss_fn(model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        inputs = {k: batch[k] for k in names}
        with torch.no_grad():
            target = call_model(teacher, inputs)
        return objective(call_model(model, inputs), target, batch)

    seed, batch_size = config.train.seed, config.train.batch_size
    params = list(student.parameters()) + list(objective.parameters())
    try:
        train(student, lambda epoch: task.batches(dataset, batch_size, shuffle=True,
                                                  seed=seed * 100_003 + epoch),
              config.train, loss_fn, params=params, hooks=hooks, label=label)
    finally:
        objective.remove_taps()
    return student


def _text_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


def _loaded(tokenizer: Any, max_length: int) -> Any:
    """A tokenizer object whose size can be read (a folder is loaded)."""
    from tinyai.distill.text import load_fast_tokenizer

    return load_fast_tokenizer(tokenizer, max_length) if isinstance(tokenizer, str | Path) \
        else tokenizer


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
    """The identity of a teacher's weights (every byte of every tensor), naming its cache
    file: a teacher trained further, or another one of the same shape, gets a new file."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return "teacher-" + digest.hexdigest()[:16]
