"""Save and load models as ``model.safetensors`` + ``config.json``; nothing is ever unpickled.

A tinyai model directory holds:

- ``config.json``: the model's config (`tinyai.config.Config.to_dict`, with ``_type`` naming
  the architecture; only allow-listed config types load),
- ``model.safetensors``: the state dict (parameters and persistent buffers),
- for heads over a Hugging Face encoder: ``encoder/config.json`` (the HF config) and, when
  known, the tokenizer files at the top level, so `load_tokenizer(dir)` works.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_model as st_load_model
from safetensors.torch import save_model as st_save_model
from torch import nn

from tinyai.config import Config
from tinyai.errors import ConfigError, ModelError
from tinyai.models import hf
from tinyai.models.base import build_model, is_tinyai_model
from tinyai.models.fit import fit_to_shapes
from tinyai.models.heads import (
    HEAD_TYPES,
    EncoderHeadConfig,
    HFSequenceClassifier,
    HFSequenceClassifierConfig,
    SentenceEncoder,
    is_encoder_head,
)

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
ENCODER_DIR = "encoder"
PRUNING_FILE = "pruning.json"  # written by tinyai.prune.save_pruned


def save_model(model: nn.Module, out_dir: str | os.PathLike[str], tokenizer: Any = None) -> Path:
    """Write `model` to `out_dir`; a `tokenizer` (object or dir) is stored with text models."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if is_encoder_head(model):
        config: Config = model.head_config  # type: ignore[assignment]
        encoder = model.encoder  # type: ignore[union-attr]
        (out / ENCODER_DIR).mkdir(exist_ok=True)
        encoder.config.to_json_file(str(out / ENCODER_DIR / CONFIG))  # type: ignore[union-attr]
        _save_tokenizer(out, tokenizer, encoder)
    elif is_tinyai_model(model):
        sync = getattr(model, "sync_config", None)
        config = sync() if callable(sync) else model.config  # type: ignore[assignment]
    else:
        raise ModelError(
            f"save_model saves tinyai models (reference models, encoder heads), not "
            f"{type(model).__name__}; wrap a HF encoder in TextClassifier or SentenceEncoder"
        )
    (out / CONFIG).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    # safetensors' save_model drops aliases of shared tensors, which save_file rejects.
    st_save_model(model, str(out / WEIGHTS), metadata={"format": "pt"})
    return out


def _save_tokenizer(out: Path, tokenizer: Any, encoder: nn.Module) -> None:
    if tokenizer is None:
        # Heads built from a local directory remember it; carry its tokenizer along.
        source = getattr(encoder.config, "_name_or_path", "") or ""
        if source and Path(source).is_dir() and hf.has_tokenizer(Path(source)):
            tokenizer = source
    if tokenizer is None:
        return
    if isinstance(tokenizer, str | os.PathLike):
        tokenizer = hf.load_tokenizer(tokenizer)
    tokenizer.save_pretrained(str(out))


def load_model(name_or_dir: str | os.PathLike[str]) -> nn.Module:
    """A model in eval mode from a short name (``minilm-l6``), a HF dir or a tinyai model dir.

    A sentence-transformers dir loads as a `SentenceEncoder` with its pooling, a HF
    ``*ForSequenceClassification`` dir as an `HFSequenceClassifier`, any other HF encoder as a
    mean-pooled `SentenceEncoder` without normalization (use `load_encoder` for the raw model).
    """
    path = hf.resolve(name_or_dir)
    kind = hf.dir_kind(path)
    if kind == "tinyai":
        if (path / PRUNING_FILE).is_file():
            # Structurally pruned models store a plan and packed sparse tensors; pruning
            # rebuilds the base architecture, replays the plan and unpacks the weights.
            from tinyai.prune import load_pruned

            return load_pruned(path)
        return _load_tinyai(path)
    if kind == "sentence-transformers":
        return SentenceEncoder(hf.load_encoder(path), **hf.sentence_transformers_head(path)).eval()
    architectures = hf.read_json(path / CONFIG).get("architectures") or []
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        model = hf.load_encoder(path, HFSequenceClassifierConfig.auto_class)
        return HFSequenceClassifier(model).eval()
    return SentenceEncoder(hf.load_encoder(path), pooling="mean", normalize=False).eval()


def _load_tinyai(path: Path) -> nn.Module:
    try:
        config = Config.from_dict(hf.read_json(path / CONFIG))
    except ConfigError as exc:
        raise ModelError(f"{path / CONFIG}: {exc}") from None
    weights = path / WEIGHTS
    if not weights.is_file():
        raise ModelError(f"{path} has no {WEIGHTS}; save the model again with tinyai.save_model")
    if isinstance(config, EncoderHeadConfig):
        encoder = hf.encoder_from_config_dir(path / ENCODER_DIR, type(config).auto_class)
        model = HEAD_TYPES[type(config)].from_config(config, encoder)  # type: ignore[attr-defined]
    else:
        model = build_model(config)
    shapes, dtypes = _stored_shapes(weights)
    fit_to_shapes(model, shapes)
    float_dtypes = {d for d in dtypes.values() if d.is_floating_point}
    if len(float_dtypes) == 1:
        model.to(float_dtypes.pop())  # keep a half-precision checkpoint in half precision
    try:
        st_load_model(model, str(weights), strict=True)
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise ModelError(f"{weights} does not match its config.json: {first_line}") from None
    return model.eval()


def _stored_shapes(weights: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, torch.dtype]]:
    shapes, dtypes = {}, {}
    with safe_open(str(weights), framework="pt") as f:
        for key in f.keys():  # noqa: SIM118 - safe_open handles have keys(), no __iter__
            view = f.get_slice(key)
            shapes[key] = tuple(view.get_shape())
            dtypes[key] = _DTYPES.get(view.get_dtype(), torch.float32)
    return shapes, dtypes


_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


_OWN_FILES = {CONFIG, WEIGHTS, PRUNING_FILE, "history.json", "tokenizer.json",
              "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
              f"{ENCODER_DIR}/{CONFIG}"}


def unknown_files(path: Path) -> list[str] | None:
    """For `tinyai.atomic.replace_dir`: None unless `path` is a tinyai model directory, else
    the entries in it that `save_model` does not write."""
    try:
        config = json.loads((path / CONFIG).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or "_type" not in config:
        return None
    entries = {p.relative_to(path).as_posix() for p in path.rglob("*")
               if p.is_file() or p.is_symlink()}
    return sorted(entries - _OWN_FILES)
