"""One tiny exported artifact per task kind, for the tests that hammer the runtime (fuzzing,
soak, threads): text classification, text regression (sentence pairs), sentence embedding,
image and audio classification, character LM, and a user's MLP on in-memory arrays
(classification and regression). Untrained: these tests check the runtime's
behaviour, not accuracy. `tiny_artifact(kind)` exports once per session and caches.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

KINDS = ("text-classification", "text-regression", "sentence-embedding",
         "image-classification", "audio-classification", "char-lm", "array-classification",
         "array-regression")
ARRAY_FEATURES = 8

_CACHE: dict[str, Path] = {}
_ROOT: list[Path] = []


def _encoder() -> Any:
    from transformers import BertConfig, BertModel

    return BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=128))


def _array_task(kind: str) -> Any:
    import numpy as np

    from tinyai.tasks import get_task

    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, ARRAY_FEATURES)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) if kind == "array-classification" else x[:, 0]
    return get_task(kind, data={"train": {"x": x, "labels": y}})


def _mlp(outputs: int) -> Any:
    from torch import nn

    class MLP(nn.Module):  # a user's own module, positional forward
        def __init__(self) -> None:
            super().__init__()
            self.hidden = nn.Linear(ARRAY_FEATURES, 16)
            self.out = nn.Linear(16, outputs)

        def forward(self, x: Any) -> Any:
            return self.out(self.hidden(x).relu())

    return MLP()


def _builders() -> dict[str, tuple[str, Callable[[], Any]]]:
    from tinyai.models import (
        CharLM,
        CharLMConfig,
        FashionCNN,
        FashionCNNConfig,
        KwsDSCNN,
        KwsDSCNNConfig,
        SentenceEncoder,
        TextClassifier,
    )

    return {
        "text-classification": ("sst2", lambda: TextClassifier(_encoder(), num_labels=2)),
        "text-regression": ("stsb", lambda: TextClassifier(_encoder(), num_labels=1)),
        "sentence-embedding": ("stsb-embed", lambda: SentenceEncoder(_encoder())),
        "image-classification": ("fashion-mnist",
                                 lambda: FashionCNN(FashionCNNConfig(channels=(4, 8)))),
        "audio-classification": ("speech-commands",
                                 lambda: KwsDSCNN(KwsDSCNNConfig(channels=(8, 8, 8)))),
        "char-lm": ("shakespeare", lambda: CharLM(CharLMConfig(hidden_size=16, embed_dim=8))),
        "array-classification": ("array-classification", lambda: _mlp(2)),
        "array-regression": ("array-regression", lambda: _mlp(1)),
    }


def tiny_artifact(kind: str) -> Path:
    """The artifact of `kind` (exported on first use; do not modify it)."""
    if kind not in _CACHE:
        import torch

        import tinyai
        from tinyai.export import ExportConfig

        if not _ROOT:
            _ROOT.append(Path(tempfile.mkdtemp(prefix="tinyai-tiny-")))
            atexit.register(shutil.rmtree, _ROOT[0], True)
        task, build = _builders()[kind]
        if task.startswith("array-"):  # the user's own arrays: a task built from them
            task = _array_task(task)
        torch.manual_seed(0)
        _CACHE[kind] = tinyai.export(build().eval(), _ROOT[0] / kind, task,
                                     config=ExportConfig(verify=False))
    return _CACHE[kind]
