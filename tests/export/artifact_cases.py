"""The (model, task, technique) rows every export / runtime / evaluate test runs through.

Each row builds a small real model (untrained: these tests check the artifact, not accuracy),
optionally compresses it with a tinyai technique, and is exported once per test session;
`artifact(row_id)` returns the cached (model, task, artifact path). Tolerance is the bound on
max |onnx - torch| relative to max |torch| that the parity test enforces.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Row:
    id: str
    task: str
    build: Callable[[], Any]
    tolerance: float = 1e-5  # relative to max |reference|
    slow: bool = False


def _seeded(fn: Callable[[], Any]) -> Callable[[], Any]:
    def build() -> Any:
        import torch

        torch.manual_seed(0)
        return fn().eval()

    return build


def mlp() -> Any:
    from tinyai.models import LeNet300100, LeNet300100Config

    # Widths that are multiples of 16, so 4-bit group-wise quantization covers every layer.
    return LeNet300100(LeNet300100Config(hidden=(256, 128)))


def cnn() -> Any:
    from tinyai.models import FashionCNN, FashionCNNConfig

    return FashionCNN(FashionCNNConfig(channels=(8, 16, 32), residual=True))


def kws() -> Any:
    from tinyai.models import KwsDSCNN, KwsDSCNNConfig

    return KwsDSCNN(KwsDSCNNConfig(channels=(16, 16, 16)))


def char_gru() -> Any:
    from tinyai.models import CharLM, CharLMConfig

    return CharLM(CharLMConfig(hidden_size=64, embed_dim=32))


def char_transformer() -> Any:
    from tinyai.models import CharTransformer, CharTransformerConfig

    return CharTransformer(CharTransformerConfig(n_layer=2, n_head=2, n_embd=32))


def minilm_classifier() -> Any:
    from tinyai.models import TextClassifier, load_encoder

    return TextClassifier(load_encoder("minilm-l6"), 2)


def minilm_embedder() -> Any:
    from tinyai.models import SentenceEncoder, load_encoder

    return SentenceEncoder(load_encoder("minilm-l6"))


def pruned_mlp() -> Any:
    """90% of each weight matrix zeroed by magnitude: the sparse codec should pack it."""
    from tinyai.prune import MagnitudePruning, make_permanent, prune_

    model = mlp()
    prune_(model, MagnitudePruning(sparsity=0.9))
    make_permanent(model)
    return model


def int8_mlp() -> Any:
    from tinyai.quantize import Int8Dynamic, quantize_

    return quantize_(mlp(), Int8Dynamic())


def int4_mlp() -> Any:
    from tinyai.quantize import WeightOnly, quantize_

    return quantize_(mlp(), WeightOnly(bits=4, group_size=16))


def clustered_mlp() -> Any:
    from tinyai.quantize import WeightSharing, quantize_

    model = quantize_(mlp(), WeightSharing(bits=4, step="prepare"))
    return quantize_(model, WeightSharing(bits=4, step="convert"))


ROWS = [
    Row("mlp", "fashion-mnist", _seeded(mlp)),
    Row("cnn", "fashion-mnist", _seeded(cnn)),
    Row("kws", "speech-commands", _seeded(kws)),
    Row("char-gru", "shakespeare", _seeded(char_gru)),
    Row("char-transformer", "shakespeare", _seeded(char_transformer)),
    Row("minilm-sst2", "sst2", _seeded(minilm_classifier)),
    Row("minilm-embed", "stsb-embed", _seeded(minilm_embedder), slow=True),
    Row("mlp-pruned", "fashion-mnist", _seeded(pruned_mlp)),
    Row("mlp-int8", "fashion-mnist", _seeded(int8_mlp), tolerance=1e-3),
    Row("mlp-int4", "fashion-mnist", _seeded(int4_mlp), tolerance=2e-2),
    Row("mlp-clustered", "fashion-mnist", _seeded(clustered_mlp)),
]
BY_ID = {row.id: row for row in ROWS}

_CACHE: dict[str, tuple[Any, Any, Path]] = {}
_ROOT: list[Path] = []


def _root() -> Path:
    if not _ROOT:
        _ROOT.append(Path(tempfile.mkdtemp(prefix="tinyai-artifacts-")))
        atexit.register(shutil.rmtree, _ROOT[0], True)
    return _ROOT[0]


def artifact(row_id: str) -> tuple[Any, Any, Path]:
    """(model, task, artifact dir) for a row, exported once per session. Do not modify the dir."""
    if row_id not in _CACHE:
        import tinyai
        from tinyai.tasks import get_task

        row = BY_ID[row_id]
        model, task = row.build(), get_task(row.task)
        path = tinyai.export(
            model,
            _root() / row_id,
            task=task,
            history=[{"stage": row_id, "note": "built by tests/export/artifact_cases.py"}],
            metrics={"note": "untrained test model"},
        )
        _CACHE[row_id] = (model, task, path)
    return _CACHE[row_id]


def copy_of(row_id: str, dest: Path) -> Path:
    """A private copy of a row's artifact, for tests that damage it."""
    return Path(shutil.copytree(artifact(row_id)[2], dest / row_id))


def params(rows: list[Row] | None = None) -> list[Any]:
    """pytest params for rows, slow rows marked."""
    import pytest

    return [
        pytest.param(row.id, id=row.id, marks=[pytest.mark.slow] if row.slow else [])
        for row in rows or ROWS
    ]
