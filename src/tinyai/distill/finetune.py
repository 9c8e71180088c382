"""Transfer learning: turn a pretrained model into a task model, optionally freezing parts.

Text: a pretrained encoder inside a task head (TextClassifier for classification, one
output for regression); freeze the embeddings and/or the lowest layers. Images: a new head
(the last Linear replaced) on a frozen or trainable trunk.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from tinyai.config import Config
from tinyai.distill.layers import find_bert
from tinyai.distill.text import TokenizedText
from tinyai.errors import ConfigError
from tinyai.models.calling import call_model, check_vocabulary
from tinyai.train import TrainConfig, TrainHooks, train


@dataclasses.dataclass
class FinetuneConfig(Config):
    """Train a model on its task (also from scratch: a freshly built architecture).

    Text is tokenized with the task's tokenizer at the task's ``max_length``; batch size,
    steps and learning rate are the `train` settings.
    """

    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    freeze_embeddings: bool = False  # text: keep the (large) embedding table fixed
    freeze_layers: int = 0  # text: freeze this many of the lowest encoder layers
    freeze_trunk: bool = False  # any model: train only the head (see `head`)
    head: str | None = None  # name of the head module; default: the last nn.Linear

    def __post_init__(self) -> None:
        if self.freeze_layers < 0:
            raise ValueError(f"freeze_layers must be >= 0, got {self.freeze_layers}")


def finetune(model: nn.Module, task: Any, config: FinetuneConfig | None = None,
             tokenizer: Any = None, data: Any = None,
             hooks: TrainHooks | None = None, label: str = "finetune") -> nn.Module:
    """Train `model` on `task`'s train split (or `data`) with the task's loss; in place."""
    config = config or FinetuneConfig()
    check_vocabulary(model, task, tokenizer)
    freeze_(model, config)
    batches_fn = task_batches(task, config.train.batch_size, config.train.seed,
                              tokenizer=tokenizer, data=data)

    frozen_norms = _frozen_batchnorms(model)

    def loss_fn(m: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        for norm in frozen_norms:  # train() switched them back; frozen means stats too
            norm.eval()
        outputs = call_model(m, _inputs(batch))
        return task.loss(outputs, batch)

    train(model, batches_fn, config.train, loss_fn, hooks=hooks, label=label)
    return model


def task_batches(task: Any, batch_size: int, seed: int, tokenizer: Any = None,
                 data: Any = None) -> Any:
    """batches_fn(epoch) for `train`: bucketed token batches for text (tokenized once, with
    `tokenizer` or the task's own), else the task's own batching, shuffled per epoch."""
    dataset = data if data is not None else task.dataset(task.train_split)
    if tokenizer is None and hasattr(dataset, "texts"):
        tokenizer = getattr(task, "tokenizer", None)
    if tokenizer is not None and hasattr(dataset, "texts"):
        max_length = int(getattr(task, "max_length", 128))
        tokens = TokenizedText.encode(tokenizer, dataset.texts, dataset.texts_b, dataset.labels,
                                      max_length)
        return lambda epoch: tokens.batches(batch_size, epoch, seed)
    # a different shuffle per epoch, reproducible from (seed, epoch) for exact resume
    return lambda epoch: task.batches(dataset, batch_size, shuffle=True,
                                      seed=seed * 100_003 + epoch)


def _inputs(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in batch.items() if k not in ("labels", "index")}


def freeze_(model: nn.Module, config: FinetuneConfig) -> nn.Module:
    """Set requires_grad=False on the parts the config freezes."""
    if config.freeze_trunk:
        head = _head(model, config.head)
        head_params = {id(p) for p in head.parameters()}
        for p in model.parameters():
            p.requires_grad = id(p) in head_params
    if config.freeze_embeddings or config.freeze_layers:
        _, bert = find_bert(model)
        if config.freeze_embeddings:
            bert.embeddings.requires_grad_(False)
        layers = bert.encoder.layer
        if config.freeze_layers > len(layers):
            raise ConfigError(f"freeze_layers={config.freeze_layers} but the encoder has "
                              f"{len(layers)} layers")
        for layer in layers[: config.freeze_layers]:
            layer.requires_grad_(False)
    return model


def _frozen_batchnorms(model: nn.Module) -> list[nn.Module]:
    """BatchNorm layers whose parameters are frozen: their running statistics must not move
    either, or a frozen trunk still drifts."""
    norms = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
    return [m for m in model.modules() if isinstance(m, norms)
            and not any(p.requires_grad for p in m.parameters())]


def replace_head(model: nn.Module, num_outputs: int, head: str | None = None) -> nn.Module:
    """A new, freshly initialised output layer for a new label set (in place)."""
    name = head or _last_linear_name(model)
    old = model.get_submodule(name)
    if not isinstance(old, nn.Linear):
        raise ConfigError(f"head {name!r} is a {type(old).__name__}, expected nn.Linear")
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, nn.Linear(old.in_features, num_outputs, bias=old.bias is not None))
    return model


def _head(model: nn.Module, head: str | None) -> nn.Module:
    return model.get_submodule(head or _last_linear_name(model))


def _last_linear_name(model: nn.Module) -> str:
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ConfigError("the model has no nn.Linear head; name the head module explicitly")
    return names[-1]
