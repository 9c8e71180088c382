"""The rows of the architectures x verbs table: tinyai's reference models and five models
written the way a user writes them (user_archs), each with a small task of its kind."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from torch import nn
from user_archs import GRUClassifier, ResNet8, SeparableConcatNet, TiedCharLM, TinyViT

from tinyai.data import char_vocab, encode_chars, load_shakespeare
from tinyai.models import (
    CharLM,
    CharLMConfig,
    CharTransformer,
    CharTransformerConfig,
    FashionCNN,
    FashionCNNConfig,
    KwsDSCNN,
    KwsDSCNNConfig,
    KwsResNet,
    KwsResNetConfig,
    LeNet5,
    LeNet5Config,
    LeNet300100,
    LeNet300100Config,
)
from tinyai.tasks import get_task
from tinyai.tasks.spec import TaskSpec, build_task


def fashion() -> Any:
    return build_task(TaskSpec(name="fashion-mnist", limit={"train": 96, "test": 48}))


def tokens() -> Any:
    """Token ids and a mask, as a text task hands them; label: does token 7 occur."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 100, (96, 12))
    mask = np.ones_like(ids)
    labels = (ids == 7).any(axis=1).astype(np.int64)
    split = lambda s: {"input_ids": ids[s], "attention_mask": mask[s], "labels": labels[s]}  # noqa: E731
    return get_task("array-classification", data={"train": split(slice(0, 64)),
                                                   "test": split(slice(64, 96))})


def characters() -> Any:
    """Windows of 17 characters of Tiny Shakespeare: next-character prediction."""
    ids = encode_chars(load_shakespeare("train")[:3400], char_vocab())
    windows = ids[: 200 * 17].reshape(200, 17)
    return get_task("array-lm", data={"train": windows[:160], "test": windows[160:]})


def log_mels() -> Any:
    rng = np.random.default_rng(0)
    features = rng.standard_normal((72, 20, 10)).astype(np.float32)
    labels = rng.integers(0, 4, 72)
    return get_task("array-classification", data={
        "train": {"features": features[:48], "labels": labels[:48]},
        "test": {"features": features[48:], "labels": labels[48:]}})


TASKS: dict[str, Callable[[], Any]] = {"fashion": fashion, "tokens": tokens,
                                       "characters": characters, "log_mels": log_mels}


@dataclasses.dataclass(frozen=True)
class Arch:
    name: str
    task: str
    build: Callable[[], nn.Module]
    # verb -> a fragment of the one-line TinyAIError it must raise (what is not supported)
    unsupported: dict[str, str] = dataclasses.field(default_factory=dict)

    def __repr__(self) -> str:
        return self.name


TIED = "structured pruning cannot shrink TiedCharLM"
NOTHING = "has no layer to quantize in TiedCharLM: embed .its weight is tied"
ARCHS = [
    Arch("fashion-cnn", "fashion",
         lambda: FashionCNN(FashionCNNConfig(channels=(8, 16), dropout=0.0))),
    Arch("lenet5", "fashion", lambda: LeNet5(LeNet5Config(channels=(6, 12), hidden=32))),
    Arch("lenet-300-100", "fashion", lambda: LeNet300100(LeNet300100Config(hidden=(48, 32)))),
    Arch("kws-dscnn", "log_mels", lambda: KwsDSCNN(KwsDSCNNConfig(
        channels=(8, 8, 8), num_classes=4, n_mels=10, frames=20, first_kernel=(4, 2)))),
    Arch("kws-resnet", "log_mels", lambda: KwsResNet(KwsResNetConfig(
        channels=8, blocks=2, num_classes=4, n_mels=10, frames=20, dropout=0.0))),
    Arch("char-rnn", "characters",
         lambda: CharLM(CharLMConfig(embed_dim=16, hidden_size=32, num_layers=2, seq_len=16))),
    Arch("char-transformer", "characters", lambda: CharTransformer(CharTransformerConfig(
        n_layer=2, n_head=2, n_embd=32, block_size=16, seq_len=16))),
    Arch("resnet8", "fashion", ResNet8),
    Arch("separable-concat", "fashion", SeparableConcatNet),
    Arch("gru-tokens", "tokens", GRUClassifier),
    Arch("vit", "fashion", TinyViT),
    Arch("tied-char-lm", "characters", TiedCharLM,
         {"structured": TIED, "distill": TIED, "int8-static": NOTHING, "qat": NOTHING}),
]
