"""The tinyai model directory: the one place that defines how a model is saved and loaded.

A directory `save_model` writes holds, and nothing else:

- ``config.json``: the config of the *base* architecture (`tinyai.config.Config.to_dict`,
  ``_type`` names it; only allow-listed config types load);
- ``encoder/config.json``: for heads over a Hugging Face encoder, the encoder's HF config;
- ``structure.json``: format version, the structural changes since the base architecture as
  an ordered list of typed records (`records`), and the list of the directory's other files;
- ``model.safetensors``: the state dict, sparse tensors packed, tied tensors once (`weights`);
- the tokenizer files (text models), ``history.json`` (`tinyai.history`) and ``task.json``
  (the task it was fitted to, `carried`), when known.

Loading builds the base architecture, replays the records, resizes layers to the stored
shapes, and loads the state dict strictly; nothing is ever unpickled. Saving checks that this
rebuild gives exactly the model's state-dict keys, shapes and dtypes, so a directory that
saved is one that loads.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tinyai.config import Config
from tinyai.errors import ConfigError, ModelError
from tinyai.models import hf
from tinyai.models.base import build_model, is_tinyai_model
from tinyai.models.dir import carried, records
from tinyai.models.dir.records import (
    BASE,
    HOLDS,
    LAYERS,
    STRUCTURE,
    RecordType,
    register_record_type,
)
from tinyai.models.dir.weights import WEIGHTS, read_weights, write_weights
from tinyai.models.fit import fit_to_shapes
from tinyai.models.heads import HEAD_TYPES, EncoderHeadConfig, is_encoder_head

CONFIG = "config.json"
ENCODER_DIR = "encoder"

__all__ = [
    "BASE",
    "CONFIG",
    "ENCODER_DIR",
    "HOLDS",
    "LAYERS",
    "STRUCTURE",
    "WEIGHTS",
    "RecordType",
    "is_model_dir",
    "load_model_dir",
    "register_record_type",
    "save_model",
    "unknown_files",
]


def save_model(
    model: nn.Module,
    out_dir: str | os.PathLike[str],
    tokenizer: Any = None,
    history: list[Any] | None = None,
    task: Any = None,
) -> Path:
    """Write `model` to `out_dir`; returns it.

    `out_dir` may be new or empty, or a model directory, which is replaced as a whole once
    the new one is complete. Into any other directory the model's files are added, provided
    none of them exists there yet: nothing tinyai did not write is ever replaced.
    `tokenizer` (object or directory) is stored with text models; without one, the tokenizer
    the model was loaded with is kept. `history` (`tinyai.history.Step` list) is written to
    history.json; without it, the history the model was loaded with is kept. `task` (a Task
    or built-in task name) is recorded in task.json as what the model was fitted to; without
    it, the task the model was loaded with is kept.
    """
    if not (is_encoder_head(model) or is_tinyai_model(model)):
        raise ModelError(
            f"save_model saves tinyai models (reference models, encoder heads), not "
            f"{type(model).__name__}; wrap a HF encoder in TextClassifier or SentenceEncoder"
        )
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ModelError(f"{out} is a file; choose a directory to save the model in")
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        _write(model, staging, tokenizer, history, task)
        _place(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _write(model: nn.Module, out: Path, tokenizer: Any, history: list[Any] | None,
           task: Any = None) -> None:
    found = records.capture(model)
    (out / CONFIG).write_text(json.dumps(_config_dict(model, found), indent=2) + "\n")
    if is_encoder_head(model):
        (out / ENCODER_DIR).mkdir()
        model.encoder.config.to_json_file(str(out / ENCODER_DIR / CONFIG))  # type: ignore[union-attr]
    carried.write_tokenizer(model, out, tokenizer)
    carried.write_history(model, out, history)
    carried.write_task(model, out, task)
    state = model.state_dict()
    rebuilt = _rebuild(out, found, state)
    absent = _absent_modules(model, rebuilt)
    if absent:
        found += absent
        rebuilt = _rebuild(out, found, state)
    _check_rebuilds(model, rebuilt, state)
    write_weights(state, out / WEIGHTS)
    files = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()]
    records.write_structure(out, found, files)


def _config_dict(model: nn.Module, found: list[records.Record]) -> dict[str, Any]:
    """The config the rebuild starts from: the base architecture of the first record, or
    the model's own config (synced to its current widths where nothing else records them)."""
    if is_encoder_head(model):
        return model.head_config.to_dict()  # type: ignore[union-attr,operator]
    base = records.base_config(found)
    if base is not None:
        return base
    sync = getattr(model, "sync_config", None)
    # Layers rebuilt from metadata (quantized) keep their widths there; sync_config reads
    # float layers only, so it must not run over them.
    rebuilt = any(hasattr(m, "to_meta") for m in model.modules())
    config = sync() if callable(sync) and not rebuilt else model.config
    return config.to_dict()  # type: ignore[union-attr,operator]


def _absent_modules(model: nn.Module, rebuilt: nn.Module) -> list[records.Record]:
    """The record of submodules the base architecture builds but `model` holds as None (a
    Hugging Face encoder made with add_pooling_layer=False, a student without a pooler)."""
    absent = []
    for name, _ in rebuilt.named_modules():
        parent_name, _, child = name.rpartition(".")
        try:
            parent = model.get_submodule(parent_name) if parent_name else model
        except AttributeError:
            continue
        if name and hasattr(parent, child) and getattr(parent, child) is None:
            absent.append(name)
    return [{"type": records.ABSENT, "modules": absent}] if absent else []


def _check_rebuilds(
    model: nn.Module, rebuilt: nn.Module, state: dict[str, torch.Tensor]
) -> None:
    """Refuse to write what `load_model` could not rebuild (a prepared-but-not-converted
    quantization, a module type no record describes)."""
    want = {k: (tuple(v.shape), v.dtype) for k, v in state.items()}
    got = {k: (tuple(v.shape), v.dtype) for k, v in rebuilt.state_dict().items()}
    if want != got:
        wrong = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
        raise ModelError(
            f"cannot save {type(model).__name__}: {len(wrong)} state entries (first: "
            f"{wrong[0]!r}) would not be rebuilt on load; finish the technique first "
            "(quantize step='convert', WeightSharing step='convert') and save again"
        )


def _place(staging: Path, out: Path) -> None:
    """Move the finished directory to `out` (see `save_model` for what `out` may hold)."""
    if out.exists() and any(out.iterdir()) and not is_model_dir(out):
        clash = sorted(p.name for p in staging.iterdir() if (out / p.name).exists())
        if clash:
            raise ModelError(
                f"{out} is not a tinyai model directory and already holds {clash[0]}; "
                "choose a new or empty directory"
            )
        for entry in staging.iterdir():
            entry.rename(out / entry.name)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)  # the previous model stays whole until the new one is in place
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def is_model_dir(path: str | os.PathLike[str]) -> bool:
    """True when `path` holds exactly what `save_model` writes: its structure.json lists
    every other file, and there is no file it does not list."""
    root = Path(path)
    if not (root / STRUCTURE).is_file():
        return False
    try:
        listed = set(records.read_structure(root)["files"]) | {STRUCTURE}
    except ModelError:
        return False
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir()}
    return on_disk == listed and {CONFIG, WEIGHTS} <= listed


def unknown_files(path: Path) -> list[str] | None:
    """For `tinyai.atomic.replace_dir`: None unless `path` is a tinyai model directory (it
    has the structure.json `save_model` writes), else the files in it that file does not
    list (what the user added)."""
    if not (path / STRUCTURE).is_file():
        return None
    try:
        listed = set(records.read_structure(path)["files"]) | {STRUCTURE}
    except ModelError:
        return None
    on_disk = {p.relative_to(path).as_posix() for p in path.rglob("*") if not p.is_dir()}
    return sorted(on_disk - listed)


def load_model_dir(path: Path) -> nn.Module:
    """The model in the tinyai model directory `path`, in eval mode."""
    found = _read_records(path)
    weights = path / WEIGHTS
    if not weights.is_file():
        raise ModelError(f"{path} has no {WEIGHTS}; save the model again with tinyai.save_model")
    state = read_weights(weights)
    model = _rebuild(path, found, state)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise ModelError(
            f"{weights} does not match {CONFIG} and {STRUCTURE}: {first_line}"
        ) from None
    carried.remember(model, path)
    return model.eval()


def _read_records(path: Path) -> list[records.Record]:
    if (path / STRUCTURE).is_file():
        return list(records.read_structure(path)["records"])
    if (path / "pruning.json").is_file():
        raise ModelError(
            f"{path} was saved by an older tinyai (pruning.json, no {STRUCTURE}); "
            "re-create it by running the step that wrote it again"
        )
    return []  # config + weights only: an unchanged architecture, which this format reads


def _rebuild(path: Path, found: list[records.Record], state: dict[str, torch.Tensor]) -> nn.Module:
    """A model of the saved structure, its tensors in the saved dtypes (values not loaded)."""
    try:
        config = Config.from_dict(hf.read_json(path / CONFIG))
    except ConfigError as exc:
        raise ModelError(f"{path / CONFIG}: {exc}") from None
    if isinstance(config, EncoderHeadConfig):
        encoder = hf.encoder_from_config_dir(path / ENCODER_DIR, type(config).auto_class)
        model = HEAD_TYPES[type(config)].from_config(config, encoder)  # type: ignore[attr-defined]
    else:
        model = build_model(config)
    where = str(path / STRUCTURE)
    records.replay(model, found, BASE, where)
    fit_to_shapes(model, {k: tuple(v.shape) for k, v in state.items()})
    records.replay(model, found, LAYERS, where)
    records.replay(model, found, HOLDS, where)
    _match_dtypes(model, state)
    _match_order(model, list(state))
    return model


def _match_order(model: nn.Module, keys: list[str]) -> None:
    """Register each module's parameters and buffers in the saved order (a parametrization
    removed by Deep Compression re-registers `weight` after `bias`): the order decides the
    ONNX initializers' order and which optimizer state belongs to which parameter."""
    rank = {key: i for i, key in enumerate(keys)}
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        for table in (module._parameters, module._buffers):
            ordered = sorted(table, key=lambda k: rank.get(prefix + k, len(rank)))
            items = {k: table[k] for k in ordered}
            table.clear()
            table.update(items)


def _match_dtypes(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Give each parameter and buffer its stored dtype (a half-precision checkpoint stays
    half; load_state_dict would cast into the freshly built float32 tensors)."""
    for key, tensor in model.state_dict(keep_vars=True).items():
        stored = state.get(key)
        if stored is not None and stored.dtype != tensor.dtype:
            tensor.data = tensor.data.to(stored.dtype)
